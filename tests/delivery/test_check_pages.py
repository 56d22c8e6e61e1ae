"""Queued files still unchecked (``check_on_arrival: false``) are checked a page at a
time: by the sweep between launches (``PRECHECK_PAGE`` per model and sweep) and by a
launch (``LAUNCH_CHECKS`` at most: with more, it checks a page, keeps the results and
defers); no invocation reads more than a page, no file is read twice, and the run that
finally starts covers every good file and none of the bad ones."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.messages import SweepTicked
from shared.policy import ModelState, TriggerPolicy
from shared.policy.checks import apply_checks, unchecked
from shared.policy.engine import UNCHECKED, Request, Seen
from shared.service.precheck import LAUNCH_CHECKS, PRECHECK_PAGE
from shared.settings import ModelConfig
from tests import samples
from tests.fakes import CountingReads, FakeWorld, count_reads, metrics_v2

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def arrival(n: int, rows: int = UNCHECKED) -> Request:
    return Request("arrival", f"new co2/{n}.csv", NOW, f"e{n}", f"co2/{n}.csv", f'"0x{n}"', 9, rows)


# ------------------------------------------------------------------ the pure part


def test_check_results_are_kept_in_the_pending_requests():
    tick = Request("tick", "schedule", NOW)
    state = ModelState(pending=(arrival(1), arrival(2), arrival(3, rows=4), tick, arrival(4)))
    bad = Seen("co2/2.csv", '"0x2"', "e2", quarantined=True)
    results = {("co2/1.csv", "0x1"): 7, ("co2/2.csv", "0x2"): None, ("co2/4.csv", "0x4"): None}
    after = apply_checks(state, results, [bad])
    assert [(r.blob, r.rows) for r in after.pending] == [
        ("co2/1.csv", 7),
        ("co2/3.csv", 4),
        (None, 0),
    ]
    assert after.recent == (bad,)
    assert unchecked(after.pending) == []


def test_only_requests_still_unchecked_change():
    checked_meanwhile = arrival(1, rows=3)  # another instance launched and re-queued it
    state = ModelState(pending=(checked_meanwhile,), firing=(arrival(2),))
    results = {("co2/1.csv", "0x1"): None, ("co2/2.csv", "0x2"): None}
    assert apply_checks(state, results) is state  # firing is the active run's: left alone


# ------------------------------------------------------------------ through the service


def queued_world(queued: int, bad: set[int]) -> tuple[FakeWorld, CountingReads, str]:
    """A model checking files at launch, its first run active and ``queued`` arrivals
    waiting behind it (those in ``bad`` unreadable); returns the first run's key."""
    policy = TriggerPolicy(check_on_arrival=False, forecast_error_multiple=None)
    world = FakeWorld((ModelConfig(name="co2", prefix="co2/", horizon=4, policy=policy),))
    reads = count_reads(world)
    world.service.handle(world.arrive("co2/0000.csv", samples.csv_rows(2000, 1), event_id="e0"))
    first = world.pipeline.submissions[0].run_key
    for n in range(1, queued + 1):
        content = "timestamp,value\nnot a time,1\n" if n in bad else samples.csv_rows(2000, 1)
        [outcome] = world.service.handle(
            world.arrive(f"co2/{n:04d}.csv", content, event_id=f"e{n}")
        )
        assert outcome.action == "queued"
    assert reads.reads == ["co2/0000.csv"]
    return world, reads, first


def snapshot_files(world: FakeWorld, run_key: str) -> set[str]:
    record = world.state.get(f"runs/{run_key}.json")[0]
    return {f["name"] for f in record["snapshot"]["files"]}


def test_the_sweep_checks_a_page_and_the_launch_only_the_rest():
    queued = PRECHECK_PAGE + 20
    bad = {3, PRECHECK_PAGE + 5}
    world, reads, first = queued_world(queued, bad)
    world.service.handle(SweepTicked(world.clock.now()))
    page = [f"co2/{n:04d}.csv" for n in range(1, PRECHECK_PAGE + 1)]
    assert sorted(reads.reads[1:]) == page  # the oldest page, each file once
    # the bad file of the page is quarantined by the sweep, before any launch
    assert (
        "not an ISO-8601 timestamp" in world.state.get("quarantine/co2/0003.csv.json")[0]["reason"]
    )
    reasons = [d["reason"] for d in world.ledger()]
    assert any(r.startswith("quarantined before launch (sweep): co2/0003.csv") for r in reasons)
    reads.reads.clear()
    world.complete(first, metrics_v2(candidate=0.3, baseline=1.4))
    # the launch reads only what the sweep had not checked
    assert sorted(reads.reads) == [f"co2/{n:04d}.csv" for n in range(PRECHECK_PAGE + 1, queued + 1)]
    second = world.pipeline.submissions[1].run_key
    files = snapshot_files(world, second)
    good = {f"co2/{n:04d}.csv" for n in range(queued + 1) if n not in bad}
    assert good <= files and not files & {f"co2/{n:04d}.csv" for n in bad}
    # the bad ones are seen: a redelivery of either event is a duplicate
    for n in bad:
        again = world.arrive(
            f"co2/{n:04d}.csv", "timestamp,value\nnot a time,1\n", event_id=f"e{n}"
        )
        [outcome] = world.service.handle(again)
        assert outcome.action == "skip" and "duplicate delivery" in outcome.reason


def test_a_launch_with_more_than_a_page_to_check_checks_one_and_defers():
    queued = LAUNCH_CHECKS + 10
    bad = {2}
    world, reads, first = queued_world(queued, bad)
    reads.reads.clear()
    world.complete(first, metrics_v2(candidate=0.3, baseline=1.4))
    # the run that ended fired the queued burst: one page checked, nothing launched
    assert len(world.pipeline.submissions) == 1
    assert sorted(reads.reads) == [f"co2/{n:04d}.csv" for n in range(1, LAUNCH_CHECKS + 1)]
    reasons = [d["reason"] for d in world.ledger()]
    assert any(
        r.startswith(f"launch deferred: checked {LAUNCH_CHECKS} queued file(s)") for r in reasons
    )
    assert any(r.startswith("quarantined at launch: co2/0002.csv") for r in reasons)
    reads.reads.clear()
    # the next sweep goes on from there: the rest checked, then the run starts
    world.service.handle(SweepTicked(world.clock.now()))
    assert sorted(reads.reads) == [f"co2/{n:04d}.csv" for n in range(LAUNCH_CHECKS + 1, queued + 1)]
    assert len(world.pipeline.submissions) == 2
    files = snapshot_files(world, world.pipeline.submissions[1].run_key)
    assert {f"co2/{n:04d}.csv" for n in range(queued + 1) if n not in bad} <= files
    assert "co2/0002.csv" not in files


class FlakyReads(CountingReads):
    """Reads that fail as storage does while ``down`` is set."""

    down = True

    def read_bytes(self, name: str) -> bytes:
        if self.down:
            raise OSError("storage unreachable")
        return super().read_bytes(name)


def test_a_sweep_that_cannot_read_the_queued_files_records_nothing_and_goes_on():
    world, reads, _ = queued_world(3, set())
    flaky = FlakyReads(reads.inner)
    world.service.context.data = flaky
    outcomes = world.service.handle(SweepTicked(world.clock.now()))
    assert any(o.action == "failed" and "checking queued files" in o.reason for o in outcomes)
    state = world.state.get("policy/co2.json")[0]
    assert all(r["rows"] == -1 for r in state["pending"])  # nothing recorded
    flaky.down = False
    world.service.handle(SweepTicked(world.clock.now()))
    assert sorted(flaky.reads) == ["co2/0001.csv", "co2/0002.csv", "co2/0003.csv"]
    state = world.state.get("policy/co2.json")[0]
    assert all(r["rows"] > 0 for r in state["pending"])
