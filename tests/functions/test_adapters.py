"""The functions called directly with real trigger objects, as the Python worker would,
against the service wired to fakes (installed with set_service, not patched)."""

import json
from datetime import UTC, datetime

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

from shared.bootstrap import set_service
from shared.settings import ModelConfig
from tests import samples
from tests.fakes import FakeWorld, metrics_v2
from tests.functions.conftest import user_functions

MODELS = (ModelConfig(name="co2", prefix="co2/", horizon=24),)
FUNCTIONS = user_functions()


@pytest.fixture
def world():
    world = FakeWorld(MODELS)
    set_service(world.service)
    yield world
    set_service(None)


def grid_event(event: dict) -> func.EventGridEvent:
    return func.EventGridEvent(
        id=event["id"],
        data=event["data"],
        topic=event["topic"],
        subject=event["subject"],
        event_type=event["eventType"],
        event_time=datetime(2026, 1, 1, tzinfo=UTC),
        data_version=event["dataVersion"],
    )


def http(method: str, url: str, body: object = b"", **route_params: str) -> func.HttpRequest:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return func.HttpRequest(method, url, body=data, route_params=route_params)


def test_blob_created_event_starts_a_run(world):
    world.data.put("co2/a.csv", samples.csv_rows(2000, 3))
    FUNCTIONS["on_blob_created"](grid_event(samples.blob_created("co2/a.csv", api="PutBlob")))
    assert len(world.pipeline.submissions) == 1


def test_blob_created_cloud_event_starts_a_run(world):
    world.data.put("co2/a.csv", samples.csv_rows(2000, 3))
    cloud = samples.as_cloud_event(samples.blob_created("co2/a.csv"))
    event = func.CloudEvent(
        id=cloud["id"],
        source=cloud["source"],
        type=cloud["type"],
        specversion="1.0",
        subject=cloud["subject"],
        data=cloud["data"],
    )
    FUNCTIONS["on_blob_created"](event)
    assert len(world.pipeline.submissions) == 1


def test_unknown_prefix_is_dead_lettered_not_raised(world):
    FUNCTIONS["on_blob_created"](grid_event(samples.blob_created("weather/x.csv")))
    [key] = world.state.list_keys("deadletter/on_blob_created/")
    letter = world.state.get(key)[0]
    assert letter["error_type"] == "UnknownModel"
    assert "weather/x.csv" in letter["reason"]
    assert json.loads(letter["payload"])["subject"].endswith("weather/x.csv")
    assert world.pipeline.submissions == []


def test_bad_csv_is_dead_lettered_with_the_row(world):
    world.data.put("co2/a.csv", "timestamp,value\n2020-01-01,x\n")
    FUNCTIONS["on_blob_created"](grid_event(samples.blob_created("co2/a.csv")))
    [key] = world.state.list_keys("deadletter/")
    assert "row 2: value 'x' is not a number" in world.state.get(key)[0]["reason"]


def test_run_completed_event_promotes(world):
    world.data.put("co2/a.csv", samples.csv_rows(2000, 3))
    FUNCTIONS["on_blob_created"](grid_event(samples.blob_created("co2/a.csv")))
    [submission] = world.pipeline.submissions
    world.pipeline.finish(submission.run_key)
    world.artifacts.write_json(
        f"retrain/{submission.run_key}/metrics/metrics.json",
        metrics_v2(candidate=0.5, baseline=1.0),
    )
    event = samples.run_event(submission.run_key, run_key=submission.run_key)
    FUNCTIONS["on_run_completed"](grid_event(event))
    assert world.registry.get_alias("co2", "production").version == 1


def test_timer_asks_every_model(world):
    FUNCTIONS["on_schedule"](TimerRequest(past_due=True))
    [entry] = world.ledger()
    assert entry["action"] == "skip" and "nothing new" in entry["reason"]
    assert "(past due)" in entry["trigger"]


def test_drift_webhook_answers_with_the_decision(world):
    world.data.put("co2/a.csv", samples.csv_rows(2000, 3))
    response = FUNCTIONS["on_drift_alert"](
        http("POST", "/api/drift", samples.common_alert(custom={"model": "co2"}))
    )
    assert response.status_code == 202
    [outcome] = json.loads(response.get_body())["outcomes"]
    assert outcome["action"] == "retrain"


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{not json", 400, "not valid JSON"),
        ({"hello": 1}, 400, "unrecognised drift alert"),
        ({"model": "nope"}, 404, "unknown model 'nope'"),
    ],
)
def test_drift_webhook_rejects_bad_input_clearly_and_keeps_it(world, body, status, message):
    response = FUNCTIONS["on_drift_alert"](http("POST", "/api/drift", body))
    assert response.status_code == status
    assert message in json.loads(response.get_body())["message"]
    assert len(world.state.list_keys("deadletter/on_drift_alert/")) == 1


def test_manual_retrain_then_status_and_versions(world):
    world.data.put("co2/a.csv", samples.csv_rows(2000, 3))
    response = FUNCTIONS["retrain_model"](
        http("POST", "/api/models/co2/retrain", {"requested_by": "ana"}, model="co2")
    )
    assert response.status_code == 202
    run_key = json.loads(response.get_body())["outcomes"][0]["run_key"]
    status = FUNCTIONS["get_run"](http("GET", f"/api/runs/{run_key}", run_key=run_key))
    assert json.loads(status.get_body())["status"] == "Queued"
    missing = FUNCTIONS["get_run"](http("GET", "/api/runs/x", run_key="x"))
    assert missing.status_code == 404
    models = json.loads(FUNCTIONS["list_models"](http("GET", "/api/models")).get_body())
    assert models["models"][0]["name"] == "co2"
    versions = FUNCTIONS["list_model_versions"](http("GET", "/api/x", model="co2"))
    assert json.loads(versions.get_body()) == {"versions": []}
    ledger = FUNCTIONS["get_model_ledger"](http("GET", "/api/x", model="co2"))
    assert "ana" in json.loads(ledger.get_body())["ledger"][-1]["trigger"]
    assert FUNCTIONS["get_model_ledger"](http("GET", "/api/x", model="zz")).status_code == 404
