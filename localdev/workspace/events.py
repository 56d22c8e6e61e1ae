"""The Event Grid event Azure ML sends when a run ends, as the local workspace sends it."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from localdev.workspace.jobs import experiment_id

RUN_COMPLETED = "Microsoft.MachineLearningServices.RunCompleted"
RUN_STATUS_CHANGED = "Microsoft.MachineLearningServices.RunStatusChanged"
LOCAL_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
LOCAL_RESOURCE_GROUP = "local"


def run_event(record: Mapping[str, Any], workspace_name: str) -> dict[str, Any]:
    """The Event Grid event (Event Grid schema) for a finished run's record: RunCompleted
    when it completed, RunStatusChanged with its status otherwise."""
    completed = record["status"] == "Completed"
    experiment = str(record["experiment"])
    data: dict[str, Any] = {
        "experimentId": experiment_id(experiment),
        "experimentName": experiment,
        "runId": record["run_id"],
        "runType": "azureml.PipelineRun",
        "runTags": dict(record.get("tags") or {}),
        "runProperties": {"azureml.runsource": "azureml.PipelineRun"},
    }
    if not completed:
        data["runStatus"] = record["status"]
    return {
        "id": str(uuid.uuid4()),
        "topic": (
            f"/subscriptions/{LOCAL_SUBSCRIPTION}/resourceGroups/{LOCAL_RESOURCE_GROUP}"
            f"/providers/Microsoft.MachineLearningServices/workspaces/{workspace_name}"
        ),
        "subject": f"experiments/{data['experimentId']}/runs/{record['run_id']}",
        "eventType": RUN_COMPLETED if completed else RUN_STATUS_CHANGED,
        "eventTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "data": data,
        "dataVersion": "2",
        "metadataVersion": "1",
    }
