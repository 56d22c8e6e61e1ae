"""The Azure ML adapter's steps (``RunInspector``) at the HTTP transport level: the job
GET, then run history's children of the pipeline job, shaped like the recorded
``test_pipeline_job_get_child_run`` response (azure-sdk-assets, azure-ai-ml 1.32.0:
``GET {api}/history/v1.0/.../runs/<job>/children`` -> ``{"value": [Run, ...]}``)."""

from __future__ import annotations

from typing import Any

import pytest

from shared.adapters.azure.pipeline import AzureMLPipelineClient
from shared.adapters.azure.workspace import RetryPolicy, connect
from shared.errors import NotFound
from tests.azureml.fake_workspace import (
    API_HOST,
    ENDPOINT,
    RESOURCE_GROUP,
    SUBSCRIPTION,
    WORKSPACE,
    FakeAzureML,
    Recorded,
    _error,
    _Response,
)
from tests.fake_entra import FakeCredential

JOB = "co2-0123456789abcdef"


def child_run(name: str, status: str, start: str | None, end: str | None, **extra: Any) -> dict:
    """One child run as run history returns it (fields of the recorded response)."""
    return {
        "runNumber": 1772224197,
        "rootRunId": JOB,
        "createdUtc": "2026-02-27T20:29:57.3133614+00:00",
        "runId": f"{name}-3d732853-5b72-43e3-b2ee",
        "parentRunId": JOB,
        "experimentId": "feaf39dd-e0de-4b57-9b9a-d5837337665a",
        "status": status,
        "startTimeUtc": start,
        "endTimeUtc": end,
        "displayName": name,
        "name": "azureml_anonymous",
        "runType": "azureml.StepRun",
        "properties": {"StepType": "PythonScriptStep", "azureml.pipelinerunid": JOB},
        "tags": {"azureml.pipeline": JOB},
        **extra,
    }


class FakeWithChildren(FakeAzureML):
    """The fake workspace plus run history's children route."""

    def __init__(self) -> None:
        super().__init__()
        self.children: dict[str, list[dict[str, Any]]] = {}
        self._routes.insert(
            0,
            (
                "GET",
                API_HOST,
                r"/history/v1\.0/.*/runs/(?P<name>[^/]+)/children$",
                "history.children",
                self._children,
            ),
        )

    def _children(self, request: Recorded, name: str) -> _Response:
        problem = self._check_scope(request)
        if problem:
            return problem
        if name not in self.children:
            return _error(404, "UserError", f"Run {name} was not found", "RunNotFound")
        return _Response(200, {"value": self.children[name]})


@pytest.fixture
def fake() -> FakeWithChildren:
    return FakeWithChildren()


@pytest.fixture
def client(fake: FakeWithChildren) -> AzureMLPipelineClient:
    ml = connect(
        subscription_id=SUBSCRIPTION,
        resource_group=RESOURCE_GROUP,
        workspace_name=WORKSPACE,
        credential=FakeCredential(),
        transport=fake,
    )
    return AzureMLPipelineClient(
        ml, endpoint_name=ENDPOINT, retry=RetryPolicy(sleep=lambda s: None)
    )


def test_steps_are_the_child_runs_in_start_order_with_durations_and_errors(client, fake):
    fake._create_job(JOB, experiment="retrain", properties={}, tags={}, inputs={}, outputs={})
    failure = {"error": {"code": "UserError", "message": "train.py: exit code 1"}}
    fake.children[JOB] = [
        child_run("evaluate", "NotStarted", None, None),
        child_run(
            "train",
            "Failed",
            "2026-02-27T20:34:08.423298+00:00",
            "2026-02-27T20:37:16.5400228+00:00",
            error=failure,
        ),
        child_run(
            "prep",
            "Completed",
            "2026-02-27T20:32:31.0996825+00:00",
            "2026-02-27T20:33:31.0996825+00:00",
        ),
    ]
    steps = client.get_steps(JOB)
    assert [(s.name, s.status) for s in steps] == [
        ("prep", "Completed"),
        ("train", "Failed"),
        ("evaluate", "NotStarted"),
    ]
    assert steps[0].duration_s == 60.0 and steps[2].duration_s is None
    assert steps[1].error == "train.py: exit code 1"
    assert steps[0].started_at is not None and steps[0].started_at.startswith("2026-02-27T20:32:31")
    [children] = fake.calls("history.children")
    assert children.method == "GET"
    assert children.path == (
        f"/history/v1.0/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/"
        f"Microsoft.MachineLearningServices/workspaces/{WORKSPACE}/runs/{JOB}/children"
    )


def test_an_unknown_job_is_not_found_and_logs_are_not_read(client, fake):
    with pytest.raises(NotFound):
        client.get_steps("co2-ffffffffffffffff")
    assert fake.calls("history.children") == []
    with pytest.raises(NotFound, match="Azure ML studio"):
        client.get_log_tail(JOB, "train")
