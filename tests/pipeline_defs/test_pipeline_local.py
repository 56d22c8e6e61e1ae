"""pipeline.yml run for real by the local workspace against Azurite: a first model (no
champion input at all) and then a run given that model's folder as its champion."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from azure.storage.blob import BlobServiceClient

from localdev.datasets import co2_monthly, series_csv
from localdev.workspace import LocalWorkspace
from shared.ports import PipelineSubmission
from tests.pipeline_defs.components import ROOT

pytestmark = [pytest.mark.azurite, pytest.mark.slow]

TIMEOUT = 300.0
DATA = "azureml://datastores/trainingdata/paths/co2/"
MANIFEST = "azureml://datastores/workspaceblobstore/paths/manifests/co2.json"


def submission(key: str, **extra: object) -> PipelineSubmission:
    inputs = {
        "data": DATA,
        "manifest": MANIFEST,
        "frequency": "MS",
        "season_length": 12,
        "horizon": 12,
        "time_column": "timestamp",
        "value_column": "value",
        "max_gap": 3,
        "time_budget": 10,
    }
    return PipelineSubmission(run_key=key, model="co2", inputs=inputs | extra, tags={})


def test_first_model_then_a_run_scored_against_it_as_champion(
    tmp_path: Path, blob_service: BlobServiceClient, new_container
):
    data, artifacts = new_container("data"), new_container("artifacts")
    data.upload_blob("co2/1990-2001.csv", series_csv(co2_monthly().loc["1990":"2001"]))
    manifest = {"prefix": "co2/", "files": [{"name": "co2/1990-2001.csv"}]}
    artifacts.upload_blob("manifests/co2.json", json.dumps(manifest))

    def metrics(key: str) -> dict:
        return json.loads(artifacts.download_blob(f"retrain/{key}/metrics/metrics.json").readall())

    with LocalWorkspace(
        tmp_path / "ws",
        ROOT / "pipeline.yml",
        blob_service=blob_service,
        datastores={
            "trainingdata": data.container_name,
            "workspaceblobstore": artifacts.container_name,
        },
    ) as workspace:
        workspace.submit(submission("co2-first"))
        first = workspace.wait("co2-first", TIMEOUT)
        assert first.status == "Completed", first.error

        names = {b.name for b in artifacts.list_blobs(name_starts_with="retrain/co2-first/")}
        for expected in ("model/model.pkl", "model/model_eval.pkl", "model/model.json"):
            assert f"retrain/co2-first/{expected}" in names
        assert "retrain/co2-first/metrics/forecast.png" in names
        first_metrics = metrics("co2-first")
        assert first_metrics["schema"] == 2
        assert first_metrics["champion"] is None and first_metrics["champion_error"] is None
        assert first_metrics["backtest"]["folds"] >= 1
        assert first_metrics["data_end"] == "2001-12-01T00:00:00"
        served = pickle.loads(
            artifacts.download_blob("retrain/co2-first/model/model.pkl").readall()
        )
        assert str(served.get_forecast(1).predicted_mean.index[0].date()) == "2002-01-01"

        champion = "azureml://datastores/workspaceblobstore/paths/retrain/co2-first/model/"
        workspace.submit(
            submission("co2-second", champion=champion, backtest_folds=3, run_key="co2-second")
        )
        second = workspace.wait("co2-second", TIMEOUT)
        assert second.status == "Completed", second.error
        job = json.loads((tmp_path / "ws" / "jobs" / "co2-second" / "job.json").read_text())
        assert {name: step["reused"] for name, step in job["steps"].items()} == {
            "prep": True,
            "train": True,
            "evaluate": False,
        }

    second_metrics = metrics("co2-second")
    assert second_metrics["champion_error"] is None
    assert second_metrics["backtest"]["folds"] == 3
    assert second_metrics["run_key"] == "co2-second"
    champion_section = second_metrics["champion"]
    assert [f["origin"] for f in champion_section["folds"]] == second_metrics["backtest"]["origins"]
    # The champion is the first run's final fit (fitted on all the data, including this
    # holdout), applied at its stored parameters: it is not the candidate's evaluation fit.
    assert second_metrics["champion_model"]["train_end"] == "2001-12-01T00:00:00"
    assert second_metrics["champion_model"]["params"] == pytest.approx(
        dict(zip(served.model.param_names, np.asarray(served.params).tolist(), strict=True))
    )
    first_holdout = first_metrics["candidate"]["holdout"]
    assert second_metrics["candidate"]["holdout"] == pytest.approx(first_holdout)
