"""Recording decisions: ledger records (one per decision, or one for the decisions
taken together) and the processed-event marks of non-arrival triggers.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from shared.errors import ConflictError, NotFound
from shared.messages import (
    DriftAlerted,
    NewDataArrived,
    TriggerMessage,
)
from shared.ports import JSON
from shared.service.context import Context
from shared.service.groupcommit import cache_for
from shared.service.outcome import Outcome
from shared.settings import ModelConfig

log = logging.getLogger(__name__)


_Entry = tuple[Outcome, str, list[str]]


def ledger_key(model: str, now: datetime) -> str:
    return f"ledger/{model}/{now:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:8]}.json"


def ledger_record(config: ModelConfig, entries: Sequence[_Entry], now: datetime) -> JSON:
    """The ledger record of decisions taken together: for one, as ``Context.ledger`` writes
    it; for several, one record holding them all (``decisions``, each shaped as a record
    of its own), with every trigger and event at its top level."""
    at = now.isoformat()
    decisions = [
        {"at": at, "kind": "trigger", **o.as_dict(), "trigger": t, "events": e}
        for o, t, e in entries
    ]
    if len(decisions) == 1:
        return decisions[0]
    return _batch(config.name, at, decisions, "taken together")


def _batch(model: str, at: str, decisions: Sequence[JSON], how: str) -> JSON:
    actions: dict[str, int] = {}
    for d in decisions:
        actions[str(d.get("action"))] = actions.get(str(d.get("action")), 0) + 1
    run_keys = [d["run_key"] for d in decisions if d.get("run_key")]
    return {
        "at": at,
        "kind": "trigger",
        "model": model,
        "action": "batch",
        "reason": f"{len(decisions)} decisions {how}: "
        + ", ".join(f"{n} {a}" for a, n in sorted(actions.items())),
        "run_key": run_keys[0] if run_keys else None,
        "trigger": "; ".join(str(d.get("trigger", "")) for d in decisions),
        "events": [event for d in decisions for event in d.get("events") or ()],
        "decisions": list(decisions),
    }


def _write_ledger(config: ModelConfig, entries: Sequence[_Entry], ctx: Context) -> None:
    """One ledger record for the decisions taken together (``ledger_record``)."""
    if not entries:
        return
    if len(entries) == 1:
        outcome, trigger, events = entries[0]
        ctx.ledger(config.name, "trigger", outcome, trigger=trigger, events=events)
        return
    now = ctx.clock.now()
    ctx.state.create(ledger_key(config.name, now), ledger_record(config, entries, now))
    announce(config, entries, now)


def announce(config: ModelConfig, entries: Sequence[_Entry], now: datetime) -> None:
    """Each decision's log line and telemetry record (``Context.ledger`` does the same for
    the one record it writes)."""
    from shared import telemetry

    for outcome, trigger, events in entries:
        Context.log_decision(config.name, "trigger", outcome)
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


# ------------------------------------------------------------------------------ journal
#
# The arrival path writes its ledger record with the decision, in the same conditional
# write of the model's policy head (``ModelState.journal``): one write per commit instead
# of two, and a decision is never kept without its record. The journal is moved into the
# ledger (``flush_journal``) once it holds ``JOURNAL_DECISIONS`` decisions, when the
# instance has no arrival left in flight (so a quiet instance answers with its ledger
# complete), before a record written directly after it, and by the sweep (what an
# instance that died left in its head). Until then, a decision is in the head.

JOURNAL_DECISIONS = 64


def journal_entry(config: ModelConfig, entries: Sequence[_Entry], now: datetime) -> JSON:
    """The journal's form of the ledger record for ``entries``: its key and the record."""
    return {"key": ledger_key(config.name, now), "record": ledger_record(config, entries, now)}


def journal_size(journal: Iterable[Mapping[str, Any]]) -> int:
    """How many decisions a journal holds."""
    return sum(len(j["record"].get("decisions") or (1,)) for j in journal)


class _Flushed:
    """Journal entries this instance knows are in the ledger, per model (keys)."""

    SIZE = 4096

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.keys: OrderedDict[str, None] = OrderedDict()

    def add(self, keys: Iterable[str]) -> None:
        with self.lock:
            for key in keys:
                self.keys[key] = None
                self.keys.move_to_end(key)
            while len(self.keys) > self.SIZE:
                self.keys.popitem(last=False)

    def __contains__(self, key: object) -> bool:
        with self.lock:
            return key in self.keys


def unflushed(journal: Iterable[Mapping[str, Any]], ctx: Context) -> tuple[JSON, ...]:
    """The entries of ``journal`` this instance does not know to be in the ledger."""
    flushed = cache_for(ctx.state, "journal-flushed", _Flushed)
    return tuple(dict(j) for j in journal if j["key"] not in flushed)


def flush_journal(config: ModelConfig, journal: Iterable[Mapping[str, Any]], ctx: Context) -> int:
    """Move the journal's records into the ledger: one record holding them all, under the
    first one's key, created if absent. When it exists (another instance, or this one
    before it died, flushed from that entry on), the entries it lists are done and the rest
    go under the next one's key. Idempotent; returns how many entries were written."""
    flushed = cache_for(ctx.state, "journal-flushed", _Flushed)
    waiting = [j for j in journal if j["key"] not in flushed]
    written = 0
    while waiting:
        key = str(waiting[0]["key"])
        records = [j["record"] for j in waiting]
        decisions = [d for r in records for d in (r.get("decisions") or [r])]
        document = (
            records[0]
            if len(records) == 1
            else _batch(config.name, str(records[0]["at"]), decisions, "from the journal")
        )
        document = {**document, "journal": [j["key"] for j in waiting]}
        try:
            ctx.state.create(key, document)
        except ConflictError:
            try:
                existing = ctx.state.get(key)[0]
            except NotFound:
                continue  # deleted meanwhile (cannot happen to a ledger record); try again
            done = set(existing.get("journal") or [key]) | {key}
        else:
            done = {str(j["key"]) for j in waiting}
            written += len(waiting)
        flushed.add(done)
        waiting = [j for j in waiting if j["key"] not in done]
    return written


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
