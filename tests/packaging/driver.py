"""Runs inside the deployed package (read-only, its own venv with only requirements.txt):
builds the service from the app settings in the environment (the Azure ML backend, the
default on Azure), with the workspace played at the HTTP level, and invokes every indexed
function once, as the Python worker would, with real trigger objects.

Usage (by tests/packaging/test_package.py): ``python driver.py <metrics.json>``, with
``fake_workspace.py``, ``samples.py`` and ``tests/fake_entra.py`` beside this file.
Prints one JSON line: ``{"results": {label: "ok" (no HTTP answer) | "status NNN" |
"error: ..."}, "tagged_production": [versions]}``.
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
    state: dict[str, Any] = {}

    def arrival(name: str, start_year: int) -> func.EventGridEvent:
        csv = samples.csv_rows(start_year, 2)
        props = data.upload_blob(name, csv.encode(), overwrite=True).get_blob_properties()
        event = samples.blob_created(
            name,
            container=settings.data_container,
            etag=str(props.etag),
            size=len(csv),
            event_id=f"evt-{name}",
        )
        return grid_event(event)

    def run_the_new_job() -> func.EventGridEvent:
        """The pipeline job the last arrival started finishes; its RunCompleted event."""
        [job_name] = [n for n in workspace.jobs if n not in state.get("done", [])]
        workspace.finish(job_name, "Completed")
        state.setdefault("done", []).append(job_name)
        state["run_key"] = workspace.jobs[job_name]["properties"]["properties"]["retrain_run_key"]
        return grid_event(workspace.run_event(job_name))

    def operator(version: int | None = None) -> func.HttpRequest:
        body: dict[str, Any] = {"reason": "packaging check", "requested_by": "driver"}
        if version is not None:
            body["version"] = version
        return http("POST", body, model="co2")

    def compare() -> func.HttpRequest:
        return func.HttpRequest(
            "GET", "/api/x", body=b"", route_params={"model": "co2"}, params={"a": "1", "b": "2"}
        )

    letter = {"source": "on_sweep", "digest": "0" * 40}
    reason = {"reason": "packaging check", "requested_by": "driver"}

    # (label, function, trigger); a label runs its function once, in this order: two
    # arrivals become v1 and v2, then every operator action has a version to act on.
    calls: list[tuple[str, str, Any]] = [
        ("on_blob_created", "on_blob_created", lambda: arrival("co2/a.csv", 2000)),
        ("on_run_completed", "on_run_completed", run_the_new_job),
        ("second arrival", "on_blob_created", lambda: arrival("co2/b.csv", 2002)),
        ("second completion", "on_run_completed", run_the_new_job),
        ("on_schedule", "on_schedule", lambda: TimerRequest(past_due=False)),
        ("on_sweep", "on_sweep", lambda: TimerRequest(past_due=False)),
        ("on_drift_alert", "on_drift_alert", lambda: http("POST", {"model": "co2"})),
        ("retrain_model", "retrain_model", lambda: http("POST", {}, model="co2")),
        ("get_run", "get_run", lambda: http("GET", run_key=state["run_key"])),
        ("list_models", "list_models", lambda: http("GET")),
        ("list_model_versions", "list_model_versions", lambda: http("GET", model="co2")),
        ("get_model_ledger", "get_model_ledger", lambda: http("GET", model="co2")),
        ("get_model_history", "get_model_history", lambda: http("GET", model="co2")),
        ("get_run_report", "get_run_report", lambda: http("GET", run_key=state["run_key"])),
        ("get_dashboard", "get_dashboard", lambda: http("GET")),
        ("get_dashboard_data", "get_dashboard_data", lambda: http("GET")),
        (
            "get_version_report",
            "get_version_report",
            lambda: http("GET", model="co2", version="1"),
        ),
        ("list_model_runs", "list_model_runs", lambda: http("GET", model="co2")),
        ("get_run_steps", "get_run_steps", lambda: http("GET", run_key=state["run_key"])),
        (
            "get_step_log",
            "get_step_log",
            lambda: http("GET", run_key=state["run_key"], step="train"),
        ),
        ("get_run_artifacts", "get_run_artifacts", lambda: http("GET", run_key=state["run_key"])),
        ("get_run_plot", "get_run_plot", lambda: http("GET", run_key=state["run_key"])),
        ("get_model_version", "get_model_version", lambda: http("GET", model="co2", version="1")),
        ("compare_model_versions", "compare_model_versions", compare),
        ("list_model_series", "list_model_series", lambda: http("GET", model="co2")),
        ("get_model_series", "get_model_series", lambda: http("GET", model="co2", series="a")),
        ("get_run_series", "get_run_series", lambda: http("GET", run_key=state["run_key"])),
        (
            "act_on_family",
            "act_on_family",
            lambda: http("POST", reason, model="co2", action="pin"),
        ),
        ("list_dead_letters", "list_dead_letters", lambda: http("GET")),
        ("get_dead_letter", "get_dead_letter", lambda: http("GET", **letter)),
        ("replay_dead_letter", "replay_dead_letter", lambda: http("POST", reason, **letter)),
        ("list_quarantine", "list_quarantine", lambda: http("GET")),
        ("get_quarantined_file", "get_quarantined_file", lambda: http("GET", blob="co2/x.csv")),
        (
            "release_quarantined_file",
            "release_quarantined_file",
            lambda: http("POST", {"blob": "co2/x.csv", **reason}),
        ),
        ("get_openapi", "get_openapi", lambda: http("GET")),
        ("rollback_model", "rollback_model", lambda: operator(1)),
        ("promote_model", "promote_model", lambda: operator(2)),
        ("pin_model", "pin_model", operator),
        ("unpin_model", "unpin_model", operator),
        ("pause_model", "pause_model", operator),
        ("resume_model", "resume_model", operator),
        (
            "on_azureml_event",
            "on_azureml_event",
            lambda: grid_event(workspace.run_event(state["done"][-1])),
        ),
    ]
    results: dict[str, str] = {}
    for label, name, make in calls:
        try:
            answer = functions[name](make())
            status = getattr(answer, "status_code", None)
            results[label] = "ok" if status is None else f"status {status}"
        except Exception as exc:
            traceback.print_exc()
            results[label] = f"error: {type(exc).__name__}: {exc}"
    for name in sorted(set(functions) - {name for _, name, _ in calls}):
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
