"""The API's runs, versions, dead-letter and quarantine routes, and every acting route's
ledger entry with who and why, called as the worker would against the service wired to
fakes."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from shared.bootstrap import set_service
from shared.errors import InvalidData, InvalidInput
from shared.ports import JSON
from tests import samples
from tests.api.world import BAD_CSV, MODELS, InspectablePipeline, answer, call, trained_world
from tests.fakes import FakeWorld


@pytest.fixture
def world() -> Iterator[FakeWorld]:
    world = FakeWorld(MODELS)
    world.pipeline = world.service.context.pipeline = InspectablePipeline()
    trained_world(world)
    set_service(world.service)
    yield world
    set_service(None)


def ledger(world: FakeWorld) -> list[JSON]:
    return world.service.list_ledger("co2")


def quarantine(world: FakeWorld, name: str = "co2/bad.csv") -> None:
    with pytest.raises(InvalidData):
        world.service.handle(world.arrive(name, BAD_CSV, event_id=f"q-{name}"))


# ------------------------------------------------------------------ reading


def test_runs_of_a_model_with_step_progress(world):
    response = call("list_model_runs", model="co2")
    assert response.status_code == 200
    runs = answer(response)["runs"]
    assert [r["model_version"] for r in runs] == [2, 1]  # newest first
    assert runs[0]["steps"]["total"] == 3 and runs[0]["steps"]["completed"] == 3
    assert runs[0]["steps"]["durations_s"] == {"prep": 1.5, "train": 2.0, "evaluate": None}
    assert runs[0]["links"]["steps"] == f"/api/runs/{runs[0]['run_key']}/steps"
    assert isinstance(runs[0]["elapsed_s"], float)
    limited = answer(call("list_model_runs", model="co2", params={"limit": "1"}))
    assert len(limited["runs"]) == 1
    assert call("list_model_runs", model="gas").status_code == 404
    assert call("list_model_runs", model="co2", params={"limit": "x"}).status_code == 400


def test_a_finished_runs_steps_are_asked_of_the_backend_once(world):
    call("list_model_runs", model="co2")
    assert len(world.pipeline.step_questions) == 2  # two finalised runs
    again = answer(call("list_model_runs", model="co2"))["runs"]
    assert len(world.pipeline.step_questions) == 2  # read from index/steps/ instead
    assert again[0]["steps"]["durations_s"] == {"prep": 1.5, "train": 2.0, "evaluate": None}
    # A run still going is asked every time.
    message = world.arrive("co2/2002.csv", samples.csv_rows(2002, 1), event_id="2002")
    world.service.handle(message)
    call("list_model_runs", model="co2")
    call("list_model_runs", model="co2")
    assert len(world.pipeline.step_questions) == 4
    running = answer(call("list_model_runs", model="co2"))["runs"][0]["steps"]
    assert running["running"] == ["train"] and running["completed"] == 1


def test_a_runs_steps_log_tail_and_artifacts(world):
    key = world.service.list_runs("co2", limit=1)[0]["run_key"]
    steps = answer(call("get_run_steps", run_key=key, params={"lines": "2"}))
    assert steps["available"] is True
    assert [(s["name"], s["status"]) for s in steps["steps"]] == [
        ("prep", "Completed"),
        ("train", "Completed"),
        ("evaluate", "Completed"),
    ]
    assert steps["steps"][0]["log_tail"] == ["prep line 4", "prep line 5"]
    log = answer(call("get_step_log", run_key=key, step="train", params={"lines": "3"}))
    assert log["lines"] == ["train line 3", "train line 4", "train line 5"]
    assert call("get_step_log", run_key=key, step="nope").status_code == 404
    artifacts = answer(call("get_run_artifacts", run_key=key))["artifacts"]
    assert (
        artifacts["model"] == f"azureml://datastores/workspaceblobstore/paths/retrain/{key}/model/"
    )
    assert call("get_run_steps", run_key="co2-0000000000000000").status_code == 404
    assert call("get_run_plot", run_key=key).status_code == 404  # none written
    world.artifacts.write_bytes(f"retrain/{key}/metrics/forecast.png", b"\x89PNG...")
    plot = call("get_run_plot", run_key=key)
    assert plot.status_code == 200 and plot.mimetype == "image/png"
    assert plot.get_body() == b"\x89PNG..."
    assert plot.headers["X-Content-Type-Options"] == "nosniff"
    assert plot.headers["Content-Security-Policy"].startswith("default-src 'none'")


def test_steps_are_unavailable_from_a_backend_that_cannot_describe_them():
    world = trained_world(FakeWorld(MODELS))
    set_service(world.service)
    try:
        key = world.service.list_runs("co2", limit=1)[0]["run_key"]
        steps = answer(call("get_run_steps", run_key=key))
        assert steps["available"] is False and steps["steps"] == []
        assert answer(call("list_model_runs", model="co2"))["runs"][0]["steps"] is None
        assert call("get_step_log", run_key=key, step="train").status_code == 404
    finally:
        set_service(None)


def test_a_versions_detail_and_lineage(world):
    detail = answer(call("get_model_version", model="co2", version="v2"))
    assert detail["production"] is True and detail["version"] == 2
    assert detail["lineage"]["champion"]["version"] == 1
    assert detail["lineage"]["run_key"] == detail["tags"]["run_key"]
    assert detail["metrics"]["candidate"]["backtest"]["mase"] == 0.4
    assert detail["links"]["run"] == f"/api/runs/{detail['tags']['run_key']}"
    assert call("get_model_version", model="co2", version="9").status_code == 404
    assert call("get_model_version", model="co2", version="x").status_code == 400


def test_compare_two_versions_on_the_same_windows(world):
    compared = answer(call("compare_model_versions", model="co2", params={"a": "1", "b": "2"}))
    assert compared["basis"] == "same_windows"
    assert [v["version"] for v in compared["versions"]] == [1, 2]
    v1, v2 = (v["metrics"]["backtest"]["mase"] for v in compared["versions"])
    assert (v1, v2) == (0.5, 0.4)  # v2's run scored v1 (its champion) on its own folds
    assert compared["windows"]["data_end"] == "2001-12-01"
    assert call("compare_model_versions", model="co2", params={"a": "1"}).status_code == 400
    same = call("compare_model_versions", model="co2", params={"a": "1", "b": "1"})
    assert same.status_code == 400


def test_versions_no_run_scored_together_are_compared_on_their_own_windows(world):
    message = world.arrive("co2/2002.csv", samples.csv_rows(2002, 1), event_id="2002")
    [launched] = world.service.handle(message)
    from tests.fakes import metrics_v2

    world.complete(str(launched.run_key), metrics_v2(candidate=0.3, champion=0.4))
    compared = world.service.compare_versions("co2", 1, 3)
    assert compared["basis"] == "own_windows" and "note" in compared
    assert [v["metrics"]["backtest"]["mase"] for v in compared["versions"]] == [0.5, 0.3]


def test_dead_letters_and_quarantine_are_listed_and_shown(world):
    world.service.dead_letter("on_run_completed", '{"id": 1}', InvalidInput("no run key"))
    [letter] = answer(call("list_dead_letters"))["dead_letters"]
    source, digest = letter["id"].split("/")
    shown = answer(call("get_dead_letter", source=source, digest=digest))
    assert shown["payload"] == '{"id": 1}' and shown["reason"] == "no run key"
    assert call("get_dead_letter", source=source, digest="0" * 40).status_code == 404
    quarantine(world)
    [entry] = answer(call("list_quarantine"))["quarantine"]
    assert entry["blob"] == "co2/bad.csv" and entry["model"] == "co2"
    assert answer(call("get_quarantined_file", blob="co2/bad.csv"))["etag"] == entry["etag"]
    assert call("get_quarantined_file", blob="co2/none.csv").status_code == 404


def test_the_openapi_document_is_served(world):
    document = answer(call("get_openapi"))
    assert document["openapi"] == "3.1.0" and "/quarantine/release" in document["paths"]


# ------------------------------------------------------------------ acting


def test_release_makes_the_fixed_file_an_arrival_and_records_who_and_why(world):
    quarantine(world)
    # Fixed by a re-upload whose event never came: released, its new version is decided on.
    world.data.put("co2/bad.csv", samples.csv_rows(2002, 1))
    body = {"blob": "co2/bad.csv", "reason": "checked by hand", "requested_by": "ana"}
    response = call("release_quarantined_file", "POST", body)
    assert response.status_code == 200, answer(response)
    released, decided = answer(response)["outcomes"]
    assert released["action"] == "released" and decided["action"] == "retrain"
    assert world.service.list_quarantine() == []
    [entry] = [e for e in ledger(world) if e["action"] == "released"]
    assert entry["kind"] == "operator" and entry["requested_by"] == "ana"
    assert "checked by hand" in entry["reason"] and "co2/bad.csv" in entry["reason"]
    # The release comes before the decision it led to.
    actions = [e["action"] for e in ledger(world)]
    assert actions.index("released") < len(actions) - 1 and actions[-1] == "retrain"


def test_a_released_file_that_fails_again_is_quarantined_again_and_answered_422(world):
    quarantine(world)
    body = {"blob": "co2/bad.csv", "reason": "try again", "by": "ben"}
    response = call("release_quarantined_file", "POST", body)
    assert response.status_code == 422
    assert [o["action"] for o in answer(response)["outcomes"]] == ["released", "quarantined"]
    assert [q["blob"] for q in world.service.list_quarantine()] == ["co2/bad.csv"]
    [entry] = [e for e in ledger(world) if e["action"] == "released"]
    assert entry["requested_by"] == "ben"


def test_replay_goes_through_the_original_parser_and_handler_and_is_recorded(world):
    # A BlobCreated for a model that did not exist yet: refused, dead-lettered.
    event = samples.blob_created("co2/2003.csv", event_id="late", etag='"0x1"', size=10)
    world.data.put("co2/2003.csv", samples.csv_rows(2003, 1))
    event["data"]["eTag"] = world.data.blobs["co2/2003.csv"][1]
    world.service.dead_letter("on_blob_created", json.dumps(event), InvalidInput("was down"))
    [letter] = world.service.list_dead_letters()
    source, digest = letter["id"].split("/")
    response = call(
        "replay_dead_letter",
        "POST",
        {"reason": "the model is configured now", "requested_by": "body-name"},
        headers={"x-ms-client-principal-name": "ana@example.com"},
        source=source,
        digest=digest,
    )
    assert response.status_code == 200, answer(response)
    replayed, decided = answer(response)["outcomes"]
    assert replayed["action"] == "replayed" and decided["action"] == "retrain"
    [entry] = [e for e in ledger(world) if e["action"] == "replayed"]
    assert entry["requested_by"] == "ana@example.com"  # the header wins over the body
    assert "the model is configured now" in entry["reason"]
    kept = world.service.get_dead_letter(letter["id"])
    assert kept["resolved_by"] == "ana@example.com"
    assert [(r["by"], r["result"]) for r in kept["replays"]] == [("ana@example.com", "handled")]


def test_a_replay_refused_again_is_recorded_on_the_dead_letter_and_answered_422(world):
    world.service.dead_letter("on_run_completed", "not json", InvalidInput("bad"))
    [letter] = world.service.list_dead_letters()
    source, digest = letter["id"].split("/")
    body = {"reason": "try", "requested_by": "ana"}
    response = call("replay_dead_letter", "POST", body, source=source, digest=digest)
    assert response.status_code == 422
    [refused] = answer(response)["outcomes"]
    assert refused["action"] == "replay_refused" and "not valid JSON" in refused["reason"]
    kept = world.service.get_dead_letter(letter["id"])
    assert kept["replays"][0]["result"] == "refused" and "resolved_at" not in kept


def test_a_replay_the_backend_fails_is_answered_503(world):
    event = samples.blob_created("co2/2003.csv", event_id="late")
    event["data"]["eTag"] = world.data.put("co2/2003.csv", samples.csv_rows(2003, 1))
    world.service.dead_letter("on_blob_created", json.dumps(event), InvalidInput("down"))
    [letter] = world.service.list_dead_letters()
    source, digest = letter["id"].split("/")
    world.pipeline.fail_next = ConnectionError("the workspace is unreachable")
    body = {"reason": "try", "requested_by": "ana"}
    response = call("replay_dead_letter", "POST", body, source=source, digest=digest)
    assert response.status_code == 503
    assert "the workspace is unreachable" in answer(response)["message"]


def test_dead_letters_of_unreplayable_sources_are_recorded_and_answered_422(world):
    world.service.dead_letter("retrain_model", "{}", InvalidInput("bad"))
    [letter] = world.service.list_dead_letters()
    source, digest = letter["id"].split("/")
    body = {"reason": "try", "requested_by": "ana"}
    response = call("replay_dead_letter", "POST", body, source=source, digest=digest)
    assert response.status_code == 422
    assert "cannot be replayed" in answer(response)["outcomes"][0]["reason"]


ACTING = [
    ("retrain_model", {"model": "co2"}, {"reason": "r", "requested_by": "a"}),
    ("rollback_model", {"model": "co2"}, {"version": 1, "reason": "r", "requested_by": "a"}),
    ("promote_model", {"model": "co2"}, {"version": 1, "reason": "r", "requested_by": "a"}),
    ("pin_model", {"model": "co2"}, {"reason": "r", "requested_by": "a"}),
    ("unpin_model", {"model": "co2"}, {"reason": "r", "requested_by": "a"}),
    ("pause_model", {"model": "co2"}, {"reason": "r", "requested_by": "a"}),
    ("resume_model", {"model": "co2"}, {"reason": "r", "requested_by": "a"}),
    ("release_quarantined_file", {}, {"blob": "co2/bad.csv", "reason": "r", "requested_by": "a"}),
    ("replay_dead_letter", {"source": "s", "digest": "0" * 40}, {"reason": "r", "by": "a"}),
]


@pytest.mark.parametrize(("function", "route", "body"), ACTING, ids=[a[0] for a in ACTING])
def test_unknown_body_fields_are_refused_naming_the_field(world, function, route, body):
    response = call(function, "POST", {**body, "resaon": "typo"}, **route)
    assert response.status_code == 400
    assert "unknown field 'resaon'" in answer(response)["message"]


def test_requested_by_and_by_together_are_refused(world):
    body = {"reason": "r", "requested_by": "a", "by": "b"}
    response = call("pin_model", "POST", body, model="co2")
    assert response.status_code == 400 and "not both" in answer(response)["message"]


@pytest.mark.parametrize(
    ("function", "body", "action"),
    [
        ("rollback_model", {"version": 1, "reason": "v2 is off"}, "rolled_back"),
        ("pin_model", {"reason": "freeze"}, "pinned"),
        ("pause_model", {"reason": "backfill"}, "held"),
    ],
)
def test_operator_routes_take_who_from_the_principal_header(world, function, body, action):
    headers = {"x-ms-client-principal-name": "ana@example.com"}
    response = call(function, "POST", body, headers=headers, model="co2")
    assert response.status_code == 200, answer(response)
    entry = ledger(world)[-1]
    assert entry["action"] == action and "ana@example.com" in entry["reason"]
