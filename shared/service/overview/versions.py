"""A model's versions as the page shows them: comparable metrics, lineage, and which
forecast plot to show."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shared.ports import JSON
from shared.service.overview.common import mapping
from shared.service.promotion import REFRESH_SUFFIX

METRIC_NAMES = ("mase", "smape", "rmse", "mae", "coverage")


def version_view(version: Mapping[str, Any], runs: Sequence[JSON]) -> JSON:
    tags = version.get("tags") or {}
    run_key = tags.get("run_key")
    run = next((r for r in runs if r.get("run_key") == run_key), None)
    metrics = run.get("metrics") if run else None
    return {
        "version": version.get("version"),
        "production": bool(version.get("production")),
        "created_at": version.get("created_at"),
        "gate": tags.get("gate"),
        "data_end": tags.get("data_end"),
        "run_key": run_key,
        "mase": version.get("mase"),
        "metrics": comparable_metrics(metrics),
        "lineage": _lineage(tags, run),
        "report_url": str(version.get("report_url") or "").removeprefix("/api/"),
    }


def comparable_metrics(metrics: Any) -> list[JSON]:
    """Candidate, champion and seasonal-naive baseline on the same windows (backtest and
    holdout), one row each, from a metrics.json of schema 2; empty when there is none."""
    if not isinstance(metrics, Mapping):
        return []
    rows = []
    for who in ("candidate", "champion", "baseline"):
        section = metrics.get(who)
        if not isinstance(section, Mapping):
            continue
        for window in ("backtest", "holdout"):
            values = section.get(window)
            if isinstance(values, Mapping):
                rows.append(
                    {"model": who, "window": window, **{m: values.get(m) for m in METRIC_NAMES}}
                )
    return rows


def _lineage(tags: Mapping[str, Any], run: Mapping[str, Any] | None) -> JSON:
    lineage: JSON = {
        "run_key": tags.get("run_key"),
        "model_folder": tags.get("model_folder"),
        "code_version": tags.get("code_version"),
    }
    if tags.get("refresh_of"):
        lineage["refresh_of"] = f"v{tags['refresh_of']}"
    if run is None:
        return lineage
    trigger = mapping(run.get("trigger"))
    snapshot = mapping(run.get("snapshot"))
    champion = mapping(run.get("champion")) or None
    files = [f.get("name") for f in snapshot.get("files") or [] if isinstance(f, Mapping)]
    lineage.update(
        {
            "pipeline_run_id": run.get("pipeline_run_id"),
            "trigger": trigger.get("reason"),
            "snapshot": snapshot.get("snapshot_id"),
            "files": files,
            "champion": f"v{champion.get('version')} (run {champion.get('run_key')})"
            if champion
            else "none (first model, compared with seasonal naive)",
        }
    )
    return lineage


def plot_of(versions: Sequence[JSON], runs: Sequence[JSON]) -> JSON | None:
    """Which forecast plot the page shows: the production version's run's, else the
    newest completed run's."""
    for version in versions:
        key = (version.get("tags") or {}).get("run_key")
        if version.get("production") and key and not str(key).endswith(REFRESH_SUFFIX):
            return {"run_key": key, "url": f"runs/{key}/plot", "of": "production"}
    for run in runs:
        if run.get("status") == "Completed" and run.get("run_key"):
            key = run["run_key"]
            return {"run_key": key, "url": f"runs/{key}/plot", "of": "newest run"}
    return None
