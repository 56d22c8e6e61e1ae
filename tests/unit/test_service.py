"""The whole service driven through messages, with fakes that record what happened."""

import dataclasses

import pytest

from shared.errors import InvalidData, InvalidInput, PipelineError
from shared.messages import (
    DriftAlerted,
    NewDataArrived,
    RetrainRequested,
    ScheduleTicked,
    SweepTicked,
)
from shared.parsing import parse_run_event
from shared.policy import TriggerPolicy
from shared.ports import PipelineRun
from shared.settings import ModelConfig
from tests import samples
from tests.fakes import FakePipeline, FakeWorld, metrics_v2

MODELS = (ModelConfig(name="co2", prefix="co2/", horizon=24),)
# metrics.json (schema 2): GOOD beats seasonal naive (a first model passes); BAD is worse
# than the champion re-scored on the same backtest (GOOD's model, 0.3).
GOOD = metrics_v2(candidate=0.3, baseline=1.4)
BAD = metrics_v2(candidate=1.6, baseline=1.4, champion=0.3)


@pytest.fixture
def world() -> FakeWorld:
    return FakeWorld(MODELS)


def test_new_data_launches_one_run_with_the_snapshot(world):
    [outcome] = world.service.handle(world.arrive("co2/a.csv", samples.csv_rows(2000, 3)))
    assert outcome.action == "retrain"
    [submission] = world.pipeline.submissions
    assert submission.run_key == outcome.run_key
    assert submission.tags == {"retrain_run_key": outcome.run_key, "retrain_model": "co2"}
    assert submission.inputs["data"] == "azureml://datastores/trainingdata/paths/co2/"
    assert submission.inputs["horizon"] == 24
    manifest = world.artifacts.read_json(f"retrain/{outcome.run_key}/snapshot.json")
    assert [f["name"] for f in manifest["files"]] == ["co2/a.csv"]
    record = world.service.get_run(outcome.run_key)
    assert (record["status"], record["pipeline_run_id"]) == ("Queued", outcome.run_key)


def test_the_same_event_three_times_gives_one_run(world):
    message = world.arrive("co2/a.csv", samples.csv_rows(2000, 3))
    outcomes = [world.service.handle(message)[0] for _ in range(3)]
    assert [o.action for o in outcomes] == ["retrain", "skip", "skip"]
    assert "duplicate delivery" in outcomes[1].reason
    assert len(world.pipeline.submissions) == 1
    assert [e["action"] for e in world.ledger()] == ["retrain", "skip", "skip"]


def test_another_event_for_the_same_blob_version_is_deduped_by_name_and_etag(world):
    first = world.arrive("co2/a.csv", samples.csv_rows(2000, 3), event_id="e1")
    world.service.handle(first)
    again = NewDataArrived(**(first.__dict__ | {"event_id": "e2"}))
    [outcome] = world.service.handle(again)
    assert outcome.action == "skip"
    assert "duplicate: blob co2/a.csv with ETag" in outcome.reason
    assert len(world.pipeline.submissions) == 1


def test_completed_run_passing_the_gate_is_registered_and_promoted(world):
    [launched] = world.service.handle(world.arrive("co2/a.csv", samples.csv_rows(2000, 3)))
    outcome = world.complete(launched.run_key, GOOD)
    assert outcome.action == "promoted"
    assert "production: none -> v1" in outcome.reason
    version = world.registry.get_version("co2", 1)
    assert version.tags["gate"] == "passed"
    assert version.lineage["run_key"] == launched.run_key
    assert version.lineage["snapshot"]["files"][0]["name"] == "co2/a.csv"
    assert version.lineage["trigger"]["kind"] == "NewDataArrived"
    assert world.registry.get_alias("co2", "production").version == 1
    record = world.service.get_run(launched.run_key)
    assert record["finalised"] and record["promoted"] and record["model_version"] == 1


def test_rejected_candidate_is_registered_but_not_promoted(world):
    [first] = world.service.handle(world.arrive("co2/a.csv", samples.csv_rows(2000, 3)))
    world.complete(first.run_key, GOOD)
    [second] = world.service.handle(
        world.arrive("co2/b.csv", samples.csv_rows(2003, 1), event_id="e2")
    )
    outcome = world.complete(second.run_key, BAD)
    assert outcome.action == "rejected"
    assert "backtest MASE 1.600 is worse than champion 0.300" in outcome.reason
    assert world.registry.get_version("co2", 2).tags["gate"] == "rejected"
    assert world.registry.get_alias("co2", "production").version == 1


def test_duplicate_run_event_finalises_once(world):
    [launched] = world.service.handle(world.arrive("co2/a.csv", samples.csv_rows(2000, 3)))
    world.complete(launched.run_key, GOOD)
    event = samples.run_event(launched.run_key, run_key=launched.run_key)
    [again] = world.service.handle(parse_run_event(event))
    assert again.action == "skip"
    assert len(world.registry.list_versions("co2")) == 1


def test_failed_run_is_recorded_with_the_backend_error(world):
    [launched] = world.service.handle(world.arrive("co2/a.csv", samples.csv_rows(2000, 3)))
    outcome = world.complete(launched.run_key, {}, status="Failed")
    assert outcome.action == "failed"
    assert "prep: boom" in outcome.reason
    assert world.service.get_run(launched.run_key)["error"] == "prep: boom"
    assert world.registry.list_versions("co2") == []


def fail(world, key: str, error: str, status: str = "Failed") -> None:
    world.pipeline.finish(key, status, error=error)
    world.service.handle(parse_run_event(samples.run_event(key, run_key=key, status=status)))


def test_a_failed_run_does_not_block_a_later_retrain_of_the_same_data(world):
    first = launch(world)
    fail(world, first, "train: compute node was preempted")  # retryable
    assert sweep(world) == []  # the backoff (10 minutes) has not passed
    world.clock.advance(minutes=11)
    [retry] = sweep(world)
    assert retry.action == "retrain" and retry.run_key == f"{first}-r2"
    assert "failed" in retry.reason and "trying again" in retry.reason
    world.complete(retry.run_key, {}, status="Canceled")
    [tick] = world.service.handle(ScheduleTicked(at=world.clock.now()))
    assert tick.action == "skip" and "nothing new" in tick.reason
    [third] = world.service.handle(RetrainRequested("co2", "me", "again"))
    assert third.run_key == f"{first}-r3"
    fail(world, third.run_key, "prep: value 'x' is not a number")  # a data failure
    world.clock.advance(hours=2)
    assert sweep(world) == []  # a data failure waits for new data: no automatic retry
    [forced] = world.service.handle(RetrainRequested("co2", "me", "fixed", force=True))
    assert forced.run_key == f"{first}-r4"
    assert world.pipeline.submissions[-1].tags["retrain_force_rerun"] == "true"
    assert len(world.pipeline.submissions) == 4


def test_bad_csv_is_quarantined_and_left_out_of_later_snapshots(world):
    world.service.handle(world.arrive("co2/a.csv", samples.csv_rows(2000, 3)))
    bad = world.arrive("co2/b.csv", "timestamp,value\n2003-01-01,abc\n", event_id="e2")
    with pytest.raises(InvalidData, match="row 2: value 'abc' is not a number"):
        world.service.handle(bad)
    assert world.state.list_keys("quarantine/") == ["quarantine/co2/b.csv.json"]
    world.complete(world.ledger()[0]["run_key"], GOOD)
    [manual] = world.service.handle(RetrainRequested("co2", "me", "check"))
    assert manual.action == "skip"  # the snapshot without the bad file already has its run
    [redelivered] = world.service.handle(bad)  # a duplicate, not a second quarantine
    assert redelivered.action == "skip" and "duplicate" in redelivered.reason
    assert sum("quarantined" in e["reason"] for e in world.ledger()) == 1
    assert "quarantined" in world.ledger()[1]["reason"]


def test_schedule_skips_when_nothing_new_and_drift_retrains_when_data_changed(world):
    [launched] = world.service.handle(world.arrive("co2/a.csv", samples.csv_rows(2000, 3)))
    world.complete(launched.run_key, GOOD)
    [tick] = world.service.handle(ScheduleTicked(at=world.clock.now()))
    assert tick.action == "skip" and "nothing new since run" in tick.reason
    [drift] = world.service.handle(DriftAlerted("co2", "generic", "a1", "psi", None))
    assert drift.action == "skip" and "already covers" in drift.reason
    world.data.put("co2/b.csv", samples.csv_rows(2003, 1))  # arrived, event lost
    [found] = sweep(world)  # the sweep finds it and the policy retrains on it
    assert found.action == "retrain" and "without an event" in found.reason
    assert found.run_key != launched.run_key


def test_submit_failure_is_recorded_and_raised(world):
    world.pipeline.fail_next = RuntimeError("endpoint unavailable")
    with pytest.raises(PipelineError, match="endpoint unavailable"):
        world.service.handle(world.arrive("co2/a.csv", samples.csv_rows(2000, 3)))
    [key] = world.state.list_keys("runs/")
    assert world.state.get(key)[0]["status"] == "SubmitFailed"


def test_run_event_for_unknown_run_key_is_invalid_input(world):
    with pytest.raises(InvalidInput, match="unknown run key 'co2-nope'"):
        world.service.handle(parse_run_event(samples.run_event("x", run_key="co2-nope")))


def test_foreign_run_is_ignored(world):
    [outcome] = world.service.handle(parse_run_event(samples.run_event("x", run_key=None)))
    assert outcome.action == "ignored"


def test_dead_letter_keeps_payload_and_reason(world):
    key = world.service.dead_letter("on_blob_created", b"{broken", InvalidInput("bad json"))
    document, _ = world.state.get(key)
    assert document["payload"] == "{broken"
    assert document["reason"] == "bad json"
    assert document["error_type"] == "InvalidInput"
    assert key.startswith("deadletter/on_blob_created/")


def test_queries(world):
    [launched] = world.service.handle(world.arrive("co2/a.csv", samples.csv_rows(2000, 3)))
    world.complete(launched.run_key, GOOD)
    assert world.service.list_models()[0]["production_version"] == 1
    [version] = world.service.list_versions("co2")
    assert version["production"] and version["mase"] == 0.3


# ---------------------------------------------------------------- recovery and races


class FlakyRegistry:
    """The real registry, but ``register`` fails the first time (a storage outage)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.failures = 1

    def register(self, *args, **kwargs):
        if self.failures:
            self.failures -= 1
            raise OSError("storage unavailable")
        return self.inner.register(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def launch(world) -> str:
    [launched] = world.service.handle(world.arrive("co2/a.csv", samples.csv_rows(2000, 3)))
    return launched.run_key


def test_failed_finalisation_releases_its_claim_and_the_retry_finishes(world):
    key = launch(world)
    world.service.context.registry = FlakyRegistry(world.registry)
    with pytest.raises(OSError, match="storage unavailable"):
        world.complete(key, GOOD)
    assert not world.service.get_run(key).get("finalising_at")
    outcome = world.complete(key, GOOD)  # Event Grid's retry
    assert outcome.action == "promoted"
    assert len(world.registry.list_versions("co2")) == 1


def test_a_stale_claim_is_taken_over_and_registration_is_not_repeated(world):
    key = launch(world)
    # An instance registered the version, then died while holding the claim.
    world.registry.register("co2", artifact_uri="u", tags={"run_key": key}, lineage={})
    record, etag = world.state.get(f"runs/{key}.json")
    record["finalising_at"] = world.clock.now().isoformat()
    world.state.replace(f"runs/{key}.json", record, etag=etag)
    assert world.complete(key, GOOD).action == "skip"  # claim still fresh
    world.clock.advance(minutes=11)
    outcome = world.complete(key, GOOD)
    assert outcome.action == "promoted"
    assert [v.version for v in world.registry.list_versions("co2")] == [1]


class InterferingStore:
    """Writes a status update to the run record just before the first claim lands."""

    def __init__(self, inner, key) -> None:
        self.inner, self.key, self.armed = inner, key, True

    def replace(self, key, document, *, etag):
        if self.armed and key == self.key and "finalising_at" in document:
            self.armed = False
            current, current_etag = self.inner.get(key)
            self.inner.replace(key, current | {"status": "Finalizing"}, etag=current_etag)
        return self.inner.replace(key, document, etag=etag)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_a_concurrent_status_write_does_not_lose_the_completion(world):
    key = launch(world)
    world.service.context.state = InterferingStore(world.state, f"runs/{key}.json")
    assert world.complete(key, GOOD).action == "promoted"
    assert world.service.get_run(key)["finalised"] is True


def test_a_failed_submit_is_resubmitted_by_the_sweep_not_by_a_redelivery(world):
    world.pipeline.fail_next = RuntimeError("endpoint unavailable")
    message = world.arrive("co2/a.csv", samples.csv_rows(2000, 3))
    with pytest.raises(PipelineError):
        world.service.handle(message)
    [again] = world.service.handle(message)  # Event Grid redelivers: the arrival is known
    assert again.action == "skip" and "duplicate" in again.reason
    [outcome] = sweep(world)
    assert outcome.action == "retrain" and "resubmitted" in outcome.reason
    assert [s.run_key for s in world.pipeline.submissions] == [outcome.run_key]
    record = world.service.get_run(outcome.run_key)
    assert record["status"] == "Queued"


def test_a_run_stuck_in_submitting_is_resubmitted_after_a_while(world):
    key = launch(world)
    record, etag = world.state.get(f"runs/{key}.json")
    world.state.replace(f"runs/{key}.json", record | {"status": "Submitting"}, etag=etag)
    world.pipeline.runs.clear()  # the submit never reached the backend
    record, etag = world.state.get(f"runs/{key}.json")
    world.state.replace(f"runs/{key}.json", record | {"pipeline_run_id": None}, etag=etag)
    [early] = world.service.handle(RetrainRequested("co2", "me", "again"))
    assert early.action == "queued" and key in early.reason
    assert sweep(world) == []
    world.clock.advance(minutes=16)
    [late] = sweep(world)
    assert late.action == "retrain" and "resubmitted" in late.reason
    assert late.run_key == key


def test_force_starts_a_new_attempt_on_the_same_data(world):
    key = launch(world)
    [waiting] = world.service.handle(RetrainRequested("co2", "me", "new code", force=True))
    assert waiting.action == "queued" and f"run {key} is active" in waiting.reason
    world.complete(key, GOOD)  # the queued request fires when the run ends
    [forced] = [e for e in world.ledger() if e["action"] == "retrain"][1:]
    assert forced["run_key"] == f"{key}-r2" and "step cache bypassed" in forced["reason"]
    world.complete(forced["run_key"], GOOD)
    [tick] = world.service.handle(ScheduleTicked(at=world.clock.now()))
    assert f"nothing new since run {key}-r2" in tick.reason


def test_completion_before_the_submit_bookkeeping_keeps_the_final_state(world):
    original = world.pipeline.submit

    def submit_and_finish_at_once(submission):
        run = original(submission)
        world.complete(run.run_key, GOOD)
        return run

    world.pipeline.submit = submit_and_finish_at_once
    key = launch(world)
    record = world.service.get_run(key)
    assert (record["status"], record["finalised"], record["pipeline_run_id"]) == (
        "Completed",
        True,
        key,
    )


def test_events_from_another_run_with_the_same_tag_are_ignored(world):
    key = launch(world)
    event = samples.run_event("child-step-run", run_key=key)
    [outcome] = world.service.handle(parse_run_event(event))
    assert outcome.action == "ignored" and "child-step-run" in outcome.reason
    assert not world.service.get_run(key).get("finalised")


def test_unnamed_alerts_are_not_deduplicated_and_named_ones_per_model():
    models = (ModelConfig(name="a", prefix="a/"), ModelConfig(name="b", prefix="b/"))
    world = FakeWorld(models)
    for name in ("a", "b"):
        world.data.put(f"{name}/x.csv", samples.csv_rows(2000, 3))
    world.service.handle(SweepTicked(at=world.clock.now()))
    for key in list(world.pipeline.runs):
        world.complete(key, GOOD)
    world.data.put("a/y.csv", samples.csv_rows(2003, 1))
    world.data.put("b/y.csv", samples.csv_rows(2003, 1))
    world.service.handle(SweepTicked(at=world.clock.now()))
    for key in [k for k, r in world.pipeline.runs.items() if not r.finished]:
        world.complete(key, GOOD)
    unnamed = [world.service.handle(DriftAlerted(m, "generic", "", "psi", None))[0] for m in "ab"]
    assert [o.action for o in unnamed] == ["skip", "skip"]  # acted on: the data is covered
    assert all("already covers" in o.reason for o in unnamed)
    named = [world.service.handle(DriftAlerted(m, "generic", "same", "psi", None))[0] for m in "ab"]
    assert [o.action for o in named] == ["skip", "skip"]
    [again] = world.service.handle(DriftAlerted("a", "generic", "same", "psi", None))
    assert "duplicate delivery" in again.reason


def test_a_fixed_file_under_the_quarantined_name_joins_again(world):
    bad = world.arrive("co2/a.csv", "timestamp,value\n2003-01-01,abc\n", event_id="e1")
    with pytest.raises(InvalidData):
        world.service.handle(bad)
    [fixed] = world.service.handle(
        world.arrive("co2/a.csv", samples.csv_rows(2000, 3), event_id="e2")
    )
    assert fixed.action == "retrain"
    assert [s.inputs["data"] for s in world.pipeline.submissions] == [
        "azureml://datastores/trainingdata/paths/co2/"
    ]
    manifest = world.artifacts.read_json(f"retrain/{fixed.run_key}/snapshot.json")
    assert [f["name"] for f in manifest["files"]] == ["co2/a.csv"]


def test_one_model_failing_on_a_tick_does_not_stop_the_others():
    models = (ModelConfig(name="a", prefix="a/"), ModelConfig(name="b", prefix="b/"))
    models = tuple(dataclasses.replace(m, policy=TriggerPolicy(quiet_period=3600)) for m in models)
    world = FakeWorld(models)
    for name in ("a", "b"):
        message = world.arrive(f"{name}/x.csv", samples.csv_rows(2000, 3), event_id=name)
        assert world.service.handle(message)[0].action == "coalesced"
    world.clock.advance(hours=2)  # the bursts are due; the tick fires them
    world.pipeline.fail_next = RuntimeError("quota exceeded")
    outcomes = world.service.handle(ScheduleTicked(at=world.clock.now()))
    assert [(o.model, o.action) for o in outcomes] == [("a", "failed"), ("b", "retrain")]
    [letter] = world.state.list_keys("deadletter/on_schedule/")
    assert "quota exceeded" in world.state.get(letter)[0]["reason"]


def test_ledger_limit_returns_the_newest(world):
    for n in range(3):
        world.service.handle(RetrainRequested("co2", f"user{n}", "why"))
    newest = world.service.list_ledger("co2", limit=2)
    assert [e["trigger"] for e in newest] == [
        "manual request by user1: why",
        "manual request by user2: why",
    ]
    assert world.service.list_ledger("co2", limit=0) == []


def test_a_run_records_the_champion_it_will_be_compared_with(world):
    first = launch(world)
    assert world.service.get_run(first)["champion"] is None
    assert world.complete(first, GOOD).action == "promoted"
    [second] = world.service.handle(
        world.arrive("co2/b.csv", samples.csv_rows(2003, 3), event_id="e2")
    )
    champion = world.service.get_run(second.run_key)["champion"]
    assert champion == {
        "version": 1,
        "run_key": first,
        "model_uri": f"azureml://datastores/workspaceblobstore/paths/retrain/{first}/model/",
    }
    first_inputs, second_inputs = (s.inputs for s in world.pipeline.submissions)
    assert "champion" not in first_inputs  # the first model has no champion to beat
    assert second_inputs["champion"] == champion["model_uri"]
    assert second_inputs["run_key"] == second.run_key
    assert (second_inputs["backtest_folds"], second_inputs["backtest_horizon"]) == (0, 0)


def sweep(world):
    return world.service.handle(SweepTicked(at=world.clock.now()))


def test_the_sweep_finalises_a_run_whose_completion_event_was_lost(world):
    key = launch(world)
    assert sweep(world) == []  # still queued: nothing to do
    world.pipeline.finish(key, "Completed")
    world.artifacts.write_json(f"retrain/{key}/metrics/metrics.json", GOOD)
    [outcome] = sweep(world)
    assert outcome.action == "promoted"
    assert world.service.get_run(key)["finalised"] is True
    assert world.state.list_keys("active/") == []
    assert sweep(world) == []
    event = samples.run_event(key, run_key=key)  # the event comes after all
    [late] = world.service.handle(parse_run_event(event))
    assert late.action == "skip" and "already finalised" in late.reason


def test_the_sweep_finds_a_job_an_ambiguous_submit_started_instead_of_submitting_again(world):
    world.pipeline.fail_next = TimeoutError("the invoke timed out after the request was sent")
    message = world.arrive("co2/a.csv", samples.csv_rows(2000, 3))
    with pytest.raises(PipelineError):
        world.service.handle(message)
    [key] = [k.removeprefix("runs/").removesuffix(".json") for k in world.state.list_keys("runs/")]
    world.pipeline.runs[key] = PipelineRun(key, key, "Running")  # the job did start
    assert sweep(world) == []
    record = world.service.get_run(key)
    assert (record["pipeline_run_id"], record["status"]) == (key, "Running")
    assert world.pipeline.submissions == []


def test_the_sweep_resubmits_a_failed_submit_that_started_nothing(world):
    world.pipeline.fail_next = ConnectionResetError("reset")
    with pytest.raises(PipelineError):
        world.service.handle(world.arrive("co2/a.csv", samples.csv_rows(2000, 3)))
    [outcome] = sweep(world)
    assert outcome.action == "retrain" and "resubmitted" in outcome.reason
    [submission] = world.pipeline.submissions
    assert world.service.get_run(submission.run_key)["status"] == "Queued"


def test_a_submit_that_keeps_failing_is_given_up_after_the_timeout(world):
    class Refusing(FakePipeline):
        def submit(self, submission):
            raise PipelineError("400 Bad Request: deployment 'retrain' does not exist")

    world.service.context.pipeline = Refusing()
    with pytest.raises(PipelineError):
        world.service.handle(world.arrive("co2/a.csv", samples.csv_rows(2000, 3)))
    [key] = [
        k.removeprefix("active/").removesuffix(".json") for k in world.state.list_keys("active/")
    ]
    world.clock.advance(minutes=20)
    [retried] = [o for o in sweep(world) if o.run_key == key]
    assert retried.reason.startswith(f"sweep of run {key}: could not submit")
    assert world.state.list_keys(f"active/{key}") != []  # still open: tried again next sweep
    world.clock.advance(hours=25)
    [given_up] = [o for o in sweep(world) if o.run_key == key]
    assert given_up.action == "failed" and "no job could be started" in given_up.reason
    assert "does not exist" in world.service.get_run(key)["error"]
    assert world.state.list_keys(f"active/{key}") == []


def test_the_sweep_gives_up_on_a_run_with_no_result_after_the_timeout(world):
    key = launch(world)
    world.clock.advance(hours=25)
    [outcome] = sweep(world)
    assert outcome.action == "failed" and "timed out" in outcome.reason
    record = world.service.get_run(key)
    assert record["finalised"] and "still Queued" in record["error"]
    world.clock.advance(minutes=11)  # a timeout is retryable, after the backoff
    [retry] = sweep(world)
    assert retry.run_key == f"{key}-r2"


def test_a_run_event_without_our_tags_is_mapped_to_its_run_by_job_name(world):
    key = launch(world)
    world.pipeline.finish(key, "Completed")
    world.artifacts.write_json(f"retrain/{key}/metrics/metrics.json", GOOD)
    event = samples.run_event(key, run_key=None)  # a batch endpoint's job: no retrain tags
    [outcome] = world.service.handle(parse_run_event(event))
    assert outcome.run_key == key and outcome.action == "promoted"
    [ignored] = world.service.handle(parse_run_event(samples.run_event("other", run_key=None)))
    assert ignored.action == "ignored" and "not a retraining run" in ignored.reason


def test_a_run_is_listed_as_open_before_its_record_is_written(world):
    class DiesAfterTheMarker:
        """The state store of an instance that dies right after listing the run."""

        def __init__(self, inner):
            self.inner = inner

        def create(self, key, document):
            if key.startswith("runs/"):
                raise OSError("instance died")
            return self.inner.create(key, document)

        def __getattr__(self, name):
            return getattr(self.inner, name)

    world.service.context.state = DiesAfterTheMarker(world.state)
    with pytest.raises(OSError, match="instance died"):
        world.service.handle(world.arrive("co2/a.csv", samples.csv_rows(2000, 3)))
    world.service.context.state = world.state
    [marker] = world.state.list_keys("active/")
    assert marker.startswith("active/co2-")
    assert world.state.list_keys("runs/") == []
    assert sweep(world) == []  # a young marker may be a launch under way: kept
    assert world.state.list_keys("active/") == [marker]
    world.clock.advance(minutes=16)
    sweep(world)  # an old marker without a record is dropped, not an error
    assert world.state.list_keys("active/") == []


def test_one_models_registry_trouble_does_not_stop_the_sweep(world):
    class Unreachable:
        def __init__(self, inner):
            self.inner = inner

        def reconcile(self, name):
            raise OSError("workspace unreachable")

        def __getattr__(self, name):
            return getattr(self.inner, name)

    key = launch(world)
    world.service.context.registry = Unreachable(world.registry)
    world.pipeline.finish(key, "Completed")
    world.artifacts.write_json(f"retrain/{key}/metrics/metrics.json", GOOD)
    outcomes = sweep(world)
    assert [o.action for o in outcomes if o.run_key == key] == ["promoted"]
    assert any("workspace unreachable" in o.reason for o in outcomes if o.run_key is None)
