"""The policy state kept as a small head and append-only chunks of requests
(``shared/policy/stored.py``): whatever the policy does to its queue, the state reads back
as written, the head holds a bounded number of requests, and a decision that only adds
requests writes no request twice; through the service, a queue of hundreds of arrivals
behind a long run is read back by another instance and fires whole."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.errors import ConflictError
from shared.messages import SweepTicked
from shared.policy import (
    Arrival,
    Due,
    Manual,
    ModelState,
    Resume,
    RunEnded,
    Tick,
    TriggerPolicy,
    launched,
    not_launched,
    step,
)
from shared.policy.batch import index_state, next_index
from shared.policy.engine import Pause, Request
from shared.policy.stored import Layout, Part, chunk_ids, decode, encode
from shared.service.policystate import chunk_made_at, new_chunk_id
from shared.settings import ModelConfig
from tests import samples
from tests.fakes import FakeWorld, metrics_v2

NOW = datetime(2026, 1, 1, tzinfo=UTC)
CHUNK = 3

ACTIONS = st.lists(
    st.one_of(
        st.tuples(st.just("arrive"), st.integers(0, 6)),  # a blob (new version each time)
        st.tuples(st.just("burst"), st.integers(1, 9)),  # several arrivals in one decision
        st.sampled_from(
            [
                ("due", 0),
                ("tick", 0),
                ("manual", 0),
                ("launched", 0),
                ("failed launch", 0),
                ("covered", 0),
                ("ended", 0),
                ("pause", 0),
                ("resume", 0),
            ]
        ),
    ),
    max_size=40,
)


def apply(state: ModelState, action: tuple[str, int], n: int, policy: TriggerPolicy) -> ModelState:
    kind, value = action
    now = NOW + timedelta(seconds=n * 100)

    def arrival(blob: int, version: int) -> Arrival:
        name = f"co2/{blob}.csv"
        return Arrival(f"new {name}", f"e{version}", name, f"0x{version}", 10, 3)

    if kind == "arrive":
        return step(state, arrival(value, n), now=now, policy=policy)[0]
    if kind == "burst":
        for i in range(value):
            state = step(state, arrival(100 * n + i, 1000 * n + i), now=now, policy=policy)[0]
        return state
    if kind == "launched" and state.active_run == "":
        return launched(state, f"co2-{n:016x}")
    if kind == "failed launch" and state.active_run == "":
        return not_launched(state, restore=True)
    if kind == "covered" and state.active_run == "":
        return not_launched(state, restore=False)
    if kind == "ended" and state.active_run:
        return step(state, RunEnded(state.active_run, "Completed"), now=now, policy=policy)[0]
    signals: dict[str, Any] = {
        "due": Due(),
        "tick": Tick("tick"),
        "manual": Manual("by hand"),
        "pause": Pause("ana", "why"),
        "resume": Resume("ana", "why"),
    }
    if kind in signals:
        return step(state, signals[kind], now=now, policy=policy)[0]
    return state


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    actions=ACTIONS,
    quiet=st.sampled_from([0, 300]),
    min_rows=st.sampled_from([0, 20]),
    on_resume=st.sampled_from(["replay", "drop"]),
)
def test_any_sequence_of_decisions_reads_back_as_written_with_a_bounded_head(
    actions: list[tuple[str, int]], quiet: int, min_rows: int, on_resume: str
) -> None:
    policy = TriggerPolicy(quiet_period=quiet, min_new_rows=min_rows, on_resume=on_resume)
    stored: dict[str, tuple[Request, ...]] = {}
    ids = iter(range(10_000))
    state, previous = ModelState(), None
    for n, action in enumerate(actions):
        new = apply(state, action, n, policy)
        if new == state:
            continue
        encoded = encode(new, previous=previous, new_id=lambda: f"c{next(ids)}", chunk=CHUNK)
        assert not set(encoded.chunks) & set(stored)  # chunks are written once
        stored.update(encoded.chunks)
        head = encoded.head
        assert len(head["pending"]) <= CHUNK and len(head["firing"]) <= CHUNK
        assert head["pending_count"] == len(new.pending)
        read, layout = decode(head, {c: stored[c] for c in chunk_ids(head)})
        assert read == new and layout == encoded.layout
        appended = new.pending[: len(state.pending)] == state.pending and new.firing in (
            (),
            state.firing,
        )
        if appended:  # only added requests: none of the earlier ones is written again
            written = sum(len(r) for r in encoded.chunks.values())
            assert written <= CHUNK + len(new.pending) - len(state.pending)
        state, previous = new, (new, encoded.layout)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(actions=ACTIONS, quiet=st.sampled_from([0, 300]))
def test_the_seen_index_carried_from_state_to_state_is_the_one_built_afresh(
    actions: list[tuple[str, int]], quiet: int
) -> None:
    policy = TriggerPolicy(quiet_period=quiet)
    state = ModelState()
    kept = (state, index_state(state))
    for n, action in enumerate(actions):
        state = apply(state, action, n, policy)
        index = next_index(kept, state)
        fresh = index_state(state)
        assert index.queue_versions == fresh.queue_versions
        assert set(index.queue_events) == set(fresh.queue_events)
        assert index.recent_versions == fresh.recent_versions
        kept = (state, index)


def test_a_head_written_before_chunks_existed_reads_as_before() -> None:
    request = Request("arrival", "new", NOW, event="e1", blob="co2/1.csv", etag="0x1")
    old = ModelState(pending=(request,), burst_started_at=NOW)
    state, layout = decode(old.as_json(), {})
    assert state == old and layout == Layout(pending=Part(inline=1))


# ------------------------------------------------------------------ through the service


class Fresh:
    """The same store seen through another object: another instance's empty caches."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_long_queue_is_kept_in_chunks_read_back_elsewhere_and_fired_whole() -> None:
    world = FakeWorld((ModelConfig(name="co2", prefix="co2/", horizon=4),))
    first = world.arrive("co2/000.csv", samples.csv_rows(2000, 1), event_id="e0")
    [fired] = world.service.handle(first)
    assert fired.action == "retrain"
    for n in range(1, 201):  # queued behind the run, which runs for a long time
        message = world.arrive(f"co2/{n:03d}.csv", samples.csv_rows(2000 + n, 1), event_id=f"e{n}")
        assert world.service.handle(message)[0].action == "queued"
    head = world.state.get("policy/co2.json")[0]
    assert head["pending_count"] == 200 and len(head["pending"]) <= 64
    assert len(world.state.list_keys("pending/co2/")) == len(head["pending_chunks"]) >= 2
    # another instance: reads the head and its chunks, then the run ends and the queue fires
    world.service.context.state = Fresh(world.state)
    world.complete(fired.run_key or "", metrics_v2(candidate=0.3, baseline=1.4))
    _, second_run = world.pipeline.submissions
    record = world.state.get(f"runs/{second_run.run_key}.json")[0]
    assert len(record["trigger"]["events"]) == 200
    assert len(record["snapshot"]["files"]) == 201
    # the chunks moved to the running run's requests by name, none written again
    head = world.state.get("policy/co2.json")[0]
    assert head["pending_count"] == 0 and len(head["firing_chunks"]) >= 2
    world.complete(second_run.run_key, metrics_v2(candidate=0.3, baseline=1.4))
    assert world.state.list_keys("pending/co2/") == []  # dropped once their run ended


def test_a_chunk_written_by_a_commit_that_lost_the_race_is_deleted() -> None:
    world = FakeWorld((ModelConfig(name="co2", prefix="co2/", horizon=4),))
    one, other = Fresh(world.state), Fresh(world.state)  # two instances, two caches

    def deliver(via: Fresh, n: int) -> str:
        world.service.context.state = via
        message = world.arrive(f"co2/{n:03d}.csv", samples.csv_rows(2000 + n, 1), event_id=f"e{n}")
        return world.service.handle(message)[0].action

    assert deliver(one, 0) == "retrain"
    assert all(deliver(one, n) == "queued" for n in range(1, 65))  # 64 inline in the head
    assert deliver(other, 65) == "queued"  # the other instance moves them to a chunk
    # the first instance, on its stale state, writes a chunk of its own, loses the
    # conditional write, deletes that chunk, reads the state again and decides again
    assert deliver(one, 66) == "queued"
    head = world.state.get("policy/co2.json")[0]
    named = {f"pending/co2/{c}.json" for c in head["pending_chunks"]}
    assert set(world.state.list_keys("pending/co2/")) == named and len(named) == 1
    assert head["pending_count"] == 66


class LandsThenConflicts(Fresh):
    """A store whose next head write lands but answers a conflict (the answer lost, the
    client's retry refused), as a storage client's own retry can make it."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.armed = False

    def replace(self, key: str, document: Any, *, etag: str) -> str:
        written = self.inner.replace(key, document, etag=etag)
        if self.armed and key == "policy/co2.json":
            self.armed = False
            raise ConflictError(f"{key}: the condition was not met (a retry of a write)")
        return written


def test_a_head_write_that_landed_but_reported_a_conflict_keeps_its_chunks() -> None:
    world = FakeWorld((ModelConfig(name="co2", prefix="co2/", horizon=4),))
    flaky = LandsThenConflicts(world.state)
    world.service.context.state = flaky

    def deliver(n: int) -> str:
        message = world.arrive(f"co2/{n:03d}.csv", samples.csv_rows(2000 + n, 1), event_id=f"e{n}")
        return world.service.handle(message)[0].action

    assert deliver(0) == "retrain"
    assert all(deliver(n) == "queued" for n in range(1, 65))
    flaky.armed = True  # the 65th request moves the inline ones to a chunk: that write lands
    deliver(65)
    head = world.state.get("policy/co2.json")[0]
    assert head["pending_chunks"]
    named = {f"pending/co2/{c}.json" for c in head["pending_chunks"]}
    assert named <= set(world.state.list_keys("pending/co2/"))  # none deleted under the head
    # another instance reads the whole state: every request is there
    world.service.context.state = Fresh(world.state)
    assert deliver(66) == "queued"
    assert world.state.get("policy/co2.json")[0]["pending_count"] == 66


class Died(Exception):
    """The instance died here (nothing after this point of the write ran)."""


class DiesBeforeTheHead(Fresh):
    """A store whose next head write never happens: the instance dies after writing the
    chunks that head would have named."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.armed = False

    def replace(self, key: str, document: Any, *, etag: str) -> str:
        if self.armed and key == "policy/co2.json":
            self.armed = False
            raise Died(key)
        return self.inner.replace(key, document, etag=etag)


def test_the_sweep_collects_chunks_no_head_names_once_they_are_old() -> None:
    world = FakeWorld((ModelConfig(name="co2", prefix="co2/", horizon=4),))
    dying = DiesBeforeTheHead(world.state)
    world.service.context.state = dying

    def deliver(n: int) -> str:
        message = world.arrive(f"co2/{n:03d}.csv", samples.csv_rows(2000 + n, 1), event_id=f"e{n}")
        return world.service.handle(message)[0].action

    assert deliver(0) == "retrain"
    assert all(deliver(n) == "queued" for n in range(1, 65))
    dying.armed = True  # the 65th request moves the inline ones to a chunk; then it dies
    with pytest.raises(Died):
        deliver(65)
    [orphan] = world.state.list_keys("pending/co2/")
    assert chunk_ids(world.state.get("policy/co2.json")[0]) == []
    # another instance goes on; its own chunk is named by its head
    world.service.context.state = Fresh(world.state)
    assert all(deliver(n) == "queued" for n in range(66, 140))
    named = {f"pending/co2/{c}.json" for c in chunk_ids(world.state.get("policy/co2.json")[0])}
    assert named and orphan not in named
    # a legacy id (made before ids carried a time) and a chunk a live writer has just made
    world.state.create("pending/co2/0123456789abcdef.json", {"requests": []})
    world.service.handle(SweepTicked(world.clock.now()))
    assert orphan in world.state.list_keys("pending/co2/")  # not old enough yet
    world.clock.advance(minutes=59)
    just_made = f"pending/co2/{new_chunk_id(world.clock.now())}.json"
    world.state.create(just_made, {"requests": []})
    world.clock.advance(minutes=2)
    world.service.handle(SweepTicked(world.clock.now()))
    # the orphan, made an hour ago, and the legacy one, found unnamed an hour ago: gone
    assert set(world.state.list_keys("pending/co2/")) == named | {just_made}
    world.clock.advance(minutes=61)  # the one made by a writer an hour ago, still unnamed
    world.service.handle(SweepTicked(world.clock.now()))
    assert set(world.state.list_keys("pending/co2/")) == named
    # the state reads whole elsewhere
    world.service.context.state = Fresh(world.state)
    assert deliver(140) == "queued"
    assert world.state.get("policy/co2.json")[0]["pending_count"] == 140


def test_chunk_ids_say_when_they_were_made() -> None:
    made = new_chunk_id(NOW)
    assert chunk_made_at(made) == NOW
    assert chunk_made_at("0123456789abcdef") is None
    assert len({new_chunk_id(NOW) for _ in range(100)}) == 100
