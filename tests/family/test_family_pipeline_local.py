"""family_pipeline.yml run for real by the local workspace against Azurite: a family of real
series (one of them broken) prepared series by series, fitted by the parallel step from the
same YAML Azure ML loads; then a blob touching one series retrains only its shard."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from azure.storage.blob import BlobServiceClient

from bench.many_series import real_panel
from localdev.workspace import LocalWorkspace
from shared.gate import GatePolicy, judge
from shared.ports import PipelineSubmission
from tests.pipeline_defs.components import ROOT

pytestmark = [pytest.mark.azurite, pytest.mark.slow]

TIMEOUT = 300.0
DATA = "azureml://datastores/trainingdata/paths/fam/"


def submission(key: str, manifest: str, **extra: str) -> PipelineSubmission:
    inputs: dict[str, str | int | float] = {
        "data": DATA,
        "manifest": f"azureml://datastores/workspaceblobstore/paths/manifests/{manifest}",
        "series_columns": "unique_id",
        "shard_count": 4,
        "frequency": "MS",
        "season_length": 12,
        "horizon": 12,
        "time_column": "timestamp",
        "value_column": "value",
        "max_gap": 3,
        "time_budget": 5,
    }
    return PipelineSubmission(run_key=key, model="fam", inputs=inputs | extra, tags={})


def without_seconds(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "seconds"}


def csv_of(frame: pd.DataFrame) -> str:
    out = frame.rename(columns={"ds": "timestamp", "y": "value"})
    out["timestamp"] = out["timestamp"].dt.strftime("%Y-%m-%d")
    return out.to_csv(index=False)


def test_a_family_is_fitted_by_the_parallel_step_and_a_partial_arrival_reuses_shards(
    tmp_path, blob_service: BlobServiceClient, new_container
):
    data, artifacts = new_container("data"), new_container("artifacts")
    panel = real_panel(6, stride=97)
    broken = (
        panel[panel["unique_id"] == panel["unique_id"].iloc[0]]
        .head(20)
        .assign(unique_id="too-short")
    )
    data.upload_blob("fam/2019.csv", csv_of(pd.concat([panel, broken])))
    first = {"prefix": "fam/", "files": [{"name": "fam/2019.csv"}]}
    artifacts.upload_blob("manifests/first.json", json.dumps(first))

    def blob_bytes(path: str) -> bytes:
        return artifacts.download_blob(path).readall()

    def blob_text(path: str) -> str:
        return blob_bytes(path).decode()

    def rows(key: str) -> dict[str, dict]:
        text = blob_text(f"retrain/{key}/results/parallel_run_step.txt")
        return {row["unique_id"]: row for row in map(json.loads, text.splitlines())}

    with LocalWorkspace(
        tmp_path / "ws",
        ROOT / "family_pipeline.yml",
        blob_service=blob_service,
        datastores={
            "trainingdata": data.container_name,
            "workspaceblobstore": artifacts.container_name,
        },
        parallel_workers=2,
    ) as workspace:
        workspace.submit(submission("fam-first", "first.json"))
        run = workspace.wait("fam-first", TIMEOUT)
        assert run.status == "Completed", run.error

        report = json.loads(blob_text("retrain/fam-first/prepared/prep.json"))
        assert (report["series_ok"], report["series_excluded"]) == (6, 1)
        excluded = next(s for s in report["series"] if s["status"] == "excluded")
        assert (
            excluded["unique_id"] == "too-short" and "at least 36 are needed" in excluded["reason"]
        )
        fitted = rows("fam-first")
        assert set(fitted) == set(panel["unique_id"])
        assert all(row["status"] == "ok" for row in fitted.values())
        shards = {row["shard"] for row in fitted.values()}
        assert len(shards) >= 2
        models = {
            b.name for b in artifacts.list_blobs(name_starts_with="retrain/fam-first/models/")
        }
        assert models == {f"retrain/fam-first/models/{shard}.pkl" for shard in shards}
        step = json.loads((tmp_path / "ws" / "jobs" / "fam-first" / "job.json").read_text())
        assert step["steps"]["fit"]["parallel"]["ran"] == len(shards)

        # A later blob corrects the last value of one series only.
        target = sorted(panel["unique_id"].unique())[0]
        fix = panel[panel["unique_id"] == target].tail(1).assign(y=lambda f: f["y"] * 1.5)
        data.upload_blob("fam/2020.csv", csv_of(fix))
        second = {"prefix": "fam/", "files": [{"name": "fam/2019.csv"}, {"name": "fam/2020.csv"}]}
        artifacts.upload_blob("manifests/second.json", json.dumps(second))
        workspace.submit(submission("fam-second", "second.json"))
        run = workspace.wait("fam-second", TIMEOUT)
        assert run.status == "Completed", run.error

        job = json.loads((tmp_path / "ws" / "jobs" / "fam-second" / "job.json").read_text())
        parallel = job["steps"]["fit"]["parallel"]
        assert (parallel["ran"], parallel["reused"]) == (1, len(shards) - 1)
        refitted = rows("fam-second")
        assert set(refitted) == set(fitted)
        touched = fitted[target]["shard"]
        for uid, row in refitted.items():
            same = row["digest"] == fitted[uid]["digest"]
            assert same == (uid != target)
            if row["shard"] != touched:
                assert row == fitted[uid]  # reused as it was
        assert not any(row["reused"] for row in refitted.values())

        # Given the first run as previous, only the touched series is fitted again (on
        # Azure ML as here: the carry-over is the entry script's, not the workspace's).
        previous = "azureml://datastores/workspaceblobstore/paths/retrain/fam-first/"
        workspace.submit(submission("fam-third", "second.json", previous=previous))
        run = workspace.wait("fam-third", TIMEOUT)
        assert run.status == "Completed", run.error
        third = rows("fam-third")
        assert {uid for uid, row in third.items() if not row["reused"]} == {target}
        assert third[target]["metrics"] == refitted[target]["metrics"]
        for uid, row in third.items():
            if uid != target:
                assert without_seconds(row) == without_seconds(fitted[uid]) | {"reused": True}
                assert row["gate_metrics"] == fitted[uid]["gate_metrics"]  # re-scored, same

        # The service's champions input: each series but the target has its first fit as
        # production model; the gate's evidence per series is judged by the gate unchanged.
        for shard in shards:
            copy = artifacts.get_blob_client(f"retrain/fam-fourth/champions/fam-first/{shard}.pkl")
            copy.upload_blob(blob_bytes(f"retrain/fam-first/models/{shard}.pkl"))
        index = {
            "schema": "family-champions/1",
            "series": {
                uid: {
                    "run_key": "fam-first",
                    "version": 1,
                    "model_file": f"fam-first/{row['model_file']}",
                }
                for uid, row in fitted.items()
                if uid != target
            },
        }
        artifacts.upload_blob("retrain/fam-fourth/champions/champions.json", json.dumps(index))
        champions = "azureml://datastores/workspaceblobstore/paths/retrain/fam-fourth/champions/"
        # (sent as a forced run would be: the salt reaches both steps and is ignored)
        workspace.submit(
            submission(
                "fam-fourth",
                "second.json",
                previous=previous,
                champions=champions,
                rerun_salt="fam-fourth",
            )
        )
        run = workspace.wait("fam-fourth", TIMEOUT)
        assert run.status == "Completed", run.error
        fourth = rows("fam-fourth")
        for uid, row in fourth.items():
            metrics = row["gate_metrics"]
            if uid == target:
                assert row["champion"] is None and metrics["champion"] is None
                assert judge(metrics, GatePolicy(), champion_present=False).checks
                continue
            assert row["champion"] == index["series"][uid] and metrics["champion_error"] is None
            # the champion's parameters saw all this data: no fold is out-of-sample for it,
            # so the gate compares on the holdout, where the MASE alone decides
            assert not any(f["out_of_sample"] for f in metrics["champion"]["folds"])
            verdict = judge(metrics, GatePolicy(), champion_present=True)
            assert verdict.window == "on the holdout"
            assert [c.result for c in verdict.checks][1:] == ["skip"]
            assert verdict.passed == (
                metrics["candidate"]["holdout"]["mase"] < metrics["champion"]["holdout"]["mase"]
            )
