"""A deleted data blob leaves the model's later snapshots: decided like an arrival (same
coalescing, queueing, pause, sufficiency), one ledger entry per deletion, stale and
unknown deletions skipped with the reason. The service is wired to fakes."""

from __future__ import annotations

from typing import Any

import pytest

from shared.messages import DataDeleted, PauseRequested, SweepTicked
from shared.parsing.storage import parse_blob_event
from shared.policy import ModelState, TriggerPolicy
from shared.policy.engine import Request
from shared.ports import DataFile
from shared.service.deletions import gone, indexed
from shared.settings import ModelConfig
from shared.snapshot import DELETED, Snapshot, deletion, overlay, run_key, without_deleted
from tests import samples
from tests.deletions.payloads import blob_deleted
from tests.fakes import FakeWorld, metrics_v2

GOOD = metrics_v2(candidate=0.3, baseline=1.4)
BURSTY = TriggerPolicy(quiet_period=300, max_wait=3600)


def make_world(policy: TriggerPolicy | None = None) -> FakeWorld:
    return FakeWorld((ModelConfig(name="co2", prefix="co2/", policy=policy or TriggerPolicy()),))


def delete(world: FakeWorld, name: str, event_id: str = "d1") -> DataDeleted:
    """The blob goes, and Event Grid's BlobDeleted for it, as the service reads it."""
    world.data.blobs.pop(name, None)
    message = parse_blob_event(
        blob_deleted(name, event_id=event_id), container="data", models=world.models
    )
    assert isinstance(message, DataDeleted)
    return message


def with_runs(world: FakeWorld, *names: str) -> str:
    """One completed run per name, each adding that blob; returns the last run key."""
    key = ""
    for year, name in enumerate(names):
        [outcome] = world.service.handle(
            world.arrive(name, samples.csv_rows(2000 + 3 * year, 3), event_id=f"up-{name}")
        )
        key = str(outcome.run_key)
        world.complete(key, GOOD)
    return key


def policy_state(world: FakeWorld) -> ModelState:
    return ModelState.from_json(world.state.get("policy/co2.json")[0])


def pending(world: FakeWorld) -> list[tuple[str | None, str | None]]:
    return [(r.blob, r.etag) for r in policy_state(world).pending if r.kind == "arrival"]


def test_deleting_a_blob_of_the_snapshot_starts_a_run_recorded_with_its_event():
    world = make_world()
    base = with_runs(world, "co2/a.csv", "co2/b.csv")
    message = delete(world, "co2/a.csv")

    [outcome] = world.service.handle(message)

    assert outcome.action == "retrain" and outcome.run_key not in (None, base)
    entry = world.ledger()[-1]
    assert entry["trigger"] == "deleted data co2/a.csv (DeleteBlob)"
    assert entry["events"] == [f"eventgrid:{message.event_id}"]
    record = world.service.get_run(str(outcome.run_key))
    assert record["trigger"]["events"] == [f"eventgrid:{message.event_id}"]
    assert len(world.pipeline.submissions) == 3

    [again] = world.service.handle(message)  # redelivered
    assert again.action == "skip" and "duplicate delivery" in again.reason
    assert len(world.pipeline.submissions) == 3


def test_deletions_and_uploads_in_one_burst_become_one_run():
    world = make_world(BURSTY)
    with_first = world.service.handle(world.arrive("co2/a.csv", samples.csv_rows(2000, 3)))
    world.clock.advance(minutes=6)
    world.service.handle(SweepTicked(at=world.clock.now()))
    [first] = world.pipeline.submissions
    assert with_first[0].action == "coalesced"
    world.complete(first.run_key, GOOD)

    [removed] = world.service.handle(delete(world, "co2/a.csv"))
    assert removed.action == "coalesced" and removed.details["due_at"]
    [added] = world.service.handle(
        world.arrive("co2/b.csv", samples.csv_rows(2003, 3), event_id="up-b")
    )
    assert added.action == "coalesced"
    assert pending(world) == [
        ("co2/a.csv", DELETED),
        ("co2/b.csv", world.data.blobs["co2/b.csv"][1]),
    ]
    world.clock.advance(minutes=6)
    world.service.handle(SweepTicked(at=world.clock.now()))

    second = world.pipeline.submissions[-1]
    assert len(world.pipeline.submissions) == 2
    events = world.service.get_run(second.run_key)["trigger"]["events"]
    assert sorted(events) == ["eventgrid:d1", "eventgrid:up-b"]


def test_a_late_deletion_of_a_name_uploaded_again_is_stale():
    world = make_world()
    with_runs(world, "co2/a.csv")
    message = delete(world, "co2/a.csv")
    world.data.put("co2/a.csv", samples.csv_rows(2000, 4))  # uploaded again before it came

    [outcome] = world.service.handle(message)

    assert outcome.action == "skip" and "exists again" in outcome.reason
    assert world.ledger()[-1]["events"] == [f"eventgrid:{message.event_id}"]
    assert len(world.pipeline.submissions) == 1


def test_a_deletion_of_a_name_the_model_never_held_is_skipped():
    world = make_world()
    with_runs(world, "co2/a.csv")
    bad = world.arrive("co2/bad.csv", "timestamp,value\n2003-01-01,abc\n", event_id="up-bad")
    with pytest.raises(Exception, match="not a number"):
        world.service.handle(bad)  # quarantined: never joins a snapshot

    [outcome] = world.service.handle(delete(world, "co2/bad.csv"))

    assert outcome.action == "skip" and "in none of the model's snapshots" in outcome.reason
    assert len(world.pipeline.submissions) == 1


def test_a_blob_deleted_while_waiting_in_the_burst_leaves_it():
    world = make_world(BURSTY)
    world.service.handle(world.arrive("co2/a.csv", samples.csv_rows(2000, 3)))
    assert pending(world) == [("co2/a.csv", world.data.blobs["co2/a.csv"][1])]

    [outcome] = world.service.handle(delete(world, "co2/a.csv"))

    assert outcome.action == "coalesced"
    assert pending(world) == [("co2/a.csv", DELETED)]  # the arrival is replaced, not joined
    [again] = world.service.handle(delete(world, "co2/a.csv", event_id="d2"))  # another event
    assert again.action == "skip" and "recorded already" in again.reason


def test_uploaded_again_after_its_deletion_the_new_version_replaces_the_deletion():
    world = make_world(BURSTY)
    world.service.handle(world.arrive("co2/a.csv", samples.csv_rows(2000, 3)))
    world.service.handle(delete(world, "co2/a.csv"))

    world.service.handle(world.arrive("co2/a.csv", samples.csv_rows(2000, 4), event_id="up-2"))

    assert pending(world) == [("co2/a.csv", world.data.blobs["co2/a.csv"][1])]


def test_a_deletion_queues_behind_the_active_run_and_is_held_while_paused():
    world = make_world()
    with_runs(world, "co2/a.csv")
    [running] = world.service.handle(
        world.arrive("co2/b.csv", samples.csv_rows(2003, 3), event_id="up-b")
    )
    [queued] = world.service.handle(delete(world, "co2/a.csv"))
    assert queued.action == "queued" and queued.run_key == running.run_key

    paused = make_world()
    with_runs(paused, "co2/a.csv")
    paused.service.handle(PauseRequested("co2", "backfill", "ana"))
    [held] = paused.service.handle(delete(paused, "co2/a.csv"))
    assert held.action == "held"
    assert len(paused.pipeline.submissions) == 1


def test_a_deletion_adds_no_observations_so_min_new_rows_keeps_it_for_the_next_run():
    world = make_world(TriggerPolicy(min_new_rows=12))
    with_runs(world, "co2/a.csv")  # 36 monthly rows

    [outcome] = world.service.handle(delete(world, "co2/a.csv"))
    assert outcome.action == "skip" and "only 0 new observation(s)" in outcome.reason
    assert len(world.pipeline.submissions) == 1

    [later] = world.service.handle(
        world.arrive("co2/c.csv", samples.csv_rows(2003, 1), event_id="up-c")
    )
    assert later.action == "retrain"
    events = world.service.get_run(str(later.run_key))["trigger"]["events"]
    assert events == ["eventgrid:d1", "eventgrid:up-c"]  # the deletion joined this run


# ------------------------------------------------------------------------------ pure parts


def arrival(blob: str, etag: str) -> Request:
    return Request("arrival", f"new data {blob}", samples_now(), blob=blob, etag=etag)


def samples_now() -> Any:
    from datetime import UTC, datetime

    return datetime(2026, 1, 1, tzinfo=UTC)


def test_the_index_is_the_base_and_the_waiting_arrivals_minus_their_deletions():
    state = ModelState(
        firing=(arrival("co2/c.csv", '"0x3"'),),
        pending=(arrival("co2/a.csv", DELETED), arrival("co2/d.csv", '"0x4"')),
    )
    assert indexed(state, {"co2/a.csv", "co2/b.csv"}) == {"co2/b.csv", "co2/c.csv", "co2/d.csv"}


def test_the_sweep_finds_indexed_names_the_listing_no_longer_has():
    config = ModelConfig(name="co2", prefix="co2/")
    state = ModelState(pending=(arrival("co2/c.csv", '"0x3"'), arrival("co2/a.csv", DELETED)))
    found = gone(config, state, {"co2/a.csv", "co2/b.csv"}, listed={"co2/b.csv", "co2/x.csv"})
    assert [(f.blob, f.etag, f.rows, f.event) for f in found] == [
        ("co2/c.csv", DELETED, 0, f"sweep:co2/c.csv@{DELETED}")
    ]  # a.csv's deletion is recorded already; b.csv is there
    assert "no BlobDeleted event came" in found[0].reason
    assert gone(config, state, {"co2/b.csv"}, listed={"co2/b.csv", "co2/c.csv"}) == []


def test_a_snapshot_overlaid_with_a_deletion_leaves_the_name_out():
    base = {
        "files": [{"name": "co2/a.csv", "etag": '"0x1"'}, {"name": "co2/b.csv", "etag": '"0x2"'}]
    }
    newer_b = DataFile("co2/b.csv", '"0x5"', 10)

    snapshot = without_deleted(overlay("co2", "co2/", base, [deletion("co2/a.csv"), newer_b]))

    assert snapshot.files == (newer_b,)
    # The same data reached another way has the same run key (an earlier run covers it).
    assert run_key(snapshot) == run_key(Snapshot("co2", "co2/", (newer_b,)))
    kept = overlay("co2", "co2/", base, [])
    assert without_deleted(kept) is kept


# ------------------------------------------------------------------------------ needs a hunk


@pytest.mark.xfail(
    strict=True,
    reason="needs throughput's hunk in shared/snapshot.py::overlay (return without_deleted(...))",
)
def test_the_next_run_trains_on_the_snapshot_without_the_deleted_blob():
    world = make_world()
    base = with_runs(world, "co2/a.csv", "co2/b.csv")
    [outcome] = world.service.handle(delete(world, "co2/a.csv"))
    manifest = world.artifacts.read_json(f"retrain/{outcome.run_key}/snapshot.json")
    assert [f["name"] for f in manifest["files"]] == ["co2/b.csv"]
    assert outcome.run_key != base


@pytest.mark.xfail(
    strict=True,
    reason="needs throughput's hunk in shared/service/triggers.py::_catch_up (found += gone(...))",
)
def test_the_sweep_removes_a_blob_whose_deletion_event_never_came():
    world = make_world()
    with_runs(world, "co2/a.csv", "co2/b.csv")
    world.data.blobs.pop("co2/a.csv")
    world.service.handle(SweepTicked(at=world.clock.now()))
    entry = world.ledger()[-1]
    assert entry["action"] == "retrain" and entry["events"] == [f"sweep:co2/a.csv@{DELETED}"]


@pytest.mark.xfail(
    strict=True,
    reason="needs throughput's hunks in shared/snapshot.py::overlay and "
    "shared/service/triggers.py::_fire (an emptied snapshot empties the base)",
)
def test_after_every_blob_was_deleted_the_next_upload_trains_on_itself_alone():
    world = make_world()
    with_runs(world, "co2/a.csv")
    [emptied] = world.service.handle(delete(world, "co2/a.csv"))
    assert emptied.action == "skip" and "no checked data files" in emptied.reason
    assert policy_state(world).base_run is None

    [outcome] = world.service.handle(
        world.arrive("co2/b.csv", samples.csv_rows(2003, 3), event_id="up-b")
    )

    manifest = world.artifacts.read_json(f"retrain/{outcome.run_key}/snapshot.json")
    assert [f["name"] for f in manifest["files"]] == ["co2/b.csv"]
