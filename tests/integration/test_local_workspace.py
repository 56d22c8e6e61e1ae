"""The local workspace running a real (tiny) pipeline against Azurite.

The fixture pipeline (fixtures/mini_pipeline) has three steps, listed out of order in the
YAML: prep reads a datastore folder and a manifest file and scales the values (literal
inputs with defaults, an optional ``$[[--label ...]]`` segment), train sums them plus an
offset, report writes metrics. Its outputs go to ``runs/${{name}}/<output>/``.
"""

from __future__ import annotations

import json
import logging
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from localdev.workspace import LocalWorkspace, experiment_id
from shared.parsing import parse_run_event
from shared.ports import PipelineRun, PipelineSubmission

MINI = Path(__file__).parent / "fixtures" / "mini_pipeline" / "pipeline.yml"
MANIFEST = {"files": [{"name": "mini/a.csv", "etag": "0x1", "size": 16}]}
TIMEOUT = 120.0
LOGGER = "localdev.workspace.runner"


@dataclass
class Env:
    workspace: LocalWorkspace
    root: Path
    data: ContainerClient
    artifacts: ContainerClient
    events: list[dict[str, Any]] = field(default_factory=list)

    def run(self, key: str, **inputs: Any) -> PipelineRun:
        self.workspace.submit(submission(key, **inputs))
        return self.workspace.wait(key, TIMEOUT)

    def job(self, key: str) -> dict[str, Any]:
        return json.loads((self.root / "jobs" / key / "job.json").read_text())

    def reused(self, key: str) -> dict[str, bool]:
        return {name: step["reused"] for name, step in self.job(key)["steps"].items()}

    def artifact_json(self, path: str) -> Any:
        return json.loads(self.artifacts.download_blob(path).readall())

    def artifact_names(self, prefix: str) -> list[str]:
        return sorted(b.name[len(prefix) :] for b in self.artifacts.list_blobs(prefix))


def submission(key: str, **inputs: Any) -> PipelineSubmission:
    return PipelineSubmission(
        run_key=key,
        model="mini",
        inputs=inputs,
        tags={"retrain_run_key": key, "model": "mini"},
        experiment="retrain-mini",
    )


@pytest.fixture
def make_env(
    tmp_path: Path, blob_service: BlobServiceClient, new_container: Callable[..., ContainerClient]
) -> Iterator[Callable[..., Env]]:
    workspaces: list[LocalWorkspace] = []

    def make(notify: Callable[[dict[str, Any]], None] | None = None) -> Env:
        data = new_container("data")
        artifacts = new_container("artifacts")
        data.upload_blob("mini/a.csv", "name,value\nx,1\ny,2\n")
        data.upload_blob("mini/sub/b.csv", "name,value\nz,3\n")
        data.upload_blob("mini-other/c.csv", "name,value\nq,100\n")  # same prefix, not folder
        data.upload_blob("other/d.csv", "name,value\nr,1000\n")
        artifacts.upload_blob("manifests/mini.json", json.dumps(MANIFEST))
        root = tmp_path / f"ws-{len(workspaces)}"
        env = Env(workspace=None, root=root, data=data, artifacts=artifacts)  # type: ignore[arg-type]
        env.workspace = LocalWorkspace(
            root,
            MINI,
            blob_service=blob_service,
            datastores={
                "trainingdata": data.container_name,
                "workspaceblobstore": artifacts.container_name,
            },
            notify=notify or env.events.append,
            workspace_name="ws-test",
        )
        workspaces.append(env.workspace)
        return env

    yield make
    for workspace in workspaces:
        workspace.close()


@pytest.fixture
def env(make_env: Callable[..., Env]) -> Env:
    return make_env()


# -- a run from start to finish ---------------------------------------------------------


@pytest.mark.azurite
def test_submit_returns_at_once_with_the_run_queued(env):
    submitted = env.workspace.submit(submission("first"))

    assert (submitted.run_id, submitted.run_key, submitted.status) == ("first", "first", "Queued")
    assert env.workspace.wait("first", TIMEOUT).status == "Completed"


@pytest.mark.azurite
def test_run_completes_and_its_outputs_land_under_the_job_name(env):
    run = env.run("run-a")

    assert run.status == "Completed", run.error
    assert run.error is None
    base = "azureml://datastores/workspaceblobstore/paths/runs/run-a"
    assert run.outputs == {
        "prepared": f"{base}/prepared/",
        "model": f"{base}/model/",
        "metrics": f"{base}/metrics/",
    }
    assert env.artifact_names("runs/run-a/") == [
        "metrics/detail/summary.txt",
        "metrics/metrics.json",
        "model/model.json",
        "prepared/values.json",
    ]
    # Only the two files under mini/ were read (not mini-other/ or other/), scaled by 1.5.
    assert env.artifact_json("runs/run-a/metrics/metrics.json") == {"count": 3, "total": 9.0}
    prepared = env.artifact_json("runs/run-a/prepared/values.json")
    assert prepared["manifest"] == MANIFEST
    assert prepared["label"] is None


@pytest.mark.azurite
def test_steps_run_in_dependency_order_with_timings_and_logs(env, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)

    env.run("ordered")

    job = env.job("ordered")
    assert list(job["steps"]) == ["prep", "train", "report"]
    for step in job["steps"].values():
        assert step["status"] == "Completed"
        assert step["reused"] is False
        assert isinstance(step["duration_s"], float)
    log = (env.root / "jobs" / "ordered" / "logs" / "train.log").read_text()
    assert "epoch 3/3" in log
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    started = [m for m in messages if m.endswith("step started")]
    assert started == [f"[ordered/{s}] step started" for s in ("prep", "train", "report")]
    assert "[ordered/train] epoch 1/3" in messages
    assert any(m.startswith("[ordered/report] step finished in") for m in messages)


@pytest.mark.azurite
def test_completion_is_announced_as_an_azure_ml_run_completed_event(env):
    env.run("announced")

    assert len(env.events) == 1
    event = env.events[0]
    assert set(event) == {
        "id",
        "topic",
        "subject",
        "eventType",
        "eventTime",
        "data",
        "dataVersion",
        "metadataVersion",
    }
    assert event["topic"] == (
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local/providers/"
        "Microsoft.MachineLearningServices/workspaces/ws-test"
    )
    assert event["eventType"] == "Microsoft.MachineLearningServices.RunCompleted"
    assert event["subject"] == f"experiments/{experiment_id('retrain-mini')}/runs/announced"
    assert event["eventTime"].endswith("Z")
    assert (event["dataVersion"], event["metadataVersion"]) == ("2", "1")
    assert event["data"] == {
        "experimentId": experiment_id("retrain-mini"),
        "experimentName": "retrain-mini",
        "runId": "announced",
        "runType": "azureml.PipelineRun",
        "runTags": {"retrain_run_key": "announced", "model": "mini"},
        "runProperties": {"azureml.runsource": "azureml.PipelineRun"},
    }
    parsed = parse_run_event(event)
    assert (parsed.run_id, parsed.run_key, parsed.status) == ("announced", "announced", "Completed")


@pytest.mark.azurite
def test_optional_input_segment_is_used_only_when_the_input_is_given(env):
    env.run("labelled", label="spring", verbose=True)

    assert env.artifact_json("runs/labelled/prepared/values.json")["label"] == "spring"
    prep_log = (env.root / "jobs" / "labelled" / "logs" / "prep.log").read_text()
    assert "read sub/b.csv" in prep_log


@pytest.mark.azurite
def test_local_paths_are_accepted_as_inputs(env, tmp_path):
    folder = tmp_path / "local data"
    folder.mkdir()
    (folder / "x.csv").write_text("name,value\nx,10\n")
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"files": []}))

    run = env.run("local-inputs", data=str(folder), manifest=str(manifest), scale=2)

    assert run.status == "Completed", run.error
    assert env.artifact_json("runs/local-inputs/metrics/metrics.json") == {
        "count": 1,
        "total": 20,
    }


# -- idempotent submit ------------------------------------------------------------------


@pytest.mark.azurite
def test_submitting_the_same_run_key_again_starts_nothing(env):
    first = env.workspace.submit(submission("once"))
    again = env.workspace.submit(submission("once"))
    env.workspace.submit(submission("after"))  # runs strictly after every run of "once"
    env.workspace.wait("after", TIMEOUT)

    assert first.run_id == again.run_id == "once"
    assert [e["data"]["runId"] for e in env.events] == ["once", "after"]
    before = env.job("once")
    late = env.workspace.submit(submission("once"))
    assert late.status == "Completed"
    assert env.job("once") == before


@pytest.mark.azurite
def test_runs_are_visible_from_another_workspace_on_the_same_root(env, blob_service):
    run = env.run("shared-root")
    other = LocalWorkspace(
        env.root,
        MINI,
        blob_service=blob_service,
        datastores={"trainingdata": env.data.container_name},
    )
    try:
        assert other.get_run("shared-root") == run
        assert other.submit(submission("shared-root")).status == "Completed"
    finally:
        other.close()
    assert len(env.events) == 1


# -- step reuse -------------------------------------------------------------------------


@pytest.mark.azurite
def test_a_rerun_with_the_same_inputs_reuses_every_step(env, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    env.run("base")

    rerun = env.run("again")

    assert rerun.status == "Completed"
    assert env.reused("again") == {"prep": True, "train": True, "report": True}
    assert {s["reused_from"] for s in env.job("again")["steps"].values()} == {"base"}
    assert not (env.root / "jobs" / "again" / "logs").exists()  # no process ran
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert "[again/prep] reused outputs of prep from run base" in messages
    # The rerun still publishes its outputs under its own name, and announces itself.
    assert env.artifact_names("runs/again/") == env.artifact_names("runs/base/")
    assert env.artifact_json("runs/again/metrics/metrics.json") == {"count": 3, "total": 9.0}
    assert [e["data"]["runId"] for e in env.events] == ["base", "again"]
    # ... by copying the blobs "base" published inside the storage account, not uploading.
    assert (
        "[again] published output metrics to azureml://datastores/workspaceblobstore/paths/"
        "runs/again/metrics/ (0 file(s) uploaded, 2 copied in storage)"
    ) in messages


@pytest.mark.azurite
def test_a_forced_rerun_runs_every_step_again_and_keeps_its_own_outputs(env):
    env.run("base")
    forced = submission("forced")
    forced = PipelineSubmission(
        run_key="forced",
        model=forced.model,
        inputs=forced.inputs,
        tags={**forced.tags, "retrain_force_rerun": "true"},
        experiment=forced.experiment,
    )
    env.workspace.submit(forced)

    assert env.workspace.wait("forced", TIMEOUT).status == "Completed"
    assert env.reused("forced") == {"prep": False, "train": False, "report": False}
    assert (env.root / "jobs" / "forced" / "logs").is_dir()  # the steps really ran
    assert env.artifact_json("runs/forced/metrics/metrics.json") == {"count": 3, "total": 9.0}
    assert env.run("after").status == "Completed"  # the cache still serves later runs
    assert {s["reused_from"] for s in env.job("after")["steps"].values()} == {"base"}


@pytest.mark.azurite
def test_a_reused_output_is_uploaded_again_when_its_earlier_publication_changed(env):
    env.run("base")
    env.artifacts.upload_blob("runs/base/metrics/metrics.json", b"tampered", overwrite=True)
    env.artifacts.delete_blob("runs/base/model/model.json")

    env.run("again")

    assert env.reused("again") == {"prep": True, "train": True, "report": True}
    assert env.artifact_json("runs/again/metrics/metrics.json") == {"count": 3, "total": 9.0}
    assert env.artifact_json("runs/again/model/model.json") == {"total": 9.0}
    assert env.artifact_names("runs/again/") == [
        "metrics/detail/summary.txt",
        "metrics/metrics.json",
        "model/model.json",
        "prepared/values.json",
    ]


@pytest.mark.azurite
def test_changing_a_literal_reruns_only_the_steps_it_reaches(env):
    env.run("base")

    env.run("offset", offset=5)

    assert env.reused("offset") == {"prep": True, "train": False, "report": False}
    assert env.artifact_json("runs/offset/metrics/metrics.json") == {"count": 3, "total": 14.0}


@pytest.mark.azurite
def test_a_step_that_reran_with_identical_outputs_lets_downstream_steps_be_reused(env):
    env.run("base")

    env.run("verbose", verbose=True)  # prep prints more but writes the same values

    assert env.reused("verbose") == {"prep": False, "train": True, "report": True}


@pytest.mark.azurite
def test_new_data_reruns_every_step(env):
    env.run("base")
    env.data.upload_blob("mini/sub/c.csv", "name,value\nw,4\n")

    env.run("more-data")

    assert env.reused("more-data") == {"prep": False, "train": False, "report": False}
    assert env.artifact_json("runs/more-data/metrics/metrics.json") == {"count": 4, "total": 15.0}


# -- failures ---------------------------------------------------------------------------


@pytest.mark.azurite
def test_a_failing_step_fails_the_run_with_a_clear_error_and_an_event(env):
    env.data.upload_blob("mini/bad.csv", "name,value\nw,abc\n")

    run = env.run("broken")

    assert run.status == "Failed"
    assert "step 'prep' failed with exit code 3" in run.error
    assert "non-numeric value 'abc' for 'w' in bad.csv" in run.error
    assert run.outputs == {}
    steps = env.job("broken")["steps"]
    assert [steps[s]["status"] for s in ("prep", "train", "report")] == [
        "Failed",
        "NotStarted",
        "NotStarted",
    ]
    assert env.artifact_names("runs/broken/") == []
    [event] = env.events
    assert event["eventType"] == "Microsoft.MachineLearningServices.RunStatusChanged"
    assert event["data"]["runStatus"] == "Failed"
    assert event["data"]["runId"] == "broken"
    assert parse_run_event(event).status == "Failed"


@pytest.mark.azurite
def test_a_failed_step_is_not_reused(env):
    env.data.upload_blob("mini/bad.csv", "name,value\nw,abc\n")
    env.run("broken")

    assert env.run("broken-again").status == "Failed"
    assert env.reused("broken-again")["prep"] is False


@pytest.mark.azurite
@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        (
            {"manifest": "azureml://datastores/workspaceblobstore/paths/manifests/none.json"},
            "blob 'manifests/none.json' does not exist in container",
        ),
        (
            {"data": "azureml://datastores/trainingdata/paths/empty/"},
            "no blobs under 'empty/'",
        ),
        (
            {"data": "azureml://datastores/nowhere/paths/mini/"},
            "datastore 'nowhere' is not known to the local workspace",
        ),
    ],
)
def test_inputs_that_cannot_be_downloaded_fail_the_run(env, inputs, expected):
    run = env.run("no-input", **inputs)

    assert run.status == "Failed"
    assert expected in run.error
    assert "step 'prep' input" in run.error
    assert env.events[0]["data"]["runStatus"] == "Failed"


@pytest.mark.azurite
def test_an_exception_in_notify_is_logged_and_the_worker_goes_on(make_env, caplog):
    def broken_notify(event: dict[str, Any]) -> None:
        raise RuntimeError("event endpoint is down")

    env = make_env(notify=broken_notify)

    assert env.run("first").status == "Completed"
    assert env.run("second").status == "Completed"
    assert "notify failed for run first" in caplog.text


# -- lifecycle (no Azurite needed) ----------------------------------------------------------


SLOW_PIPELINE = """\
    type: pipeline
    jobs:
      nap:
        type: command
        component:
          type: command
          command: python -c "import time; print('napping', flush=True); time.sleep(120)"
"""


def test_wait_times_out_and_close_cancels_running_and_queued_runs(tmp_path):
    pipeline = tmp_path / "slow.yml"
    pipeline.write_text(textwrap.dedent(SLOW_PIPELINE))
    events: list[dict[str, Any]] = []
    workspace = LocalWorkspace(
        tmp_path / "ws",
        pipeline,
        blob_service=BlobServiceClient.from_connection_string(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
            "BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;"
        ),
        datastores={},
        notify=events.append,
    )
    try:
        workspace.submit(PipelineSubmission(run_key="slow", model="m", inputs={}))
        workspace.submit(PipelineSubmission(run_key="queued", model="m", inputs={}))
        log = tmp_path / "ws" / "jobs" / "slow" / "logs" / "nap.log"
        deadline = time.monotonic() + 60
        while "napping" not in (log.read_text() if log.exists() else ""):
            assert time.monotonic() < deadline, "the slow step never started"
            time.sleep(0.05)

        with pytest.raises(TimeoutError, match="still Running"):
            workspace.wait("slow", 0.1)
    finally:
        closer = threading.Thread(target=workspace.close)
        closer.start()
        closer.join(timeout=60)
    assert not closer.is_alive()
    assert workspace.get_run("slow").status == "Canceled"
    assert workspace.get_run("queued").status == "Canceled"
    assert events == []


ENV_PIPELINE = """\
    type: pipeline
    jobs:
      show:
        type: command
        component:
          type: command
          command: python -c "import os; print('tracking', os.environ['MLFLOW_TRACKING_URI'])"
"""


def test_steps_get_an_mlflow_store_under_the_workspace_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    pipeline = tmp_path / "env.yml"
    pipeline.write_text(textwrap.dedent(ENV_PIPELINE))
    with LocalWorkspace(
        tmp_path / "ws",
        pipeline,
        blob_service=BlobServiceClient.from_connection_string(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
            "BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;"
        ),
        datastores={},
        notify=lambda event: None,
    ) as workspace:
        workspace.submit(PipelineSubmission(run_key="env", model="m", inputs={}))
        assert workspace.wait("env", TIMEOUT).status == "Completed"
        expected = f"sqlite:///{(tmp_path / 'ws').resolve() / 'mlflow.db'}"
        assert workspace.mlflow_tracking_uri == expected
    log = (tmp_path / "ws" / "jobs" / "env" / "logs" / "show.log").read_text()
    assert f"tracking {expected}" in log
