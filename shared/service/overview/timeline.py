"""A model's timeline: run bars with step bars, arrival, decision and verdict marks, and
the production pointer's segments, each placed as a fraction of the span."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from shared.ports import JSON
from shared.service.overview.common import time_of
from shared.service.overview.runs import decision, run_steps_timed

# A timeline starts this fraction of its length before its first event, and spans at
# least MIN_SPAN.
MARGIN = 0.04


MIN_SPAN = timedelta(minutes=1)


def timeline(
    *,
    runs: Sequence[Mapping[str, Any]],
    ledger: Sequence[Mapping[str, Any]],
    history: Sequence[Mapping[str, Any]],
    now: datetime,
    family: bool = False,
) -> JSON:
    """A model's timeline: run bars (with step bars), arrival and decision marks, gate
    verdicts and the production pointer's segments, each placed as a fraction of the
    span from the first thing that happened to ``now``. Entries without a readable time
    are left out.

    A family (``family``) has no model-wide production: each series has its own pointer,
    and a family's history entry names the run version that served the series it moved,
    not what serves the model. Its timeline draws no production segments and says
    ``production_per_series`` (the page points at the family section instead)."""
    moments = [
        t
        for t in (
            *(time_of(r.get("created_at")) for r in runs),
            *(time_of(e.get("at")) for e in ledger),
            *(time_of(h.get("at")) for h in history),
        )
        if t is not None
    ]
    if not moments:
        return {
            "start": None,
            "end": now.isoformat(),
            "runs": [],
            "marks": [],
            "production": [],
            "production_per_series": family,
        }
    first = min(moments)
    end = max(now, *moments)
    # A margin before the first thing, so its mark is not cut at the edge.
    start = min(first - (end - first) * MARGIN, end - MIN_SPAN)
    span = (end - start).total_seconds()

    def x(moment: datetime) -> float:
        return round(min(max((moment - start).total_seconds() / span, 0.0), 1.0), 5)

    bars = []
    for run in runs:
        begun = time_of(run.get("created_at"))
        if begun is None:
            continue
        finished = time_of(run.get("updated_at")) if run.get("finalised") else None
        steps = []
        for step in run_steps_timed(run, now):
            step_start = time_of(step.get("started_at"))
            if step_start is None:
                continue
            step_end = time_of(step.get("ended_at")) or now
            steps.append({**step, "x0": x(step_start), "x1": x(step_end)})
        bars.append(
            {
                "run_key": run.get("run_key"),
                "status": run.get("status"),
                "decision": decision(run),
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
        "production": [] if family else _production_segments(history, end, x),
        "production_per_series": family,
    }


def _mark(entry: Mapping[str, Any], x: Any) -> JSON | None:
    """A ledger entry as a mark: ``lane`` arrival (a data blob's decision), decision
    (other triggers, operator actions, run events) or verdict (the gate's)."""
    at = time_of(entry.get("at"))
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
    moves = [(t, h.get("to_version")) for h in history if (t := time_of(h.get("at"))) is not None]
    moves.sort(key=lambda move: move[0])
    segments = []
    for index, (at, version) in enumerate(moves):
        until = moves[index + 1][0] if index + 1 < len(moves) else end
        if version is None:
            continue
        segments.append({"version": version, "x0": x(at), "x1": x(until), "since": at.isoformat()})
    return segments
