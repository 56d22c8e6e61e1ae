"""The Azure ML adapters for families, at the HTTP transport level (the real azure-ai-ml
client against the fake workspace): a family submission invokes the family pipeline's own
batch endpoint with its inputs and outputs; a family version is registered from its job's
``models`` output."""

from __future__ import annotations

from typing import Any

import pytest

from shared.adapters.azure.pipeline import AzureMLPipelineClient
from shared.adapters.azure.registry import AzureMLModelRegistry
from shared.adapters.azure.workspace import RetryPolicy, connect
from shared.ports import PipelineSubmission
from tests.azureml.fake_workspace import (
    DEPLOYMENT,
    ENDPOINT,
    REGION,
    RESOURCE_GROUP,
    SUBSCRIPTION,
    WORKSPACE,
    FakeAzureML,
)
from tests.fake_entra import FakeCredential
from tests.fakes import FakeClock, FakeStateStore

FAMILY_ENDPOINT = f"{ENDPOINT}-family"
KEY = "stores-0123456789abcdef"
ROOT = "azureml://datastores/workspaceblobstore/paths/retrain"


class FamilyWorkspace(FakeAzureML):
    """The fake workspace with a second batch endpoint, the family pipeline's."""

    def _endpoint(self, request: Any, ep: str) -> Any:
        if ep != FAMILY_ENDPOINT:
            return super()._endpoint(request, ep)
        response = super()._endpoint(request, ENDPOINT)
        response.body["name"] = FAMILY_ENDPOINT
        response.body["properties"]["scoringUri"] = (
            f"https://{FAMILY_ENDPOINT}.{REGION}.inference.ml.azure.com/jobs"
        )
        return response


@pytest.fixture
def fake() -> FakeAzureML:
    return FamilyWorkspace()


@pytest.fixture
def ml_client(fake: FakeAzureML) -> Any:
    return connect(
        subscription_id=SUBSCRIPTION,
        resource_group=RESOURCE_GROUP,
        workspace_name=WORKSPACE,
        credential=FakeCredential(),
        transport=fake,
    )


@pytest.fixture
def retry() -> RetryPolicy:
    return RetryPolicy(sleep=lambda seconds: None, rng=lambda: 0.0)


def family_submission() -> PipelineSubmission:
    return PipelineSubmission(
        run_key=KEY,
        model="stores",
        inputs={
            "data": "azureml://datastores/trainingdata/paths/stores/",
            "manifest": f"{ROOT}/{KEY}/snapshot.json",
            "series_columns": "store,item",
            "frequency": "MS",
            "horizon": 12,
            "backtest_folds": 0,
            "previous": f"{ROOT}/stores-fedcba9876543210/",
            "champions": f"{ROOT}/{KEY}/champions/",
        },
        tags={"retrain_run_key": KEY, "retrain_model": "stores"},
        pipeline="family",
    )


def test_a_family_run_invokes_the_family_endpoint_with_its_outputs(
    ml_client: Any, retry: Any, fake: FakeAzureML
) -> None:
    client = AzureMLPipelineClient(
        ml_client, endpoint_name=ENDPOINT, deployment_name=DEPLOYMENT, retry=retry
    )
    run = client.submit(family_submission())

    (post,) = fake.calls("invoke")
    assert post.url == f"https://{FAMILY_ENDPOINT}.{REGION}.inference.ml.azure.com/jobs"
    assert fake.calls("endpoint.get")[-1].path.endswith(f"/batchEndpoints/{FAMILY_ENDPOINT}")
    # The family endpoint's own default deployment: the single pipeline's is not sent.
    assert post.header("azureml-model-deployment") is None
    body = post.body["properties"]
    assert body["inputData"]["series_columns"] == {"jobInputType": "Literal", "value": "store,item"}
    assert body["inputData"]["previous"] == {
        "jobInputType": "UriFolder",
        "uri": f"{ROOT}/stores-fedcba9876543210/",
    }
    assert body["inputData"]["champions"]["jobInputType"] == "UriFolder"
    assert body["inputData"]["manifest"]["jobInputType"] == "UriFile"
    assert body["outputData"] == {
        name: {"jobOutputType": "UriFolder", "uri": f"{ROOT}/{KEY}/{name}/"}
        for name in ("prepared", "results", "models")
    }
    assert body["properties"]["retrain_run_key"] == KEY
    assert run.outputs["results"] == f"{ROOT}/{KEY}/results/"


def test_the_family_endpoint_and_deployment_can_be_named(
    ml_client: Any, retry: Any, fake: FakeAzureML
) -> None:
    client = AzureMLPipelineClient(
        ml_client,
        endpoint_name="unused",
        family_endpoint_name=FAMILY_ENDPOINT,
        family_deployment_name=DEPLOYMENT,
        retry=retry,
    )
    client.submit(family_submission())
    (post,) = fake.calls("invoke")
    assert FAMILY_ENDPOINT in post.url
    assert post.header("azureml-model-deployment") == DEPLOYMENT


def test_a_single_series_run_still_invokes_the_pipeline_endpoint(
    ml_client: Any, retry: Any, fake: FakeAzureML
) -> None:
    client = AzureMLPipelineClient(
        ml_client, endpoint_name=ENDPOINT, deployment_name=DEPLOYMENT, retry=retry
    )
    single = PipelineSubmission(
        run_key="co2-0123456789abcdef",
        model="co2",
        inputs={"data": "azureml://datastores/trainingdata/paths/co2/"},
    )
    client.submit(single)
    (post,) = fake.calls("invoke")
    assert post.url == fake.scoring_uri
    assert set(post.body["properties"]["outputData"]) == {"prepared", "model", "metrics"}


def test_a_family_version_is_registered_from_the_jobs_models_output(
    ml_client: Any, retry: Any, fake: FakeAzureML
) -> None:
    registry = AzureMLModelRegistry(
        ml_client, state=FakeStateStore(), clock=FakeClock(), retry=retry
    )
    version = registry.register(
        "stores",
        artifact_uri=f"{ROOT}/{KEY}/models/",
        tags={"run_key": KEY, "family": "true"},
        lineage={"run_key": KEY, "pipeline_run_id": "batchjob-00000001", "job_output": "models"},
    )
    put = fake.calls("models.put")[-1]
    assert put.body["properties"]["modelUri"] == "azureml://jobs/batchjob-00000001/outputs/models"
    assert version.tags["family"] == "true"


def test_the_v1_submit_client_refuses_a_family_run_before_any_request(
    ml_client: Any, retry: Any, fake: FakeAzureML
) -> None:
    from shared.adapters.azure.v1 import V1PipelineEndpointClient
    from shared.errors import PipelineError

    client = V1PipelineEndpointClient(
        "https://example.api.azureml.ms/pipelines/v1.0/x/PipelineSubmit/abc",
        ml_client=ml_client,
        credential=FakeCredential(),
        transport=fake,
        retry=retry,
    )
    with pytest.raises(PipelineError, match="families need the batch endpoint"):
        client.submit(family_submission())
    assert fake.requests == []
