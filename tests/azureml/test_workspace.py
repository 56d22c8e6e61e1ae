"""The workspace connection (one transport for every request) and the retry rules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import (
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)

from shared.adapters.azure.pipeline import AzureMLPipelineClient
from shared.adapters.azure.workspace import (
    Failure,
    RetryPolicy,
    classify,
    connect,
    describe,
    retry_after_seconds,
)
from shared.ports import PipelineSubmission
from tests.azureml.conftest import Sleeps
from tests.azureml.fake_workspace import (
    API_HOST,
    DEPLOYMENT,
    ENDPOINT,
    FakeAzureML,
)
from tests.fake_entra import FakeCredential

ROOT = Path(__file__).resolve().parents[2]


def test_the_transport_carries_arm_invoke_and_run_history_requests(
    ml_client: Any, fake: FakeAzureML
) -> None:
    """Every request goes through the transport given to MLClient: the generated ARM
    clients, invoke's own HttpPipeline and the run-history client (found via discovery).
    Nothing here can reach the network, so a request that bypassed it would fail."""
    client = AzureMLPipelineClient(ml_client, endpoint_name=ENDPOINT, deployment_name=DEPLOYMENT)
    run = client.submit(PipelineSubmission(run_key="co2-0123456789abcdef", model="co2", inputs={}))
    fake.finish(run.run_id, "Failed", error="boom")
    client.get_run(run.run_id)

    hosts = {c.host for c in fake.requests}
    assert hosts == {
        "management.azure.com",
        f"{ENDPOINT}.eastus2.inference.ml.azure.com",
        API_HOST,
    }
    assert {c.route for c in fake.requests} >= {
        "endpoint.get",
        "deployments.list",
        "invoke",
        "jobs.get",
        "jobs.list",
        "workspace.get",
        "discovery",
        "history.details",
    }


def test_the_sdk_does_not_retry_behind_the_policy(ml_client: Any, fake: FakeAzureML) -> None:
    from tests.azureml.fake_workspace import unavailable

    fake.inject("jobs.get", unavailable(retry_after=1))

    with pytest.raises(HttpResponseError):
        ml_client.jobs.get("anything")

    assert len(fake.calls("jobs.get")) == 1
    assert fake.sleeps == []


def test_connect_needs_the_workspace_coordinates(fake: FakeAzureML) -> None:
    with pytest.raises(ValueError, match="workspace_name"):
        connect(
            subscription_id="s",
            resource_group="rg",
            workspace_name="",
            credential=FakeCredential(),
            transport=fake,
        )


def test_importing_the_adapters_does_not_import_azure_ai_ml() -> None:
    code = (
        "import sys\n"
        "import shared.adapters.azure.pipeline, shared.adapters.azure.registry\n"
        "import shared.adapters.azure.v1, shared.adapters.azure.workspace\n"
        "print('azure.ai.ml' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def _http_error(status: int, headers: dict[str, str] | None = None) -> HttpResponseError:
    from azure.core.rest import HttpRequest

    from tests.azureml.fake_workspace import _error, _to_http_response

    answer = _error(status, "X", "went wrong")
    answer.headers.update(headers or {})
    response = _to_http_response(HttpRequest("GET", "https://management.azure.com/x"), answer)
    return HttpResponseError(response=response)


@pytest.mark.parametrize(
    ("error", "retry", "ambiguous"),
    [
        (_http_error(429, {"Retry-After": "7"}), True, False),
        (_http_error(503), True, True),
        (_http_error(500), True, True),
        (_http_error(408), True, False),
        (_http_error(400), False, False),
        (_http_error(401), False, False),
        (ResourceNotFoundError("gone"), False, False),
        (ServiceRequestError("connect timeout"), True, False),
        (ServiceResponseError("connection reset"), True, True),
        (ValueError("a bug"), False, False),
    ],
)
def test_classify(error: Exception, retry: bool, ambiguous: bool) -> None:
    failure = classify(error)
    assert (failure.retry, failure.ambiguous) == (retry, ambiguous)


def test_classify_reads_retry_after() -> None:
    assert classify(_http_error(429, {"Retry-After": "7"})).retry_after == 7.0


def test_the_sdks_give_up_after_connection_errors_counts_as_ambiguous() -> None:
    from azure.ai.ml.exceptions import MlException

    message = "Max retry attempts reached while trying to connect to server."
    failure = classify(MlException(message=message, no_personal_data_message=message))
    assert (failure.retry, failure.ambiguous) == (True, True)


class _Headers:
    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "12"}, 12.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"retry-after-ms": "2500"}, 2.5),
        ({"x-ms-retry-after-ms": "100"}, 0.1),
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),  # in the past
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_seconds(headers: dict[str, str], seconds: float | None) -> None:
    assert retry_after_seconds(_Headers(headers)) == seconds


def test_describe_hides_tokens_and_signatures() -> None:
    error = ServiceResponseError(
        "failed: Authorization: Bearer eyJhbGciOi.abc.def at https://a/b?sv=1&sig=SECRET%3D"
    )

    text = describe(error)

    assert "eyJhbGciOi" not in text and "SECRET" not in text
    assert text.startswith("ServiceResponseError: failed")


def test_backoff_doubles_up_to_its_cap_and_jitter_only_shortens() -> None:
    policy = RetryPolicy(backoff=2.0, max_backoff=10.0, rng=lambda: 0.0)
    plain = Failure(retry=True, ambiguous=False, status=503, retry_after=None, summary="")
    assert [policy.delay(n, plain) for n in range(1, 6)] == [2.0, 4.0, 8.0, 10.0, 10.0]

    jittery = RetryPolicy(backoff=2.0, jitter=0.5, rng=lambda: 1.0)
    assert jittery.delay(1, plain) == 1.0


def test_call_retries_retryable_failures_and_reraises_the_last(sleeps: Sleeps) -> None:
    policy = RetryPolicy(attempts=3, sleep=sleeps, rng=lambda: 0.0)
    attempts: list[int] = []

    def flaky() -> str:
        attempts.append(1)
        raise ServiceRequestError("connect timeout")

    with pytest.raises(ServiceRequestError):
        policy.call("flaky", flaky)

    assert len(attempts) == 3 and sleeps == [2.0, 4.0]


def test_call_does_not_retry_a_client_error(sleeps: Sleeps) -> None:
    policy = RetryPolicy(sleep=sleeps)

    def missing() -> None:
        raise ResourceNotFoundError("no such job")

    with pytest.raises(ResourceNotFoundError):
        policy.call("missing", missing)
    assert sleeps == []
