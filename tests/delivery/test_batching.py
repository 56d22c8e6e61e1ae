"""Arrivals decided together: the group commit (concurrent callers, one writer per key),
the pure batch decision (duplicates recognised inside the model's state), and the service
deciding concurrent BlobCreated events in few state writes and one ledger record."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.policy import Coalesced, ModelState, Retrain, Skip, TriggerPolicy
from shared.policy.batch import Incoming, decide_arrivals
from shared.policy.engine import Arrival, Queued
from shared.service.groupcommit import GroupCommit
from shared.settings import ModelConfig
from tests import samples
from tests.fakes import FakeWorld

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def incoming(n: int, *, event: str | None = None, checked: bool = True) -> Incoming:
    blob, etag, ev = f"co2/{n}.csv", f'"0x{n}"', event or f"eventgrid:e{n}"
    arrival = Arrival(f"new data {blob}", ev, blob, etag, 10, 2) if checked else None
    return Incoming(ev, blob, etag, f"new data {blob}", arrival=arrival)


# ------------------------------------------------------------------ the pure decision


def test_a_burst_decided_together_is_one_coalesced_burst_with_duplicates_skipped():
    policy = TriggerPolicy(quiet_period=60)
    batch = [incoming(1), incoming(2), incoming(1), incoming(1, event="eventgrid:other")]
    state, decisions = decide_arrivals(ModelState(), batch, base_files={}, now=NOW, policy=policy)
    assert [type(d) for d in decisions] == [Coalesced, Coalesced, Skip, Skip]
    assert decisions[2].reason == "duplicate delivery of event e1"
    assert decisions[3].reason.startswith('duplicate: blob co2/1.csv with ETag "0x1"')
    assert [r.blob for r in state.pending] == ["co2/1.csv", "co2/2.csv"]
    # the other event id is remembered: its own redelivery is told as such
    _, [again] = decide_arrivals(
        state, [incoming(1, event="eventgrid:other")], base_files={}, now=NOW, policy=policy
    )
    assert again.reason == "duplicate delivery of event other"


def test_the_first_arrival_fires_and_the_rest_queue_behind_it():
    _, decisions = decide_arrivals(
        ModelState(),
        [incoming(1), incoming(2), incoming(3)],
        base_files={},
        now=NOW,
        policy=TriggerPolicy(),
    )
    assert [type(d) for d in decisions] == [Retrain, Queued, Queued]


def test_files_of_the_base_run_and_quarantined_versions_are_seen():
    state = ModelState(base_run="co2-0123456789abcdef")
    bad = Incoming("eventgrid:b", "co2/bad.csv", '"0x9"', "new data", quarantined="row 2")
    state, decisions = decide_arrivals(
        state,
        [incoming(1), bad],
        base_files={"co2/1.csv": "0x1"},  # unquoted, as a listing may not quote it
        now=NOW,
        policy=TriggerPolicy(quiet_period=60),
    )
    assert "in the snapshot of run co2-0123456789abcdef" in decisions[0].reason
    assert decisions[1].reason == "quarantined: row 2"
    redelivered = Incoming("eventgrid:b2", "co2/bad.csv", "0x9", "again")
    _, [dup] = decide_arrivals(state, [redelivered], base_files={}, now=NOW, policy=TriggerPolicy())
    assert dup.reason.startswith("duplicate: blob co2/bad.csv")


def test_an_arrival_not_read_because_it_was_known_is_a_duplicate_even_if_forgotten():
    _, [decision] = decide_arrivals(
        ModelState(), [incoming(1, checked=False)], base_files={}, now=NOW, policy=TriggerPolicy()
    )
    assert isinstance(decision, Skip) and "seen already (earlier)" in decision.reason


# ------------------------------------------------------------------ the group commit


def test_callers_waiting_while_one_commits_are_committed_together_next():
    commits: list[list[int]] = []
    first_in = threading.Event()
    release = threading.Event()
    group: GroupCommit[int, int] = GroupCommit()

    def commit(slots: Any) -> None:
        commits.append([s.item for s in slots])
        if len(commits) == 1:
            first_in.set()
            assert release.wait(10)
        for s in slots:
            s.settle(s.item * 10)

    with ThreadPoolExecutor(6) as pool:
        first = pool.submit(group.submit, "m", 0, commit)
        assert first_in.wait(10)
        rest = [pool.submit(group.submit, "m", n, commit) for n in range(1, 6)]
        while group.waiting("m") < 5:
            threading.Event().wait(0.001)
        release.set()
        assert first.result() == 0
        assert [f.result() for f in rest] == [10, 20, 30, 40, 50]
    assert commits[0] == [0] and sorted(commits[1]) == [1, 2, 3, 4, 5]


def test_a_failed_commit_fails_every_caller_of_its_batch_and_only_them():
    group: GroupCommit[int, int] = GroupCommit()

    def commit(slots: Any) -> None:
        for s in slots:
            if s.item == 1:
                s.settle(error=ValueError("one bad"))
            elif s.item == 2:
                raise OSError("storage down")
            else:
                s.settle(s.item)

    assert group.submit("m", 3, commit) == 3
    with pytest.raises(ValueError, match="one bad"):
        group.submit("m", 1, commit)
    with pytest.raises(OSError, match="storage down"):
        group.submit("m", 2, commit)
    assert group.waiting("m") == 0


def test_a_writer_gathers_the_items_announced_while_they_are_prepared():
    commits: list[list[int]] = []
    # Long enough never to end on its own here, short enough that a regression fails the
    # ``result`` timeouts below instead of holding the executor's exit for long.
    group: GroupCommit[int, int] = GroupCommit(gather=20)

    def commit(slots: Any) -> None:
        commits.append(sorted(s.item for s in slots))
        for s in slots:
            s.settle(s.item)

    tickets = [group.announce("m") for _ in range(3)]
    with ThreadPoolExecutor(4) as pool:
        writer = pool.submit(group.submit, "m", 0, commit, tickets[0])
        # the writer's own item waits and the other two are announced: it is gathering
        while group.coming("m") != 2 or group.waiting("m") != 1:
            threading.Event().wait(0.001)
        late = group.announce("m")  # announced while the writer gathers: waited for too
        others = [
            pool.submit(group.submit, "m", n, commit, t)
            for n, t in ((1, tickets[1]), (2, tickets[2]), (3, late))
        ]
        assert writer.result(10) == 0 and [f.result(10) for f in others] == [1, 2, 3]
    assert commits == [[0, 1, 2, 3]]
    assert group.coming("m") == 0


def test_the_gathering_is_bounded():
    commits: list[list[int]] = []
    group: GroupCommit[int, int] = GroupCommit(gather=0.05)

    def commit(slots: Any) -> None:
        commits.append([s.item for s in slots])
        for s in slots:
            s.settle(s.item)

    mine, slow = group.announce("m"), group.announce("m")
    with ThreadPoolExecutor(1) as pool:  # the slow one is not submitted while mine waits
        assert pool.submit(group.submit, "m", 1, commit, mine).result(10) == 1
    assert group.submit("m", 2, commit, slow) == 2
    assert commits == [[1], [2]]


def test_a_withdrawn_announcement_releases_the_writer_and_a_lone_caller_commits_at_once():
    group: GroupCommit[int, int] = GroupCommit(gather=20)

    def commit(slots: Any) -> None:
        for s in slots:
            s.settle(s.item)

    mine, failed_read = group.announce("m"), group.announce("m")
    with ThreadPoolExecutor(1) as pool:
        writer = pool.submit(group.submit, "m", 7, commit, mine)
        while group.coming("m") != 1:
            threading.Event().wait(0.001)
        group.withdraw(failed_read)  # its read failed: nothing will come
        assert writer.result(10) == 7
    assert group.submit("other", 1, commit) == 1  # nothing announced: no wait
    group.withdraw(mine)  # after its submit: a no-op
    assert group.coming("m") == 0


def test_keys_commit_independently_and_are_forgotten_once_unused():
    in_a = threading.Event()
    release_a = threading.Event()
    group: GroupCommit[int, int] = GroupCommit(gather=20)

    def commit(slots: Any) -> None:
        if slots[0].item == 1:
            in_a.set()
            assert release_a.wait(10)
        for s in slots:
            s.settle(s.item)

    with ThreadPoolExecutor(2) as pool:
        held = pool.submit(group.submit, "a", 1, commit)
        assert in_a.wait(10)
        # "a"'s writer is committing and an item of "a" is announced: "b" waits for neither
        waiting_for_a = group.announce("a")
        assert group.submit("b", 2, commit) == 2
        release_a.set()
        assert held.result(30) == 1
        group.withdraw(waiting_for_a)
    for n in range(50):  # keys made of short-lived objects' ids
        ticket = group.announce(("state", n))
        assert group.submit(("state", n), n, commit, ticket) == n
    assert group._keys == {}


# ------------------------------------------------------------------ through the service


class CountingState:
    """The fake state store, counting writes by kind of key."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.writes: Counter[str] = Counter()
        self.lock = threading.Lock()

    def create(self, key: str, document: Any) -> str:
        with self.lock:
            self.writes[key.split("/")[0]] += 1
        return str(self.inner.create(key, document))

    def replace(self, key: str, document: Any, *, etag: str) -> str:
        with self.lock:
            self.writes[key.split("/")[0]] += 1
        return str(self.inner.replace(key, document, etag=etag))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_concurrent_arrivals_are_each_decided_once_with_one_run_and_no_per_event_writes():
    world = FakeWorld((ModelConfig(name="co2", prefix="co2/", horizon=4),))
    counting = CountingState(world.state)
    world.service.context.state = counting
    messages = [
        world.arrive(f"co2/{n:02d}.csv", samples.csv_rows(2000 + n, 1), event_id=f"e{n}")
        for n in range(20)
    ]
    deliveries = messages + messages[:6]  # six redelivered
    with ThreadPoolExecutor(8) as pool:
        outcomes = [o for result in pool.map(world.service.handle, deliveries) for o in result]
    assert sorted(Counter(o.action for o in outcomes).items()) == [
        ("queued", 19),
        ("retrain", 1),
        ("skip", 6),
    ]
    assert len(world.pipeline.submissions) == 1
    entries = world.state.list_keys("ledger/co2/")
    records = [world.state.get(k)[0] for k in entries]
    decisions = [d for r in records for d in (r.get("decisions") or [r])]
    assert len(decisions) == len(deliveries)
    assert sorted({e for d in decisions for e in d["events"]}) == sorted(
        f"eventgrid:e{n}" for n in range(20)
    )
    # no per-event index or processed-event marks: the state and the ledger hold it all
    assert set(counting.writes) <= {"policy", "ledger", "runs", "active", "jobs"}
    assert counting.writes["ledger"] == len(records) <= len(deliveries)


def test_a_batch_record_reads_as_its_decisions():
    world = FakeWorld((ModelConfig(name="co2", prefix="co2/", horizon=4),))
    messages = [
        world.arrive(f"co2/{n}.csv", samples.csv_rows(2000 + n, 1), event_id=f"e{n}")
        for n in range(3)
    ]
    gate = threading.Event()
    inner = world.state

    class Slow:
        """Holds the first policy write until the other two arrivals wait behind it."""

        def replace(self, key: str, document: Any, *, etag: str) -> str:
            return str(inner.replace(key, document, etag=etag))

        def create(self, key: str, document: Any) -> str:
            if key.startswith("policy/") and not gate.is_set():
                gate.set()
                from shared.service.arrivals import _ARRIVALS

                while _ARRIVALS.waiting((id(world.service.context.state), "co2")) < 2:
                    threading.Event().wait(0.001)
            return str(inner.create(key, document))

        def __getattr__(self, name: str) -> Any:
            return getattr(inner, name)

    world.service.context.state = Slow()
    with ThreadPoolExecutor(3) as pool:
        first = pool.submit(world.service.handle, messages[0])
        assert gate.wait(10)
        rest = list(pool.map(world.service.handle, messages[1:]))
    assert first.result()[0].action == "retrain"
    assert [r[0].action for r in rest] == ["queued", "queued"]
    single, batch = (world.state.get(k)[0] for k in world.state.list_keys("ledger/co2/"))
    assert single["action"] == "retrain" and single["events"] == ["eventgrid:e0"]
    assert batch["action"] == "batch" and sorted(batch["events"]) == [
        "eventgrid:e1",
        "eventgrid:e2",
    ]
    assert [d["action"] for d in batch["decisions"]] == ["queued", "queued"]
    assert all(d["kind"] == "trigger" and d["model"] == "co2" for d in batch["decisions"])
