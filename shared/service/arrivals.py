"""The arrival path (BlobCreated): each event's blob is checked once, then the arrivals
of a model that reach this instance at the same time are decided in one state update
(a group commit, ``shared/service/groupcommit.py``), duplicates recognised inside the
state (``shared/policy/batch.py``), one ledger record holding their decisions.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.errors import InvalidData, NotFound
from shared.messages import (
    COMMITTING_BLOB_APIS,
    NewDataArrived,
)
from shared.policy import (
    Arrival,
    Decision,
    ModelState,
    Retrain,
)
from shared.policy.batch import (
    Incoming,
    decide_arrivals,
    etag_of,
    quarantined_versions,
)
from shared.policy.engine import UNCHECKED, Skip
from shared.ports import DataFile
from shared.service.catchup import _quarantine_record, read_and_check
from shared.service.context import Context
from shared.service.decide import _act, _outcome
from shared.service.decisions import (
    JOURNAL_DECISIONS,
    _Entry,
    _mark_seen,
    _record,
    _write_ledger,
    announce,
    flush_journal,
    journal_entry,
    journal_size,
    unflushed,
)
from shared.service.forecast_error import _forecast_errors, _scoring_champion
from shared.service.groupcommit import GroupCommit, Slot, cache_for
from shared.service.outcome import Outcome
from shared.service.policystate import (
    _base_files,
    _index,
    _known,
    _update_state,
    cached_journals,
)
from shared.settings import ModelConfig

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------ arrivals


@dataclass
class _Arriving:
    """One BlobCreated on its way to the model's group commit."""

    incoming: Incoming
    blob: DataFile
    content: bytes = b""
    gone: bool = False
    problem: InvalidData | None = None


# Arrivals reaching this instance at the same time are decided per model in one state
# update (shared/service/groupcommit.py); a commit waits for the arrivals of its model
# whose files are being read (at most GATHER_SECONDS).
_ARRIVALS: GroupCommit[_Arriving, Outcome] = GroupCommit()


def _arrival(message: NewDataArrived, config: ModelConfig, ctx: Context) -> Outcome:
    event = f"eventgrid:{message.event_id}"
    what = message.describe()
    if message.api not in COMMITTING_BLOB_APIS:
        outcome = Outcome(
            config.name, "skip", f"blob API {message.api!r} does not commit data; waiting for it"
        )
        _mark_seen(event, what, ctx)
        return _record(config, outcome, what, [event], ctx)
    blob = DataFile(message.blob_name, message.etag, message.size)
    in_flight = cache_for(ctx.state, "arrivals-in-flight", _InFlight)
    in_flight.enter()
    key = (id(ctx.state), config.name)
    # the model's next commit waits for this arrival while its file is read (gathering)
    ticket = _ARRIVALS.announce(key)
    try:
        item = _read_arrival(config, blob, event, what, ctx)
        outcome = _ARRIVALS.submit(
            key, item, lambda slots: _commit_arrivals(config, slots, ctx), ticket
        )
    finally:
        _ARRIVALS.withdraw(ticket)
        if in_flight.leave() == 0:
            _flush_when_idle(ctx)
    if item.problem is not None:  # quarantined (and recorded): the input can never succeed
        raise item.problem
    return outcome


def _read_arrival(
    config: ModelConfig, blob: DataFile, event: str, what: str, ctx: Context
) -> _Arriving:
    """Read and check the blob, unless what this instance last saw of the model's state
    knows it already (a redelivery or a duplicate costs no read). A bad file is decided
    (and its quarantine record written) by the commit."""
    bare = Incoming(event, blob.name, blob.etag, what)
    known = _known(config, ctx)
    if known is not None and known(event, (blob.name, etag_of(blob.etag))):
        return _Arriving(bare, blob)
    if _check_at_launch(config, ctx):
        arrival = Arrival(what, event, blob.name, blob.etag, blob.size, UNCHECKED)
        return _Arriving(Incoming(event, blob.name, blob.etag, what, arrival=arrival), blob)
    try:
        rows, content = read_and_check(config, blob, ctx)
    except InvalidData as exc:  # its quarantine record is written once it is decided so
        quarantined = Incoming(event, blob.name, blob.etag, what, quarantined=str(exc))
        return _Arriving(quarantined, blob, problem=exc)
    except NotFound:
        return _Arriving(bare, blob, gone=True)
    arrival = Arrival(what, event, blob.name, blob.etag, blob.size, rows)
    return _Arriving(Incoming(event, blob.name, blob.etag, what, arrival=arrival), blob, content)


def _check_at_launch(config: ModelConfig, ctx: Context) -> bool:
    """Whether an arrival of this model is decided from its event alone, its file checked
    when its snapshot launches (``TriggerPolicy.check_on_arrival`` false): not when the
    policy needs the rows now (``min_new_rows``) or new files are scored against the
    production model's forecast (which reads them)."""
    policy = config.policy
    if policy.check_on_arrival or policy.min_new_rows:
        return False
    return policy.forecast_error_multiple is None or _scoring_champion(config, ctx) is None


def _commit_arrivals(
    config: ModelConfig, slots: Sequence[Slot[_Arriving, Outcome]], ctx: Context
) -> None:
    """Decide the arrivals waiting for one model: one state update for all of them (one
    conditional write; none when all were duplicates and nothing is journaled), their
    ledger record in the same write (the journal, ``shared/service/decisions.py``) while
    other arrivals are in flight on this instance, unless one of them launches a run (then,
    or when alone, the record is written after the state, as before), then the forecast
    error of the new files."""
    entries: list[_Entry] = []
    accepted: list[_Arriving] = []
    journaled: list[_Entry] | None = None
    state: ModelState | None = None
    now = ctx.clock.now()
    try:
        live = []
        for slot in slots:
            if slot.item.gone:
                # Not checked, so it joins no snapshot; if it comes back the sweep finds it.
                why = f"blob {slot.item.blob.name} was gone before it could be checked"
                log.warning("%s: %s", config.name, why)
                outcome = Outcome(config.name, "skip", why)
                slot.settle(
                    _record(
                        config,
                        outcome,
                        slot.item.incoming.reason,
                        [slot.item.incoming.event],
                        ctx,
                        into=entries,
                    )
                )
            else:
                live.append(slot)
        if not live:
            return
        incoming = [slot.item.incoming for slot in live]
        box: dict[str, list[_Entry]] = {}
        # Alone on this instance (no other arrival in flight): the record is written after
        # the state, as before; the journal pays when other commits follow this one.
        alone = cache_for(ctx.state, "arrivals-in-flight", _InFlight).count <= len(slots)

        def change(s: ModelState) -> tuple[ModelState, list[Decision]]:
            new, decisions = decide_arrivals(
                s,
                incoming,
                base_files=_base_files(s, ctx, missing_ok=True),
                now=now,
                policy=config.policy,
                released=_released(s, incoming, ctx),
                index=_index(config, s, ctx),
            )
            box.pop("journaled", None)
            if alone or entries or any(isinstance(d, Retrain) for d in decisions):
                return new, decisions  # recorded once acted on, as before
            mine = [
                (_outcome(config, d), slot.item.incoming.reason, [slot.item.incoming.event])
                for slot, d in zip(live, decisions, strict=True)
            ]
            box["journaled"] = mine
            journal = (*unflushed(s.journal, ctx), journal_entry(config, mine, now))
            return dataclasses.replace(new, journal=journal), decisions

        state, decisions = _update_state(config, change, ctx)
        journaled = box.get("journaled")
        for index, (slot, decision) in enumerate(zip(live, decisions, strict=True)):
            item = slot.item
            if not decision.reason.startswith("quarantined"):
                item.problem = None  # a duplicate of a quarantined file: nothing to refuse
            elif item.problem is not None:
                try:
                    _quarantine_record(item.blob, item.problem, ctx)
                except Exception as exc:
                    slot.settle(error=exc)
                    continue
                log.warning("%s: QUARANTINED %s: %s", config.name, item.blob.name, item.problem)
            if (
                item.content
                and item.incoming.arrival is not None
                and not isinstance(decision, Skip)
            ):
                accepted.append(item)
            if journaled is not None:  # recorded with the state
                slot.settle(journaled[index][0])
                continue
            try:
                outcome = _act(
                    config,
                    state,
                    decision,
                    ctx,
                    trigger=item.incoming.reason,
                    events=[item.incoming.event],
                    into=entries,
                )
            except Exception as exc:
                slot.settle(error=exc)
            else:
                slot.settle(outcome)
    finally:
        if journaled is not None:
            announce(config, journaled, now)
        elif entries:
            # the journal's records first, so the ledger keeps the order of decisions
            if state is not None and state.journal:
                _flush(config, state.journal, ctx)
            _write_ledger(config, entries, ctx)
    if state is not None and journal_size(unflushed(state.journal, ctx)) >= JOURNAL_DECISIONS:
        _flush(config, state.journal, ctx)
    _forecast_errors(config, accepted, ctx)  # after the arrivals' own record


def _flush(config: ModelConfig, journal: Sequence[Mapping[str, Any]], ctx: Context) -> None:
    """``flush_journal``; a failure is logged (the records wait in the head)."""
    try:
        flush_journal(config, journal, ctx)
    except Exception:
        log.warning(
            "%s: the ledger journal was not flushed; it waits in the policy state",
            config.name,
            exc_info=True,
        )


class _InFlight:
    """Arrivals being handled by this instance (all models)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count = 0

    def enter(self) -> None:
        with self.lock:
            self.count += 1

    def leave(self) -> int:
        with self.lock:
            self.count -= 1
            return self.count


def _flush_when_idle(ctx: Context) -> None:
    """The last arrival out flushes every journal this instance holds, so an instance that
    goes quiet has its decisions in the ledger (under load, a journal fills instead)."""
    for name, journal in cached_journals(ctx):
        config = ctx.models.get(name)
        if config is not None and unflushed(journal, ctx):
            _flush(config, journal, ctx)


def _released(
    state: ModelState, incoming: Sequence[Incoming], ctx: Context
) -> set[tuple[str, str]]:
    """Versions among ``incoming`` the state remembers as quarantined whose quarantine
    record is gone or names another version: an operator released them (one read each,
    only for such versions)."""
    quarantined = quarantined_versions(state)
    released = set()
    for item in incoming:
        version = (item.blob, etag_of(item.etag))
        if version not in quarantined or version in released:
            continue
        try:
            record = ctx.state.get(f"quarantine/{item.blob}.json")[0]
        except NotFound:
            released.add(version)
            continue
        if etag_of(str(record.get("etag", ""))) != version[1]:
            released.add(version)
    return released
