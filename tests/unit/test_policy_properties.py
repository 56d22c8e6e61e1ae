"""Property tests of the trigger policy through the whole service (fakes): for any
interleaving of arrivals (with redeliveries), ticks, drift alerts, manual requests,
completions, failures, sweeps, pauses and the passing of time, no snapshot runs twice, no
model has two active runs, and no arrival is left without a decision."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.messages import (
    DriftAlerted,
    PauseRequested,
    ResumeRequested,
    RetrainRequested,
    ScheduleTicked,
    SweepTicked,
)
from shared.parsing import parse_blob_created, parse_run_event
from shared.policy import ModelState, TriggerPolicy
from shared.settings import ModelConfig
from tests import samples
from tests.fakes import FakeWorld, metrics_v2

GOOD = metrics_v2(candidate=0.3, baseline=1.4)

POLICIES = st.builds(
    TriggerPolicy,
    quiet_period=st.sampled_from([0, 300]),
    max_count=st.sampled_from([0, 3]),
    cooldown=st.sampled_from([0, 600]),
    min_new_rows=st.sampled_from([0, 20]),
    drift_signals=st.sampled_from([1, 2]),
    max_retries=st.sampled_from([0, 2]),
    retry_backoff=st.just(60),
    on_resume=st.sampled_from(["replay", "drop"]),
)

ACTIONS = st.one_of(
    st.tuples(st.just("arrive"), st.integers(0, 3)),
    st.tuples(st.just("redeliver"), st.integers(0, 20)),
    st.tuples(st.just("tick"), st.just(0)),
    st.tuples(st.just("drift"), st.integers(0, 2)),
    st.tuples(st.just("manual"), st.integers(0, 1)),
    st.tuples(st.just("complete"), st.integers(0, 2)),
    st.tuples(st.just("sweep"), st.just(0)),
    st.tuples(st.just("wait"), st.sampled_from([1, 5, 11, 61])),
    st.tuples(st.just("pause"), st.integers(0, 1)),
)


class Driver:
    def __init__(self, policy: TriggerPolicy) -> None:
        self.world = FakeWorld((ModelConfig(name="co2", prefix="co2/", policy=policy),))
        self.delivered: list[dict[str, Any]] = []
        self.arrivals: set[str] = set()
        self.versions = 0

    def do(self, action: str, arg: int) -> None:
        world, service = self.world, self.world.service
        if action == "arrive":
            self.versions += 1
            name = f"co2/{arg}.csv"
            content = samples.csv_rows(2000 + self.versions, 1)
            etag = world.data.put(name, content)
            event = samples.blob_created(
                name, event_id=f"ev{self.versions}", etag=etag, size=len(content)
            )
            self.delivered.append(event)
            self.arrivals.add(f"eventgrid:ev{self.versions}")
            service.handle(parse_blob_created(event, container="data", models=world.models))
        elif action == "redeliver" and self.delivered:
            event = self.delivered[arg % len(self.delivered)]
            service.handle(parse_blob_created(event, container="data", models=world.models))
        elif action == "tick":
            service.handle(ScheduleTicked(at=world.clock.now()))
        elif action == "drift":
            service.handle(DriftAlerted("co2", "generic", f"a{arg}" if arg else "", "psi", None))
        elif action == "manual":
            service.handle(RetrainRequested("co2", "prop", "why", force=bool(arg)))
        elif action == "complete":
            self.finish(["Completed", "Failed", "Failed"][arg], ["", "oom", "prep: bad"][arg])
        elif action == "sweep":
            service.handle(SweepTicked(at=world.clock.now()))
        elif action == "wait":
            world.clock.advance(minutes=arg)
        elif action == "pause":
            kind = PauseRequested if arg else ResumeRequested
            service.handle(kind("co2", "prop", "prop"))

    def finish(self, status: str, error: str) -> None:
        open_runs = [k for k, r in self.world.pipeline.runs.items() if not r.finished]
        for key in open_runs:
            self.world.pipeline.finish(key, status, error=error or None)
            if status == "Completed":
                self.world.artifacts.write_json(f"retrain/{key}/metrics/metrics.json", GOOD)
            event = samples.run_event(key, run_key=key, status=status, event_id=f"done-{key}")
            self.world.service.handle(parse_run_event(event))

    def records(self) -> list[dict[str, Any]]:
        state = self.world.state
        return [state.get(k)[0] for k in state.list_keys("runs/")]

    def check(self) -> None:
        records = self.records()
        # No model has two active runs.
        active = [r for r in records if not r.get("finalised")]
        assert len(active) <= 1, [r["run_key"] for r in active]
        # No snapshot runs twice: a later attempt on one snapshot only after the earlier
        # failed, or when forced.
        by_snapshot: dict[str, list[dict[str, Any]]] = {}
        for record in records:
            by_snapshot.setdefault(record["snapshot"]["snapshot_id"], []).append(record)
        for runs in by_snapshot.values():
            runs.sort(key=lambda r: r["created_at"])
            for earlier, later in itertools.pairwise(runs):
                assert later.get("force") or earlier.get("status") in ("Failed", "Canceled"), (
                    earlier["run_key"],
                    later["run_key"],
                )
        # No arrival left without a decision: each has its ledger entry.
        covered = {e for entry in self.world.ledger() for e in entry.get("events", [])}
        assert self.arrivals <= covered, self.arrivals - covered


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
@given(policy=POLICIES, actions=st.lists(ACTIONS, min_size=8, max_size=30))
def test_any_interleaving_keeps_the_policy_invariants(policy, actions):
    driver = Driver(policy)
    for action, arg in actions:
        driver.do(action, arg)
        driver.check()
    # Drain: resume, let time pass, finish runs and sweep until nothing is left to fire.
    driver.do("pause", 0)
    for _ in range(6):
        driver.finish("Completed", "")
        driver.world.clock.advance(hours=2)
        driver.do("sweep", 0)
        driver.check()
    document = driver.world.state.documents.get("policy/co2.json")
    if document is not None:
        state = ModelState.from_json(document[0])
        assert not state.new_requests(), "requests still waiting after the drain"
