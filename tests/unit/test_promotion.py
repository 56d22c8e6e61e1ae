"""Promotion through the whole service: the gate's verdict, compare-and-swap against the
champion the run was compared with, data recency, pins, history and lineage."""

import pytest

from shared.messages import PinRequested, RetrainRequested
from shared.settings import ModelConfig
from tests import samples
from tests.fakes import FakeWorld, metrics_v2

MODELS = (ModelConfig(name="co2", prefix="co2/", horizon=24),)


@pytest.fixture
def world() -> FakeWorld:
    return FakeWorld(MODELS)


def arrive(world: FakeWorld, name: str, start: int, event_id: str) -> str:
    [outcome] = world.service.handle(
        world.arrive(f"co2/{name}.csv", samples.csv_rows(start, 1), event_id=event_id)
    )
    assert outcome.action == "retrain", outcome
    assert outcome.run_key is not None
    return outcome.run_key


def production(world: FakeWorld) -> int | None:
    return world.registry.get_alias("co2", "production").version


def first_model(world: FakeWorld) -> str:
    key = arrive(world, "2000", 2000, "e0")
    assert world.complete(key, metrics_v2(candidate=0.5, data_end="2000-12-01")).action == (
        "promoted"
    )
    return key


def test_two_runs_finishing_in_the_wrong_order_the_older_snapshot_never_wins(world):
    first_model(world)
    older = arrive(world, "2001", 2001, "e1")  # snapshot 2000-2001
    # The trigger policy runs one run per model at a time; the gate must hold without that
    # rule too (e.g. the policy state lost): forget it, so the newer run starts at once.
    world.state.delete("policy/co2.json")
    newer = arrive(world, "2002", 2002, "e2")  # snapshot 2000-2002, launched while older runs
    assert world.service.get_run(older)["champion"]["version"] == 1
    assert world.service.get_run(newer)["champion"]["version"] == 1

    done = world.complete(newer, metrics_v2(candidate=0.4, champion=0.5, data_end="2002-12-01"))
    assert done.action == "promoted" and production(world) == 2
    late = world.complete(older, metrics_v2(candidate=0.3, champion=0.5, data_end="2001-12-01"))
    assert late.action == "registered"
    assert "production moved from v1 to v2 since this run started" in late.reason
    assert production(world) == 2
    assert world.registry.get_version("co2", 3).tags["gate"] == "passed"

    # A run started after the newer model was promoted whose data ends earlier (here: forced
    # on the current data, its metrics saying so): the data-end check still refuses it.
    [again] = world.service.handle(RetrainRequested("co2", "ana", "old data", force=True))
    assert again.action == "retrain" and again.run_key == f"{newer}-r2"
    assert world.service.get_run(again.run_key)["champion"]["version"] == 2
    stale = world.complete(
        again.run_key, metrics_v2(candidate=0.2, champion=0.4, data_end="2001-12-01")
    )
    assert stale.action == "registered"
    assert "before production v2's (2002-12-01)" in stale.reason
    assert production(world) == 2
    assert [
        (h["from_version"], h["to_version"]) for h in world.service.list_history("co2")["history"]
    ] == [(None, 1), (1, 2)]


def test_a_promotion_records_history_report_and_lineage(world):
    key = arrive(world, "2000", 2000, "e0")
    world.artifacts.write_json(
        f"retrain/{key}/model/model.json",
        {
            "order": [1, 1, 1],
            "search": {"tried": 40},
            "evaluation_fit": {"file": "model_eval.pkl", "train_end": "1999-12-01"},
            "final_fit": {"file": "model.pkl", "train_end": "2000-12-01"},
        },
    )
    outcome = world.complete(key, metrics_v2(candidate=0.5))
    assert outcome.action == "promoted"
    assert outcome.details["report_url"] == f"/api/runs/{key}/report"
    record = world.service.get_run(key)
    assert record["report_url"] == f"/api/runs/{key}/report"
    assert record["gate"]["passed"] and "first model" in record["gate"]["policy"]
    assert record["promotion"].endswith("production: none -> v1")
    lineage = world.registry.get_version("co2", 1).lineage
    assert lineage["gate"]["checks"][0]["name"] == "beats_seasonal_naive"
    assert lineage["final_fit"] == {"file": "model.pkl", "train_end": "2000-12-01"}
    assert lineage["evaluation_fit"]["file"] == "model_eval.pkl"
    assert lineage["model_json_uri"].endswith(f"retrain/{key}/model/model.json")
    [entry] = world.service.list_history("co2")["history"]
    assert (entry["action"], entry["by"], entry["from_version"], entry["to_version"]) == (
        "promoted",
        "gate",
        None,
        1,
    )
    assert entry["run_key"] == key and entry["reason"].startswith("passed: backtest MASE")
    gate_entry = world.ledger()[-1]
    assert gate_entry["kind"] == "gate" and gate_entry["gate"]["passed"] is True


def test_without_model_json_the_evaluation_fit_comes_from_the_metrics(world):
    key = arrive(world, "2000", 2000, "e0")
    world.complete(key, metrics_v2(candidate=0.5))
    lineage = world.registry.get_version("co2", 1).lineage
    assert lineage["evaluation_fit"]["order"] == [1, 1, 1]
    assert lineage["final_fit"] is None


def test_champion_that_could_not_be_rescored_keeps_production(world):
    first_model(world)
    key = arrive(world, "2001", 2001, "e1")
    metrics = metrics_v2(candidate=0.1) | {"champion_error": "champion model.pkl unreadable"}
    outcome = world.complete(key, metrics)
    assert outcome.action == "rejected"
    assert "champion could not be re-scored: champion model.pkl unreadable" in outcome.reason
    assert production(world) == 1


def test_old_metrics_schema_is_registered_and_rejected_not_a_crash(world):
    key = arrive(world, "2000", 2000, "e0")
    old = {"candidate": {"mase": 0.3, "smape": 1, "rmse": 1, "mae": 1}, "baseline": {"mase": 1}}
    outcome = world.complete(key, old)
    assert outcome.action == "rejected" and "metrics schema None is not 2" in outcome.reason
    assert world.registry.get_version("co2", 1).tags["gate"] == "rejected"
    assert production(world) is None


def test_pinned_production_only_registers(world):
    first_model(world)
    world.service.handle(PinRequested("co2", "quarter-end freeze", "ana"))
    key = arrive(world, "2001", 2001, "e1")
    outcome = world.complete(key, metrics_v2(candidate=0.3, champion=0.5, data_end="2001-12-01"))
    assert outcome.action == "registered"
    assert "registered only: production is pinned at v1 by ana (quarter-end freeze)" in (
        outcome.reason
    )
    assert production(world) == 1


def test_per_model_gate_settings_apply_through_the_service():
    world = FakeWorld((ModelConfig(name="co2", prefix="co2/", gate={"max_mase": 0.4}),))
    key = arrive(world, "2000", 2000, "e0")
    outcome = world.complete(key, metrics_v2(candidate=0.5, baseline=1.0))
    assert outcome.action == "rejected"
    assert "backtest MASE 0.500 >= ceiling 0.4" in outcome.reason
    assert "below 0.4" in world.service.list_models()[0]["gate_policy"]


def test_a_repeated_finalisation_after_the_alias_moved_writes_the_missing_history(world):
    key = arrive(world, "2000", 2000, "e0")
    world.complete(key, metrics_v2(candidate=0.5))
    # Simulate an instance that moved the alias and died before writing history and the
    # final run record: drop both and deliver the completion again.
    for history_key in world.state.list_keys("history/"):
        del world.state.documents[history_key]
    record, etag = world.state.get(f"runs/{key}.json")
    world.state.replace(
        f"runs/{key}.json", record | {"finalised": False, "finalising_at": None}, etag=etag
    )
    outcome = world.complete(key, metrics_v2(candidate=0.5))
    assert outcome.action == "promoted" and outcome.reason.endswith("already in production")
    [entry] = world.service.list_history("co2")["history"]
    assert entry["to_version"] == 1 and entry["run_key"] == key


def test_a_first_finalisation_does_not_look_through_the_models_versions(world):
    # The registry's versions grow with every run. A first attempt registered nothing yet,
    # so it registers without looking for an earlier registration: the only listings of the
    # versions are the two registrations' own (each picks the next number), for the
    # candidate and for the refreshed champion. A repeat finds the candidate's version by
    # the number its run record names and registers nothing again.
    first_model(world)
    key = arrive(world, "2001", 2001, "e1")
    world.state.listed.clear()
    assert "production refreshed: v1 -> v3" in refused(world, key).reason
    assert world.state.listed.count("registry/co2/versions/") == 2
    record, etag = world.state.get(f"runs/{key}.json")
    world.state.replace(
        f"runs/{key}.json", record | {"finalised": False, "finalising_at": None}, etag=etag
    )
    assert "production refreshed: v1 -> v3" in refused(world, key).reason
    assert [v.version for v in world.registry.list_versions("co2")] == [1, 2, 3]


# ------------------------------------------------------------------ refresh after a refusal

REFRESHED_URI = (
    "azureml://datastores/workspaceblobstore/paths/retrain/{key}/metrics/champion_refreshed/"
)


def refused(
    world: FakeWorld,
    key: str,
    *,
    data_end: str = "2001-12-01",
    folder: bool = True,
    method: str | None = None,
):
    """Complete ``key`` with a candidate the gate refuses and a refreshed champion
    (``method``: how the evaluate step refreshed it; None: metrics that do not say)."""
    refreshed = {"folder": "champion_refreshed", "data_end": data_end, "params_end": "2000-12-01"}
    if method is not None:
        refreshed |= {"method": method, "params_end": data_end if method == "ml" else "2000-12-01"}
    metrics = metrics_v2(candidate=0.9, champion=0.5, data_end=data_end) | {
        "champion_refreshed": refreshed
    }
    if folder:
        world.artifacts.write_json(
            f"retrain/{key}/metrics/champion_refreshed/model.json",
            {"order": [1, 1, 1], "params_end": "2000-12-01", "train_end": data_end},
        )
    return world.complete(key, metrics)


def test_every_version_names_its_model_folder(world):
    key = first_model(world)
    version = world.registry.get_version("co2", 1)
    folder = f"azureml://datastores/workspaceblobstore/paths/retrain/{key}/model/"
    assert version.tags["model_folder"] == version.lineage["model_folder"] == folder
    assert version.artifact_uri == folder


def test_a_refusal_refreshes_production_with_the_champion_re_estimated_on_the_data(world):
    first_model(world)
    key = arrive(world, "2001", 2001, "e1")
    outcome = refused(world, key, method="ml")
    assert outcome.action == "rejected"
    assert (
        "production refreshed: v1 -> v3 (v1's specification re-estimated on the run's data, "
        "state to 2001-12-01)"
    ) in outcome.reason
    refresh = world.registry.get_version("co2", 3)
    assert refresh.lineage["refresh_method"] == "ml"
    assert refresh.lineage["params_end"] == "2001-12-01"
    last = world.service.list_history("co2")["history"][-1]
    assert last["action"] == "refresh"
    assert "v1's specification re-estimated on the run's data (to 2001-12-01)" in last["reason"]


def test_a_refusal_refreshes_production_with_the_champions_parameters(world):
    first = first_model(world)
    key = arrive(world, "2001", 2001, "e1")
    outcome = refused(world, key)
    assert outcome.action == "rejected"
    assert "production refreshed: v1 -> v3 (v1's parameters, state to 2001-12-01)" in (
        outcome.reason
    )
    assert outcome.details["refreshed_version"] == 3
    # v2 is the refused candidate; v3 the champion refreshed, now in production.
    assert world.registry.get_version("co2", 2).tags["gate"] == "rejected"
    assert production(world) == 3
    refresh = world.registry.get_version("co2", 3)
    folder = REFRESHED_URI.format(key=key)
    assert refresh.artifact_uri == folder
    assert refresh.tags["run_key"] == f"{key}-refresh" and refresh.tags["refresh_of"] == "1"
    assert refresh.tags["model_folder"] == refresh.lineage["model_folder"] == folder
    assert refresh.tags["gate"] == "refresh" and refresh.tags["data_end"] == "2001-12-01"
    assert refresh.lineage["lineage"] == "state refreshed from v1 to data_end 2001-12-01"
    assert refresh.lineage["refresh_of_run_key"] == first
    assert "pipeline_run_id" not in refresh.lineage
    assert "candidate" not in refresh.lineage["metrics"]
    record = world.service.get_run(key)
    assert (record["model_version"], record["refreshed_version"]) == (2, 3)
    assert record["promoted"] is False
    last = world.service.list_history("co2")["history"][-1]
    assert (last["action"], last["from_version"], last["to_version"], last["run_key"]) == (
        "refresh",
        1,
        3,
        key,
    )
    # The next run is compared with the refreshed version.
    following = arrive(world, "2002", 2002, "e2")
    assert world.service.get_run(following)["champion"]["version"] == 3


def test_the_next_run_is_compared_with_the_refreshed_champion(world):
    first_model(world)
    key = arrive(world, "2001", 2001, "e1")
    refused(world, key)
    later = arrive(world, "2002", 2002, "e2")
    champion = world.service.get_run(later)["champion"]
    assert champion["version"] == 3
    assert champion["model_uri"] == REFRESHED_URI.format(key=key)
    assert world.pipeline.submissions[-1].inputs["champion"] == REFRESHED_URI.format(key=key)


def test_a_repeated_finalisation_does_not_refresh_twice(world):
    first_model(world)
    key = arrive(world, "2001", 2001, "e1")
    refused(world, key)
    record, etag = world.state.get(f"runs/{key}.json")
    world.state.replace(
        f"runs/{key}.json", record | {"finalised": False, "finalising_at": None}, etag=etag
    )
    again = refused(world, key)
    assert "production refreshed: v1 -> v3" in again.reason
    assert [v.version for v in world.registry.list_versions("co2")] == [1, 2, 3]
    actions = [h["action"] for h in world.service.list_history("co2")["history"]]
    assert actions == ["promoted", "refresh"]


def test_no_refresh_when_pinned(world):
    first_model(world)
    world.service.handle(PinRequested("co2", "audit", "ana"))
    key = arrive(world, "2001", 2001, "e1")
    pinned = refused(world, key)
    assert "not refreshed: production is pinned at v1" in pinned.reason
    assert production(world) == 1 and len(world.registry.list_versions("co2")) == 2


def test_no_refresh_when_production_moved_or_the_data_is_not_newer(world):
    first_model(world)
    older = arrive(world, "2001", 2001, "e1")
    world.state.delete("policy/co2.json")  # two runs at once, as in the test above
    newer = arrive(world, "2002", 2002, "e2")
    world.complete(newer, metrics_v2(candidate=0.4, champion=0.5, data_end="2002-12-01"))
    assert production(world) == 2
    late = refused(world, older)
    assert "not refreshed: production moved from v1 to v2 since this run started" in late.reason
    assert production(world) == 2
    # A run whose data does not end after production's: nothing to refresh.
    same = arrive(world, "2003", 2003, "e3")
    stale = refused(world, same, data_end="2002-12-01")
    assert "not refreshed: production v2's data already ends 2002-12-01" in stale.reason
    # No folder written: nothing registered.
    last = arrive(world, "2004", 2004, "e4")
    missing = refused(world, last, data_end="2004-12-01", folder=False)
    assert "not refreshed: no model.json in retrain/" in missing.reason
    assert production(world) == 2


def test_no_refresh_without_a_refreshed_champion(world):
    first_model(world)
    key = arrive(world, "2001", 2001, "e1")
    outcome = world.complete(key, metrics_v2(candidate=0.9, champion=0.5, data_end="2001-12-01"))
    assert outcome.action == "rejected" and "refresh" not in outcome.reason
    assert production(world) == 1
