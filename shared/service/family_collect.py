"""The sweep's collection of the history chain documents left by moves that were never
made (a finalisation or operator action that lost its compare-and-swap, or died before
it): see ``shared.service.family_history`` for the pending markers this reads.

``collect_orphans`` lists the markers (one listing for every family), and for each whose
move is older than ``ORPHAN_AGE``, oldest first, reads the family's pointer document
(once per family) and follows the marker's probe series back along its chain to learn
whether the move was made. Made: the marker is deleted, its documents kept. Not made:
its documents are deleted, then the marker. Deleting stops at ``SWEEP_DOCUMENTS``
documents, and at most ``SWEEP_MARKERS`` markers are looked at (each walk reads at most
``WALK_LIMIT`` entries), so one sweep's work is bounded; the marker of a move cut short
stays, and the next sweep finishes it (a delete of a document already gone does
nothing). A marker whose move cannot be decided (its probe's chain broken, or longer than
``WALK_LIMIT`` entries since) is set aside under ``UNDECIDED_PREFIX`` with its documents
kept, so it neither holds a place among the markers looked at nor is walked again by every
sweep; an operator reads it there (nothing is deleted on a doubt).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.errors import ConflictError, NotFound
from shared.ports import JSON
from shared.service.context import Context
from shared.service.family import read_production
from shared.service.family_history import (
    ORPHAN_AGE,
    PENDING_PREFIX,
    SWEEP_DOCUMENTS,
    SWEEP_MARKERS,
    WALK_LIMIT,
    chain_key,
    name_time,
)

log = logging.getLogger(__name__)

UNDECIDED_PREFIX = "family-history-undecided/"


@dataclass
class Collected:
    """What one sweep did with the pending markers."""

    deleted: list[str] = field(default_factory=list)  # chain documents deleted (keys)
    orphaned: list[str] = field(default_factory=list)  # moves not made, all collected
    settled: list[str] = field(default_factory=list)  # moves made: marker dropped only
    undecided: list[str] = field(default_factory=list)  # set aside, documents kept
    left: int = 0  # old markers left for the next sweep (budget spent)


def collect_orphans(
    ctx: Context, *, budget: int = SWEEP_DOCUMENTS, markers: int = SWEEP_MARKERS
) -> Collected:
    """Collect the chain documents of moves that were never made, deleting at most
    ``budget`` documents and looking at most at ``markers`` markers this time (module
    docstring)."""
    done = Collected()
    now = ctx.clock.now()
    old = []
    for key in ctx.state.list_keys(PENDING_PREFIX):
        model, _, name = key.removeprefix(PENDING_PREFIX).removesuffix(".json").partition("/")
        made = name_time(name)
        if made is None or not model:
            log.warning("sweep: %s is no pending history marker; left alone", key)
        elif now - made >= ORPHAN_AGE:
            old.append((made, model, name, key))
    documents: dict[str, JSON] = {}
    for examined, (_, model, name, key) in enumerate(sorted(old)):
        if len(done.deleted) >= budget or examined >= markers:
            done.left += 1
            continue
        try:
            marker = ctx.state.get(key)[0]
        except NotFound:  # another sweep finished it
            continue
        if model not in documents:
            documents[model] = read_production(ctx, model)[0]
        was_made = _was_made(ctx, model, name, marker, documents[model])
        if was_made is None:
            _set_aside(ctx, key, model, name, marker)
            done.undecided.append(f"{model}/{name}")
        elif was_made:
            ctx.state.delete(key)
            done.settled.append(f"{model}/{name}")
        else:
            buckets = [str(b) for b in marker.get("buckets") or ()]
            now_deleting = buckets[: budget - len(done.deleted)]
            for bucket in now_deleting:
                ctx.state.delete(chain_key(model, f"{bucket}/{name}"))
                done.deleted.append(chain_key(model, f"{bucket}/{name}"))
            if len(now_deleting) < len(buckets):
                done.left += 1  # the marker stays: the next sweep deletes the rest
            else:
                ctx.state.delete(key)
                done.orphaned.append(f"{model}/{name}")
    if done.orphaned or done.deleted:
        log.warning(
            "sweep: %d history chain document(s) of %d move(s) never made collected "
            "(an attempt lost its compare-and-swap or died before it)",
            len(done.deleted),
            len(done.orphaned),
        )
    return done


def _set_aside(ctx: Context, key: str, model: str, name: str, marker: JSON) -> None:
    """Move an undecided marker to ``UNDECIDED_PREFIX`` (its documents stay)."""
    try:
        ctx.state.create(f"{UNDECIDED_PREFIX}{model}/{name}.json", marker)
    except ConflictError:
        pass  # another sweep set it aside first
    ctx.state.delete(key)


def _was_made(
    ctx: Context, model: str, name: str, marker: Mapping[str, Any], document: Mapping[str, Any]
) -> bool | None:
    """Whether the move ``name`` was swapped into the pointer document: found on its
    probe series' chain, followed back from the document until an entry timed
    ``ORPHAN_AGE`` before the move (no later swap is timed that early) or the chain's
    start. None when undecided: not within ``WALK_LIMIT`` reads, or an entry of the chain
    is missing or misnamed (nothing is deleted on a doubt)."""
    probe = marker.get("probe")
    made = name_time(name)
    if not isinstance(probe, str) or made is None:
        return False  # a marker without its probe names no move anything could have made
    cursor = (document.get("history") or {}).get(probe)
    for _ in range(WALK_LIMIT):
        if not isinstance(cursor, str):
            return False
        _, _, there = cursor.partition("/")
        if there == name:
            return True
        when = name_time(there)
        if when is None:
            break
        if when < made - ORPHAN_AGE:
            return False
        try:
            found = ctx.state.get(chain_key(model, cursor))[0]
        except NotFound:
            break
        cursor = ((found.get("series") or {}).get(probe) or {}).get("prior")
    log.warning(
        "sweep: whether move %s of %s was made is undecided (its probe's chain is longer "
        "than %d entries since, or broken at %s); its documents are kept and its marker set "
        "aside under %s",
        name,
        model,
        WALK_LIMIT,
        cursor,
        UNDECIDED_PREFIX,
    )
    return None
