"""Models and their registered versions: the model list (a family by its series), versions,
promotion history, one version's detail and two versions compared."""

from __future__ import annotations

from typing import Any

from shared.errors import InvalidInput, NotFound
from shared.ports import JSON, ModelVersion
from shared.service import audit
from shared.service.context import Context
from shared.service.family import read_production
from shared.service.promotion import PRODUCTION, get_pin
from shared.service.promotion import list_history as _history
from shared.service.queries.common import mapping


def list_models(ctx: Context) -> list[JSON]:
    return [
        {
            "name": m.name,
            "prefix": m.prefix,
            "frequency": m.frequency,
            "horizon": m.horizon,
            # a family has no production version: each series has its own pointer
            "production_version": (
                None if m.series_columns else ctx.registry.get_alias(m.name, PRODUCTION).version
            ),
            "pinned": get_pin(ctx, m.name) is not None,
            "gate_policy": m.gate_policy(ctx.gate).describe(),
            **(_family_brief(ctx, m.name, m.series_columns) if m.series_columns else {}),
        }
        for m in ctx.models.values()
    ]


def _family_brief(ctx: Context, model: str, columns: tuple[str, ...]) -> JSON:
    """A family's line in the model list: its series columns and how many series are in
    production (the registry alias is not used for families: ``shared.service.family``)."""
    document, _ = read_production(ctx, model)
    return {
        "series_columns": list(columns),
        "series_in_production": len(document.get("series") or {}),
        "family_pinned": document.get("pinned") is not None,
    }


def list_versions(ctx: Context, model: str) -> list[JSON]:
    if model not in ctx.models:
        raise NotFound(f"unknown model {model!r}")
    production = ctx.registry.get_alias(model, PRODUCTION).version
    return [
        {
            "version": v.version,
            "created_at": v.created_at,
            "tags": dict(v.tags),
            "artifact_uri": v.artifact_uri,
            "production": v.version == production,
            "mase": _backtest_mase(v.lineage.get("metrics")),
            "report_url": f"/api/models/{model}/versions/{v.version}/report",
        }
        for v in ctx.registry.list_versions(model)
    ]


def _backtest_mase(metrics: Any) -> Any:
    """The candidate's backtest MASE (schema 2), or its holdout MASE (older metrics)."""
    candidate = metrics.get("candidate") if isinstance(metrics, dict) else None
    if not isinstance(candidate, dict):
        return None
    backtest = candidate.get("backtest")
    return backtest.get("mase") if isinstance(backtest, dict) else candidate.get("mase")


def list_history(ctx: Context, model: str) -> JSON:
    """The model's promotion history (alias moves, pins), oldest first, and its pin."""
    if model not in ctx.models:
        raise NotFound(f"unknown model {model!r}")
    return {
        "model": model,
        "production_version": ctx.registry.get_alias(model, PRODUCTION).version,
        "pin": get_pin(ctx, model),
        "history": _history(ctx, model),
    }


def version_report(ctx: Context, model: str, version: int) -> str:
    if model not in ctx.models:
        raise NotFound(f"unknown model {model!r}")
    return audit.version_report(ctx, model, version)


def _version(ctx: Context, model: str, version: int) -> ModelVersion:
    if model not in ctx.models:
        raise NotFound(f"unknown model {model!r}")
    return ctx.registry.get_version(model, version)


def version_detail(ctx: Context, model: str, version: int) -> JSON:
    """A registered version: tags, artifact, lineage (run, snapshot, trigger, champion,
    pipeline job), the gate's verdict, its metrics' headline numbers and windows, and
    whether it is in production."""
    found = _version(ctx, model, version)
    lineage = dict(found.lineage)
    metrics = lineage.pop("metrics", None)
    production = ctx.registry.get_alias(model, PRODUCTION).version
    run_key = found.tags.get("run_key") or lineage.get("run_key")
    return {
        "model": model,
        "version": found.version,
        "created_at": found.created_at,
        "production": found.version == production,
        "artifact_uri": found.artifact_uri,
        "tags": dict(found.tags),
        "lineage": lineage,
        "metrics": _headline(metrics),
        "links": {
            "report": f"/api/models/{model}/versions/{found.version}/report",
            **({"run": f"/api/runs/{run_key}"} if run_key else {}),
        },
    }


_METRICS = ("mase", "smape", "rmse", "mae", "coverage")


def _section(section: Any) -> JSON | None:
    """A metrics section's holdout and backtest numbers (schema 2; older: flat)."""
    if not isinstance(section, dict):
        return None
    picked: JSON = {}
    for window in ("holdout", "backtest"):
        values = section.get(window)
        if isinstance(values, dict):
            picked[window] = {m: values.get(m) for m in _METRICS}
    if not picked:
        picked["holdout"] = {m: section.get(m) for m in _METRICS}
    return picked


def _windows(metrics: Any) -> JSON | None:
    if not isinstance(metrics, dict):
        return None
    backtest = mapping(metrics.get("backtest"))
    return {
        "holdout_start": metrics.get("holdout_start"),
        "holdout_end": metrics.get("holdout_end"),
        "data_end": metrics.get("data_end"),
        "backtest_origins": list(backtest.get("origins") or []),
        "backtest_horizon": backtest.get("horizon"),
    }


def _headline(metrics: Any) -> JSON | None:
    if not isinstance(metrics, dict):
        return None
    return {
        "schema": metrics.get("schema"),
        "windows": _windows(metrics),
        "candidate": _section(metrics.get("candidate")),
        "baseline": _section(metrics.get("baseline")),
        "champion": _section(metrics.get("champion")),
    }


def compare_versions(ctx: Context, model: str, first: int, second: int) -> JSON:
    """Two versions' metrics, on comparable windows where the service has them.

    Metrics computed on different windows do not compare, so the answer says which
    basis it uses:

    - ``same_windows``: the newer version's run evaluated the other one as its champion,
      so both were scored by the same evaluation on the same holdout and backtest folds
      (the run's ``candidate`` and ``champion`` sections);
    - ``own_windows``: no run scored both; each version's numbers are from its own run's
      windows (listed), and only the scale-free MASE says anything across them.
    """
    if first == second:
        raise InvalidInput("compare needs two different versions")
    a, b = _version(ctx, model, first), _version(ctx, model, second)
    for newer, older in ((b, a), (a, b)):
        metrics = newer.lineage.get("metrics")
        champion = newer.lineage.get("champion")
        scored = isinstance(metrics, dict) and isinstance(metrics.get("champion"), dict)
        if scored and isinstance(champion, dict) and champion.get("version") == older.version:
            assert isinstance(metrics, dict)
            sections = {
                newer.version: _section(metrics.get("candidate")),
                older.version: _section(metrics.get("champion")),
            }
            return {
                "model": model,
                "basis": "same_windows",
                "scored_by_run": newer.tags.get("run_key") or newer.lineage.get("run_key"),
                "windows": _windows(metrics),
                "versions": [
                    {"version": v.version, "metrics": sections[v.version]} for v in (a, b)
                ],
                "baseline": _section(metrics.get("baseline")),
            }
    return {
        "model": model,
        "basis": "own_windows",
        "note": "no run scored both versions on the same windows; MASE is relative to each "
        "window's seasonal-naive error, the other metrics are in the series' units",
        "versions": [
            {
                "version": v.version,
                "windows": _windows(v.lineage.get("metrics")),
                "metrics": _section((v.lineage.get("metrics") or {}).get("candidate")),
            }
            for v in (a, b)
        ],
    }
