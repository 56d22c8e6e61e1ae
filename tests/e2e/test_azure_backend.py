"""The same loop as test_retrain_loop, with the Azure ML backend: the service built by the
composition root from Azure app settings talks to an Azure ML workspace played at the HTTP
level (tests/azureml/fake_workspace.py) through the real azure-ai-ml client, and keeps its
state in Azurite.

The fake workspace answers the REST calls; the job's compute is the local workspace,
which runs the same pipeline YAML on the job's inputs and writes its outputs where a batch
endpoint's job writes them (``retrain/<run key>/...`` in the artifact datastore). Nothing
here reaches Azure.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from localdev.datasets import co2_monthly, series_csv
from localdev.workspace import LocalWorkspace
from shared.bootstrap import build_service
from shared.messages import SweepTicked
from shared.parsing import RUN_KEY_TAG, parse_blob_created, parse_run_event
from shared.ports import PipelineSubmission
from shared.service import RetrainService
from shared.settings import APP_ROOT, Settings
from tests import samples
from tests.azureml.fake_workspace import (
    ENDPOINT,
    RESOURCE_GROUP,
    SUBSCRIPTION,
    WORKSPACE,
    FakeAzureML,
)
from tests.fake_entra import FakeCredential

pytestmark = [pytest.mark.azurite, pytest.mark.slow]

MODELS = [
    {
        "name": "co2",
        "prefix": "co2/",
        "frequency": "MS",
        "season_length": 12,
        "horizon": 12,
        "time_budget": 20,
    }
]


@dataclass
class AzureWorld:
    service: RetrainService
    workspace: FakeAzureML
    compute: LocalWorkspace
    settings: Settings
    blobs: Any

    def arrive(self, name: str, content: str) -> str:
        """A data blob lands; its BlobCreated event reaches the service. The run key."""
        container = self.blobs.get_container_client(self.settings.data_container)
        props = container.upload_blob(name, content.encode(), overwrite=True).get_blob_properties()
        event = samples.blob_created(
            name, container=self.settings.data_container, etag=str(props.etag), size=len(content)
        )
        message = parse_blob_created(
            event, container=self.settings.data_container, models=self.settings.models
        )
        [outcome] = self.service.handle(message)
        assert outcome.action == "retrain", outcome
        assert outcome.run_key is not None
        return outcome.run_key

    def run_job(self, job_name: str) -> None:
        """The job's compute: run the pipeline on the job's inputs, finish the job."""
        job = self.workspace.jobs[job_name]["properties"]
        run_key = job["properties"][RUN_KEY_TAG]
        inputs = {
            name: value.get("value", value.get("uri")) for name, value in job["inputs"].items()
        }
        submission = PipelineSubmission(run_key=run_key, model="co2", inputs=inputs)
        self.compute.submit(submission)
        run = self.compute.wait(run_key, timeout=600)
        self.workspace.finish(job_name, run.status, error=run.error)


@pytest.fixture
def world(azurite, tmp_path: Path) -> Iterator[AzureWorld]:
    suffix = uuid.uuid4().hex[:8]
    settings = Settings.from_env(
        {
            "WEBSITE_INSTANCE_ID": "e2e",  # as in a deployed Function App
            "RETRAIN_STORAGE_CONNECTION_STRING": azurite.connection_string,
            "RETRAIN_MODELS": json.dumps(MODELS),
            "AZUREML_SUBSCRIPTION_ID": SUBSCRIPTION,
            "AZUREML_RESOURCE_GROUP": RESOURCE_GROUP,
            "AZUREML_WORKSPACE": WORKSPACE,
            "RETRAIN_BATCH_ENDPOINT": ENDPOINT,
            "RETRAIN_DATA_CONTAINER": f"data-{suffix}",
            "RETRAIN_STATE_CONTAINER": f"state-{suffix}",
            "RETRAIN_ARTIFACT_CONTAINER": f"artifacts-{suffix}",
        }
    )
    assert settings.backend == "azureml"
    fake = FakeAzureML()
    service = build_service(settings, azure_transport=fake, azure_credential=FakeCredential())
    from azure.storage.blob import BlobServiceClient

    blobs = BlobServiceClient.from_connection_string(azurite.connection_string)
    compute = LocalWorkspace(
        tmp_path / "compute",
        APP_ROOT / "pipeline_defs" / "pipeline.yml",
        blob_service=blobs,
        datastores={
            settings.data_datastore: settings.data_container,
            settings.artifact_datastore: settings.artifact_container,
        },
    )
    yield AzureWorld(service, fake, compute, settings, blobs)
    compute.close()
    blobs.close()


def co2_csv(start: str, end: str) -> str:
    return series_csv(co2_monthly().loc[start:end])


def only_job(world: AzureWorld) -> str:
    [job_name] = world.workspace.jobs
    return job_name


def assert_promoted_in_the_workspace(world: AzureWorld, run_key: str, job_name: str) -> None:
    record = world.service.get_run(run_key)
    assert record["status"] == "Completed" and record["promoted"] is True, record
    assert record["pipeline_run_id"] == job_name
    [version] = world.service.list_versions("co2")
    assert version["production"] is True
    [registered] = world.workspace.models["co2"].values()
    properties = registered["properties"]
    assert properties["modelUri"] == f"azureml://jobs/{job_name}/outputs/model"
    assert properties["tags"]["run_key"] == run_key
    assert properties["tags"]["production"] == "true"  # the alias, mirrored for Studio


def test_data_lands_runs_on_azure_ml_and_the_model_is_registered_and_promoted(world):
    run_key = world.arrive("co2/1990-2001.csv", co2_csv("1990", "2001"))
    job_name = only_job(world)
    invoke = world.workspace.calls("invoke")[-1]
    assert invoke.body["properties"]["properties"][RUN_KEY_TAG] == run_key
    world.run_job(job_name)

    [outcome] = world.service.handle(parse_run_event(world.workspace.run_event(job_name)))

    assert outcome.action == "promoted", outcome
    assert_promoted_in_the_workspace(world, run_key, job_name)


def test_a_lost_completion_event_is_made_good_by_the_sweep(world):
    run_key = world.arrive("co2/1990-2001.csv", co2_csv("1990", "2001"))
    job_name = only_job(world)
    world.run_job(job_name)  # ... and Event Grid never delivers its RunCompleted

    [outcome] = world.service.handle(SweepTicked(at=world.service.clock.now()))

    assert outcome.action == "promoted", outcome
    assert_promoted_in_the_workspace(world, run_key, job_name)
    assert world.service.handle(SweepTicked(at=world.service.clock.now())) == []
