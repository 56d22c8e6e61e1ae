"""The trigger policy through the local Functions host (``localdev/host/``), driven over
HTTP as Azure drives the app: each drift source as Azure delivers it (Event Grid for Azure
ML's events, HTTP for Azure Monitor and the generic JSON with its HMAC), and coalescing,
queueing, cooldown, sufficiency and pause. The service behind it is wired to fakes."""

from __future__ import annotations

import dataclasses
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

import function_app
from localdev.host import LocalFunctionsHost
from shared.bootstrap import set_service
from shared.parsing.drift import sign
from shared.policy import TriggerPolicy
from shared.settings import ModelConfig
from tests import samples
from tests.fakes import FakeWorld, metrics_v2

SECRET = "a-webhook-secret-of-some-length"
GOOD = metrics_v2(candidate=0.3, baseline=1.4)
SETTINGS = {"RETRAIN_SCHEDULE": "0 0 3 * * *", "RETRAIN_SWEEP_SCHEDULE": "0 0 4 1 1 *"}


class Client:
    def __init__(self, host: LocalFunctionsHost, world: FakeWorld) -> None:
        self.host, self.world = host, world

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        request = urllib.request.Request(
            self.host.base_url + path,
            data=data if body is not None else b"",
            method=method,
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                text = response.read()
                return response.status, json.loads(text) if text else None
        except urllib.error.HTTPError as error:
            text = error.read()
            try:
                return error.code, json.loads(text)
            except ValueError:
                return error.code, text.decode()

    def deliver(self, function: str, events: list[dict[str, Any]]) -> int:
        status, _ = self.request(
            "POST",
            f"/runtime/webhooks/eventgrid?functionName={function}",
            events,
            {"aeg-event-type": "Notification"},
        )
        return status

    def sweep(self) -> None:
        assert self.request("POST", "/admin/functions/on_sweep", {})[0] == 202

    def tick(self) -> None:
        assert self.request("POST", "/admin/functions/on_schedule", {})[0] == 202

    def upload(self, name: str, content: str, event_id: str) -> dict[str, Any]:
        etag = self.world.data.put(name, content)
        return samples.blob_created(name, event_id=event_id, etag=etag, size=len(content))

    def ledger(self, model: str = "co2") -> list[dict[str, Any]]:
        return self.world.service.list_ledger(model)

    def finish(self, key: str) -> None:
        self.world.pipeline.finish(key, "Completed")
        self.world.artifacts.write_json(f"retrain/{key}/metrics/metrics.json", GOOD)
        event = samples.run_event(key, run_key=key, event_id=f"done-{key}")
        assert self.deliver("on_run_completed", [event]) == 202


def serve(policy: TriggerPolicy) -> Iterator[Client]:
    models = (
        ModelConfig(name="co2", prefix="co2/", policy=policy),
        ModelConfig(name="sales", prefix="sales/", policy=policy),
    )
    world = FakeWorld(models)
    set_service(world.service)
    try:
        with LocalFunctionsHost(function_app.create_app(), app_settings=SETTINGS) as host:
            yield Client(host, world)
    finally:
        set_service(None)


@pytest.fixture
def at_once() -> Iterator[Client]:
    yield from serve(TriggerPolicy(webhook_secret=SECRET))


@pytest.fixture
def bursty() -> Iterator[Client]:
    yield from serve(TriggerPolicy(quiet_period=300, max_wait=3600, cooldown=3600))


def with_first_run(client: Client) -> str:
    """co2 with one completed run on one blob; returns its run key."""
    assert (
        client.deliver(
            "on_blob_created", [client.upload("co2/a.csv", samples.csv_rows(2000, 3), "e0")]
        )
        == 202
    )
    key = client.ledger()[-1]["run_key"]
    client.finish(key)
    return str(key)


# ------------------------------------------------------------------ drift, as Azure sends it


def test_azure_monitor_alert_fired_then_resolved_over_http(at_once):
    with_first_run(at_once)
    at_once.world.data.put("co2/b.csv", samples.csv_rows(2003, 1))  # its event was lost
    alert = samples.common_alert(rule="co2-forecast-drift")
    status, body = at_once.request("POST", "/api/drift", alert)
    assert status == 202 and body["outcomes"][0]["action"] == "retrain"
    again = at_once.request("POST", "/api/drift", alert)[1]["outcomes"][0]
    assert again["action"] == "skip" and "duplicate delivery" in again["reason"]
    resolved = samples.common_alert(rule="co2-forecast-drift", condition="Resolved")
    outcome = at_once.request("POST", "/api/drift", resolved)[1]["outcomes"][0]
    assert outcome["action"] == "skip" and "never retrains" in outcome["reason"]
    assert len(at_once.world.pipeline.submissions) == 2


def test_generic_json_needs_a_valid_fresh_hmac_signature(at_once):
    with_first_run(at_once)
    body = json.dumps({"Model": "co2", "Reason": "psi 0.4 on feature x", "Alert_Id": "g1"}).encode()
    now = int(at_once.world.clock.now().timestamp())
    unsigned = at_once.request("POST", "/api/drift", body)
    assert unsigned[0] == 401 and "X-Retrain-Signature" in unsigned[1]["message"]
    wrong = sign(body, secret="not-the-secret-at-all", timestamp=now)
    assert at_once.request("POST", "/api/drift", body, wrong)[0] == 401
    stale = sign(body, secret=SECRET, timestamp=now - 3600)
    status, answer = at_once.request("POST", "/api/drift", body, stale)
    assert status == 401 and "replay window" in answer["message"]
    status, answer = at_once.request(
        "POST", "/api/drift", body, sign(body, secret=SECRET, timestamp=now)
    )
    assert status == 202
    [outcome] = answer["outcomes"]
    assert outcome["action"] == "skip" and "already covers" in outcome["reason"]  # decided
    assert at_once.world.state.list_keys("deadletter/") == []  # 401s write nothing
    assert "psi 0.4" in at_once.ledger()[-1]["trigger"]


def monitor_event(run_id: str = "monitor-run-1", status: str = "Failed") -> dict[str, Any]:
    event = samples.run_event(run_id, run_key=None, status=status, event_id=f"mm-{run_id}")
    event["data"]["experimentName"] = "co2-monitor"
    event["data"]["RunTags"] = event["data"].pop("runTags") | {
        "azureml_modelmonitor_threshold_breached": "The signal 'data_drift' has failed due to "
        "one or more features violating metric thresholds.\n[...]"
    }
    return event


def test_model_monitor_breach_over_event_grid_is_drift_and_on_run_completed_leaves_it(at_once):
    first = with_first_run(at_once)
    event = monitor_event()
    assert at_once.deliver("on_run_completed", [event]) == 202  # not a retraining run
    assert at_once.deliver("on_azureml_event", [event]) == 202
    entry = at_once.ledger()[-1]
    assert (
        entry["action"] == "skip" and f"run {first} (Completed) already covers" in entry["reason"]
    )
    assert "model monitor run monitor-run-1" in entry["trigger"]
    assert entry["events"] == ["eventgrid:mm-monitor-run-1"]
    assert at_once.deliver("on_azureml_event", [event]) == 202  # redelivered: a duplicate
    assert "duplicate delivery" in at_once.ledger()[-1]["reason"]
    ordinary = samples.run_event("some-job", run_key=None, status="Running", event_id="x")
    entries = len(at_once.ledger())
    assert at_once.deliver("on_azureml_event", [ordinary]) == 202
    assert len(at_once.ledger()) == entries  # not a drift event: on_run_completed's


@pytest.mark.parametrize("cloud", [False, True])
def test_dataset_drift_detected_over_event_grid_carries_its_coefficient(at_once, cloud):
    with_first_run(at_once)
    at_once.world.data.put("co2/b.csv", samples.csv_rows(2003, 1))
    event = {
        "topic": samples.TOPIC.replace("Storage", "MachineLearningServices"),
        "subject": "datadrift/01d29aa4/run/01d29aa4_1571590300380",
        "eventType": "Microsoft.MachineLearningServices.DatasetDriftDetected",
        "eventTime": "2019-07-05T00:00:00Z",
        "id": f"dd-{cloud}",
        "data": {
            "DataDriftId": "01d29aa4",
            "DataDriftName": "co2-drift-monitor",
            "RunId": "01d29aa4_1571590300380",
            "BaseDatasetId": "base",
            "TargetDatasetId": "target",
            "DriftCoefficient": 0.83503490684792081,
            "StartTime": "2019-07-04T00:00:00+00:00",
            "EndTime": "2019-07-05T00:00:00+00:00",
        },
        "dataVersion": "2",
        "metadataVersion": "1",
    }
    if cloud:
        event = samples.as_cloud_event(event)
    assert at_once.deliver("on_azureml_event", [event]) == 202
    entry = at_once.ledger()[-1]
    assert entry["action"] == "retrain" and "drift coefficient 0.835" in entry["reason"]


# ------------------------------------------------------------------ the policy, end to end


def test_a_burst_coalesces_into_one_run_fired_by_the_sweep(bursty):
    events = [
        bursty.upload(f"co2/{n}.csv", samples.csv_rows(2000 + n, 1), f"b{n}") for n in range(5)
    ]
    assert bursty.deliver("on_blob_created", events[:3]) == 202  # one batch
    assert bursty.deliver("on_blob_created", events[3:] + events[:1]) == 202  # and a duplicate
    # A delivery's events are decided concurrently, so their order in the ledger varies.
    assert sorted(e["action"] for e in bursty.ledger()) == ["coalesced"] * 5 + ["skip"]
    bursty.sweep()
    assert bursty.world.pipeline.submissions == []  # not quiet yet
    bursty.world.clock.advance(minutes=6)
    bursty.sweep()
    [submission] = bursty.world.pipeline.submissions
    entry = bursty.ledger()[-1]
    assert entry["action"] == "retrain"
    assert sorted(entry["events"]) == [f"eventgrid:b{n}" for n in range(5)]
    manifest = bursty.world.artifacts.read_json(f"retrain/{submission.run_key}/snapshot.json")
    assert len(manifest["files"]) == 5


def test_queued_behind_the_active_run_then_cooldown_then_fired(bursty):
    first = [bursty.upload("co2/a.csv", samples.csv_rows(2000, 3), "q0")]
    bursty.deliver("on_blob_created", first)
    bursty.world.clock.advance(minutes=6)
    bursty.sweep()
    [running] = bursty.world.pipeline.submissions
    bursty.deliver("on_blob_created", [bursty.upload("co2/b.csv", samples.csv_rows(2003, 1), "q1")])
    queued = bursty.ledger()[-1]
    assert queued["action"] == "queued" and running.run_key in queued["reason"]
    bursty.world.clock.advance(minutes=6)
    bursty.sweep()
    assert len(bursty.world.pipeline.submissions) == 1  # one active run per model
    bursty.finish(running.run_key)
    bursty.sweep()
    assert len(bursty.world.pipeline.submissions) == 1  # the cooldown (1 h) holds it
    bursty.tick()
    assert "cooldown" in bursty.ledger()[-1]["reason"]
    bursty.world.clock.advance(minutes=61)
    bursty.sweep()
    second = bursty.world.pipeline.submissions[-1]
    assert second.run_key != running.run_key
    entry = bursty.ledger()[-1]
    assert entry["action"] == "retrain" and "eventgrid:q1" in entry["events"]


def test_insufficient_new_data_is_skipped_before_training(at_once):
    policy = dataclasses.replace(at_once.world.service.models["co2"].policy, min_new_rows=24)
    at_once.world.service.models["co2"] = dataclasses.replace(
        at_once.world.service.models["co2"], policy=policy
    )
    at_once.deliver(
        "on_blob_created", [at_once.upload("co2/a.csv", samples.csv_rows(2000, 1), "s0")]
    )
    entry = at_once.ledger()[-1]
    assert entry["action"] == "skip" and "only 12 new observation(s)" in entry["reason"]
    assert at_once.world.pipeline.submissions == []
    at_once.deliver(
        "on_blob_created", [at_once.upload("co2/b.csv", samples.csv_rows(2001, 1), "s1")]
    )
    assert at_once.ledger()[-1]["action"] == "retrain"
    assert at_once.ledger()[-1]["events"] == ["eventgrid:s0", "eventgrid:s1"]


def test_pause_keeps_arrivals_and_resume_replays_them(at_once):
    status, body = at_once.request(
        "POST", "/api/models/co2/pause", {"requested_by": "ana", "reason": "backfill"}
    )
    assert status == 200 and body["outcomes"][0]["action"] == "held"
    at_once.deliver(
        "on_blob_created", [at_once.upload("co2/a.csv", samples.csv_rows(2000, 3), "p0")]
    )
    assert at_once.ledger()[-1]["action"] == "held"
    at_once.tick()
    assert at_once.world.pipeline.submissions == []
    assert at_once.request("GET", "/api/models/co2/ledger")[0] == 200  # history readable
    status, body = at_once.request("POST", "/api/models/co2/resume", {"requested_by": "ana"})
    assert status == 200
    [outcome] = body["outcomes"]
    assert outcome["action"] == "retrain" and "resumed by ana" in outcome["reason"]
    assert at_once.ledger()[-1]["events"] == ["eventgrid:p0"]
    assert at_once.request("POST", "/api/models/co2/pause", {})[0] == 400  # who is asking?
    assert at_once.request("POST", "/api/models/nope/pause", {"requested_by": "x"})[0] == 404
