"""BlobDeleted through the functions layer: the local Functions host's Event Grid webhook
invoking ``on_blob_created`` as Azure does, in the Event Grid schema and as CloudEvents,
with the service behind it wired to fakes."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

import function_app
from localdev.host import LocalFunctionsHost
from shared.bootstrap import set_service
from shared.messages import PauseRequested, ResumeRequested
from shared.parsing import parse_run_event
from shared.policy import TriggerPolicy
from shared.settings import ModelConfig
from tests import samples
from tests.deletions.payloads import blob_deleted
from tests.fakes import FakeWorld, metrics_v2

GOOD = metrics_v2(candidate=0.3, baseline=1.4)
SETTINGS = {"RETRAIN_SCHEDULE": "0 0 3 * * *", "RETRAIN_SWEEP_SCHEDULE": "0 0 4 1 1 *"}


class Client:
    def __init__(self, host: LocalFunctionsHost, world: FakeWorld) -> None:
        self.host, self.world = host, world

    def deliver(self, events: list[dict[str, Any]], *, cloud: bool) -> int:
        """POST a batch to on_blob_created's Event Grid webhook, in either schema."""
        if cloud:
            events = [samples.as_cloud_event(e) for e in events]
        media = "application/cloudevents-batch+json" if cloud else "application/json"
        request = urllib.request.Request(
            f"{self.host.base_url}/runtime/webhooks/eventgrid?functionName=on_blob_created",
            data=json.dumps(events).encode(),
            method="POST",
            headers={"Content-Type": media, "aeg-event-type": "Notification"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)

    def upload(self, name: str, year: int, event_id: str) -> dict[str, Any]:
        content = samples.csv_rows(year, 3)
        etag = self.world.data.put(name, content)
        return samples.blob_created(name, event_id=event_id, etag=etag, size=len(content))

    def ledger(self) -> list[dict[str, Any]]:
        return self.world.service.list_ledger("co2")

    def finish_last_run(self) -> str:
        key = str(self.ledger()[-1]["run_key"])
        self.world.pipeline.finish(key, "Completed")
        self.world.artifacts.write_json(f"retrain/{key}/metrics/metrics.json", GOOD)
        self.world.service.handle(parse_run_event(samples.run_event(key, run_key=key)))
        return key


@pytest.fixture
def client() -> Iterator[Client]:
    world = FakeWorld((ModelConfig(name="co2", prefix="co2/", policy=TriggerPolicy()),))
    set_service(world.service)
    try:
        with LocalFunctionsHost(function_app.create_app(), app_settings=SETTINGS) as host:
            yield Client(host, world)
    finally:
        set_service(None)


@pytest.mark.parametrize("cloud", [False, True], ids=["eventgrid", "cloudevents"])
def test_blob_deleted_delivered_to_on_blob_created_is_decided_and_recorded(client, cloud):
    for n, name in enumerate(("co2/a.csv", "co2/b.csv")):
        assert client.deliver([client.upload(name, 2000 + 3 * n, f"up-{n}")], cloud=cloud) < 300
        client.finish_last_run()
    client.world.data.blobs.pop("co2/a.csv")
    deleted = blob_deleted("co2/a.csv", event_id="del-a")

    assert client.deliver([deleted], cloud=cloud) < 300

    entry = client.ledger()[-1]
    assert entry["action"] == "retrain" and entry["run_key"]
    assert entry["trigger"] == "deleted data co2/a.csv (DeleteBlob)"
    assert entry["events"] == ["eventgrid:del-a"]
    assert len(client.world.pipeline.submissions) == 3
    assert client.world.state.list_keys("deadletter/") == []

    assert client.deliver([deleted], cloud=cloud) < 300  # Event Grid delivers it again
    assert "duplicate delivery" in client.ledger()[-1]["reason"]
    assert len(client.world.pipeline.submissions) == 3


def test_a_batch_of_uploads_and_deletions_is_one_burst_and_bad_deletions_are_dead_letters(
    client,
):
    client.world.service.handle(PauseRequested("co2", "maintenance", "ana"))
    events = [
        client.upload("co2/a.csv", 2000, "up-a"),
        client.upload("co2/b.csv", 2003, "up-b"),
    ]
    assert client.deliver(events, cloud=False) < 300
    client.world.data.blobs.pop("co2/a.csv")
    batch = [
        blob_deleted("co2/a.csv", event_id="del-a"),
        blob_deleted("co2/a.csv", container="logs", event_id="del-logs"),
        blob_deleted("other/x.csv", event_id="del-other"),
    ]

    assert client.deliver(batch, cloud=False) < 300

    held = [e for e in client.ledger() if e.get("events") == ["eventgrid:del-a"]]
    assert [e["action"] for e in held] == ["held"]
    assert len(client.world.state.list_keys("deadletter/")) == 2  # the other container, no model
    [resumed] = client.world.service.handle(ResumeRequested("co2", "done", "ana"))
    assert resumed.action == "retrain"
    record = client.world.service.get_run(str(resumed.run_key))
    # a.csv's arrival was replaced by its deletion: the run covers b.csv and the deletion
    assert record["trigger"]["events"] == ["eventgrid:up-b", "eventgrid:del-a"]
