"""The delivery contract under hostile input, one regression test per defect found from
outside: a permanent input fault is answered normally (a 4xx on HTTP, the function
returns for Event Grid), dead-lettered once and verbatim, and never raised (a 5xx that
Event Grid would retry for a day)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import azure.functions as func
import pytest

from shared.bootstrap import set_service
from shared.errors import InvalidInput
from shared.parsing import parse_blob_created, parse_limit, parse_run_event, parse_time
from shared.service import Outcome
from shared.settings import ModelConfig, TrustSettings
from tests import samples
from tests.fakes import FakeStateStore, FakeWorld, metrics_v2
from tests.functions.conftest import user_functions

MODELS = (ModelConfig(name="co2", prefix="co2/", horizon=24),)
FUNCTIONS = user_functions()


@pytest.fixture
def world():
    world = FakeWorld(MODELS)
    set_service(world.service)
    yield world
    set_service(None)


def letters(world: FakeWorld, source: str = "") -> list[dict[str, Any]]:
    return [world.state.get(k)[0] for k in world.state.list_keys(f"deadletter/{source}")]


def grid(event: dict[str, Any]) -> func.EventGridEvent:
    return func.EventGridEvent(
        id=event["id"],
        data=event["data"],
        topic=event["topic"],
        subject=event["subject"],
        event_type=event["eventType"],
        event_time=datetime(2026, 1, 1, tzinfo=UTC),
        data_version=event.get("dataVersion", ""),
    )


def post(function: str, body: bytes, **route: str) -> func.HttpResponse:
    request = func.HttpRequest("POST", "/api/x", body=body, route_params=route)
    response: func.HttpResponse = FUNCTIONS[function](request)
    return response


# ------------------------------------------------------------------ HTTP bodies


HOSTILE_BODIES = {
    "nested 1,000 deep": b"[" * 1000 + b"]" * 1000,
    "nested 100 deep": b'{"a":' * 100 + b"1" + b"}" * 100,
    "integer of 5,000 digits": b'{"model": "co2", "n": ' + b"9" * 5000 + b"}",
    "not UTF-8": b'{"model": "\xff\xfe"}',
    "lone surrogate": b'{"model": "\\ud800"}',
    "configurationItems not a list": json.dumps(
        samples.common_alert() | {"data": {"essentials": {"configurationItems": 5}}}
    ).encode(),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_BODIES))
def test_hostile_drift_bodies_get_a_4xx_and_one_verbatim_dead_letter(world, name):
    body = HOSTILE_BODIES[name]
    for _ in range(2):  # a redelivery adds no second dead letter
        response = post("on_drift_alert", body)
        assert 400 <= response.status_code < 500, response.get_body()
    [letter] = letters(world, "on_drift_alert/")
    kept = letter.get("payload", "").encode() or base64.b64decode(letter["payload_base64"])
    assert kept == body
    assert letter["retryable"] is False and letter["reason"]


UNREADABLE = ("nested 1,000 deep", "nested 100 deep", "integer of 5,000 digits", "not UTF-8")


@pytest.mark.parametrize("name", UNREADABLE)
def test_hostile_retrain_bodies_get_a_4xx(world, name):
    response = post("retrain_model", HOSTILE_BODIES[name], model="co2")
    assert 400 <= response.status_code < 500
    assert len(letters(world, "retrain_model/")) == 1
    assert world.pipeline.submissions == []


@pytest.mark.parametrize("limit", ["¹²", "٣", "-1", "1e3", "501", "9" * 5000, "1.5"])
def test_ledger_limit_is_plain_digits_and_bounded(world, limit):
    request = func.HttpRequest(
        "GET", "/api/x", body=b"", params={"limit": limit}, route_params={"model": "co2"}
    )
    assert FUNCTIONS["get_model_ledger"](request).status_code == 400


def test_ledger_limit_default_and_bound():
    assert parse_limit(None) == 100
    assert parse_limit("500") == 500
    assert parse_limit("0") == 0


@pytest.mark.parametrize("run_key", ["..", "a/../b", "\ud800", "x" * 20_000, "co2-1 2"])
def test_run_routes_answer_404_for_what_cannot_be_a_run_key(world, run_key):
    request = func.HttpRequest("GET", "/api/x", body=b"", route_params={"run_key": run_key})
    assert FUNCTIONS["get_run"](request).status_code == 404
    assert FUNCTIONS["get_run_report"](request).status_code == 404


# ------------------------------------------------------------------ Event Grid events


def blob_event(**changes: Any) -> dict[str, Any]:
    event = samples.blob_created("co2/a.csv")
    data = dict(event["data"], **changes.pop("data", {}))
    return event | {"data": data} | changes


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (blob_event(data={"contentLength": float("inf")}), "contentLength"),
        (blob_event(data={"contentLength": -1}), "contentLength"),
        (blob_event(data={"contentLength": float("nan")}), "contentLength"),
        (blob_event(data={"contentLength": True}), "contentLength"),
        (blob_event(subject="/blobServices/default/containers/data/blobs/co2/../x.csv"), ".."),
        (blob_event(subject="/blobServices/default/containers/data/blobs/co2/\ud800"), "Unicode"),
        (blob_event(subject="/blobServices/default/containers/data/blobs/co2/a\x00"), "control"),
        (blob_event(subject="/blobServices/default/containers/data/blobs/co2//a"), "segment"),
        (blob_event(data={"url": "https://a.blob.core.windows.net/data/co2/other.csv"}), "url"),
        (blob_event(id="x" * 300), "event id"),
    ],
)
def test_bad_blob_created_events_are_dead_lettered_not_raised(world, event, reason):
    world.data.put("co2/a.csv", samples.csv_rows(2000, 3))
    FUNCTIONS["on_blob_created"](grid(event))
    [letter] = letters(world, "on_blob_created/")
    assert reason in letter["reason"]
    assert world.pipeline.submissions == []


def test_a_20kb_run_key_tag_is_refused_before_it_reaches_storage(world):
    event = samples.run_event("job-1", run_key="k" * 20_000)
    FUNCTIONS["on_run_completed"](grid(event))
    [letter] = letters(world, "on_run_completed/")
    assert "is not a run key" in letter["reason"]


@pytest.mark.parametrize("spec", ["", None, 0, "0.3"])
def test_cloud_events_with_a_bad_specversion_are_dead_lettered(world, spec):
    cloud = samples.as_cloud_event(samples.blob_created("co2/a.csv"))
    event = func.CloudEvent(
        id=cloud["id"],
        source=cloud["source"],
        type=cloud["type"],
        specversion=spec,  # type: ignore[arg-type]
        subject=cloud["subject"],
        data=cloud["data"],
    )
    FUNCTIONS["on_blob_created"](event)
    [letter] = letters(world, "on_blob_created/")
    assert "specversion" in letter["reason"]


def test_a_parser_bug_on_odd_input_is_a_permanent_fault_not_a_retry(world):
    """configurationItems that is not a list made the drift parser raise TypeError: any
    error while parsing is dead-lettered once and answered 400."""
    alert = samples.common_alert(rule="no-model-named-here")
    alert["data"]["essentials"]["configurationItems"] = 5
    response = post("on_drift_alert", json.dumps(alert).encode())
    assert response.status_code in (400, 404)
    assert len(letters(world, "on_drift_alert/")) == 1


# ------------------------------------------------------------------ times


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-01T00:00:00.1234567+05:00", datetime(2025, 12, 31, 19, 0, 0, 123456, UTC)),
        ("2017-06-26T18:41:00.9584103Z", datetime(2017, 6, 26, 18, 41, 0, 958410, UTC)),
        ("2026-01-01T00:00:00Z", datetime(2026, 1, 1, tzinfo=UTC)),
        ("2026-01-01T00:00:00.5", datetime(2026, 1, 1, 0, 0, 0, 500000, UTC)),
    ],
)
def test_azure_timestamps_are_read(text, expected):
    assert parse_time(text) == expected


@pytest.mark.parametrize(
    "text", ["2026-01-01T00:00:00.1x1", "2026-01-01T00:00:00.", "2026-01-01T00:00:00.1+5", "x"]
)
def test_malformed_timestamps_are_refused(text):
    with pytest.raises(InvalidInput):
        parse_time(text)


# ------------------------------------------------------------------ trust


TRUST = TrustSettings(
    storage_accounts=("my-storage-account".replace("-", ""),),
    workspaces=(
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/ml/providers/"
        "microsoft.machinelearningservices/workspaces/ws",
    ),
)


def test_blob_created_from_another_storage_account_is_untrusted():
    event = samples.blob_created("co2/a.csv")
    event["topic"] = event["topic"].replace("my-storage-account", "mystorageaccount")
    assert parse_blob_created(event, container="data", models=MODELS, trust=TRUST)
    event["topic"] = event["topic"].replace("mystorageaccount", "evilaccount")
    with pytest.raises(InvalidInput, match="evilaccount"):
        parse_blob_created(event, container="data", models=MODELS, trust=TRUST)
    cloud = samples.as_cloud_event(event)
    with pytest.raises(InvalidInput, match="refused"):
        parse_blob_created(cloud, container="data", models=MODELS, trust=TRUST)


def test_run_events_from_another_workspace_are_untrusted():
    event = samples.run_event("job", run_key="co2-0123456789abcdef")
    assert parse_run_event(event, trust=TRUST).run_key == "co2-0123456789abcdef"
    event["topic"] = event["topic"].replace("/ws", "/other")
    with pytest.raises(InvalidInput, match="refused"):
        parse_run_event(event, trust=TRUST)


def test_an_untrusted_event_is_refused_with_a_record(world):
    world.service.context.trust = TRUST
    event = samples.blob_created("co2/a.csv")
    world.data.put("co2/a.csv", samples.csv_rows(2000, 3))
    FUNCTIONS["on_blob_created"](grid(event))  # "my-storage-account" is not trusted
    [letter] = letters(world, "on_blob_created/")
    assert letter["error_type"] == "Untrusted"
    assert world.pipeline.submissions == []


# ------------------------------------------------------------------ run events are hints


def launch(world: FakeWorld) -> str:
    world.service.handle(world.arrive("co2/a.csv", samples.csv_rows(2000, 3)))
    [submission] = world.pipeline.submissions
    return submission.run_key


def test_a_forged_failed_event_does_not_fail_a_running_run(world):
    key = launch(world)
    world.pipeline.finish(key, "Running")
    forged = samples.run_event(key, run_key=key, status="Failed", event_id="forged")
    [outcome] = world.service.handle(parse_run_event(forged))
    assert outcome.action == "ignored" and "backend says" in outcome.reason
    record = world.service.get_run(key)
    assert not record.get("finalised") and record["status"] != "Failed"
    assert any(e["action"] == "ignored" and e["run_key"] == key for e in world.ledger())
    # the real completion is still acted on
    outcome = world.complete(key, metrics_v2(candidate=0.5))
    assert outcome.action in ("promoted", "rejected")
    assert world.service.get_run(key)["finalised"]


def test_an_event_for_a_run_the_backend_does_not_know_is_ignored(world):
    key = launch(world)
    del world.pipeline.runs[key]
    event = samples.run_event(key, run_key=key, status="Failed")
    [outcome] = world.service.handle(parse_run_event(event))
    assert outcome.action == "ignored"
    assert not world.service.get_run(key).get("finalised")


def test_when_event_and_backend_disagree_on_how_it_ended_the_backend_wins(world):
    key = launch(world)
    world.pipeline.finish(key, "Failed", error="prep: boom")
    completed = samples.run_event(key, run_key=key)  # says Completed
    [outcome] = world.service.handle(parse_run_event(completed))
    assert outcome.action == "failed" and "prep: boom" in outcome.reason


def test_dead_letter_keeps_non_utf8_bytes_verbatim(world):
    body = b"\x80\x81 not json"
    key = world.service.context.dead_letter("x", body, InvalidInput("bad"))
    letter = world.state.get(key)[0]
    assert base64.b64decode(letter["payload_base64"]) == body
    assert world.service.context.dead_letter("x", body, InvalidInput("bad")) == key


class CountingStateStore(FakeStateStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads: list[str] = []

    def get(self, key: str) -> tuple[Any, str]:
        self.reads.append(key)
        return super().get(key)


def test_a_ledger_page_costs_only_the_page(world):
    store = CountingStateStore()
    world.service.context.state = store
    for i in range(30):
        world.service.context.ledger("co2", "test", Outcome("co2", "skip", f"entry {i}"))
        world.clock.advance(seconds=1)
    page = world.service.list_ledger("co2", limit=5)
    assert [e["reason"] for e in page] == [f"entry {i}" for i in range(25, 30)]
    # the page's five records, and the policy head (decisions still in its journal)
    assert sorted(store.reads) == sorted([*store.list_keys("ledger/co2/")[-5:], "policy/co2.json"])


def test_run_events_that_change_nothing_leave_a_ledger_trace(world):
    key = launch(world)
    world.complete(key, metrics_v2(candidate=0.5))
    again = samples.run_event(key, run_key=key, event_id="redelivered")
    [outcome] = world.service.handle(parse_run_event(again))
    child = samples.run_event("child-step", run_key=key, event_id="child")
    [ignored] = world.service.handle(parse_run_event(child))
    notes = [e for e in world.ledger() if e["kind"] == "run_event"]
    assert [(e["event_id"], e["action"]) for e in notes] == [
        ("redelivered", "skip"),
        ("child", "ignored"),
    ]
    assert outcome.action == "skip" and ignored.action == "ignored"
