"""One model's card: production, last run and decision, next tick, pause, freshness, its
timeline, runs, ledger, versions and plot, and a family's section."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from shared.errors import NotFound
from shared.ports import JSON
from shared.service import queries
from shared.service.context import Context
from shared.service.family_overview import family_overview, last_family_run
from shared.service.overview.common import time_of
from shared.service.overview.runs import run_summary
from shared.service.overview.timeline import timeline
from shared.service.overview.versions import plot_of, version_view

# What a card and a timeline read of each model's history.
LEDGER_LIMIT = 200
RUNS_LIMIT = 50

# The newest runs whose steps the backend is asked for (one question each).
STEP_RUNS = 5


def model_card(ctx: Context, summary: JSON, now: datetime, next_tick: str | None) -> JSON:
    """One model's card from its line in the model list (``queries.list_models``)."""
    name = str(summary["name"])
    runs = [
        {**run, "steps": _run_steps(ctx, run)} if index < STEP_RUNS else run
        for index, run in enumerate(queries.list_runs(ctx, name, limit=RUNS_LIMIT))
    ]
    ledger = queries.list_ledger(ctx, name, limit=LEDGER_LIMIT)
    history = queries.list_history(ctx, name)
    versions = queries.list_versions(ctx, name)
    state = _policy_state(ctx, name)
    newest = ledger[-1] if ledger else None
    production = summary.get("production_version")
    family = _family(ctx, name, summary, runs)
    fresh = freshness(state, versions, runs, now)
    if family is not None:  # the family's last completed run: the data its series serve
        fresh["data_end"] = (family.get("last_completed") or {}).get("data_end")
    return {
        "name": name,
        "prefix": summary.get("prefix"),
        "frequency": summary.get("frequency"),
        "horizon": summary.get("horizon"),
        "gate_policy": summary.get("gate_policy"),
        "production_version": production,
        "pinned": bool(summary.get("pinned")),
        "paused": state.get("paused") or None,
        "active_run": state.get("active_run") or None,
        # The head keeps at most 64 requests inline, the rest in chunks: it counts them all.
        "queued_requests": state.get("pending_count", len(state.get("pending") or ())),
        "next_tick": next_tick,
        "last_run": run_summary(runs[0], now) if runs else None,
        "last_decision": ledger_entry(newest) if newest else None,
        "freshness": fresh,
        "timeline": timeline(
            runs=runs,
            ledger=ledger,
            history=history.get("history") or [],
            now=now,
            family=family is not None,
        ),
        "runs": [run_summary(r, now) for r in runs],
        "ledger": [ledger_entry(e) for e in reversed(ledger)],
        "ledger_kinds": sorted({str(e.get("kind")) for e in ledger}),
        "versions": [version_view(v, runs) for v in reversed(versions)],
        # A family's runs write no forecast plot (one per series would be thousands).
        "plot": None if summary.get("series_columns") else plot_of(versions, runs),
        # A family (series_columns): its series' production and last verdicts; None for a
        # single series.
        "family": family,
    }


def _family(
    ctx: Context, name: str, summary: Mapping[str, Any], runs: Sequence[JSON]
) -> JSON | None:
    """A family's section (``shared.service.family_overview``): what serves its series
    and how its newest finalised run went per series; None for a single series."""
    if not summary.get("series_columns"):
        return None
    view = family_overview(ctx, name, runs=runs)
    last = last_family_run(runs)
    return {
        **view,
        "series_columns": summary.get("series_columns"),
        "pinned": bool(view["pinned"]),
        "pin": view["pinned"],
        "last_run": queries.family_counts(last.get("family") if last else None),
    }


def _run_steps(ctx: Context, run: Mapping[str, Any]) -> list[JSON]:
    """The run's steps with their timings, as the backend reports them; empty when it
    cannot say (no job yet, or a backend that does not tell)."""
    if not run.get("pipeline_run_id"):
        return []
    try:
        found = queries.run_steps(ctx, str(run.get("run_key")), lines=0)
    except NotFound:
        return []
    steps = found.get("steps")
    return list(steps) if found.get("available") and isinstance(steps, list) else []


def _policy_state(ctx: Context, model: str) -> JSON:
    """The model's trigger-policy state document (paused, active run, queued requests);
    empty before its first decision."""
    from shared.service.triggers import policy_key

    try:
        return ctx.state.get(policy_key(model))[0]
    except NotFound:
        return {}


def freshness(
    state: Mapping[str, Any], versions: Sequence[JSON], runs: Sequence[JSON], now: datetime
) -> JSON:
    """How fresh the model's data is: the newest arrival the policy saw, the last
    observation the production model (else the newest evaluated run) was trained on, and
    how long ago the arrival was."""
    arrival = time_of(state.get("last_arrival_at"))
    data_end: Any = None
    for version in versions:
        if version.get("production"):
            data_end = (version.get("tags") or {}).get("data_end")
    if data_end is None:
        for run in runs:
            metrics = run.get("metrics")
            if isinstance(metrics, Mapping) and metrics.get("data_end"):
                data_end = metrics["data_end"]
                break
    return {
        "last_arrival_at": arrival.isoformat() if arrival else None,
        "arrival_age_seconds": round((now - arrival).total_seconds(), 1) if arrival else None,
        "data_end": data_end,
    }


def ledger_entry(entry: Mapping[str, Any]) -> JSON:
    return {
        "at": entry.get("at"),
        "kind": entry.get("kind"),
        "action": entry.get("action"),
        "reason": entry.get("reason"),
        "trigger": entry.get("trigger"),
        "run_key": entry.get("run_key"),
    }
