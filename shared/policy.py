"""The trigger policy: one pure function that turns a trigger into Retrain or Skip.

Built now: duplicate deliveries, non-committing blob APIs, resolved alerts, empty
snapshots, and "this snapshot already has a run" (the run key dedupes every trigger that
sees the same data). Coalescing of bursts, cooldown, one active run per model and data
sufficiency are later work (see docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.messages import (
    COMMITTING_BLOB_APIS,
    DriftAlerted,
    NewDataArrived,
    ScheduleTicked,
    TriggerMessage,
)
from shared.snapshot import Snapshot, run_key


@dataclass(frozen=True)
class Retrain:
    model: str
    run_key: str
    snapshot: Snapshot
    reason: str

    decision = "retrain"


@dataclass(frozen=True)
class Skip:
    model: str | None
    reason: str
    run_key: str | None = None

    decision = "skip"


Decision = Retrain | Skip


def decide(
    message: TriggerMessage,
    *,
    snapshot: Snapshot,
    event_seen: bool,
    existing_run: Mapping[str, Any] | None,
) -> Decision:
    """Retrain or Skip, with the reason in words.

    ``event_seen``: this delivery's event id was processed before. ``existing_run``: the
    run record already stored under this snapshot's run key, if any.
    """
    model = snapshot.model
    if isinstance(message, NewDataArrived) and message.api not in COMMITTING_BLOB_APIS:
        return Skip(model, f"blob API {message.api!r} does not commit data; waiting for it")
    if event_seen:
        event_id = getattr(message, "event_id", None) or getattr(message, "alert_id", "?")
        return Skip(model, f"duplicate delivery of event {event_id}")
    if isinstance(message, DriftAlerted) and message.resolved:
        return Skip(model, f"alert {message.alert_id} was resolved; nothing to do")
    if snapshot.empty:
        return Skip(model, f"no data files under {snapshot.prefix!r} yet")
    key = run_key(snapshot)
    if existing_run is not None:
        status = existing_run.get("status", "unknown")
        if isinstance(message, ScheduleTicked):
            why = f"nothing new since run {key} ({status})"
        else:
            why = f"run {key} ({status}) already covers this data snapshot"
        return Skip(model, why, run_key=key)
    return Retrain(model=model, run_key=key, snapshot=snapshot, reason=message.describe())
