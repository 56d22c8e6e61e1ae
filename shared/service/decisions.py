"""Recording decisions: ledger records (one per decision, or one for the decisions
taken together) and the processed-event marks of non-arrival triggers.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import uuid
from collections.abc import Sequence

from shared.errors import ConflictError
from shared.messages import (
    DriftAlerted,
    NewDataArrived,
    TriggerMessage,
)
from shared.service.context import Context
from shared.service.outcome import Outcome
from shared.settings import ModelConfig

log = logging.getLogger(__name__)


_Entry = tuple[Outcome, str, list[str]]


def _write_ledger(config: ModelConfig, entries: Sequence[_Entry], ctx: Context) -> None:
    """One ledger record for the decisions taken together: as ``Context.ledger`` writes it
    for one; for several, one record holding them all (``decisions``, each shaped as a
    record of its own), with every trigger and event at its top level."""
    from shared import telemetry

    if not entries:
        return
    if len(entries) == 1:
        outcome, trigger, events = entries[0]
        ctx.ledger(config.name, "trigger", outcome, trigger=trigger, events=events)
        return
    now = ctx.clock.now()
    at = now.isoformat()
    decisions = [
        {"at": at, "kind": "trigger", **o.as_dict(), "trigger": t, "events": e}
        for o, t, e in entries
    ]
    actions: dict[str, int] = {}
    for o, _, _ in entries:
        actions[o.action] = actions.get(o.action, 0) + 1
    run_keys = [o.run_key for o, _, _ in entries if o.run_key]
    record = {
        "at": at,
        "kind": "trigger",
        "model": config.name,
        "action": "batch",
        "reason": f"{len(entries)} decisions taken together: "
        + ", ".join(f"{n} {a}" for a, n in sorted(actions.items())),
        "run_key": run_keys[0] if run_keys else None,
        "trigger": "; ".join(t for _, t, _ in entries),
        "events": [event for _, _, e in entries for event in e],
        "decisions": decisions,
    }
    key = f"ledger/{config.name}/{now:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:8]}.json"
    ctx.state.create(key, record)
    for outcome, trigger, events in entries:
        ctx.log_decision(config.name, "trigger", outcome)
        telemetry.decision(
            model=config.name,
            kind="trigger",
            action=outcome.action,
            reason=outcome.reason,
            run_key=outcome.run_key,
            details=outcome.details,
            extra={"trigger": trigger, "events": events},
            now=now,
        )


def _record(
    config: ModelConfig,
    outcome: Outcome,
    trigger: str,
    events: Sequence[str | None],
    ctx: Context,
    *,
    into: list[_Entry] | None = None,
) -> Outcome:
    """Record one decision in the ledger, or add it to ``into`` (written together)."""
    kept = [e for e in events if e]
    if into is not None:
        into.append((outcome, trigger, kept))
    else:
        ctx.ledger(config.name, "trigger", outcome, trigger=trigger, events=kept)
    return outcome


def _digest_key(text: str) -> str:
    return f"events/{hashlib.sha256(text.encode()).hexdigest()[:32]}.json"


def _event_id(message: TriggerMessage) -> str | None:
    """What identifies a delivery (listed in the ledger; its digest marks it processed):
    the Event Grid event id, or for an alert without one its id and condition (Azure
    Monitor: alertId + monitorCondition)."""
    if isinstance(message, NewDataArrived):
        return f"eventgrid:{message.event_id}"
    if isinstance(message, DriftAlerted):
        if message.event_id:
            return f"eventgrid:{message.event_id}"
        if message.alert_id:
            state = "resolved" if message.resolved else "fired"
            return f"alert:{message.model}:{message.alert_id}:{state}"
    return None  # an alert without an id cannot be told apart from a new one


def _mark_seen(event: str, what: str, ctx: Context) -> None:
    with contextlib.suppress(ConflictError):
        ctx.state.create(
            _digest_key(event),
            {"event": event, "seen_at": ctx.clock.now().isoformat(), "message": what},
        )
