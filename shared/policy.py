"""The trigger policy: one pure function that turns a trigger into Retrain or Skip.

Built now: duplicate deliveries, non-committing blob APIs, resolved alerts, empty
snapshots, "this snapshot already has a run" (the run key dedupes every trigger that sees
the same data), resubmission of a run whose submit failed or got stuck, a new attempt when
the snapshot's latest run failed or was cancelled (up to ``MAX_AUTOMATIC_ATTEMPTS`` per
snapshot, so a run that fails on its data is not retried for ever by the schedule), and a
manual ``force`` that starts a new attempt on the same data. Coalescing of bursts, cooldown, one
active run per model and data sufficiency are later work (see docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.messages import (
    COMMITTING_BLOB_APIS,
    DriftAlerted,
    NewDataArrived,
    RetrainRequested,
    ScheduleTicked,
    TriggerMessage,
)
from shared.parsing import parse_time
from shared.ports import RUN_TERMINAL_STATES
from shared.snapshot import Snapshot, run_key

# A run record still "Submitting" this long after it was written means the instance that
# wrote it died before submitting: the next trigger may submit it.
STUCK_SUBMITTING = timedelta(minutes=15)
# Attempts on one snapshot that triggers may start on their own after failed runs; a
# manual request with force may always start another.
MAX_AUTOMATIC_ATTEMPTS = 3
UNSUCCESSFUL_STATES = frozenset({"Failed", "Canceled"})


@dataclass(frozen=True)
class Retrain:
    model: str
    run_key: str
    snapshot: Snapshot
    reason: str
    resume: bool = False  # submit the existing run record again instead of creating one

    decision = "retrain"


@dataclass(frozen=True)
class Skip:
    model: str | None
    reason: str
    run_key: str | None = None

    decision = "skip"


Decision = Retrain | Skip


def attempt_key(snapshot: Snapshot, attempt: int) -> str:
    """The run key of the n-th attempt on a snapshot (the first has no suffix)."""
    base = run_key(snapshot)
    return base if attempt <= 1 else f"{base}-r{attempt}"


def decide(
    message: TriggerMessage,
    *,
    snapshot: Snapshot,
    event_seen: bool,
    existing_run: Mapping[str, Any] | None,
    attempts: int = 0,
    now: datetime | None = None,
) -> Decision:
    """Retrain or Skip, with the reason in words.

    ``event_seen``: this delivery's event id was processed before. ``existing_run``: the
    latest run record for this snapshot, if any, and ``attempts`` how many there are.
    """
    model = snapshot.model
    if isinstance(message, NewDataArrived) and message.api not in COMMITTING_BLOB_APIS:
        return Skip(model, f"blob API {message.api!r} does not commit data; waiting for it")
    if event_seen:
        event_id = getattr(message, "event_id", None) or getattr(message, "alert_id", "?")
        return Skip(model, f"duplicate delivery of event {event_id}")
    if isinstance(message, DriftAlerted) and message.resolved:
        return Skip(model, f"alert {message.alert_id or '(unnamed)'} was resolved; nothing to do")
    if snapshot.empty:
        return Skip(model, f"no data files under {snapshot.prefix!r} yet")
    if existing_run is None:
        return Retrain(model, attempt_key(snapshot, 1), snapshot, message.describe())
    key = str(existing_run.get("run_key") or run_key(snapshot))
    status = str(existing_run.get("status", "unknown"))
    if status == "SubmitFailed" or _stuck(existing_run, now):
        why = "its submit failed" if status == "SubmitFailed" else "it was never submitted"
        return Retrain(
            model, key, snapshot, f"{message.describe()}; resubmitting run {key}: {why}", True
        )
    if isinstance(message, RetrainRequested) and message.force:
        if status not in RUN_TERMINAL_STATES:
            return Skip(model, f"run {key} ({status}) is still going; force waits for it", key)
        new_key = attempt_key(snapshot, attempts + 1)
        return Retrain(model, new_key, snapshot, f"{message.describe()} (forced after {key})")
    if status in UNSUCCESSFUL_STATES:
        if attempts < MAX_AUTOMATIC_ATTEMPTS:
            new_key = attempt_key(snapshot, attempts + 1)
            why = f"{message.describe()}; run {key} on this data {status.lower()}, trying again"
            return Retrain(model, new_key, snapshot, why)
        return Skip(
            model,
            f"run {key} ({status}) was attempt {attempts} of {MAX_AUTOMATIC_ATTEMPTS} on this "
            "data; fix the cause, then ask for a run with force",
            run_key=key,
        )
    if isinstance(message, ScheduleTicked):
        return Skip(model, f"nothing new since run {key} ({status})", run_key=key)
    return Skip(model, f"run {key} ({status}) already covers this data snapshot", run_key=key)


def _stuck(run: Mapping[str, Any], now: datetime | None) -> bool:
    if run.get("status") != "Submitting" or now is None:
        return False
    created = parse_time(run.get("created_at"))
    return created is not None and now - created > STUCK_SUBMITTING
