"""Runs inside the deployed package (read-only, its own venv with only requirements.txt):
builds the service from the app settings in the environment (the Azure ML backend, the
default on Azure), with the workspace played at the HTTP level, and invokes every indexed
function once, as the Python worker would, with real trigger objects.

Usage (by tests/packaging/test_package.py): ``python driver.py <metrics.json>``, with
``fake_workspace.py``, ``samples.py`` and ``tests/fake_entra.py`` beside this file.
Prints one JSON line: ``{"results": {function: "ok" | "status NNN" | "error: ..."},
"tagged_production": [versions]}``.
"""

from __future__ import annotations

import json
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import azure.functions as func
import fake_workspace
import samples
from azure.functions.timer import TimerRequest
from azure.storage.blob import BlobServiceClient

import function_app
from shared.bootstrap import build_service, set_service
from shared.settings import Settings
from tests.fake_entra import FakeCredential

OPERATOR = {"reason": "packaging check", "requested_by": "driver"}


def grid_event(event: dict[str, Any]) -> func.EventGridEvent:
    return func.EventGridEvent(
        id=event["id"],
        data=event["data"],
        topic=event["topic"],
        subject=event["subject"],
        event_type=event["eventType"],
        event_time=datetime.now(UTC),
        data_version=event["dataVersion"],
    )


def http(method: str, body: Any = None, **params: str) -> func.HttpRequest:
    data = b"" if body is None else json.dumps(body).encode()
    return func.HttpRequest(method, "/api/x", body=data, route_params=params)


def main() -> int:
    metrics = json.loads(Path(sys.argv[1]).read_text())
    settings = Settings.from_env()
    blobs = BlobServiceClient.from_connection_string(str(settings.storage.connection_string))

    def write_outputs(job_name: str, job: dict[str, Any]) -> None:
        """What the pipeline job writes (the Function App never trains)."""
        run_key = job["properties"]["properties"]["retrain_run_key"]
        artifacts = blobs.get_container_client(settings.artifact_container)
        artifacts.upload_blob(
            f"retrain/{run_key}/metrics/metrics.json", json.dumps(metrics), overwrite=True
        )
        artifacts.upload_blob(
            f"retrain/{run_key}/model/model.json", json.dumps({"order": [1, 1, 1]}), overwrite=True
        )

    workspace = fake_workspace.FakeAzureML(on_finish=write_outputs)
    set_service(
        build_service(settings, azure_transport=workspace, azure_credential=FakeCredential())
    )
    functions = {
        f.get_function_name(): f.get_user_function() for f in function_app.app.get_functions()
    }

    data = blobs.get_container_client(settings.data_container)
    csv = samples.csv_rows(2000, 4)
    etag = data.upload_blob("co2/a.csv", csv.encode(), overwrite=True).get_blob_properties().etag
    created = samples.blob_created(
        "co2/a.csv", container=settings.data_container, etag=str(etag), size=len(csv)
    )
    state: dict[str, Any] = {}

    def after_new_data() -> None:
        [job_name] = workspace.jobs
        workspace.finish(job_name, "Completed")
        state["job"] = job_name
        state["run_key"] = workspace.jobs[job_name]["properties"]["properties"]["retrain_run_key"]

    calls: list[tuple[str, Any]] = [
        ("on_blob_created", lambda: grid_event(created)),
        ("on_run_completed", lambda: grid_event(workspace.run_event(state["job"]))),
        ("on_schedule", lambda: TimerRequest(past_due=False)),
        ("on_sweep", lambda: TimerRequest(past_due=False)),
        ("on_drift_alert", lambda: http("POST", {"model": "co2", "reason": "drift"})),
        ("retrain_model", lambda: http("POST", {"requested_by": "driver"}, model="co2")),
        ("get_run", lambda: http("GET", run_key=state["run_key"])),
        ("list_models", lambda: http("GET")),
        ("list_model_versions", lambda: http("GET", model="co2")),
        ("get_model_ledger", lambda: http("GET", model="co2")),
        ("get_model_history", lambda: http("GET", model="co2")),
        ("get_run_report", lambda: http("GET", run_key=state["run_key"])),
        ("get_version_report", lambda: http("GET", model="co2", version="1")),
        (
            "pin_model",
            lambda: http("POST", {"reason": "audit", "requested_by": "driver"}, model="co2"),
        ),
        ("unpin_model", lambda: http("POST", {"requested_by": "driver"}, model="co2")),
        ("pause_model", lambda: http("POST", {"requested_by": "driver"}, model="co2")),
        ("resume_model", lambda: http("POST", {"requested_by": "driver"}, model="co2")),
        ("on_azureml_event", lambda: grid_event(workspace.run_event(state["job"]))),
        (
            "promote_model",
            lambda: http(
                "POST", {"version": 1, "reason": "check", "requested_by": "d"}, model="co2"
            ),
        ),
        (
            "rollback_model",
            lambda: http(
                "POST", {"version": 1, "reason": "check", "requested_by": "d"}, model="co2"
            ),
        ),
    ]
    results: dict[str, str] = {}
    for name, make in calls:
        try:
            answer = functions[name](make())
            status = getattr(answer, "status_code", None)
            results[name] = "ok" if status is None or status < 500 else f"status {status}"
        except Exception as exc:
            traceback.print_exc()
            results[name] = f"error: {type(exc).__name__}: {exc}"
        if name == "on_blob_created" and results[name] == "ok":
            after_new_data()
    missing = sorted(set(functions) - set(results))
    for name in missing:
        results[name] = "not invoked by the driver"
    production = workspace.models.get("co2", {})
    print(
        json.dumps(
            {
                "results": results,
                "tagged_production": [
                    v for v, m in production.items() if m["properties"]["tags"].get("production")
                ],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
