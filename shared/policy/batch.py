"""Deciding several arrivals of one model in one step of its state.

The service gathers the BlobCreated events that reach one instance at the same time (a
batched delivery, concurrent deliveries) and decides them together: one read-change-write
of ``policy/<model>.json``. Duplicates are recognised inside the state itself, so an
event costs no storage operation of its own to be told apart from another:

- a blob version is *seen* when it waits in the pending requests, is in the active run
  (``firing``), is in the snapshot of the run the next one extends (``base_run``), or is
  among the state's ``recent`` (quarantined versions, versions announced again under
  another event id);
- an event id seen before (pending, firing, recent) is a redelivery.
Pure: the base run's files are given.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime

from shared.policy.config import TriggerPolicy
from shared.policy.engine import RECENT, Arrival, Decision, ModelState, Request, Seen, Skip, step


@dataclass(frozen=True)
class Incoming:
    """One BlobCreated for a committed blob version, as the service found it: ``arrival``
    when its file was read and passed the check, ``quarantined`` (why) when it failed the
    check, neither when it was not read (the service knew it as seen)."""

    event: str
    blob: str
    etag: str
    reason: str
    arrival: Arrival | None = None
    quarantined: str | None = None


def etag_of(etag: str) -> str:
    """An ETag as compared: without its quotes (listings quote it, events do not)."""
    return etag.strip('"')


def seen_versions(state: ModelState, base_files: Mapping[str, str]) -> dict[tuple[str, str], str]:
    """Every blob version the state knows as seen -> the event that brought it ("" for the
    base run's snapshot, whose events are not kept). ``base_files``: name -> ETag."""
    seen = {(name, etag_of(etag)): "" for name, etag in base_files.items()}
    for s in state.recent:
        seen[(s.blob, etag_of(s.etag))] = s.event
    for r in (*state.firing, *state.pending):
        if r.kind == "arrival" and r.blob and r.etag:
            seen[(r.blob, etag_of(r.etag))] = r.event or ""
    return seen


def quarantined_versions(state: ModelState) -> set[tuple[str, str]]:
    """The blob versions the state remembers as quarantined."""
    return {(s.blob, etag_of(s.etag)) for s in state.recent if s.quarantined}


def seen_events(state: ModelState) -> set[str]:
    return {s.event for s in state.recent if s.event} | {
        r.event for r in (*state.firing, *state.pending) if r.event
    }


@dataclass(frozen=True)
class SeenIndex:
    """What a state knows as seen, kept beside it so deciding a batch does not rebuild it:
    the blob versions and event ids of its queue (``firing`` then ``pending``) and of its
    ``recent``. Derived from the previous state's index when the queue only grew
    (``next_index``)."""

    queue_versions: dict[tuple[str, str], str]
    queue_events: frozenset[str] | set[str]
    recent_versions: dict[tuple[str, str], str]
    recent_events: frozenset[str] | set[str]
    recent: tuple[Seen, ...]
    firing: tuple[Request, ...]
    pending_length: int
    # names of the blobs with a version in the queue
    queue_blobs: frozenset[str] | set[str] = frozenset()

    def how(self, version: tuple[str, str], base_files: Mapping[str, str]) -> str | None:
        """The event that brought ``version`` ("" for the base run's snapshot), or None
        when it is not seen."""
        found = self.queue_versions.get(version)
        if found is None:
            found = self.recent_versions.get(version)
        if found is None and etag_of(base_files.get(version[0], "\0")) == version[1]:
            found = ""
        return found

    def has_event(self, event: str) -> bool:
        return event in self.queue_events or event in self.recent_events


def _add_requests(
    versions: dict[tuple[str, str], str],
    events: set[str],
    blobs: set[str],
    requests: Sequence[Request],
) -> None:
    for r in requests:
        if r.event:
            events.add(r.event)
        if r.kind == "arrival" and r.blob:
            blobs.add(r.blob)
            if r.etag:
                versions[(r.blob, etag_of(r.etag))] = r.event or ""


def _recent_part(
    recent: tuple[Seen, ...],
) -> tuple[dict[tuple[str, str], str], set[str]]:
    return {(s.blob, etag_of(s.etag)): s.event for s in recent}, {
        s.event for s in recent if s.event
    }


def index_state(state: ModelState) -> SeenIndex:
    versions: dict[tuple[str, str], str] = {}
    events: set[str] = set()
    blobs: set[str] = set()
    _add_requests(versions, events, blobs, (*state.firing, *state.pending))
    return _indexed(state, versions, events, blobs, *_recent_part(state.recent))


def _indexed(
    state: ModelState,
    versions: dict[tuple[str, str], str],
    events: set[str],
    blobs: set[str],
    recent_versions: dict[tuple[str, str], str],
    recent_events: set[str],
) -> SeenIndex:
    """The index of ``state`` from its queue's and its recent part's entries."""
    return SeenIndex(
        versions,
        events,
        recent_versions,
        recent_events,
        state.recent,
        state.firing,
        len(state.pending),
        blobs,
    )


def next_index(previous: tuple[ModelState, SeenIndex] | None, state: ModelState) -> SeenIndex:
    """The index of ``state``, from the previous state's when ``state`` only added to its
    queue (a copy of it and the new requests), else built anew."""
    if previous is None:
        return index_state(state)
    old, index = previous
    if old is state:
        return index
    n = index.pending_length
    if (
        index.firing is not state.firing
        or len(state.pending) < n
        or not all(map(operator.is_, old.pending, state.pending[:n]))
    ):
        return index_state(state)
    versions, events = dict(index.queue_versions), set(index.queue_events)
    blobs = set(index.queue_blobs)
    _add_requests(versions, events, blobs, state.pending[n:])
    if state.recent is index.recent or state.recent == index.recent:
        recent_versions, recent_events = index.recent_versions, set(index.recent_events)
    else:
        recent_versions, recent_events = _recent_part(state.recent)
    return _indexed(state, versions, events, blobs, recent_versions, recent_events)


def decide_arrivals(
    state: ModelState,
    incoming: Sequence[Incoming],
    *,
    base_files: Mapping[str, str],
    now: datetime,
    policy: TriggerPolicy,
    released: AbstractSet[tuple[str, str]] = frozenset(),
    index: SeenIndex | None = None,
) -> tuple[ModelState, list[Decision]]:
    """The next state and one decision per incoming event, in order: a ``Skip`` for a
    redelivery, a duplicate blob version or a quarantined file, else the policy's
    decision on the arrival (``step``). ``released``: quarantined versions an operator
    released since (no longer seen: their arrival is decided again). ``index``: the
    state's ``SeenIndex`` when the caller keeps one (built here otherwise)."""
    if released:
        state = dataclasses.replace(
            state,
            recent=tuple(s for s in state.recent if (s.blob, etag_of(s.etag)) not in released),
        )
        index = None
    if index is None:
        index = index_state(state)
    # what this batch adds, looked up before the index
    added: dict[tuple[str, str], str] = {}
    added_blobs: set[str] = set()
    added_events: set[str] = set()
    recent = list(state.recent)
    decisions: list[Decision] = []
    for item in incoming:
        version = (item.blob, etag_of(item.etag))
        if item.event in added_events or index.has_event(item.event):
            name = item.event.removeprefix("eventgrid:")
            decisions.append(Skip(f"duplicate delivery of event {name}"))
            continue
        added_events.add(item.event)
        how = added[version] if version in added else index.how(version, base_files)
        if how is not None or (item.arrival is None and item.quarantined is None):
            where = (
                f"as {how}"
                if how
                else f"in the snapshot of run {state.base_run}"
                if how is not None
                else "earlier"
            )
            decisions.append(
                Skip(
                    f"duplicate: blob {item.blob} with ETag {item.etag} was seen already ({where})"
                )
            )
            recent.append(Seen(item.blob, item.etag, item.event))
            continue
        added[version] = item.event
        if item.quarantined is not None or item.arrival is None:
            recent.append(Seen(item.blob, item.etag, item.event, quarantined=True))
            decisions.append(Skip(f"quarantined: {item.quarantined}"))
            continue
        # nothing to replace when no version of the blob is queued (the queue is not searched)
        new_blob = item.blob not in index.queue_blobs and item.blob not in added_blobs
        added_blobs.add(item.blob)
        state, decision = step(state, item.arrival, now=now, policy=policy, new_blob=new_blob)
        decisions.append(decision or Skip("nothing to decide"))  # an arrival always decides
    if len(recent) != len(state.recent) or released:
        state = dataclasses.replace(state, recent=tuple(recent[-RECENT:]))
    return state, decisions
