"""The whole loop on the real local stack: a CSV blob lands in Azurite, the local host
delivers BlobCreated over HTTP, the service decides, the local workspace runs the real
pipeline (prep, statsmodels train, evaluate), the RunCompleted event comes back through
the host, the gate decides, the model is registered and promoted."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from localdev.datasets import co2_monthly, series_csv
from localdev.stack import LocalStack, start_stack

pytestmark = [pytest.mark.azurite, pytest.mark.slow]

MODELS = [
    {
        "name": "co2",
        "prefix": "co2/",
        "frequency": "MS",
        "season_length": 12,
        "horizon": 12,
        "time_budget": 30,
    }
]


def co2_csv(start: str, end: str) -> str:
    return series_csv(co2_monthly().loc[start:end])


@pytest.fixture
def stack(azurite, tmp_path: Path) -> Iterator[LocalStack]:
    suffix = uuid.uuid4().hex[:8]
    containers = {
        "RETRAIN_DATA_CONTAINER": f"data-{suffix}",
        "RETRAIN_STATE_CONTAINER": f"state-{suffix}",
        "RETRAIN_ARTIFACT_CONTAINER": f"artifacts-{suffix}",
    }
    stack = start_stack(
        tmp_path,
        models=MODELS,
        connection_string=azurite.connection_string,
        extra_settings=containers,
    )
    yield stack
    stack.close()


def deliver(stack: LocalStack, function: str, events: list[dict]) -> bool:
    """POST as Event Grid does; True when the host accepted the delivery (2xx)."""
    request = urllib.request.Request(
        stack.host.eventgrid_url(function),
        data=json.dumps(events).encode(),
        headers={"Content-Type": "application/json", "aeg-event-type": "Notification"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=300) as response:
        return 200 <= response.status < 300


def test_csv_upload_becomes_a_promoted_model(stack: LocalStack):
    stack.upload("co2/1990-2001.csv", co2_csv("1990", "2001"))

    [decision] = stack.wait_for_ledger("co2", 1)
    assert decision["action"] == "retrain", decision
    assert "new data co2/1990-2001.csv" in decision["trigger"]
    record = stack.wait_for_run(decision["run_key"])

    assert record["status"] == "Completed"
    assert record["promoted"] is True
    assert record["gate"]["passed"] is True
    assert record["metrics"]["candidate"]["holdout"]["mase"] < 1
    status, versions = stack.request("GET", "/api/models/co2/versions")
    assert status == 200
    [version] = versions["versions"]
    assert version["production"] and version["tags"]["run_key"] == decision["run_key"]

    artifacts = stack.blobs.get_container_client(stack.settings.artifact_container)
    names = {
        b.name for b in artifacts.list_blobs(name_starts_with=f"retrain/{decision['run_key']}")
    }
    for expected in (
        "model/model.pkl",
        "model/model.json",
        "metrics/metrics.json",
        "snapshot.json",
    ):
        assert f"retrain/{decision['run_key']}/{expected}" in names

    ledger = stack.ledger("co2")
    assert [e["action"] for e in ledger] == ["retrain", "promoted"]
    assert "production: none -> v1" in ledger[1]["reason"]

    # The timer and the drift webhook reach the same policy through the host.
    stack.host.fire_timer("on_schedule")
    status, drift = stack.request(
        "POST", "/api/drift", {"model": "co2", "reason": "PSI 0.31", "alert_id": "psi-1"}
    )
    assert status == 202
    assert drift["outcomes"][0]["reason"].endswith("already covers this data snapshot")
    tick, alert = stack.ledger("co2")[2:]
    assert tick["reason"] == f"nothing new since run {decision['run_key']} (Completed)"
    assert "drift alert psi-1 from generic fired: PSI 0.31" in alert["trigger"]


def test_duplicate_deliveries_give_one_run_and_bad_input_is_kept(stack: LocalStack):
    stack.upload("co2/1990-2001.csv", co2_csv("1990", "2001"))
    [first] = stack.wait_for_ledger("co2", 1)
    blob = stack.blobs.get_blob_client(stack.settings.data_container, "co2/1990-2001.csv")
    properties = blob.get_blob_properties()
    event = {
        "id": "redelivered-event",
        "topic": "/subscriptions/0/resourceGroups/local/providers/Microsoft.Storage/"
        "storageAccounts/devstoreaccount1",
        "subject": f"/blobServices/default/containers/{stack.settings.data_container}"
        "/blobs/co2/1990-2001.csv",
        "eventType": "Microsoft.Storage.BlobCreated",
        "eventTime": "2026-01-01T00:00:00Z",
        "data": {"api": "PutBlob", "eTag": properties.etag, "contentLength": properties.size},
        "dataVersion": "",
        "metadataVersion": "1",
    }
    for _ in range(3):
        assert deliver(stack, "on_blob_created", [event])
    triggers = stack.wait_for(
        "four trigger decisions",
        lambda: len(t := [e for e in stack.ledger("co2") if e["kind"] == "trigger"]) >= 4 and t,
    )
    assert [e["action"] for e in triggers] == ["retrain", "skip", "skip", "skip"]
    # Another event for the same blob version: deduplicated on blob name and ETag.
    assert triggers[1]["reason"].startswith("duplicate: blob co2/1990-2001.csv with ETag")
    assert first["run_key"]
    assert (
        triggers[2]["reason"]
        == triggers[3]["reason"]
        == ("duplicate delivery of event redelivered-event")
    )
    assert len(stack.service.state.list_keys("runs/")) == 1

    # An event the host cannot even decode is refused with the reason (Event Grid retries,
    # then dead-letters it on its side); one it can decode but we cannot use, an unknown
    # prefix and a bad file are answered and dead-lettered by us. The host stays up.
    with pytest.raises(urllib.error.HTTPError) as refused:
        deliver(stack, "on_blob_created", [{"id": "x", "eventType": "nope"}])
    assert refused.value.code == 400
    assert "lacks subject" in refused.value.read().decode()
    malformed = {
        "id": "x",
        "eventType": "nope",
        "subject": "/blobServices/default",
        "eventTime": "2026-01-01T00:00:00Z",
        "data": {},
        "dataVersion": "",
    }
    assert deliver(stack, "on_blob_created", [malformed])
    stack.upload("weather/today.csv", "timestamp,value\n2020-01-01,1\n")
    stack.upload("co2/bad.csv", "timestamp,value\n2002-01-01,abc\n")
    letters = stack.wait_for(
        "three dead letters",
        lambda: (
            len(keys := stack.service.state.list_keys("deadletter/on_blob_created/")) >= 3 and keys
        ),
        timeout=60,
    )
    # The delivery the host refused itself is kept too, verbatim.
    [refusal] = stack.service.state.list_keys("deadletter/host/")
    assert '"nope"' in stack.service.state.get(refusal)[0]["payload"]
    reasons = [stack.service.state.get(k)[0]["reason"] for k in letters]
    assert any("expected a Microsoft.Storage.BlobCreated event, got 'nope'" in r for r in reasons)
    assert any("no model owns blob 'weather/today.csv'" in r for r in reasons)
    assert any("row 2: value 'abc' is not a number" in r for r in reasons)
    status, models = stack.request("GET", "/api/models")
    assert status == 200 and models["models"][0]["name"] == "co2"
    stack.wait_for_run(first["run_key"])
