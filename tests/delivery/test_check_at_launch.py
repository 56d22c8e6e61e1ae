"""``check_on_arrival: false``: an arrival is decided from its event alone (no read of
its file), and the files of a snapshot are checked when it launches; a bad one is
quarantined there, recorded, left out of the run, and its redelivery is a duplicate."""

from __future__ import annotations

import dataclasses
from typing import Any

from shared.policy import TriggerPolicy
from shared.settings import ModelConfig
from tests import samples
from tests.fakes import CountingReads, FakeWorld, count_reads, metrics_v2


def world_with(**policy: Any) -> tuple[FakeWorld, CountingReads]:
    config = ModelConfig(name="co2", prefix="co2/", horizon=4, policy=TriggerPolicy(**policy))
    world = FakeWorld((config,))
    reads = count_reads(world)
    return world, reads


def deliver(world: FakeWorld, name: str, content: str, event: str) -> str:
    return world.service.handle(world.arrive(name, content, event_id=event))[0].action


def test_arrivals_are_not_read_and_the_launch_checks_and_quarantines():
    world, reads = world_with(check_on_arrival=False, forecast_error_multiple=None)
    assert deliver(world, "co2/000.csv", samples.csv_rows(2000, 1), "e0") == "retrain"
    assert reads.reads == ["co2/000.csv"]  # read once, by the launch
    first = world.pipeline.submissions[0]
    for n in range(1, 6):
        assert deliver(world, f"co2/{n:03d}.csv", samples.csv_rows(2000 + n, 1), f"e{n}") == (
            "queued"
        )
    bad = world.arrive("co2/bad.csv", "timestamp,value\nnot a time,1\n", event_id="ebad")
    assert world.service.handle(bad)[0].action == "queued"
    assert reads.reads == ["co2/000.csv"]  # none of the queued ones read on arrival
    # the run ends: the queued burst launches, its files checked then
    world.complete(first.run_key, metrics_v2(candidate=0.3, baseline=1.4))
    second = world.pipeline.submissions[1]
    assert sorted(reads.reads[1:]) == sorted(
        [f"co2/{n:03d}.csv" for n in range(1, 6)] + ["co2/bad.csv"]
    )
    record = world.state.get(f"runs/{second.run_key}.json")[0]
    files = {f["name"] for f in record["snapshot"]["files"]}
    assert "co2/bad.csv" not in files and {f"co2/{n:03d}.csv" for n in range(6)} <= files
    quarantine = world.state.get("quarantine/co2/bad.csv.json")[0]
    assert "not an ISO-8601 timestamp" in quarantine["reason"]
    reasons = [d["reason"] for d in world.ledger()]
    assert any(r.startswith("quarantined at launch: co2/bad.csv") for r in reasons)
    # a redelivery of the bad file's event, and the same version under a new event id
    [outcome] = world.service.handle(bad)
    assert outcome.action == "skip" and "duplicate delivery" in outcome.reason
    [outcome] = world.service.handle(dataclasses.replace(bad, event_id="eother"))
    assert outcome.action == "skip" and "seen already" in outcome.reason


def test_a_launch_whose_files_all_fail_starts_no_run():
    world, reads = world_with(check_on_arrival=False, forecast_error_multiple=None)
    outcome = world.service.handle(world.arrive("co2/bad.csv", "x,y\n1,2\n", event_id="e0"))[0]
    assert outcome.action == "skip"
    assert world.pipeline.submissions == []
    assert world.state.get("quarantine/co2/bad.csv.json")[0]["reason"].startswith("co2/bad.csv")
    assert reads.reads == ["co2/bad.csv"]


def test_arrivals_are_read_at_once_when_the_policy_needs_their_rows():
    world, reads = world_with(check_on_arrival=False, min_new_rows=5)
    assert deliver(world, "co2/000.csv", samples.csv_rows(2000, 1), "e0") == "retrain"
    assert reads.reads == ["co2/000.csv"]
    world, reads = world_with(check_on_arrival=True, forecast_error_multiple=None)
    assert deliver(world, "co2/000.csv", samples.csv_rows(2000, 1), "e0") == "retrain"
    assert reads.reads == ["co2/000.csv"]  # on arrival; the launch does not read it again


def test_the_policy_says_it_in_words():
    assert "checked when their run launches" in TriggerPolicy(check_on_arrival=False).describe()
    assert "checked when" not in TriggerPolicy().describe()
