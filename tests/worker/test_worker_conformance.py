"""The app under Azure's real Python worker: PyPI ``azure-functions-runtime`` (the worker
for Python 3.13+) in a Python 3.13 venv with only requirements.txt, driven over gRPC with
the host's messages (init, metadata, load, one invocation per function with the payloads
Azure delivers). What the worker indexes must be what the local host indexes, and every
function must run through the worker's own binding conversion."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from function_app import create_app
from tests.infra.tools import ROOT, cached_venv

HERE = Path(__file__).parent
WORKER_VERSION = "1.3.0"


def python313() -> str | None:
    """A Python 3.13 that runs (a pyenv shim on PATH may name one that is not selected)."""
    pyenv = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates = sorted(glob.glob(f"{pyenv}/versions/3.13*/bin/python3.13"), reverse=True)
    candidates.append(shutil.which("python3.13") or "")
    for candidate in filter(None, candidates):
        check = [candidate, "-c", "import sys; assert sys.version_info[:2] == (3, 13)"]
        if subprocess.run(check, capture_output=True).returncode == 0:
            return candidate
    return None


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    interpreter = python313()
    if interpreter is None:
        pytest.skip("Python 3.13 is not installed (python3.13 on PATH or under pyenv)")
    python = cached_venv(
        "worker313",
        interpreter,
        files=[ROOT / "requirements.txt", HERE / "requirements-worker.txt"],
    )
    out = tmp_path_factory.mktemp("worker")
    protos = out / "protos"
    protos.mkdir()
    subprocess.run(
        [
            str(python),
            "-m",
            "grpc_tools.protoc",
            f"-I{HERE}",
            f"--python_out={protos}",
            f"--grpc_python_out={protos}",
            "host_protocol.proto",
        ],
        check=True,
        timeout=60,
    )
    result = subprocess.run(
        [
            str(python),
            str(HERE / "host.py"),
            *("--protos", str(protos), "--report", str(out / "report.json")),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    data: dict[str, Any] = json.loads((out / "report.json").read_text())
    data["worker_log"] = result.stderr
    return data


def local_index() -> dict[str, list[str]]:
    """Function name -> binding types, as azure-functions indexes the app here."""
    return {
        f"{f.get_function_name()}": sorted(b.type for b in f.get_bindings())
        for f in create_app().get_functions()
    }


def test_the_worker_starts_on_python_313_and_indexes_what_the_local_host_indexes(
    report: dict[str, Any],
) -> None:
    assert report["finished"] and report["worker_exit"] == 0, report["worker_log"][-3000:]
    assert report["start_stream"] == "worker-1"
    init = report["init"]
    assert init["status"] == "Success", init["exception"]
    assert (init["runtime_version"], init["worker_version"]) == ("3.13", WORKER_VERSION)
    # PYTHON_ENABLE_OPENTELEMETRY=true (the deployed setting): the worker found the
    # OpenTelemetry libraries in the app's packages and takes the host's trace context.
    assert init["capabilities"].get("WorkerOpenTelemetryEnabled") == "true"
    assert report["metadata_status"] == "Success"
    indexed = {
        name: sorted(b["type"] for b in f["bindings"]) for name, f in report["functions"].items()
    }
    assert indexed == local_index()
    assert {f["load"] for f in report["functions"].values()} == {"Success"}
    assert {f["language"] for f in report["functions"].values()} == {"python"}


def test_every_function_runs_under_the_worker(report: dict[str, Any]) -> None:
    invocations = report["invocations"]
    assert {i["function"] for i in invocations} == set(local_index())
    failed = [(i["function"], i["exception"]) for i in invocations if i["status"] != "Success"]
    assert failed == []
    http = [(i["function"], i.get("http_status")) for i in invocations]
    assert http == [
        ("list_models", 200),
        ("on_blob_created", None),
        ("get_model_ledger", 200),
        ("on_run_completed", None),
        ("list_model_versions", 200),
        ("get_run", 200),
        ("get_run_report", 200),
        ("get_version_report", 200),
        ("pin_model", 200),
        ("unpin_model", 200),
        ("pause_model", 200),
        ("resume_model", 200),
        ("promote_model", 400),  # v1 is already in production
        ("rollback_model", 400),
        ("get_model_history", 200),
        ("list_model_runs", 200),
        ("get_run_steps", 200),
        ("get_step_log", 404),  # the fake backend cannot describe steps
        ("get_run_artifacts", 200),
        ("get_run_plot", 404),  # the fake run wrote no plot
        ("get_model_version", 200),
        ("compare_model_versions", 400),  # no ?a=&b=
        ("list_model_series", 400),  # co2 is one series, not a family
        ("get_model_series", 400),
        ("get_run_series", 404),  # a single-series run has no per-series verdicts
        ("act_on_family", 400),
        ("list_dead_letters", 200),
        ("get_dead_letter", 404),
        ("replay_dead_letter", 404),
        ("list_quarantine", 200),
        ("get_quarantined_file", 404),
        ("release_quarantined_file", 404),
        ("get_openapi", 200),
        ("get_dashboard", 200),
        ("get_dashboard_data", 200),
        ("retrain_model", 202),
        ("get_run", 404),
        ("on_drift_alert", 202),
        ("on_azureml_event", None),
        ("on_schedule", None),
        ("on_sweep", None),
    ]


def test_the_loop_went_through_the_worker(report: dict[str, Any]) -> None:
    """The blob event started a run, its completion event promoted the version."""
    bodies = {i["function"]: i.get("body") for i in report["invocations"]}
    [decision] = [
        e for e in json.loads(str(bodies["get_model_ledger"]))["ledger"] if e["kind"] == "trigger"
    ]
    assert decision["action"] == "retrain"
    history = json.loads(str(bodies["get_model_history"]))
    assert history["production_version"] == 1
    run = json.loads(
        next(
            i["body"]
            for i in report["invocations"]
            if i.get("http_status") == 200 and i["function"] == "get_run"
        )
    )
    assert run["run_key"] == decision["run_key"] and run["status"] == "Completed"


def test_decision_records_carry_the_invocation_id_the_host_sent(report: dict[str, Any]) -> None:
    """The structured decision records (customDimensions on Azure) name the invocation."""
    ids = {i["id"]: i["function"] for i in report["invocations"]}
    by_function = [
        (ids.get(d["invocation_id"]), d["kind"], d["decision"]) for d in report["decisions"]
    ]
    assert ("on_blob_created", "trigger", "retrain") in by_function
    assert ("on_run_completed", "gate", "promoted") in by_function
    assert ("pin_model", "operator", "pinned") in by_function
    assert any(f == "on_azureml_event" and kind == "trigger" for f, kind, _ in by_function)
    assert all(function is not None for function, _, _ in by_function), by_function
