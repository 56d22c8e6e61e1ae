"""The operator, history and report routes called with real func.HttpRequest objects, as
the Python worker would, against the service wired to fakes (installed with set_service)."""

import json

import azure.functions as func
import pytest

from shared.bootstrap import set_service
from shared.settings import ModelConfig
from tests import samples
from tests.fakes import FakeWorld, metrics_v2
from tests.functions.conftest import user_functions

MODELS = (ModelConfig(name="co2", prefix="co2/", horizon=24),)
FUNCTIONS = user_functions()


@pytest.fixture
def world():
    """co2 with v1 and v2, both promoted by the gate (v2 in production)."""
    world = FakeWorld(MODELS)
    for year, metrics in (
        (2000, metrics_v2(candidate=0.5, data_end="2000-12-01")),
        (2001, metrics_v2(candidate=0.4, champion=0.5, data_end="2001-12-01")),
    ):
        message = world.arrive(f"co2/{year}.csv", samples.csv_rows(year, 1), event_id=str(year))
        [launched] = world.service.handle(message)
        world.complete(str(launched.run_key), metrics)
    set_service(world.service)
    yield world
    set_service(None)


def post(function: str, model: str, body: object) -> func.HttpResponse:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = func.HttpRequest(
        "POST", f"/api/models/{model}/x", body=data, route_params={"model": model}
    )
    return FUNCTIONS[function](request)


def get(function: str, url: str, **route_params: str) -> func.HttpResponse:
    return FUNCTIONS[function](func.HttpRequest("GET", url, body=b"", route_params=route_params))


def answer(response: func.HttpResponse) -> dict:
    return json.loads(response.get_body())


def test_rollback_pin_promote_unpin_and_history_over_http(world):
    response = post(
        "rollback_model", "co2", {"version": 1, "reason": "v2 is off", "requested_by": "ana"}
    )
    assert response.status_code == 200
    [outcome] = answer(response)["outcomes"]
    assert outcome["action"] == "rolled_back"
    assert post("pin_model", "co2", {"reason": "freeze", "requested_by": "ben"}).status_code == 200
    promoted = post(
        "promote_model",
        "co2",
        {"version": "v2", "reason": "fixed", "requested_by": "ana", "expected_version": 1},
    )
    assert answer(promoted)["outcomes"][0]["action"] == "manual_promote"
    assert post("unpin_model", "co2", {"requested_by": "ben"}).status_code == 200

    history = answer(get("get_model_history", "/api/models/co2/history", model="co2"))
    assert history["production_version"] == 2 and history["pin"] is None
    assert [(h["action"], h["to_version"]) for h in history["history"]] == [
        ("promoted", 1),
        ("promoted", 2),
        ("rolled_back", 1),
        ("pinned", 1),
        ("manual_promote", 2),
        ("unpinned", 2),
    ]
    assert history["history"][4]["reason"] == "fixed"


@pytest.mark.parametrize(
    ("function", "body", "status", "message"),
    [
        ("rollback_model", b"{oops", 400, "not valid JSON"),
        ("rollback_model", [1], 400, "must be a JSON object"),
        ("rollback_model", {"reason": "r", "requested_by": "a"}, 400, "needs 'version'"),
        ("rollback_model", {"version": "two", "reason": "r", "requested_by": "a"}, 400, "two"),
        ("rollback_model", {"version": 1, "requested_by": "a"}, 400, "needs 'reason'"),
        ("rollback_model", {"version": 1, "reason": " ", "requested_by": "a"}, 400, "'reason'"),
        ("promote_model", {"version": 1, "reason": "r"}, 400, "needs 'requested_by'"),
        ("promote_model", {"version": 0, "reason": "r", "requested_by": "a"}, 400, "1 or more"),
        ("rollback_model", {"version": 2, "reason": "r", "requested_by": "a"}, 400, "already"),
        ("promote_model", {"version": 7, "reason": "r", "requested_by": "a"}, 404, "version 7"),
        (
            "promote_model",
            {"version": 1, "reason": "r", "requested_by": "a", "expected_version": 1},
            409,
            "production of co2 is v2, not v1",
        ),
        ("pin_model", {"requested_by": "a"}, 400, "a pin needs 'reason'"),
        ("unpin_model", {"requested_by": "a"}, 400, "co2 is not pinned"),
    ],
)
def test_bad_operator_requests_are_answered_with_what_was_wrong(
    world, function, body, status, message
):
    response = post(function, "co2", body)
    assert response.status_code == status
    assert message in answer(response)["message"]
    assert world.registry.get_alias("co2", "production").version == 2
    assert world.state.list_keys("deadletter/") == []


def test_unknown_model_is_404(world):
    response = post("pin_model", "gas", {"reason": "r", "requested_by": "a"})
    assert response.status_code == 404 and "unknown model 'gas'" in answer(response)["message"]
    assert get("get_model_history", "/x", model="gas").status_code == 404


def test_reports_are_html_pages(world):
    [run] = [v["tags"]["run_key"] for v in world.service.list_versions("co2")][:1]
    response = get("get_run_report", f"/api/runs/{run}/report", run_key=run)
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_body().decode()
    assert page.startswith("<!DOCTYPE html>") and "beats_seasonal_naive" in page
    version = get(
        "get_version_report", "/api/models/co2/versions/2/report", model="co2", version="2"
    )
    assert version.status_code == 200 and "beats_champion" in version.get_body().decode()
    assert get("get_run_report", "/x", run_key="co2-nope").status_code == 404
    missing = get("get_version_report", "/x", model="co2", version="9")
    assert missing.status_code == 404
    bad = get("get_version_report", "/x", model="co2", version="latest")
    assert bad.status_code == 400 and "'latest'" in answer(bad)["message"]
