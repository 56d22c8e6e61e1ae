"""Payloads in the shapes Azure publishes (Event Grid, CloudEvents, Azure Monitor, Azure ML
event schemas from the Azure documentation), parameterised for the tests."""

from __future__ import annotations

import copy
from typing import Any

TOPIC = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/Storage/providers/"
    "Microsoft.Storage/storageAccounts/my-storage-account"
)


def blob_created(
    name: str = "co2/2024-01.csv",
    *,
    container: str = "data",
    event_id: str = "831e1650-001e-001b-66ab-eeb76e069631",
    api: str = "PutBlockList",
    etag: str = '"0x8D4BCC2E4835CD0"',
    size: int = 524288,
) -> dict[str, Any]:
    return {
        "topic": TOPIC,
        "subject": f"/blobServices/default/containers/{container}/blobs/{name}",
        "eventType": "Microsoft.Storage.BlobCreated",
        "eventTime": "2017-06-26T18:41:00.9584103Z",
        "id": event_id,
        "data": {
            "api": api,
            "clientRequestId": "6d79dbfb-0e37-4fc4-981f-442c9ca65760",
            "requestId": "831e1650-001e-001b-66ab-eeb76e000000",
            "eTag": etag,
            "contentType": "text/csv",
            "contentLength": size,
            "blobType": "BlockBlob",
            "url": f"https://my-storage-account.blob.core.windows.net/{container}/{name}",
            "sequencer": "00000000000004420000000000028963",
            "storageDiagnostics": {"batchId": "b68529f3-68cd-4744-baa4-3c0498ec19f0"},
        },
        "dataVersion": "",
        "metadataVersion": "1",
    }


def as_cloud_event(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "source": event["topic"],
        "subject": event["subject"],
        "type": event["eventType"],
        "time": event["eventTime"],
        "id": event["id"],
        "data": copy.deepcopy(event["data"]),
        "specversion": "1.0",
    }


def run_event(
    run_id: str,
    *,
    run_key: str | None,
    status: str = "Completed",
    event_id: str = "4b6c9fa0-3d0e-4a6b-9a2f-6e1a7c2c5d11",
) -> dict[str, Any]:
    completed = status == "Completed"
    data: dict[str, Any] = {
        "experimentId": "830a9d2d-07f8-4b6e-9e7d-b4c3b6b1c6a0",
        "experimentName": "retrain",
        "runId": run_id,
        "runType": "azureml.PipelineRun",
        "runTags": {"retrain_run_key": run_key} if run_key else {"owner": "someone"},
        "runProperties": {"azureml.runsource": "azureml.PipelineRun"},
    }
    if not completed:
        data["runStatus"] = status.lower()  # the documentation's example is lowercase
    return {
        "topic": (
            "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/ml/providers/"
            "Microsoft.MachineLearningServices/workspaces/ws"
        ),
        "subject": f"experiments/830a9d2d-07f8-4b6e-9e7d-b4c3b6b1c6a0/runs/{run_id}",
        "eventType": "Microsoft.MachineLearningServices."
        + ("RunCompleted" if completed else "RunStatusChanged"),
        "eventTime": "2026-01-01T00:00:00.000000Z",
        "id": event_id,
        "data": data,
        "dataVersion": "2",
        "metadataVersion": "1",
    }


def common_alert(
    *,
    rule: str = "co2-forecast-drift",
    condition: str = "Fired",
    custom: dict[str, str] | None = None,
    alert_id: str = "b9569717-bc32-442f-add5-83a997729330",
) -> dict[str, Any]:
    return {
        "schemaId": "azureMonitorCommonAlertSchema",
        "data": {
            "essentials": {
                "alertId": "/subscriptions/00000000-0000-0000-0000-000000000000/providers/"
                f"Microsoft.AlertsManagement/alerts/{alert_id}",
                "alertRule": rule,
                "severity": "Sev3",
                "signalType": "Metric",
                "monitorCondition": condition,
                "monitoringService": "Platform",
                "alertTargetIDs": [
                    "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/ml/"
                    "providers/microsoft.machinelearningservices/workspaces/ws"
                ],
                "configurationItems": ["ws"],
                "originAlertId": "3f2d4487-b0fc-4125-8bd5-7ad17384221e_ml_metricAlerts_drift",
                "firedDateTime": "2019-03-22T13:58:24.3713213Z",
                "description": "forecast error above threshold",
                "essentialsVersion": "1.0",
                "alertContextVersion": "1.0",
            },
            "alertContext": {"conditionType": "SingleResourceMultipleMetricCriteria"},
            "customProperties": custom,
        },
    }


def csv_rows(start_year: int, years: int, *, base: float = 300.0) -> str:
    """A small monthly series with trend and season, as CSV text."""
    lines = ["timestamp,value"]
    for i in range(years * 12):
        year, month = start_year + i // 12, i % 12 + 1
        value = base + 0.1 * i + 3 * ((month - 6) ** 2 / 36 - 0.5)
        lines.append(f"{year}-{month:02d}-01,{value:.3f}")
    return "\n".join(lines) + "\n"
