"""The sweep collects the history chain documents of family moves never made (an attempt
that lost its compare-and-swap, or was killed before it), and nothing any series'
history reaches: not a move killed just after its swap, not a move still in flight."""

from __future__ import annotations

from typing import Any

import pytest

from shared.messages import SweepTicked
from shared.parsing import parse_run_event
from shared.service.family_collect import UNDECIDED_PREFIX, collect_orphans
from shared.service.family_history import (
    ORPHAN_AGE,
    PENDING_PREFIX,
    bucket_of,
    chain_key,
    pending_key,
)
from shared.service.family_ops import get_series, rollback_series
from tests import samples
from tests.family.history_world import SERIES, counted_world, counting, run_year, start_year
from tests.family.service_world import MODEL, FamilyWorld

CHAINS = f"family/{MODEL}/series-history/"
BUCKETS_MOVED = len({bucket_of(uid) for uid in SERIES})


@pytest.fixture
def world() -> FamilyWorld:
    return counted_world()


def chain_documents(world: FamilyWorld) -> set[str]:
    return set(world.state.list_keys(CHAINS))


def live(world: FamilyWorld) -> set[str]:
    """Every chain document some series' history reaches from the pointer document."""
    document = world.state.get(f"family/{MODEL}/production.json")[0]
    reached = set()
    for uid, cursor in document.get("history", {}).items():
        while cursor is not None:
            reached.add(chain_key(MODEL, cursor))
            cursor = world.state.get(chain_key(MODEL, cursor))[0]["series"][uid]["prior"]
    return reached


def pages(world: FamilyWorld) -> dict[str, list[Any]]:
    ctx = world.service.context
    return {
        uid: [(h["action"], h.get("to_version")) for h in get_series(ctx, MODEL, uid)["history"]]
        for uid in SERIES
    }


def sweep(world: FamilyWorld) -> None:
    world.service.handle(SweepTicked(at=world.clock.now()))


def test_the_sweep_collects_exactly_the_documents_of_lost_attempts(world):
    run_year(world, 2002)
    counting(world).conflicts = 2  # another writer moves the pointers first, twice
    run_year(world, 2003)
    counting(world).conflicts = 1  # and once under an operator's rollback
    rollback_series(world.service.context, MODEL, "a", by="ana", reason="spiky")
    run_year(world, 2004)
    before, reached, shown = chain_documents(world), live(world), pages(world)
    orphans = before - reached
    # Two lost attempts of the finalisation (every series' bucket), one of the rollback.
    assert len(orphans) == 2 * BUCKETS_MOVED + 1
    sweep(world)  # too young: a move may still be in flight
    assert chain_documents(world) == before
    world.clock.advance(seconds=ORPHAN_AGE.total_seconds())
    sweep(world)
    assert chain_documents(world) == reached
    assert world.state.list_keys(PENDING_PREFIX) == []
    assert pages(world) == shown
    assert shown["a"] == [("promoted", 1), ("promoted", 2), ("rollback", 1), ("promoted", 3)]


@pytest.mark.parametrize(
    ("prefix", "at"),
    [
        (f"family/{MODEL}/production.json", 1),  # chain written, killed before the swap
        (CHAINS, 2),  # killed while writing the chain (some of its documents written)
    ],
)
def test_a_finalisation_killed_before_its_swap_leaves_what_the_sweep_collects(world, prefix, at):
    run_year(world, 2002)
    key = start_year(world, 2003)
    counting(world).crash(prefix, at)
    event = parse_run_event(samples.run_event(key, run_key=key))
    with pytest.raises(RuntimeError, match="killed"):
        world.service.handle(event)
    world.clock.advance(minutes=11)  # the claim's lease: the platform's retry finishes it
    [outcome] = world.service.handle(event)
    assert outcome.action == "promoted", outcome
    orphans = chain_documents(world) - live(world)
    # The killed attempt's documents: all of them, or those its writers got to (they
    # write a few at a time; the ones not started when one was killed are cancelled).
    assert len({key.rsplit("/", 1)[1] for key in orphans}) == 1
    assert 0 < len(orphans) <= (BUCKETS_MOVED if prefix != CHAINS else BUCKETS_MOVED - 1)
    world.clock.advance(seconds=ORPHAN_AGE.total_seconds())
    sweep(world)
    assert chain_documents(world) == live(world)
    assert world.state.list_keys(PENDING_PREFIX) == []
    assert {uid: [v for _, v in page] for uid, page in pages(world).items()} == {
        uid: [1, 2] for uid in SERIES
    }


def test_a_move_whose_marker_delete_fails_is_made_and_keeps_its_documents(world):
    run_year(world, 2002)
    key = start_year(world, 2003)
    # The marker's create, then its delete once the pointers moved: the delete fails.
    counting(world).crash(PENDING_PREFIX, 2)
    event = parse_run_event(samples.run_event(key, run_key=key))
    # The move is made: a marker left behind does not fail it (the sweep settles it).
    [outcome] = world.service.handle(event)
    assert outcome.action == "promoted", outcome
    assert counting(world).crash_prefix is None  # the delete was indeed refused
    # Later moves put entries after it on every chain (the sweep walks back past them).
    rollback_series(world.service.context, MODEL, "b", by="ana", reason="spiky")
    run_year(world, 2004)
    assert len(world.state.list_keys(PENDING_PREFIX)) == 1
    before, shown = chain_documents(world), pages(world)
    assert before == live(world)
    world.clock.advance(seconds=ORPHAN_AGE.total_seconds())
    sweep(world)
    assert chain_documents(world) == before
    assert world.state.list_keys(PENDING_PREFIX) == []
    assert pages(world) == shown


def test_a_sweep_deletes_a_bounded_number_of_documents_and_the_next_goes_on(world):
    run_year(world, 2002)
    counting(world).conflicts = 3
    run_year(world, 2003)
    reached = live(world)
    assert len(chain_documents(world) - reached) == 3 * BUCKETS_MOVED
    world.clock.advance(seconds=ORPHAN_AGE.total_seconds())
    ctx = world.service.context
    budget = BUCKETS_MOVED + 1
    first = collect_orphans(ctx, budget=budget)
    # The oldest lost attempt in full, one document of the next; both others wait.
    assert len(first.deleted) == budget and len(first.orphaned) == 1 and first.left == 2
    assert len(chain_documents(world) - reached) == 2 * BUCKETS_MOVED - 1
    second = collect_orphans(ctx, budget=budget)
    assert len(second.orphaned) == 1 and second.left == 1
    third = collect_orphans(ctx, budget=budget)
    assert len(third.orphaned) == 1 and third.left == 0
    assert chain_documents(world) == reached
    assert collect_orphans(ctx, budget=budget).deleted == []


def test_a_sweep_looks_at_a_bounded_number_of_markers(world):
    run_year(world, 2002)
    counting(world).conflicts = 3
    run_year(world, 2003)
    world.clock.advance(seconds=ORPHAN_AGE.total_seconds())
    ctx = world.service.context
    first = collect_orphans(ctx, markers=1)
    assert len(first.orphaned) == 1 and first.left == 2
    assert len(first.deleted) == BUCKETS_MOVED
    rest = collect_orphans(ctx, markers=2)
    assert len(rest.orphaned) == 2 and rest.left == 0
    assert chain_documents(world) == live(world)


def test_an_operator_action_whose_marker_delete_fails_is_recorded_once(world):
    run_year(world, 2002)
    run_year(world, 2003)
    counting(world).crash(PENDING_PREFIX, 2)
    ctx = world.service.context
    outcome = rollback_series(ctx, MODEL, "b", by="ana", reason="spiky")
    assert counting(world).crash_prefix is None
    assert outcome.action == "rollback", outcome
    # Its history entry was written although the marker stayed.
    assert pages(world)["b"].count(("rollback", 1)) == 1
    assert len(world.state.list_keys(PENDING_PREFIX)) == 1
    world.clock.advance(seconds=ORPHAN_AGE.total_seconds())
    sweep(world)
    assert world.state.list_keys(PENDING_PREFIX) == []
    assert chain_documents(world) == live(world)


def test_an_undecided_marker_is_set_aside_and_holds_no_place(world):
    run_year(world, 2002)
    counting(world).conflicts = 1
    run_year(world, 2003)  # one lost attempt: a marker the sweep can decide
    ctx = world.service.context
    [lost] = world.state.list_keys(PENDING_PREFIX)
    # A marker just older than it whose probe's chain is misnamed in the pointer
    # document: whether its move was made cannot be told.
    stamp = lost.rsplit("/", 1)[1].partition("-")[0]
    odd = f"{stamp}-00000000"
    document, etag = world.state.get(f"family/{MODEL}/production.json")
    document["history"]["zz"] = "0/not-a-chain-name"
    world.state.replace(f"family/{MODEL}/production.json", document, etag=etag)
    world.state.create(pending_key(MODEL, odd), {"probe": "zz", "buckets": ["0"]})
    world.clock.advance(seconds=ORPHAN_AGE.total_seconds())
    before = chain_documents(world)
    done = collect_orphans(ctx, markers=1)
    assert done.undecided == [f"{MODEL}/{odd}"] and done.deleted == []
    assert chain_documents(world) == before  # nothing deleted on a doubt
    assert world.state.list_keys(UNDECIDED_PREFIX) == [f"{UNDECIDED_PREFIX}{MODEL}/{odd}.json"]
    # The next sweep is not held by it: it looks at the decidable marker.
    again = collect_orphans(ctx, markers=1)
    assert len(again.orphaned) == 1 and again.undecided == [] and again.left == 0
    assert world.state.list_keys(PENDING_PREFIX) == []
