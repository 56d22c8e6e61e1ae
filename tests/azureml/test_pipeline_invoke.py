"""AzureMLPipelineClient against the fake workspace: what invoke sends, how runs are
found and followed, and what a failed job reports."""

from __future__ import annotations

from typing import Any

import pytest

from shared.adapters.azure.pipeline import AzureMLPipelineClient, job_status
from shared.errors import NotFound
from shared.parsing import parse_run_event
from shared.ports import PipelineSubmission
from tests.azureml.fake_workspace import (
    DEPLOYMENT,
    ENDPOINT,
    MANAGEMENT_AUDIENCE,
    MANAGEMENT_SCOPE,
    ML_AUDIENCE,
    ML_SCOPE,
    RESOURCE_GROUP,
    SUBSCRIPTION,
    WORKSPACE,
    FakeAzureML,
)
from tests.fake_entra import FakeCredential

KEY = "co2-0123456789abcdef"
ARM_PREFIX = (
    f"https://management.azure.com/subscriptions/{SUBSCRIPTION}/resourceGroups/"
    f"{RESOURCE_GROUP}/providers/Microsoft.MachineLearningServices/workspaces/{WORKSPACE}"
)


def submission(key: str = KEY, **extra: str | int | float) -> PipelineSubmission:
    return PipelineSubmission(
        run_key=key,
        model="co2",
        inputs={
            "data": "azureml://datastores/trainingdata/paths/co2/",
            "manifest": f"azureml://datastores/workspaceblobstore/paths/retrain/{key}/snapshot.json",
            "frequency": "MS",
            "season_length": 12,
            "horizon": 24,
            "time_budget": 60.5,
            **extra,
        },
        tags={"retrain_run_key": key, "retrain_model": "co2"},
    )


@pytest.fixture
def client(ml_client: Any, retry: Any) -> AzureMLPipelineClient:
    return AzureMLPipelineClient(
        ml_client, endpoint_name=ENDPOINT, deployment_name=DEPLOYMENT, retry=retry
    )


def test_invoke_posts_the_run_to_the_scoring_uri_with_an_ml_token(
    client: AzureMLPipelineClient, fake: FakeAzureML
) -> None:
    run = client.submit(submission())

    (post,) = fake.calls("invoke")
    assert post.method == "POST"
    assert post.url == f"https://{ENDPOINT}.eastus2.inference.ml.azure.com/jobs"
    assert post.audience == ML_AUDIENCE
    assert post.header("azureml-model-deployment") == DEPLOYMENT
    assert post.header("repeatability_request-id")
    assert post.header("Content-Type") == "application/json"
    body = post.body["properties"]
    assert body["inputData"] == {
        "data": {
            "jobInputType": "UriFolder",
            "uri": "azureml://datastores/trainingdata/paths/co2/",
        },
        "manifest": {
            "jobInputType": "UriFile",
            "uri": f"azureml://datastores/workspaceblobstore/paths/retrain/{KEY}/snapshot.json",
        },
        "frequency": {"jobInputType": "Literal", "value": "MS"},
        "season_length": {"jobInputType": "Literal", "value": 12},
        "horizon": {"jobInputType": "Literal", "value": 24},
        "time_budget": {"jobInputType": "Literal", "value": 60.5},
    }
    assert body["outputData"] == {
        name: {
            "jobOutputType": "UriFolder",
            "uri": f"azureml://datastores/workspaceblobstore/paths/retrain/{KEY}/{name}/",
        }
        for name in ("prepared", "model", "metrics")
    }
    assert body["name"] == KEY
    assert body["properties"] == {
        "experimentName": "retrain",
        "retrain_run_key": KEY,
        "retrain_model": "co2",
    }
    assert "tags" not in body  # invoke's body schema has none (see pipeline.py)
    assert run.run_id == "batchjob-00000001"
    assert run.run_key == KEY
    assert run.status == "NotStarted"
    assert run.outputs["metrics"] == (
        f"azureml://datastores/workspaceblobstore/paths/retrain/{KEY}/metrics/"
    )


def test_invoke_reads_the_endpoint_and_deployments_with_a_management_token(
    client: AzureMLPipelineClient, fake: FakeAzureML, credential: FakeCredential
) -> None:
    client.submit(submission())

    endpoint = fake.calls("endpoint.get")[-1]
    assert endpoint.url.startswith(f"{ARM_PREFIX}/batchEndpoints/{ENDPOINT}?")
    assert endpoint.api_version == "2023-10-01"
    assert endpoint.audience == MANAGEMENT_AUDIENCE
    deployments = fake.calls("deployments.list")[-1]
    assert deployments.path.endswith(f"/batchEndpoints/{ENDPOINT}/deployments")
    assert {c.audience for c in fake.requests if c.route != "invoke" and c.audience} == {
        MANAGEMENT_AUDIENCE
    }
    assert set(credential.scopes) == {MANAGEMENT_SCOPE, ML_SCOPE}


def test_the_run_key_is_looked_up_before_the_first_invoke(
    client: AzureMLPipelineClient, fake: FakeAzureML
) -> None:
    client.submit(submission())

    routes = [c.route for c in fake.requests]
    assert routes.index("jobs.get") < routes.index("invoke")
    lookup = fake.calls("jobs.get")[0]
    assert lookup.path.endswith(f"/jobs/{KEY}")
    assert lookup.api_version == "2024-01-01-preview"
    listing = fake.calls("jobs.list")[0]
    assert listing.query["properties"] == f"retrain_run_key={KEY}"
    assert listing.query["listViewType"] == "All"


def test_submitting_a_run_key_again_returns_its_job(
    client: AzureMLPipelineClient, fake: FakeAzureML
) -> None:
    first = client.submit(submission())
    again = client.submit(submission())

    assert again.run_id == first.run_id
    assert len(fake.calls("invoke")) == 1
    assert fake.jobs_for_run_key(KEY) == [first.run_id]


def test_find_run_by_run_key(client: AzureMLPipelineClient, fake: FakeAzureML) -> None:
    assert client.find_run(KEY) is None
    run = client.submit(submission())
    client.submit(submission("co2-fedcba9876543210"))

    found = client.find_run(KEY)

    assert found is not None
    assert (found.run_id, found.run_key) == (run.run_id, KEY)


def test_find_run_by_job_name_when_the_service_keeps_it(
    credential: FakeCredential, retry: Any
) -> None:
    from shared.adapters.azure.workspace import connect

    fake = FakeAzureML(honour_job_name=True)
    ml = connect(
        subscription_id=SUBSCRIPTION,
        resource_group=RESOURCE_GROUP,
        workspace_name=WORKSPACE,
        credential=credential,
        transport=fake,
    )
    client = AzureMLPipelineClient(ml, endpoint_name=ENDPOINT, retry=retry)
    run = client.submit(submission())
    before = len(fake.calls("jobs.list"))

    found = client.find_run(KEY)

    assert run.run_id == KEY
    assert found is not None and found.run_id == KEY
    assert len(fake.calls("jobs.list")) == before  # the name lookup was enough


def test_find_run_follows_pages(credential: FakeCredential, retry: Any) -> None:
    from shared.adapters.azure.workspace import connect

    fake = FakeAzureML(page_size=1)
    ml = connect(
        subscription_id=SUBSCRIPTION,
        resource_group=RESOURCE_GROUP,
        workspace_name=WORKSPACE,
        credential=credential,
        transport=fake,
    )
    client = AzureMLPipelineClient(ml, endpoint_name=ENDPOINT, retry=retry)
    client.submit(submission())
    # A second job carrying the same key: the oldest one is followed.
    fake._create_job(
        "stray",
        experiment="retrain",
        properties={"retrain_run_key": KEY},
        tags={},
        inputs={},
        outputs={},
    )

    found = client.find_run(KEY)

    assert found is not None and found.run_id == "batchjob-00000001"
    assert any("$skip" in c.query for c in fake.calls("jobs.list"))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Completed", "Completed"),
        ("completed", "Completed"),
        ("Failed", "Failed"),
        ("Canceled", "Canceled"),
        ("Cancelled", "Canceled"),
        ("Running", "Running"),
        ("NotStarted", "NotStarted"),
        ("Finalizing", "Finalizing"),
        ("SomethingNew", "SomethingNew"),
    ],
)
def test_job_status_uses_azure_ml_names(raw: str, expected: str) -> None:
    assert job_status(raw) == expected


def test_get_run_follows_the_job_to_completion(
    client: AzureMLPipelineClient, fake: FakeAzureML
) -> None:
    run = client.submit(submission())
    fake.set_status(run.run_id, "Running")
    assert client.get_run(run.run_id).status == "Running"

    fake.finish(run.run_id, "Completed")
    done = client.get_run(run.run_id)

    assert done.status == "Completed" and done.finished
    assert done.run_key == KEY
    assert done.error is None
    assert done.outputs["model"] == (
        f"azureml://datastores/workspaceblobstore/paths/retrain/{KEY}/model/"
    )
    job_get = fake.calls("jobs.get")[-1]
    assert job_get.url.startswith(f"{ARM_PREFIX}/jobs/{run.run_id}?")


def test_a_failed_job_reports_its_error_from_run_history(
    client: AzureMLPipelineClient, fake: FakeAzureML
) -> None:
    run = client.submit(submission())
    fake.finish(run.run_id, "Failed", error="step train: ARIMA order search found no model")

    failed = client.get_run(run.run_id)

    assert failed.status == "Failed"
    assert failed.error == "UserError: step train: ARIMA order search found no model"
    details = fake.calls("history.details")[-1]
    assert details.path.endswith(f"/runs/{run.run_id}/details")
    assert details.audience == MANAGEMENT_AUDIENCE


def test_a_canceled_job_says_so(client: AzureMLPipelineClient, fake: FakeAzureML) -> None:
    run = client.submit(submission())
    fake.finish(run.run_id, "Canceled")

    canceled = client.get_run(run.run_id)

    assert canceled.status == "Canceled"
    assert canceled.error == f"job {run.run_id} was canceled"


def test_get_run_of_an_unknown_job_is_not_found(client: AzureMLPipelineClient) -> None:
    with pytest.raises(NotFound):
        client.get_run("no-such-job")


def test_the_completion_event_names_the_job_and_carries_the_run_key_property(
    client: AzureMLPipelineClient, fake: FakeAzureML
) -> None:
    run = client.submit(submission())
    fake.finish(run.run_id, "Completed")

    event = fake.run_event(run.run_id)
    message = parse_run_event(event)

    assert event["eventType"] == "Microsoft.MachineLearningServices.RunCompleted"
    assert message.run_id == run.run_id and message.status == "Completed"
    # v2 invoke cannot tag the job: the key is a run property, not a run tag.
    assert event["data"]["runProperties"]["retrain_run_key"] == KEY
    assert "retrain_run_key" not in event["data"]["runTags"]
    assert message.run_key == KEY  # the parser reads the property when there is no tag


def test_a_failed_job_produces_a_terminal_status_event(
    client: AzureMLPipelineClient, fake: FakeAzureML
) -> None:
    run = client.submit(submission())
    fake.finish(run.run_id, "Failed", error="boom")

    message = parse_run_event(fake.run_event(run.run_id))

    assert (message.run_id, message.status) == (run.run_id, "Failed")


def test_a_factory_makes_the_client_on_first_use(fake: FakeAzureML, ml_client: Any) -> None:
    made: list[Any] = []

    def factory() -> Any:
        made.append(ml_client)
        return ml_client

    client = AzureMLPipelineClient(factory, endpoint_name=ENDPOINT)
    assert made == [] and fake.requests == []

    assert client.find_run(KEY) is None
    assert client.find_run(KEY) is None
    assert made == [ml_client]


def test_on_finish_sees_the_job_outputs_before_it_completes(
    ml_client: Any, fake: FakeAzureML, retry: Any
) -> None:
    seen: list[tuple[str, str, str]] = []
    fake.on_finish = lambda name, job: seen.append(
        (name, job["properties"]["status"], job["properties"]["outputs"]["metrics"]["uri"])
    )
    client = AzureMLPipelineClient(ml_client, endpoint_name=ENDPOINT, retry=retry)
    run = client.submit(submission())

    fake.finish(run.run_id)

    metrics = f"azureml://datastores/workspaceblobstore/paths/retrain/{KEY}/metrics/"
    assert seen == [(run.run_id, "NotStarted", metrics)]
    assert client.get_run(run.run_id).status == "Completed"
