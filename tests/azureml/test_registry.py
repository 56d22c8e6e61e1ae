"""AzureMLModelRegistry against the fake workspace: registration from the job output,
lineage in tags and properties, the production alias in the state store and its tag
mirror in the workspace."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.adapters.azure.registry import AzureMLModelRegistry
from shared.adapters.azure.workspace import RetryPolicy
from shared.errors import ConflictError, NotFound, RegistryError
from tests.azureml.conftest import Sleeps
from tests.azureml.fake_workspace import (
    MANAGEMENT_AUDIENCE,
    RESOURCE_GROUP,
    SUBSCRIPTION,
    WORKSPACE,
    FakeAzureML,
    Fault,
    throttled,
)
from tests.fakes import FakeClock, FakeStateStore

MODELS = (
    f"https://management.azure.com/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}"
    f"/providers/Microsoft.MachineLearningServices/workspaces/{WORKSPACE}/models"
)


def lineage(key: str, job: str, **extra: Any) -> dict[str, Any]:
    return {
        "run_key": key,
        "pipeline_run_id": job,
        "snapshot": {"model": "co2", "snapshot_id": key.split("-")[-1], "files": []},
        "snapshot_manifest_uri": f"azureml://datastores/workspaceblobstore/paths/retrain/{key}/snapshot.json",
        "trigger": {"kind": "NewDataArrived", "reason": "new data: co2/2024-06.csv"},
        "metrics": {"schema": 2, "candidate": {"backtest": {"mase": 0.42}}},
        "metrics_uri": f"azureml://datastores/workspaceblobstore/paths/retrain/{key}/metrics/",
        "gate": {"passed": True, "reason": "beats seasonal naive"},
        "pipeline_definition_sha256": "ab" * 32,
        "code_version": "1.4.0",
        **extra,
    }


def register(registry: AzureMLModelRegistry, key: str, job: str, **extra: Any) -> Any:
    return registry.register(
        "co2",
        artifact_uri=f"azureml://datastores/workspaceblobstore/paths/retrain/{key}/model/",
        tags={"run_key": key, "gate": "passed", "code_version": "1.4.0"},
        lineage=lineage(key, job, **extra),
    )


@pytest.fixture
def state() -> FakeStateStore:
    return FakeStateStore()


@pytest.fixture
def registry(ml_client: Any, state: FakeStateStore, retry: RetryPolicy) -> AzureMLModelRegistry:
    return AzureMLModelRegistry(ml_client, state=state, clock=FakeClock(), retry=retry)


def test_register_puts_a_custom_model_from_the_job_output(
    registry: AzureMLModelRegistry, fake: FakeAzureML
) -> None:
    version = register(registry, "co2-aaaaaaaaaaaaaaaa", "batchjob-00000007")

    put = fake.calls("models.put")[-1]
    assert put.method == "PUT"
    assert put.url == f"{MODELS}/co2/versions/1?api-version=2023-08-01-preview"
    assert put.audience == MANAGEMENT_AUDIENCE
    body = put.body["properties"]
    assert body["modelType"] == "custom_model"
    assert body["modelUri"] == "azureml://jobs/batchjob-00000007/outputs/model"
    assert body["tags"] == {
        "retrain_model": "co2",
        "run_key": "co2-aaaaaaaaaaaaaaaa",
        "job": "batchjob-00000007",
        "snapshot_id": "aaaaaaaaaaaaaaaa",
        "trigger": "new data: co2/2024-06.csv",
        "code_version": "1.4.0",
        "mase": "0.42",
        "gate": "passed",
    }
    properties = body["properties"]
    assert properties["retrain_artifact_uri"] == (
        "azureml://datastores/workspaceblobstore/paths/retrain/co2-aaaaaaaaaaaaaaaa/model/"
    )
    assert properties["retrain_pipeline_sha256"] == "ab" * 32
    assert properties["retrain_code_version"] == "1.4.0"
    assert properties["retrain_lineage_complete"] == "true"
    assert json.loads(properties["retrain_lineage"]) == lineage(
        "co2-aaaaaaaaaaaaaaaa", "batchjob-00000007"
    )
    assert version.version == 1
    assert version.artifact_uri == properties["retrain_artifact_uri"]
    assert version.lineage["pipeline_run_id"] == "batchjob-00000007"
    assert version.tags["run_key"] == "co2-aaaaaaaaaaaaaaaa"


def test_versions_are_read_back_from_the_workspace(registry: AzureMLModelRegistry) -> None:
    assert registry.list_versions("co2") == []
    first = register(registry, "co2-aaaaaaaaaaaaaaaa", "job-a")
    second = register(registry, "co2-bbbbbbbbbbbbbbbb", "job-b")

    listed = registry.list_versions("co2")

    assert [v.version for v in listed] == [1, 2]
    assert listed == [first, second]
    assert registry.get_version("co2", 2) == second
    with pytest.raises(NotFound):
        registry.get_version("co2", 3)


def test_registering_a_run_key_again_returns_its_version(
    registry: AzureMLModelRegistry, fake: FakeAzureML
) -> None:
    first = register(registry, "co2-aaaaaaaaaaaaaaaa", "job-a")
    puts = len(fake.calls("models.put"))

    again = register(registry, "co2-aaaaaaaaaaaaaaaa", "job-a")

    assert again == first
    assert len(fake.calls("models.put")) == puts


def test_a_large_lineage_is_summarised(registry: AzureMLModelRegistry, fake: FakeAzureML) -> None:
    folds = [{"origin": f"fold {m}", "mase": 0.5, "errors": [0.123456789] * 48} for m in range(30)]
    metrics = {"schema": 2, "candidate": {"backtest": {"mase": 0.5}, "folds": folds}}

    version = register(registry, "co2-aaaaaaaaaaaaaaaa", "job-a", metrics=metrics)

    properties = fake.calls("models.put")[-1].body["properties"]["properties"]
    assert properties["retrain_lineage_complete"] == "false"
    assert len(properties["retrain_lineage"]) <= 8000
    assert version.lineage["metrics"] == {"schema": 2, "candidate": {"backtest": {"mase": 0.5}}}
    assert version.lineage["metrics_uri"].endswith("/metrics/")


def test_registration_is_retried_after_throttling(
    registry: AzureMLModelRegistry, fake: FakeAzureML, sleeps: Sleeps
) -> None:
    fake.inject("models.put", throttled(retry_after=3))

    version = register(registry, "co2-aaaaaaaaaaaaaaaa", "job-a")

    assert sleeps == [3.0]
    assert version.version == 1


def test_a_lost_registration_answer_is_found_not_repeated(
    registry: AzureMLModelRegistry, fake: FakeAzureML
) -> None:
    fake.inject("models.put", Fault(status=500, processed=True))

    version = register(registry, "co2-aaaaaaaaaaaaaaaa", "job-a")

    assert version.version == 1
    assert sorted(fake.models["co2"]) == [1]


def test_a_rejected_registration_raises(registry: AzureMLModelRegistry, fake: FakeAzureML) -> None:
    fake.inject("models.put", Fault(status=403, message="not authorised"))

    with pytest.raises(RegistryError, match="403"):
        register(registry, "co2-aaaaaaaaaaaaaaaa", "job-a")


def test_a_version_taken_by_a_concurrent_registration_is_a_conflict(
    registry: AzureMLModelRegistry, fake: FakeAzureML
) -> None:
    register(registry, "co2-aaaaaaaaaaaaaaaa", "job-a")
    # Another writer overwrites version 2 between our PUT and its answer.
    real_put = fake._version_put

    def racing_put(request: Any, name: str, version: str) -> Any:
        answer = real_put(request, name, version)
        fake.models[name][int(version)]["properties"]["tags"]["run_key"] = "co2-cccccccccccccccc"
        return answer

    fake._routes = [(*r[:4], racing_put) if r[3] == "models.put" else r for r in fake._routes]

    with pytest.raises(ConflictError, match="concurrently"):
        register(registry, "co2-bbbbbbbbbbbbbbbb", "job-b")


def test_set_alias_keeps_the_pointer_in_the_state_store_and_mirrors_a_tag(
    registry: AzureMLModelRegistry, fake: FakeAzureML, state: FakeStateStore
) -> None:
    register(registry, "co2-aaaaaaaaaaaaaaaa", "job-a")
    register(registry, "co2-bbbbbbbbbbbbbbbb", "job-b")
    unset = registry.get_alias("co2", "production")
    assert (unset.version, unset.etag) == (None, None)

    first = registry.set_alias("co2", "production", 1, etag=None)
    assert state.get("registry/co2/aliases/production.json")[0]["version"] == 1
    assert fake.models["co2"][1]["properties"]["tags"]["production"] == "true"

    puts_before = len(fake.calls("models.put"))
    second = registry.set_alias("co2", "production", 2, etag=first.etag)

    assert registry.get_alias("co2", "production").version == 2
    assert fake.models["co2"][2]["properties"]["tags"]["production"] == "true"
    assert "production" not in fake.models["co2"][1]["properties"]["tags"]
    tagging = fake.calls("models.put")[puts_before:]
    assert [c.path.rsplit("/", 1)[-1] for c in tagging] == ["2", "1"]  # new first, then old
    assert tagging[0].body["properties"]["modelUri"] == "azureml://jobs/job-b/outputs/model"
    assert second.version == 2


def test_set_alias_is_compare_and_swap(registry: AzureMLModelRegistry) -> None:
    register(registry, "co2-aaaaaaaaaaaaaaaa", "job-a")
    register(registry, "co2-bbbbbbbbbbbbbbbb", "job-b")
    first = registry.set_alias("co2", "production", 1, etag=None)
    registry.set_alias("co2", "production", 2, etag=first.etag)

    with pytest.raises(ConflictError):
        registry.set_alias("co2", "production", 1, etag=first.etag)
    with pytest.raises(NotFound):
        registry.set_alias("co2", "production", 9, etag=None)


def test_a_failed_mirror_leaves_the_alias_moved_and_repair_fixes_the_tags(
    registry: AzureMLModelRegistry, fake: FakeAzureML
) -> None:
    register(registry, "co2-aaaaaaaaaaaaaaaa", "job-a")
    register(registry, "co2-bbbbbbbbbbbbbbbb", "job-b")
    first = registry.set_alias("co2", "production", 1, etag=None)
    fake.inject("models.put", *[Fault(status=403, message="denied")])

    moved = registry.set_alias("co2", "production", 2, etag=first.etag)

    assert moved.version == 2 and registry.get_alias("co2", "production").version == 2
    assert fake.models["co2"][1]["properties"]["tags"]["production"] == "true"  # stale
    assert "production" not in fake.models["co2"][2]["properties"]["tags"]

    changes = registry.repair_mirror("co2")

    assert changes == {2: "tagged", 1: "untagged"}
    assert fake.models["co2"][2]["properties"]["tags"]["production"] == "true"
    assert "production" not in fake.models["co2"][1]["properties"]["tags"]
    assert registry.repair_mirror("co2") == {}


def test_repair_removes_a_stray_tag_when_no_alias_is_set(
    registry: AzureMLModelRegistry, fake: FakeAzureML
) -> None:
    register(registry, "co2-aaaaaaaaaaaaaaaa", "job-a")
    fake.models["co2"][1]["properties"]["tags"]["production"] = "true"

    assert registry.repair_mirror("co2") == {1: "untagged"}
