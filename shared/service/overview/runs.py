"""A run as the page shows it: its outcome in a few words, its times and its steps'
timings."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from shared.ports import JSON
from shared.service.overview.common import mapping, time_of


def run_summary(run: Mapping[str, Any], now: datetime) -> JSON:
    started = time_of(run.get("created_at"))
    ended = time_of(run.get("updated_at")) if run.get("finalised") else None
    gate = mapping(run.get("gate"))
    trigger = mapping(run.get("trigger"))
    return {
        "run_key": run.get("run_key"),
        "status": run.get("status"),
        "finalised": bool(run.get("finalised")),
        "started_at": started.isoformat() if started else None,
        "ended_at": ended.isoformat() if ended else None,
        "seconds": round(((ended or now) - started).total_seconds(), 1) if started else None,
        "trigger": trigger.get("reason"),
        "decision": decision(run),
        "gate_passed": gate.get("passed"),
        "model_version": run.get("model_version"),
        "promoted": run.get("promoted"),
        "error": run.get("error"),
        "report_url": f"runs/{run.get('run_key')}/report",
        "steps": run_steps_timed(run, now),
    }


def decision(run: Mapping[str, Any]) -> str:
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


def run_steps_timed(run: Mapping[str, Any], now: datetime) -> list[JSON]:
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
        started = time_of(step.get("started_at"))
        ended = time_of(step.get("finished_at"))
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
