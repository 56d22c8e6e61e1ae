"""Fuzzing every parser and every function (hypothesis, derandomized, bounded): whatever
comes in, a parser returns a message or raises ``InvalidInput``; a function answers (no
exception, no 5xx: the fakes never fail, so every fault here is an input fault), and a
delivery it refuses is dead-lettered once with the body verbatim and the reason.

``FUZZ_EXAMPLES`` sets the examples per test (200 in the suite; 10,000 on demand).
"""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime
from typing import Any

import azure.functions as func
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.bootstrap import set_service
from shared.errors import InvalidInput
from shared.parsing import (
    parse_blob_created,
    parse_drift_alert,
    parse_limit,
    parse_pin_request,
    parse_retrain_request,
    parse_run_event,
    parse_time,
    parse_version_change,
)
from shared.parsing.common import load_json
from shared.settings import ModelConfig, TrustSettings
from tests import samples
from tests.fakes import FakeWorld
from tests.functions.conftest import user_functions

# The suite's default keeps it within its time budget (2 cores); the 10,000-example runs
# are FUZZ_EXAMPLES=10000 (see docs/delivery.md for what they found).
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
MODELS = (ModelConfig(name="co2", prefix="co2/", horizon=24),)
TRUST = TrustSettings(storage_accounts=("devstoreaccount1",), workspaces=None)
FUNCTIONS = user_functions()

texts = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        ["", "co2", "co2/a.csv", "..", "1.0", "\ud800", "¹²", "Infinity", "-1", "9" * 5000]
    ),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    texts,
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)),
    max_leaves=12,
)


def mutated(base: dict[str, Any]) -> st.SearchStrategy[Any]:
    """``base`` with fields (top level and in ``data``) replaced, dropped or added."""

    @st.composite
    def build(draw: st.DrawFn) -> Any:
        event = json.loads(json.dumps(base))
        for _ in range(draw(st.integers(0, 4))):
            target = event
            if not isinstance(event, dict):
                break
            if isinstance(event.get("data"), dict) and draw(st.booleans()):
                target = event["data"]
            keys = [*target, draw(texts)]
            key = draw(st.sampled_from(keys))
            if draw(st.integers(0, 4)) == 0:
                target.pop(key, None)
            else:
                target[key] = draw(json_values)
        return event if draw(st.integers(0, 20)) else draw(json_values)

    return build()


def reads_or_refuses(parse: Any, *args: Any, **kwargs: Any) -> None:
    try:
        parse(*args, **kwargs)
    except InvalidInput:
        pass


BLOB = samples.blob_created("co2/a.csv")
BLOB["topic"] = BLOB["topic"].replace("my-storage-account", "devstoreaccount1")


@FUZZ
@given(mutated(BLOB))
def test_blob_created_parser(event):
    reads_or_refuses(parse_blob_created, event, container="data", models=MODELS, trust=TRUST)


@FUZZ
@given(mutated(samples.as_cloud_event(BLOB)))
def test_blob_created_parser_cloud_events(event):
    reads_or_refuses(parse_blob_created, event, container="data", models=MODELS, trust=TRUST)


@FUZZ
@given(mutated(samples.run_event("job-1", run_key="co2-0123456789abcdef", status="Failed")))
def test_run_event_parser(event):
    reads_or_refuses(parse_run_event, event, trust=TrustSettings())


@FUZZ
@given(st.one_of(mutated(samples.common_alert()), mutated({"model": "co2", "reason": "x"})))
def test_drift_parser(body):
    reads_or_refuses(parse_drift_alert, body, models=MODELS)


@FUZZ
@given(texts, json_values, st.booleans())
def test_request_parsers(model, body, flag):
    reads_or_refuses(parse_retrain_request, model, body, models=MODELS)
    reads_or_refuses(parse_version_change, model, body, models=MODELS, rollback=flag)
    reads_or_refuses(parse_pin_request, model, body, models=MODELS, pin=flag)


@FUZZ
@given(st.one_of(texts, json_values))
def test_time_and_limit_parsers(value):
    reads_or_refuses(parse_time, value)
    if isinstance(value, str):
        reads_or_refuses(parse_limit, value)


@FUZZ
@given(st.one_of(st.binary(max_size=64), json_values.map(lambda v: json.dumps(v).encode())))
def test_json_loader(body):
    reads_or_refuses(load_json, body)


# ------------------------------------------------------------------ the functions


@pytest.fixture(scope="module")
def world():
    world = FakeWorld(MODELS)
    world.service.context.trust = TRUST
    world.data.put("co2/a.csv", samples.csv_rows(2000, 3))
    set_service(world.service)
    yield world
    set_service(None)


def kept_verbatim(world: FakeWorld, source: str, before: set[str], body: bytes) -> None:
    new = set(world.state.list_keys(f"deadletter/{source}/")) - before
    letters = [world.state.get(k)[0] for k in new]
    assert len(letters) <= 1
    if not letters and body:  # already kept by an identical earlier example
        return
    if letters:
        [letter] = letters
        kept = (
            letter["payload"].encode()
            if "payload" in letter
            else base64.b64decode(letter["payload_base64"])
        )
        assert kept == body[: len(kept)] and letter["reason"]


bodies = st.one_of(
    st.binary(max_size=64),
    json_values.map(lambda v: json.dumps(v).encode()),
    mutated(samples.common_alert(custom={"model": "co2"})).map(lambda v: json.dumps(v).encode()),
    st.sampled_from([b"[" * 1000, b'{"n": ' + b"1" * 5000 + b"}", b'{"model": "\\ud800"}']),
)
POSTS = ["retrain_model", "on_drift_alert", "rollback_model", "promote_model", "pin_model"]
GETS = [
    "get_run",
    "list_models",
    "list_model_versions",
    "get_model_ledger",
    "get_model_history",
    "get_run_report",
    "get_version_report",
]


@FUZZ
@given(st.sampled_from(POSTS), texts, bodies)
def test_post_routes(world, function, model, body):
    source = function
    before = set(world.state.list_keys(f"deadletter/{source}/"))
    request = func.HttpRequest("POST", "/api/x", body=body, route_params={"model": model})
    response = FUNCTIONS[function](request)
    assert response.status_code < 500
    if function in ("retrain_model", "on_drift_alert") and response.status_code >= 400:
        kept_verbatim(world, source, before, body)


@FUZZ
@given(st.sampled_from(GETS), texts, texts, st.dictionaries(texts, texts, max_size=2))
def test_get_routes(world, function, route_value, version, params):
    request = func.HttpRequest(
        "GET",
        "/api/x",
        body=b"",
        params=params,
        route_params={"model": route_value, "run_key": route_value, "version": version},
    )
    assert FUNCTIONS[function](request).status_code < 500


@FUZZ
@given(
    st.sampled_from(["on_blob_created", "on_run_completed"]),
    st.one_of(mutated(BLOB), mutated(samples.run_event("co2-x", run_key="co2-x"))),
)
def test_event_grid_functions(world, function, event):
    if not isinstance(event, dict):
        return  # the host refuses a non-object event before any function runs
    grid = func.EventGridEvent(
        id=event.get("id"),  # type: ignore[arg-type]
        data=event.get("data"),
        topic=event.get("topic"),  # type: ignore[arg-type]
        subject=event.get("subject"),  # type: ignore[arg-type]
        event_type=event.get("eventType"),  # type: ignore[arg-type]
        event_time=datetime(2026, 1, 1, tzinfo=UTC),
        data_version=event.get("dataVersion"),  # type: ignore[arg-type]
    )
    FUNCTIONS[function](grid)  # returns: refused input is dead-lettered, never raised
