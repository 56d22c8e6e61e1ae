"""Invoke under faults: throttling, outages, timeouts and the ambiguous failure where the
job was created but the answer was lost. Never two jobs for one run key; waits go through
the injected sleep."""

from __future__ import annotations

from typing import Any

import pytest

from shared.adapters.azure.pipeline import AzureMLPipelineClient
from shared.adapters.azure.workspace import RetryPolicy
from shared.errors import PipelineError
from shared.ports import PipelineSubmission
from tests.azureml.conftest import Sleeps
from tests.azureml.fake_workspace import (
    DEPLOYMENT,
    ENDPOINT,
    FakeAzureML,
    Fault,
    connect_timeout,
    connection_reset_before_send,
    read_timeout,
    response_lost,
    server_error_after_send,
    throttled,
    unavailable,
)

KEY = "co2-0123456789abcdef"
SUBMISSION = PipelineSubmission(
    run_key=KEY,
    model="co2",
    inputs={"data": "azureml://datastores/trainingdata/paths/co2/", "horizon": 24},
    tags={"retrain_run_key": KEY, "retrain_model": "co2"},
)


@pytest.fixture
def client(ml_client: Any, retry: RetryPolicy) -> AzureMLPipelineClient:
    return AzureMLPipelineClient(
        ml_client, endpoint_name=ENDPOINT, deployment_name=DEPLOYMENT, retry=retry
    )


def invokes(fake: FakeAzureML) -> list[str]:
    return [c.outcome for c in fake.calls("invoke")]


def test_throttled_invoke_waits_as_long_as_retry_after_says(
    client: AzureMLPipelineClient, fake: FakeAzureML, sleeps: Sleeps
) -> None:
    fake.inject("invoke", throttled(retry_after=17))

    run = client.submit(SUBMISSION)

    assert sleeps == [17.0]
    assert invokes(fake) == ["429", "200"]
    assert fake.jobs_for_run_key(KEY) == [run.run_id]


def test_retry_after_is_capped(ml_client: Any, fake: FakeAzureML, sleeps: Sleeps) -> None:
    retry = RetryPolicy(sleep=sleeps, rng=lambda: 0.0, max_retry_after=30.0)
    client = AzureMLPipelineClient(ml_client, endpoint_name=ENDPOINT, retry=retry)
    fake.inject("invoke", throttled(retry_after=3600))

    client.submit(SUBMISSION)

    assert sleeps == [30.0]


def test_unavailable_without_retry_after_backs_off_exponentially(
    client: AzureMLPipelineClient, fake: FakeAzureML, sleeps: Sleeps
) -> None:
    fake.inject("invoke", unavailable(), unavailable(), unavailable())

    run = client.submit(SUBMISSION)

    assert sleeps == [2.0, 4.0, 8.0]
    assert invokes(fake) == ["503", "503", "503", "200"]
    assert fake.jobs_for_run_key(KEY) == [run.run_id]


def test_throttled_job_lookups_are_retried_too(
    client: AzureMLPipelineClient, fake: FakeAzureML, sleeps: Sleeps
) -> None:
    fake.inject("jobs.list", throttled(retry_after=5))

    client.submit(SUBMISSION)

    assert sleeps == [5.0]
    assert [c.outcome for c in fake.calls("jobs.list")] == ["429", "200"]


def test_connect_timeout_is_retried_with_a_fresh_lookup(
    client: AzureMLPipelineClient, fake: FakeAzureML, sleeps: Sleeps
) -> None:
    # The SDK re-sends on connection errors itself (5 times) before giving up.
    fake.inject("invoke", *[connect_timeout()] * 5)

    run = client.submit(SUBMISSION)

    assert invokes(fake) == ["ServiceRequestTimeoutError"] * 5 + ["200"]
    assert sleeps == [2.0]
    assert len(fake.calls("jobs.get")) == 2  # looked up before each of our attempts
    assert fake.jobs_for_run_key(KEY) == [run.run_id]


def test_the_sdk_resends_a_lost_answer_with_the_same_request_id(
    client: AzureMLPipelineClient, fake: FakeAzureML
) -> None:
    fake.inject("invoke", read_timeout())

    run = client.submit(SUBMISSION)

    first, second = fake.calls("invoke")
    assert first.header("repeatability_request-id") == second.header("repeatability_request-id")
    assert fake.jobs_for_run_key(KEY) == [run.run_id]


@pytest.mark.parametrize(
    "faults",
    [
        pytest.param([response_lost()] * 5, id="connection-reset-after-create"),
        pytest.param([read_timeout()] * 5, id="read-timeout-after-create"),
        pytest.param([server_error_after_send(500)], id="500-after-create"),
        pytest.param([server_error_after_send(502)], id="502-after-create"),
    ],
)
def test_ambiguous_failure_finds_the_job_instead_of_invoking_again(
    client: AzureMLPipelineClient,
    fake: FakeAzureML,
    sleeps: Sleeps,
    faults: list[Fault],
) -> None:
    fake.inject("invoke", *faults)

    run = client.submit(SUBMISSION)

    assert fake.jobs_for_run_key(KEY) == [run.run_id]
    assert run.run_id == "batchjob-00000001"
    # Our one attempt (the SDK may have re-sent it); then a wait and a lookup, no invoke.
    assert len({c.header("repeatability_request-id") for c in fake.calls("invoke")}) == 1
    assert len(sleeps) == 1
    routes = [c.route for c in fake.requests]
    assert routes[-1] in ("jobs.get", "jobs.list")


def test_without_the_lookup_a_new_invoke_would_have_made_a_second_job(
    client: AzureMLPipelineClient, fake: FakeAzureML
) -> None:
    """The fake is idempotent only per request id, like the service: a second invoke
    (new id) for the same run key makes a second job. This is what the lookup prevents."""
    client.submit(SUBMISSION)
    client._invoke(SUBMISSION)

    assert len(fake.jobs_for_run_key(KEY)) == 2


def test_retries_exhausted_raise_a_pipeline_error_without_secrets(
    client: AzureMLPipelineClient, fake: FakeAzureML, sleeps: Sleeps
) -> None:
    fake.inject("invoke", *[unavailable(retry_after=1)] * 5)

    with pytest.raises(PipelineError) as raised:
        client.submit(SUBMISSION)

    message = str(raised.value)
    assert "failed 5 times" in message and "503" in message and KEY in message
    tokens = {c.header("Authorization") for c in fake.requests if c.header("Authorization")}
    assert tokens and not any(t.removeprefix("Bearer ") in message for t in tokens)
    assert "Bearer" not in message
    assert sleeps == [1.0, 1.0, 1.0, 1.0]
    assert fake.jobs_for_run_key(KEY) == []


def test_a_client_error_is_not_retried(
    client: AzureMLPipelineClient, fake: FakeAzureML, sleeps: Sleeps
) -> None:
    fake.inject("invoke", Fault(status=400, message="input 'horizon' is not declared"))

    with pytest.raises(PipelineError, match="400"):
        client.submit(SUBMISSION)

    assert sleeps == []
    assert len(fake.calls("invoke")) == 1


def test_an_unknown_deployment_fails_clearly(ml_client: Any, retry: RetryPolicy) -> None:
    client = AzureMLPipelineClient(
        ml_client, endpoint_name=ENDPOINT, deployment_name="nope", retry=retry
    )

    with pytest.raises(PipelineError, match="nope"):
        client.submit(SUBMISSION)


def test_a_job_name_conflict_is_resolved_by_looking_again(credential: Any, sleeps: Sleeps) -> None:
    from shared.adapters.azure.workspace import connect
    from tests.azureml.fake_workspace import RESOURCE_GROUP, SUBSCRIPTION, WORKSPACE

    fake = FakeAzureML(honour_job_name=True)
    ml = connect(
        subscription_id=SUBSCRIPTION,
        resource_group=RESOURCE_GROUP,
        workspace_name=WORKSPACE,
        credential=credential,
        transport=fake,
    )
    client = AzureMLPipelineClient(
        ml, endpoint_name=ENDPOINT, retry=RetryPolicy(sleep=sleeps, rng=lambda: 0.0)
    )
    # The job appears (another instance) and the service answers 409 for the name.
    fake.inject("invoke", Fault(status=409, processed=True, message="job exists"))

    run = client.submit(SUBMISSION)

    assert run.run_id == KEY
    assert fake.jobs_for_run_key(KEY) == [KEY]
    assert sleeps == []
    assert len(fake.calls("invoke")) == 1


def test_connection_reset_before_send_is_retried(
    client: AzureMLPipelineClient, fake: FakeAzureML
) -> None:
    fake.inject("jobs.get", connection_reset_before_send())

    run = client.submit(SUBMISSION)

    assert [c.outcome for c in fake.calls("jobs.get")][:2] == ["ServiceRequestError", "404"]
    assert fake.jobs_for_run_key(KEY) == [run.run_id]


def test_two_invokes_for_different_deployments_send_their_own_header(
    ml_client: Any, fake: FakeAzureML, retry: RetryPolicy
) -> None:
    fake.deployments = ["blue", "green"]
    fake.default_deployment = "blue"
    blue = AzureMLPipelineClient(
        ml_client, endpoint_name=ENDPOINT, deployment_name="blue", retry=retry
    )
    green = AzureMLPipelineClient(
        ml_client, endpoint_name=ENDPOINT, deployment_name="green", retry=retry
    )
    default = AzureMLPipelineClient(ml_client, endpoint_name=ENDPOINT, retry=retry)

    blue.submit(SUBMISSION)
    green.submit(PipelineSubmission(run_key="co2-1111111111111111", model="co2", inputs={}))
    default.submit(PipelineSubmission(run_key="co2-2222222222222222", model="co2", inputs={}))

    headers = [c.header("azureml-model-deployment") for c in fake.calls("invoke")]
    # Unguarded, the SDK would send "green" again on the last call (reference §0.4).
    assert headers == ["blue", "green", None]
    assert [fake.job_deployment[n] for n in fake.jobs] == ["blue", "green", "blue"]
