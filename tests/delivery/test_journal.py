"""The arrival path's ledger journal: a commit's ledger record is written with the
decision, in the policy head's one conditional write, and moved into the ledger once the
journal is full, when the instance has no arrival left in flight, or by the sweep (what a
dead instance left in its head); every arrival appears in the ledger once, in order."""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

from shared.messages import SweepTicked
from shared.policy import TriggerPolicy
from shared.service.arrivals import _InFlight
from shared.service.context import expand_ledger
from shared.service.decisions import JOURNAL_DECISIONS, flush_journal
from shared.service.groupcommit import cache_for
from shared.settings import ModelConfig
from tests import samples
from tests.fakes import FakeWorld, metrics_v2

CONFIG = ModelConfig(name="co2", prefix="co2/", horizon=4)


class CountingState:
    """The state store, counting writes by kind of key."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.writes: Counter[str] = Counter()

    def create(self, key: str, document: Any) -> str:
        self.writes[key.split("/")[0]] += 1
        return str(self.inner.create(key, document))

    def replace(self, key: str, document: Any, *, etag: str) -> str:
        self.writes[key.split("/")[0]] += 1
        return str(self.inner.replace(key, document, etag=etag))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def deliver(world: FakeWorld, n: int) -> str:
    message = world.arrive(f"co2/{n:03d}.csv", samples.csv_rows(2000 + n, 1), event_id=f"e{n}")
    return world.service.handle(message)[0].action


def ledger_events(world: FakeWorld) -> list[str]:
    """The events of the decisions stored in the ledger (not those still in the journal,
    which a reader of the ledger also sees)."""
    records = [world.state.get(k)[0] for k in world.state.list_keys("ledger/co2/")]
    return [e for d in expand_ledger(records) for e in d.get("events") or ()]


def test_a_quiet_instance_answers_with_its_decision_in_the_ledger():
    world = FakeWorld((CONFIG,))
    counting = CountingState(world.state)
    world.service.context.state = counting
    assert deliver(world, 0) == "retrain"
    assert deliver(world, 1) == "queued"
    assert ledger_events(world) == ["eventgrid:e0", "eventgrid:e1"]
    [queued] = [d for d in world.ledger() if d["events"] == ["eventgrid:e1"]]
    assert queued["action"] == "queued" and queued["kind"] == "trigger"


def test_under_load_a_commit_writes_the_head_only_until_the_journal_is_full():
    world = FakeWorld((CONFIG,))
    counting = CountingState(world.state)
    world.service.context.state = counting
    assert deliver(world, 0) == "retrain"
    busy = cache_for(counting, "arrivals-in-flight", _InFlight)
    busy.enter()  # another arrival is in flight on this instance all along
    before = counting.writes["ledger"]
    for n in range(1, JOURNAL_DECISIONS):
        assert deliver(world, n) == "queued"
    assert counting.writes["ledger"] == before  # all in the head's journal
    head = world.state.get("policy/co2.json")[0]
    assert len(head["journal"]) == JOURNAL_DECISIONS - 1
    assert deliver(world, JOURNAL_DECISIONS) == "queued"  # full: moved into the ledger
    assert counting.writes["ledger"] == before + 1
    assert ledger_events(world) == [f"eventgrid:e{n}" for n in range(JOURNAL_DECISIONS + 1)]
    assert deliver(world, JOURNAL_DECISIONS + 1) == "queued"
    assert len(world.state.get("policy/co2.json")[0]["journal"]) == 1  # the flushed ones gone
    busy.leave()
    assert deliver(world, JOURNAL_DECISIONS + 2) == "queued"  # the last one out flushes
    assert ledger_events(world) == [f"eventgrid:e{n}" for n in range(JOURNAL_DECISIONS + 3)]


def test_what_a_dead_instance_left_in_its_journal_the_sweep_puts_in_the_ledger_once():
    world = FakeWorld((CONFIG,))
    assert deliver(world, 0) == "retrain"
    busy = cache_for(world.state, "arrivals-in-flight", _InFlight)
    busy.enter()  # it dies with this arrival in flight: nothing is flushed
    for n in range(1, 6):
        assert deliver(world, n) == "queued"
    assert ledger_events(world) == ["eventgrid:e0"]
    journal = world.state.get("policy/co2.json")[0]["journal"]
    # another instance (caches of its own) flushes part of it, then dies
    flush_journal(CONFIG, journal[:2], _context_over(world))
    # the sweep, on a third instance, finds the rest and writes each decision once
    third = _context_over(world)
    world.service.handle(SweepTicked(world.clock.now()))
    assert flush_journal(CONFIG, journal, third) == 0  # all there: nothing written again
    assert ledger_events(world) == [f"eventgrid:e{n}" for n in range(6)]


def test_a_launch_writes_its_record_after_the_journals_so_the_ledger_keeps_its_order():
    policy = TriggerPolicy(quiet_period=0.0)
    world = FakeWorld((ModelConfig(name="co2", prefix="co2/", horizon=4, policy=policy),))
    busy = cache_for(world.state, "arrivals-in-flight", _InFlight)
    assert deliver(world, 0) == "retrain"
    busy.enter()
    for n in range(1, 4):
        assert deliver(world, n) == "queued"
    first = world.pipeline.submissions[0]
    busy.leave()
    world.complete(first.run_key, metrics_v2(candidate=0.3, baseline=1.4))
    events = ledger_events(world)
    assert events[:4] == [f"eventgrid:e{n}" for n in range(4)]


def _context_over(world: FakeWorld) -> Any:
    """The service's context as another instance sees it: the same stores, caches of its
    own (they live beside the store object)."""
    return dataclasses.replace(world.service.context, state=Fresh(world.state))


class Fresh:
    """The same store behind another object (another instance's caches)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_reader_of_the_ledger_sees_the_decisions_still_in_the_journal_once():
    world = FakeWorld((CONFIG,))
    assert deliver(world, 0) == "retrain"
    busy = cache_for(world.state, "arrivals-in-flight", _InFlight)
    busy.enter()  # under load: the decisions wait in the head's journal
    for n in range(1, 6):
        assert deliver(world, n) == "queued"
    journal = world.state.get("policy/co2.json")[0]["journal"]
    assert len(journal) == 5 and len(world.state.list_keys("ledger/co2/")) == 1

    def listed(limit: int | None = None) -> list[str]:
        entries = world.service.list_ledger("co2", limit=limit)
        return [e for d in entries for e in d.get("events") or ()]

    assert listed() == [f"eventgrid:e{n}" for n in range(6)]
    assert listed(limit=2) == ["eventgrid:e4", "eventgrid:e5"]
    # part of it moved into the ledger by another instance: still each decision once
    flush_journal(CONFIG, journal[:3], _context_over(world))
    assert world.state.get("policy/co2.json")[0]["journal"] == journal  # head not rewritten
    assert listed() == [f"eventgrid:e{n}" for n in range(6)]
    assert listed(limit=1) == ["eventgrid:e5"]
