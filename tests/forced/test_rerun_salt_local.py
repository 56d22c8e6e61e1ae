"""pipeline.yml run by the local workspace: the salt alone (no force tag) makes every step
run again, the same salt again reuses that forced run's steps, and runs without a salt
reuse the first run's. Locally the salt is a literal input, so it is part of every step's
fingerprint, as it is part of what Azure ML compares for reuse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from localdev.datasets import co2_monthly, series_csv
from localdev.workspace import LocalWorkspace
from shared.ports import PipelineSubmission
from tests.pipeline_defs.components import ROOT

pytestmark = [pytest.mark.azurite, pytest.mark.slow]

TIMEOUT = 300.0


def submission(key: str, **extra: object) -> PipelineSubmission:
    inputs = {
        "data": "azureml://datastores/trainingdata/paths/co2/",
        "manifest": "azureml://datastores/workspaceblobstore/paths/manifests/co2.json",
        "frequency": "MS",
        "season_length": 12,
        "horizon": 12,
        "time_column": "timestamp",
        "value_column": "value",
        "max_gap": 3,
        "time_budget": 5,
        "backtest_folds": 1,
    }
    # No retrain_force_rerun tag: the salt alone must defeat reuse.
    return PipelineSubmission(run_key=key, model="co2", inputs=inputs | extra, tags={})


def test_a_salted_run_runs_every_step_and_its_salt_again_reuses_them(
    tmp_path: Path, blob_service: BlobServiceClient, new_container
):
    data, artifacts = new_container("data"), new_container("artifacts")
    data.upload_blob("co2/1995-2001.csv", series_csv(co2_monthly().loc["1995":"2001"]))
    manifest = {"prefix": "co2/", "files": [{"name": "co2/1995-2001.csv"}]}
    artifacts.upload_blob("manifests/co2.json", json.dumps(manifest))

    with LocalWorkspace(
        tmp_path / "ws",
        ROOT / "pipeline.yml",
        blob_service=blob_service,
        datastores={
            "trainingdata": data.container_name,
            "workspaceblobstore": artifacts.container_name,
        },
    ) as workspace:

        def run(key: str, **extra: object) -> dict[str, tuple[bool, str | None]]:
            workspace.submit(submission(key, **extra))
            result = workspace.wait(key, TIMEOUT)
            assert result.status == "Completed", result.error
            job = json.loads((tmp_path / "ws" / "jobs" / key / "job.json").read_text())
            return {n: (s["reused"], s.get("reused_from")) for n, s in job["steps"].items()}

        run("co2-base")
        forced = run("co2-base-r2", rerun_salt="co2-base-r2")
        resubmitted = run("co2-base-r2-again", rerun_salt="co2-base-r2")
        plain = run("co2-base-plain")

    assert forced == {name: (False, None) for name in ("prep", "train", "evaluate")}
    assert resubmitted == {name: (True, "co2-base-r2") for name in ("prep", "train", "evaluate")}
    assert plain == {name: (True, "co2-base") for name in ("prep", "train", "evaluate")}
