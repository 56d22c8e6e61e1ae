"""The local workspace runs the pipeline a submission names: ``family_pipeline.yml`` for a
family, ``pipeline.yml`` otherwise (checked through submit's validation: nothing runs)."""

from __future__ import annotations

from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from localdev.workspace import LocalWorkspace
from shared.errors import PipelineError
from shared.ports import PipelineSubmission

PIPELINE = Path(__file__).parents[2] / "pipeline_defs" / "pipeline.yml"
# Never contacted: submit validates before anything touches storage.
UNUSED_BLOB_SERVICE = BlobServiceClient.from_connection_string(
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
    "BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;"
)


@pytest.fixture
def workspace(tmp_path: Path):
    with LocalWorkspace(
        tmp_path, PIPELINE, blob_service=UNUSED_BLOB_SERVICE, datastores={}, serve=True
    ) as ws:
        yield ws


def submit(workspace: LocalWorkspace, pipeline: str, **inputs: str | int) -> None:
    workspace.submit(
        PipelineSubmission(
            run_key="stores-0123456789abcdef", model="stores", inputs=inputs, pipeline=pipeline
        )
    )


def test_a_family_submission_is_checked_against_the_family_pipeline(workspace):
    with pytest.raises(PipelineError, match=r"it takes .*'series_columns'") as caught:
        submit(workspace, "family", not_an_input=1)
    assert "'shard_count'" in str(caught.value)  # only the family pipeline has it


def test_a_single_series_submission_is_checked_against_pipeline_yml(workspace):
    with pytest.raises(PipelineError, match=r"no input\(s\) \['series_columns'\]"):
        submit(workspace, "retrain", series_columns="unique_id")


def test_an_unknown_pipeline_is_refused(workspace):
    with pytest.raises(PipelineError, match="has no pipeline 'nope'; it runs family, retrain"):
        submit(workspace, "nope")
