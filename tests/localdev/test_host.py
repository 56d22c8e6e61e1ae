"""The local Functions host, driven over real HTTP like the platform would drive it."""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func
import pytest
from azure.storage.blob import ContentSettings

from localdev.host import (
    BlobSubscription,
    FunctionInvocationError,
    HostConfigurationError,
    LocalFunctionsHost,
    RouteTemplate,
    UnknownFunctionError,
)

SETTINGS = {"NIGHTLY_SCHEDULE": "0 0 3 * * *"}
WAIT_SECONDS = 5.0


# -- a small app that records its calls --------------------------------------------------------


@dataclass
class Recorder:
    calls: list[tuple[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str, trigger: Any) -> None:
        with self.lock:
            self.calls.append((name, trigger))

    def of(self, name: str) -> list[Any]:
        with self.lock:
            return [trigger for called, trigger in self.calls if called == name]


def build_app(recorder: Recorder, *, fast_timer: bool = False) -> func.FunctionApp:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

    @app.route(route="models/{model}/retrain", methods=["POST"])
    def retrain(req: func.HttpRequest) -> func.HttpResponse:
        recorder.add("retrain", req)
        body = {"model": req.route_params["model"], "asked": req.get_json()}
        return func.HttpResponse(
            json.dumps(body),
            status_code=202,
            mimetype="application/json",
            headers={"X-Model": req.route_params["model"]},
        )

    @app.route(route="items/{id:int}/{tail?}", methods=["GET"])
    def item(req: func.HttpRequest) -> func.HttpResponse:
        recorder.add("item", req)
        return func.HttpResponse(json.dumps(dict(req.route_params)), mimetype="application/json")

    @app.route(route="boom")
    def boom(req: func.HttpRequest) -> func.HttpResponse:
        raise RuntimeError("boom on purpose")

    @app.event_grid_trigger(arg_name="event")
    def on_event(event: func.EventGridEvent) -> None:
        recorder.add("on_event", event)
        if event.subject == "fail":
            raise RuntimeError("failing on purpose")

    @app.timer_trigger(arg_name="timer", schedule="%NIGHTLY_SCHEDULE%")
    def nightly(timer: func.TimerRequest) -> str:
        recorder.add("nightly", timer)
        return "ran"

    if fast_timer:

        @app.timer_trigger(arg_name="timer", schedule="*/1 * * * * *")
        def every_second(timer: func.TimerRequest) -> None:
            recorder.add("every_second", timer)

    return app


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def host(recorder: Recorder) -> Iterator[LocalFunctionsHost]:
    with LocalFunctionsHost(build_app(recorder), app_settings=SETTINGS) as running:
        yield running


# -- helpers -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


def call(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> Reply:
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return Reply(response.status, dict(response.headers.items()), response.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, dict(error.headers.items()), error.read())


def wait_for(condition: Callable[[], object], what: str, timeout: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.01)


def eventgrid_event(subject: str = "/things/1", **data: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "topic": "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/s",
        "subject": subject,
        "eventType": "Test.Happened",
        "eventTime": "2024-05-01T10:00:00.1234567Z",
        "dataVersion": "1.0",
        "metadataVersion": "1",
        "data": data,
    }


def cloud_event(subject: str = "/things/1") -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "/subscriptions/x/resourceGroups/rg/providers/Microsoft.MachineLearningServices",
        "type": "Microsoft.MachineLearningServices.RunCompleted",
        "subject": subject,
        "time": "2024-05-01T10:00:00Z",
        "data": {"runId": "r1"},
    }


def notify(
    host: LocalFunctionsHost, body: Any, function: str = "on_event", **headers: str
) -> Reply:
    return call(
        "POST",
        host.eventgrid_url(function),
        body,
        {"Content-Type": "application/json", "aeg-event-type": "Notification", **headers},
    )


# -- HTTP triggers -----------------------------------------------------------------------------


def test_http_route_params_query_body_and_response(host: LocalFunctionsHost, recorder: Recorder):
    reply = call(
        "POST",
        f"{host.base_url}/api/models/co2/retrain?force=true",
        {"reason": "manual"},
        {"Content-Type": "application/json"},
    )

    assert reply.status == 202
    assert reply.headers["X-Model"] == "co2"
    assert reply.headers["Content-Type"].startswith("application/json")
    assert reply.json() == {"model": "co2", "asked": {"reason": "manual"}}
    [request] = recorder.of("retrain")
    assert isinstance(request, func.HttpRequest)
    assert request.method == "POST"
    assert request.route_params == {"model": "co2"}
    assert request.params == {"force": "true"}
    assert request.headers["content-type"] == "application/json"
    assert request.url == f"{host.base_url}/api/models/co2/retrain?force=true"


def test_http_wrong_method_is_405_with_allow(host: LocalFunctionsHost, recorder: Recorder):
    reply = call("GET", f"{host.base_url}/api/models/co2/retrain")

    assert reply.status == 405
    assert reply.headers["Allow"] == "POST"
    assert recorder.calls == []


@pytest.mark.parametrize(
    ("path", "route_params"),
    [("/api/items/42", {"id": "42"}), ("/api/items/42/more/", {"id": "42", "tail": "more"})],
)
def test_http_constraint_and_optional_parameter(host: LocalFunctionsHost, path, route_params):
    reply = call("GET", host.base_url + path)

    assert reply.status == 200
    assert reply.json() == route_params


@pytest.mark.parametrize("path", ["/api/items/abc", "/api/nothing/here", "/elsewhere"])
def test_http_unknown_route_is_404(host: LocalFunctionsHost, path):
    assert call("GET", host.base_url + path).status == 404


def test_http_function_exception_is_500_and_host_keeps_serving(
    host: LocalFunctionsHost, caplog: pytest.LogCaptureFixture
):
    reply = call("GET", f"{host.base_url}/api/boom")

    assert reply.status == 500
    assert "boom on purpose" in caplog.text
    assert re.search(r"Executed 'Functions\.boom' \(Failed, Id=[0-9a-f-]+, Duration=", caplog.text)
    assert call("GET", f"{host.base_url}/api/items/1").status == 200


def test_route_templates():
    assert RouteTemplate.compile("models/{model}/retrain").match("/Models/m1/RETRAIN") == {
        "model": "m1"
    }
    assert RouteTemplate.compile("files/{*path}").match("/files/a/b.csv") == {"path": "a/b.csv"}
    assert RouteTemplate.compile("names/{name:alpha}").match("/names/x1") is None
    assert RouteTemplate.compile("n/{n:int:min(3)}").match("/n/2") is None
    assert RouteTemplate.compile("n/{n=7}").match("/n") == {"n": "7"}
    with pytest.raises(ValueError, match="unknown route constraint"):
        RouteTemplate.compile("x/{y:nonsense}")


# -- Event Grid triggers -----------------------------------------------------------------------


def test_eventgrid_subscription_validation_handshake(host: LocalFunctionsHost, recorder: Recorder):
    validation = eventgrid_event(validationCode="512d38b6-c7b8-40c8-89fe-f46f9e9622b6")
    validation["eventType"] = "Microsoft.EventGrid.SubscriptionValidationEvent"

    reply = call(
        "POST",
        host.eventgrid_url("on_event"),
        [validation],
        {"Content-Type": "application/json", "aeg-event-type": "SubscriptionValidation"},
    )

    assert reply.status == 200
    assert reply.json() == {"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}
    assert recorder.calls == []


def test_eventgrid_notification_invokes_once_per_event(
    host: LocalFunctionsHost, recorder: Recorder
):
    first, second = eventgrid_event("/a", n=1), eventgrid_event("/b", n=2)

    reply = notify(host, [first, second])

    assert 200 <= reply.status < 300
    # the events of a delivery run at the same time: in no particular order
    events = sorted(recorder.of("on_event"), key=lambda e: e.subject)
    assert [type(e) for e in events] == [func.EventGridEvent, func.EventGridEvent]
    assert [(e.id, e.subject, e.get_json()) for e in events] == [
        (first["id"], "/a", {"n": 1}),
        (second["id"], "/b", {"n": 2}),
    ]
    assert events[0].event_type == "Test.Happened"
    assert events[0].event_time is not None and events[0].event_time.year == 2024


def test_cloudevent_single_and_batch(host: LocalFunctionsHost, recorder: Recorder):
    single = cloud_event("/one")
    batch = [cloud_event("/two"), cloud_event("/three")]

    one = call(
        "POST",
        host.eventgrid_url("on_event"),
        single,
        {"Content-Type": "application/cloudevents+json; charset=utf-8"},
    )
    many = call(
        "POST",
        host.eventgrid_url("on_event"),
        batch,
        {"Content-Type": "application/cloudevents-batch+json; charset=utf-8"},
    )

    assert 200 <= one.status < 300 and 200 <= many.status < 300
    events = recorder.of("on_event")
    assert all(isinstance(e, func.CloudEvent) for e in events)
    assert events[0].subject == "/one"  # the batch's two after it, in no particular order
    assert sorted(e.subject for e in events[1:]) == ["/three", "/two"]
    assert events[0].type == "Microsoft.MachineLearningServices.RunCompleted"
    assert events[0].get_json() == {"runId": "r1"}


def test_cloudevents_abuse_protection_handshake(host: LocalFunctionsHost):
    reply = call(
        "OPTIONS",
        host.eventgrid_url("on_event"),
        None,
        {"WebHook-Request-Origin": "eventgrid.azure.net"},
    )

    assert reply.status == 200
    assert reply.headers["WebHook-Allowed-Origin"] == "eventgrid.azure.net"


def test_eventgrid_unknown_function_is_404(host: LocalFunctionsHost):
    reply = notify(host, [eventgrid_event()], function="nope")

    assert reply.status == 404
    assert "nope" in reply.text and "on_event" in reply.text


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"[{not json", "not valid JSON"),
        (json.dumps({"id": "1", "eventType": "x", "subject": "s"}).encode(), "JSON array"),
        (json.dumps([{"id": "1", "subject": "s"}]).encode(), "eventType"),
        (json.dumps(["text"]).encode(), "not a JSON object"),
    ],
)
def test_eventgrid_malformed_delivery_is_400(
    host: LocalFunctionsHost, recorder: Recorder, body: bytes, problem: str
):
    reply = notify(host, body)

    assert reply.status == 400
    assert problem in reply.text
    assert recorder.calls == []


def test_eventgrid_function_exception_is_500_and_host_keeps_serving(
    host: LocalFunctionsHost, recorder: Recorder, caplog: pytest.LogCaptureFixture
):
    assert notify(host, [eventgrid_event("fail")]).status == 500
    assert "failing on purpose" in caplog.text

    assert 200 <= notify(host, [eventgrid_event("/fine")]).status < 300
    assert [e.subject for e in recorder.of("on_event")] == ["fail", "/fine"]


def test_invocations_are_logged_like_the_functions_host(
    host: LocalFunctionsHost, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO, logger="localdev.host")

    notify(host, [eventgrid_event()])

    assert re.search(
        r"Executing 'Functions\.on_event' \(Reason='EventGrid trigger fired at [^']+', "
        r"Id=[0-9a-f-]{36}\)",
        caplog.text,
    )
    assert re.search(
        r"Executed 'Functions\.on_event' \(Succeeded, Id=[0-9a-f-]{36}, Duration=\d+ms\)",
        caplog.text,
    )


def test_set_environ_exposes_app_settings_while_running():
    app = func.FunctionApp()

    @app.route(route="setting", auth_level=func.AuthLevel.ANONYMOUS)
    def setting(req: func.HttpRequest) -> str:
        return os.environ.get("LOCALDEV_TEST_SETTING", "unset")

    assert "LOCALDEV_TEST_SETTING" not in os.environ
    with LocalFunctionsHost(
        app, app_settings={"LOCALDEV_TEST_SETTING": "on"}, set_environ=True
    ) as host:
        assert call("GET", f"{host.base_url}/api/setting").text == "on"
    assert "LOCALDEV_TEST_SETTING" not in os.environ


# -- timers ------------------------------------------------------------------------------------


def test_timer_schedule_from_setting_and_fire_timer(host: LocalFunctionsHost, recorder: Recorder):
    assert host.fire_timer("nightly") == "ran"

    [timer] = recorder.of("nightly")
    assert isinstance(timer, func.TimerRequest)
    assert timer.past_due is False


def test_fast_timer_fires_on_its_schedule(recorder: Recorder):
    with LocalFunctionsHost(build_app(recorder, fast_timer=True), app_settings=SETTINGS):
        wait_for(lambda: len(recorder.of("every_second")) >= 2, "two ticks of every_second")

    assert all(isinstance(t, func.TimerRequest) for t in recorder.of("every_second"))
    assert recorder.of("nightly") == []


def test_timer_runs_on_startup(recorder: Recorder):
    app = func.FunctionApp()

    @app.timer_trigger(arg_name="timer", schedule="0 0 3 1 1 *", run_on_startup=True)
    def yearly(timer: func.TimerRequest) -> None:
        recorder.add("yearly", timer)

    with LocalFunctionsHost(app, app_settings={}):
        wait_for(lambda: len(recorder.of("yearly")) == 1, "the run-on-startup invocation")


def test_timer_setting_missing_fails_at_construction(recorder: Recorder):
    with pytest.raises(HostConfigurationError, match="NIGHTLY_SCHEDULE"):
        LocalFunctionsHost(build_app(recorder), app_settings={})


def test_timer_schedule_must_have_six_fields(recorder: Recorder):
    with pytest.raises(HostConfigurationError, match="six"):
        LocalFunctionsHost(build_app(recorder), app_settings={"NIGHTLY_SCHEDULE": "0 3 * * *"})


def test_fire_timer_errors(host: LocalFunctionsHost):
    with pytest.raises(UnknownFunctionError, match="nightly"):
        host.fire_timer("on_event")


def test_fire_timer_raises_when_the_function_fails():
    app = func.FunctionApp()

    @app.timer_trigger(arg_name="timer", schedule="0 0 3 * * *")
    def broken(timer: func.TimerRequest) -> None:
        raise ValueError("no")

    with LocalFunctionsHost(app, app_settings={}) as host, pytest.raises(FunctionInvocationError):
        host.fire_timer("broken")


def test_admin_endpoint_fires_a_timer(host: LocalFunctionsHost, recorder: Recorder):
    reply = call("POST", f"{host.base_url}/admin/functions/nightly", {"input": ""})

    assert reply.status == 202
    assert len(recorder.of("nightly")) == 1


# -- blob subscriptions ------------------------------------------------------------------------


def blob_created_events(
    recorder: Recorder, blob_name: str, kind: str = "BlobCreated"
) -> list[func.EventGridEvent]:
    return [
        e
        for e in recorder.of("on_event")
        if e.subject.endswith(f"/blobs/{blob_name}") and e.event_type == f"Microsoft.Storage.{kind}"
    ]


def watching_host(
    recorder: Recorder, connection_string: str, container: str, **options: Any
) -> LocalFunctionsHost:
    subscription = BlobSubscription(
        connection_string, container, "on_event", poll_interval=0.05, **options
    )
    return LocalFunctionsHost(
        build_app(recorder), app_settings=SETTINGS, blob_subscriptions=[subscription]
    )


def test_new_blob_becomes_one_blob_created_delivery(azurite, new_container, recorder: Recorder):
    container = new_container("watched")
    container.upload_blob("old.csv", b"before the host started")

    with watching_host(recorder, azurite.connection_string, container.container_name):
        uploaded = container.upload_blob(
            "co2/2024-05.csv",
            b"ts,value\n2024-05-01,1.0\n",
            content_settings=ContentSettings(content_type="text/csv"),
        )
        wait_for(lambda: blob_created_events(recorder, "co2/2024-05.csv"), "the BlobCreated event")
        # A later blob is a barrier: once its event is in, a duplicate of the first would be too.
        container.upload_blob("co2/barrier.csv", b"x")
        wait_for(lambda: blob_created_events(recorder, "co2/barrier.csv"), "the barrier event")

    [event] = blob_created_events(recorder, "co2/2024-05.csv")
    assert blob_created_events(recorder, "old.csv") == []
    assert event.event_type == "Microsoft.Storage.BlobCreated"
    assert event.topic == (
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local/providers/"
        "Microsoft.Storage/storageAccounts/devstoreaccount1"
    )
    assert event.subject == (
        f"/blobServices/default/containers/{container.container_name}/blobs/co2/2024-05.csv"
    )
    assert event.data_version == ""
    data = event.get_json()
    assert data["api"] == "PutBlob"
    assert data["url"] == f"{azurite.blob_endpoint}/{container.container_name}/co2/2024-05.csv"
    assert data["eTag"] == uploaded.get_blob_properties().etag.strip('"')
    assert data["contentType"] == "text/csv"
    assert data["contentLength"] == len(b"ts,value\n2024-05-01,1.0\n")
    assert data["blobType"] == "BlockBlob"
    assert re.fullmatch(r"[0-9a-f]{32}", data["sequencer"])
    assert {"clientRequestId", "requestId", "storageDiagnostics"} <= set(data)
    [barrier] = blob_created_events(recorder, "co2/barrier.csv")
    assert barrier.get_json()["sequencer"] > data["sequencer"]


def test_overwrite_is_a_new_event_and_existing_blobs_can_be_delivered(
    azurite, new_container, recorder: Recorder
):
    container = new_container("overwrite")
    container.upload_blob("data.csv", b"first")

    with watching_host(
        recorder, azurite.connection_string, container.container_name, deliver_existing=True
    ):
        wait_for(lambda: len(blob_created_events(recorder, "data.csv")) == 1, "the existing blob")
        container.upload_blob("data.csv", b"second, longer", overwrite=True)
        wait_for(lambda: len(blob_created_events(recorder, "data.csv")) == 2, "the overwrite")

    first, second = (e.get_json() for e in blob_created_events(recorder, "data.csv"))
    assert first["eTag"] != second["eTag"]
    assert second["contentLength"] == len(b"second, longer")
    assert second["sequencer"] > first["sequencer"]


def test_a_deleted_blob_becomes_one_blob_deleted_delivery(
    azurite, new_container, recorder: Recorder
):
    container = new_container("deleted")

    with watching_host(recorder, azurite.connection_string, container.container_name):
        container.upload_blob("co2/a.csv", b"x")
        wait_for(lambda: blob_created_events(recorder, "co2/a.csv"), "the BlobCreated event")
        container.delete_blob("co2/a.csv")
        wait_for(lambda: blob_created_events(recorder, "co2/a.csv", "BlobDeleted"), "the deletion")
        container.upload_blob("co2/barrier.csv", b"x")
        wait_for(lambda: blob_created_events(recorder, "co2/barrier.csv"), "the barrier event")

    [event] = blob_created_events(recorder, "co2/a.csv", "BlobDeleted")
    data = event.get_json()
    assert data["api"] == "DeleteBlob" and "eTag" not in data and "contentLength" not in data
    assert data["url"] == f"{azurite.blob_endpoint}/{container.container_name}/co2/a.csv"
    [created] = blob_created_events(recorder, "co2/a.csv")
    assert data["sequencer"] > created.get_json()["sequencer"]


def test_watcher_waits_for_the_container_and_honours_the_prefix(
    azurite, new_container, recorder: Recorder
):
    container = new_container("later", create=False)

    with watching_host(
        recorder, azurite.connection_string, container.container_name, prefix="co2/"
    ):
        container.create_container()
        container.upload_blob("other/skip.csv", b"x")
        container.upload_blob("co2/take.csv", b"x")
        wait_for(lambda: blob_created_events(recorder, "co2/take.csv"), "the prefixed blob")

    assert blob_created_events(recorder, "other/skip.csv") == []


def test_subscription_to_a_function_that_is_not_event_grid_fails_early(recorder: Recorder):
    subscription = BlobSubscription("UseDevelopmentStorage=true", "data", "nightly")

    with pytest.raises(HostConfigurationError, match="nightly"):
        LocalFunctionsHost(
            build_app(recorder), app_settings=SETTINGS, blob_subscriptions=[subscription]
        )
