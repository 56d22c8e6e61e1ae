"""V1PipelineEndpointClient: the v1 PipelineEndpoint REST submit, with its run followed
through the workspace's jobs API."""

from __future__ import annotations

from typing import Any

import pytest

from shared.adapters.azure.v1 import V1PipelineEndpointClient
from shared.adapters.azure.workspace import RetryPolicy
from shared.errors import PipelineError
from shared.ports import PipelineSubmission
from tests.azureml.conftest import Sleeps
from tests.azureml.fake_workspace import (
    API_HOST,
    MANAGEMENT_AUDIENCE,
    MANAGEMENT_SCOPE,
    RESOURCE_GROUP,
    SUBSCRIPTION,
    WORKSPACE,
    FakeAzureML,
    response_lost,
    throttled,
)
from tests.fake_entra import FakeCredential

ENDPOINT_ID = "8b6f2c1e-0000-4000-8000-000000000042"
SUBMIT_URL = (
    f"https://{API_HOST}/pipelines/v1.0/subscriptions/{SUBSCRIPTION}/resourceGroups/"
    f"{RESOURCE_GROUP}/providers/Microsoft.MachineLearningServices/workspaces/{WORKSPACE}"
    f"/PipelineRuns/PipelineEndpointSubmit/Id/{ENDPOINT_ID}"
)
KEY = "co2-0123456789abcdef"
SUBMISSION = PipelineSubmission(
    run_key=KEY,
    model="co2",
    inputs={
        "data": "azureml://datastores/trainingdata/paths/co2/",
        "frequency": "MS",
        "horizon": 24,
    },
    tags={"retrain_run_key": KEY, "retrain_model": "co2"},
)


@pytest.fixture
def client(
    ml_client: Any, fake: FakeAzureML, credential: FakeCredential, retry: RetryPolicy
) -> V1PipelineEndpointClient:
    return V1PipelineEndpointClient(
        SUBMIT_URL, ml_client=ml_client, credential=credential, transport=fake, retry=retry
    )


def test_submit_posts_experiment_and_parameters_with_an_arm_token(
    client: V1PipelineEndpointClient, fake: FakeAzureML, credential: FakeCredential
) -> None:
    run = client.submit(SUBMISSION)

    (post,) = fake.calls("v1.submit")
    assert post.method == "POST"
    assert post.url == SUBMIT_URL
    assert post.audience == MANAGEMENT_AUDIENCE
    assert MANAGEMENT_SCOPE in credential.scopes
    assert post.header("Content-Type") == "application/json"
    assert post.body == {
        "ExperimentName": "retrain",
        "Description": f"retrain co2: run {KEY}",
        "RunSource": "API",
        "ParameterAssignments": {"frequency": "MS", "horizon": "24", "run_key": KEY},
        "DataPathAssignments": {"data": {"DataStoreName": "trainingdata", "RelativePath": "co2/"}},
        "tags": {"retrain_run_key": KEY, "retrain_model": "co2"},
        "Properties": {"retrain_run_key": KEY, "retrain_model": "co2"},
    }
    assert run.run_id == "00000001-aaaa-bbbb-cccc-000000000000"
    assert run.run_key == KEY and run.status == "NotStarted"


def test_v1_runs_are_found_by_tag_and_followed_through_jobs(
    client: V1PipelineEndpointClient, fake: FakeAzureML
) -> None:
    run = client.submit(SUBMISSION)
    again = client.submit(SUBMISSION)
    fake.finish(run.run_id, "Failed", error="prep: too few observations")

    failed = client.get_run(run.run_id)

    assert again.run_id == run.run_id
    assert len(fake.calls("v1.submit")) == 1
    assert {c.query.get("tag") for c in fake.calls("jobs.list")} >= {"retrain_run_key"}
    assert failed.status == "Failed"
    assert failed.error == "UserError: prep: too few observations"
    assert failed.run_key == KEY


def test_v1_submit_is_retried_after_throttling_and_a_lost_answer(
    client: V1PipelineEndpointClient, fake: FakeAzureML, sleeps: Sleeps
) -> None:
    fake.inject("v1.submit", throttled(retry_after=9), response_lost())

    run = client.submit(SUBMISSION)

    assert [c.outcome for c in fake.calls("v1.submit")] == ["429", "ServiceResponseError"]
    assert sleeps == [9.0, 4.0]
    assert fake.jobs_for_run_key(KEY) == [run.run_id]


def test_an_unknown_pipeline_endpoint_fails_clearly(
    client: V1PipelineEndpointClient, fake: FakeAzureML
) -> None:
    fake.v1_endpoints = {"some-other-endpoint"}

    with pytest.raises(PipelineError, match="404"):
        client.submit(SUBMISSION)


def test_the_submit_url_must_be_https(ml_client: Any, credential: FakeCredential) -> None:
    with pytest.raises(ValueError, match="https"):
        V1PipelineEndpointClient("http://example", ml_client=ml_client, credential=credential)
