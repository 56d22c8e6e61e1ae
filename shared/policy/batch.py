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
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime

from shared.policy.config import TriggerPolicy
from shared.policy.engine import RECENT, Arrival, Decision, ModelState, Seen, Skip, step


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


def decide_arrivals(
    state: ModelState,
    incoming: Sequence[Incoming],
    *,
    base_files: Mapping[str, str],
    now: datetime,
    policy: TriggerPolicy,
    released: AbstractSet[tuple[str, str]] = frozenset(),
) -> tuple[ModelState, list[Decision]]:
    """The next state and one decision per incoming event, in order: a ``Skip`` for a
    redelivery, a duplicate blob version or a quarantined file, else the policy's
    decision on the arrival (``step``). ``released``: quarantined versions an operator
    released since (no longer seen: their arrival is decided again)."""
    if released:
        state = dataclasses.replace(
            state,
            recent=tuple(s for s in state.recent if (s.blob, etag_of(s.etag)) not in released),
        )
    seen = seen_versions(state, base_files)
    events = seen_events(state)
    recent = list(state.recent)
    decisions: list[Decision] = []
    for item in incoming:
        version = (item.blob, etag_of(item.etag))
        if item.event in events:
            name = item.event.removeprefix("eventgrid:")
            decisions.append(Skip(f"duplicate delivery of event {name}"))
            continue
        events.add(item.event)
        if version in seen or (item.arrival is None and item.quarantined is None):
            how = seen.get(version)
            where = (
                f"as {how}"
                if how
                else f"in the snapshot of run {state.base_run}"
                if version in seen
                else "earlier"
            )
            decisions.append(
                Skip(
                    f"duplicate: blob {item.blob} with ETag {item.etag} was seen already ({where})"
                )
            )
            recent.append(Seen(item.blob, item.etag, item.event))
            continue
        seen[version] = item.event
        if item.quarantined is not None or item.arrival is None:
            recent.append(Seen(item.blob, item.etag, item.event, quarantined=True))
            decisions.append(Skip(f"quarantined: {item.quarantined}"))
            continue
        state, decision = step(state, item.arrival, now=now, policy=policy)
        decisions.append(decision or Skip("nothing to decide"))  # an arrival always decides
    if len(recent) != len(state.recent) or released:
        state = dataclasses.replace(state, recent=tuple(recent[-RECENT:]))
    return state, decisions
