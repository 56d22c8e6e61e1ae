"""The dashboard's view-model: one JSON document with everything the page shows.

Built from the read-only queries (``shared.service.queries``) and nothing else that
decides: per model a card (production version, last run and decision, next scheduled
tick, paused or not, data freshness), a timeline (arrivals, runs as bars with their step
timings where the run record has them, gate verdicts, the production pointer), the ledger
newest first, the versions with their metrics and lineage, and where the forecast plot
is; then the dead letters and the quarantined files.

Positions on a timeline are fractions of its span (0 at ``start``, 1 at ``end``), so the
page only scales them to its width. Everything here is data: the page escapes it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from shared.errors import InvalidInput, NotFound
from shared.parsing.common import parse_time
from shared.ports import JSON
from shared.service import queries
from shared.service.context import Context
from shared.service.family_overview import family_overview, last_family_run
from shared.service.promotion import REFRESH_SUFFIX

log = logging.getLogger(__name__)

METRIC_NAMES = ("mase", "smape", "rmse", "mae", "coverage")
# What a card and a timeline read of each model's history.
LEDGER_LIMIT = 200
RUNS_LIMIT = 50
# The newest runs whose steps the backend is asked for (one question each).
STEP_RUNS = 5
# A timeline starts this fraction of its length before its first event, and spans at
# least MIN_SPAN.
MARGIN = 0.04
MIN_SPAN = timedelta(minutes=1)


def build(ctx: Context, *, schedule: str | None = None, now: datetime | None = None) -> JSON:
    """The whole page's data. ``schedule``: the NCRONTAB expression of the schedule timer
    (``RETRAIN_SCHEDULE``), for each card's next tick; None when not known."""
    moment = now or ctx.clock.now()
    next_tick = next_tick_after(schedule, moment) if schedule else None
    models = [
        _model(ctx, summary, moment, next_tick)
        for summary in sorted(queries.list_models(ctx), key=lambda m: str(m["name"]))
    ]
    return {
        "generated_at": moment.isoformat(),
        "schedule": schedule,
        "models": models,
        "dead_letters": [_dead_letter(d) for d in queries.list_dead_letters(ctx, limit=50)],
        "quarantine": [_quarantined(q) for q in queries.list_quarantine(ctx)],
    }


def next_tick_after(schedule: str, moment: datetime) -> str | None:
    """The next time the six-field NCRONTAB ``schedule`` fires after ``moment`` (UTC),
    as ISO-8601; None when the expression cannot be read."""
    from croniter import croniter

    try:
        following = croniter(schedule, moment, second_at_beginning=True).get_next(datetime)
    except (ValueError, KeyError) as exc:
        log.warning("schedule %r has no next tick: %s", schedule, exc)
        return None
    return following.isoformat() if isinstance(following, datetime) else None


# ------------------------------------------------------------------------------ one model


def _model(ctx: Context, summary: JSON, now: datetime, next_tick: str | None) -> JSON:
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
        "last_run": _run_summary(runs[0], now) if runs else None,
        "last_decision": _entry(newest) if newest else None,
        "freshness": fresh,
        "timeline": timeline(
            runs=runs, ledger=ledger, history=history.get("history") or [], now=now
        ),
        "runs": [_run_summary(r, now) for r in runs],
        "ledger": [_entry(e) for e in reversed(ledger)],
        "ledger_kinds": sorted({str(e.get("kind")) for e in ledger}),
        "versions": [_version(v, runs) for v in reversed(versions)],
        # A family's runs write no forecast plot (one per series would be thousands).
        "plot": None if summary.get("series_columns") else _plot(versions, runs),
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
    arrival = _time(state.get("last_arrival_at"))
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


def _run_summary(run: Mapping[str, Any], now: datetime) -> JSON:
    started = _time(run.get("created_at"))
    ended = _time(run.get("updated_at")) if run.get("finalised") else None
    gate = _mapping(run.get("gate"))
    trigger = _mapping(run.get("trigger"))
    return {
        "run_key": run.get("run_key"),
        "status": run.get("status"),
        "finalised": bool(run.get("finalised")),
        "started_at": started.isoformat() if started else None,
        "ended_at": ended.isoformat() if ended else None,
        "seconds": round(((ended or now) - started).total_seconds(), 1) if started else None,
        "trigger": trigger.get("reason"),
        "decision": _decision(run),
        "gate_passed": gate.get("passed"),
        "model_version": run.get("model_version"),
        "promoted": run.get("promoted"),
        "error": run.get("error"),
        "report_url": f"runs/{run.get('run_key')}/report",
        "steps": _steps(run, now),
    }


def _decision(run: Mapping[str, Any]) -> str:
    """The run's outcome in a few words, as a card shows it."""
    if not run.get("finalised"):
        return f"running ({run.get('status')})"
    family = run.get("family")
    if isinstance(family, Mapping):
        return _family_decision(run, family)
    if run.get("promoted"):
        return f"promoted v{run.get('model_version')}"
    if run.get("model_version") is not None:
        return f"registered v{run.get('model_version')}, not promoted"
    return f"{str(run.get('status')).lower()}: {run.get('error') or 'not registered'}"


def _family_decision(run: Mapping[str, Any], family: Mapping[str, Any]) -> str:
    """A family run's outcome in a few words: its version and what happened to its series."""
    parts = [f"{family.get('promoted')} promoted", f"{family.get('refused')} refused"]
    parts += [f"{family[k]} {k}" for k in ("failed", "excluded", "missing") if family.get(k)]
    counts = ", ".join(parts) + f" of {family.get('series_total')} series"
    if run.get("model_version") is None:
        return f"{str(run.get('status')).lower()}: no series trained ({counts})"
    return f"v{run.get('model_version')}: {counts}"


def _steps(run: Mapping[str, Any], now: datetime) -> list[JSON]:
    """The run's steps with their timings, where known (``steps``: a list, or a mapping
    by step name, of ``{name, status, started_at, finished_at, duration_s, reused}``, as
    ``PipelineStep``; a step started and not finished runs until ``now``)."""
    raw = run.get("steps")
    if isinstance(raw, Mapping):
        raw = [{"name": name, **step} for name, step in raw.items() if isinstance(step, Mapping)]
    if not isinstance(raw, list):
        return []
    steps = []
    for step in raw:
        if not isinstance(step, Mapping):
            continue
        started = _time(step.get("started_at"))
        ended = _time(step.get("finished_at"))
        duration = step.get("duration_s")
        if not isinstance(duration, int | float) or isinstance(duration, bool):
            duration = None
        if ended is None and started is not None and duration is not None:
            ended = started + timedelta(seconds=duration)
        if duration is None and started is not None:
            duration = ((ended or now) - started).total_seconds()
        steps.append(
            {
                "name": step.get("name"),
                "status": step.get("status"),
                "started_at": started.isoformat() if started else None,
                "ended_at": ended.isoformat() if ended else None,
                "seconds": round(duration, 1) if duration is not None else None,
                "reused": bool(step.get("reused")),
            }
        )
    return steps


def _entry(entry: Mapping[str, Any]) -> JSON:
    return {
        "at": entry.get("at"),
        "kind": entry.get("kind"),
        "action": entry.get("action"),
        "reason": entry.get("reason"),
        "trigger": entry.get("trigger"),
        "run_key": entry.get("run_key"),
    }


def _version(version: Mapping[str, Any], runs: Sequence[JSON]) -> JSON:
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
    trigger = _mapping(run.get("trigger"))
    snapshot = _mapping(run.get("snapshot"))
    champion = _mapping(run.get("champion")) or None
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


def _plot(versions: Sequence[JSON], runs: Sequence[JSON]) -> JSON | None:
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


# ------------------------------------------------------------------------------ timeline


def timeline(
    *,
    runs: Sequence[Mapping[str, Any]],
    ledger: Sequence[Mapping[str, Any]],
    history: Sequence[Mapping[str, Any]],
    now: datetime,
) -> JSON:
    """A model's timeline: run bars (with step bars), arrival and decision marks, gate
    verdicts and the production pointer's segments, each placed as a fraction of the
    span from the first thing that happened to ``now``. Entries without a readable time
    are left out."""
    moments = [
        t
        for t in (
            *(_time(r.get("created_at")) for r in runs),
            *(_time(e.get("at")) for e in ledger),
            *(_time(h.get("at")) for h in history),
        )
        if t is not None
    ]
    if not moments:
        return {"start": None, "end": now.isoformat(), "runs": [], "marks": [], "production": []}
    first = min(moments)
    end = max(now, *moments)
    # A margin before the first thing, so its mark is not cut at the edge.
    start = min(first - (end - first) * MARGIN, end - MIN_SPAN)
    span = (end - start).total_seconds()

    def x(moment: datetime) -> float:
        return round(min(max((moment - start).total_seconds() / span, 0.0), 1.0), 5)

    bars = []
    for run in runs:
        begun = _time(run.get("created_at"))
        if begun is None:
            continue
        finished = _time(run.get("updated_at")) if run.get("finalised") else None
        steps = []
        for step in _steps(run, now):
            step_start = _time(step.get("started_at"))
            if step_start is None:
                continue
            step_end = _time(step.get("ended_at")) or now
            steps.append({**step, "x0": x(step_start), "x1": x(step_end)})
        bars.append(
            {
                "run_key": run.get("run_key"),
                "status": run.get("status"),
                "decision": _decision(run),
                "x0": x(begun),
                "x1": x(finished or now),
                "steps": steps,
            }
        )
    marks = [m for m in (_mark(e, x) for e in ledger) if m is not None]
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "runs": bars,
        "marks": marks,
        "production": _production_segments(history, end, x),
    }


def _mark(entry: Mapping[str, Any], x: Any) -> JSON | None:
    """A ledger entry as a mark: ``lane`` arrival (a data blob's decision), decision
    (other triggers, operator actions, run events) or verdict (the gate's)."""
    at = _time(entry.get("at"))
    if at is None:
        return None
    kind = str(entry.get("kind"))
    trigger = str(entry.get("trigger") or "")
    if kind == "gate":
        lane = "verdict"
    elif kind == "trigger" and ("new data" in trigger or "without an event" in trigger):
        lane = "arrival"
    else:
        lane = "decision"
    return {
        "lane": lane,
        "x": x(at),
        "at": at.isoformat(),
        "kind": kind,
        "action": entry.get("action"),
        "label": f"{entry.get('action')}: {entry.get('reason')}",
        "run_key": entry.get("run_key"),
    }


def _production_segments(history: Iterable[Mapping[str, Any]], end: datetime, x: Any) -> list[JSON]:
    """Where the production alias pointed, from move to move (none before the first)."""
    moves = [(t, h.get("to_version")) for h in history if (t := _time(h.get("at"))) is not None]
    moves.sort(key=lambda move: move[0])
    segments = []
    for index, (at, version) in enumerate(moves):
        until = moves[index + 1][0] if index + 1 < len(moves) else end
        if version is None:
            continue
        segments.append({"version": version, "x0": x(at), "x1": x(until), "since": at.isoformat()})
    return segments


# ------------------------------------------------------------------------------ inputs kept


def _dead_letter(letter: Mapping[str, Any]) -> JSON:
    return {
        "id": letter.get("id"),
        "received_at": letter.get("received_at"),
        "source": letter.get("source"),
        "error_type": letter.get("error_type"),
        "reason": letter.get("reason"),
        "retryable": letter.get("retryable"),
        "size": letter.get("size"),
        "payload_preview": letter.get("payload_preview"),
    }


def _quarantined(record: Mapping[str, Any]) -> JSON:
    return {
        "blob": record.get("blob"),
        "model": record.get("model"),
        "etag": record.get("etag"),
        "reason": record.get("reason"),
        "at": record.get("at"),
    }


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _time(value: Any) -> datetime | None:
    try:
        return parse_time(value)
    except InvalidInput:
        return None
