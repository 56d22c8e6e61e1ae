"""`python -m deploy.publish` against an in-memory Azure ML workspace at the HTTP level.

The real azure-ai-ml / azure-storage-blob clients run unchanged; only the azure-core
transport is ours (tests/deploy/fake_arm.py). Bodies are checked against the shapes
azure-ai-ml 1.35.2 was captured sending (shared/reference/sdk-requests/out_deploy.json,
out_comp.json).
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from deploy.plan import PIPELINE_DEFS, build_plan, build_plans
from deploy.publish import EXIT_AZURE, EXIT_OK, EXIT_USAGE, main
from tests.deploy.fake_arm import FakeTransport, FakeWorkspace, Recorded
from tests.fake_entra import FakeCredential

ROOT = Path(__file__).resolve().parents[2]
MANAGEMENT = "https://management.azure.com"
STORAGE = "https://storage.azure.com"


class Published:
    def __init__(self, workspace: FakeWorkspace, rc: int, out: str) -> None:
        self.workspace = workspace
        self.rc = rc
        self.lines = out.splitlines()

    def status(self) -> dict[str, str]:
        """``{"component arima_prep@...": "created", ...}`` from the output lines."""
        return dict(line.rsplit(": ", 1) for line in self.lines)


def publish(workspace: FakeWorkspace, *extra: str, definitions: Path | None = None) -> Published:
    out = io.StringIO()
    argv = [
        "--subscription",
        workspace.subscription,
        "--resource-group",
        workspace.resource_group,
        "--workspace",
        workspace.workspace,
        *extra,
    ]
    if definitions is not None:
        argv += ["--definitions", str(definitions)]
    rc = main(argv, environ={}, credential=FakeCredential(), transport=workspace.transport, out=out)
    return Published(workspace, rc, out.getvalue())


def new_workspace(**kwargs: Any) -> FakeWorkspace:
    return FakeWorkspace(FakeTransport(), **kwargs)


def arm_path(request: Recorded, workspace: FakeWorkspace) -> str:
    """The request path relative to the workspace (api-version and ids left out)."""
    return request.path.removeprefix(workspace.arm_id)


def puts(workspace: FakeWorkspace) -> list[str]:
    return [
        arm_path(r, workspace) for r in workspace.transport.calls("PUT", "management.azure.com")
    ]


def key_tree(value: Any, *, leaves: frozenset[str] = frozenset({"tags", "settings"})) -> Any:
    """The nested key structure of a JSON body (values dropped)."""
    if isinstance(value, dict):
        return {
            key: (None if key in leaves else key_tree(item, leaves=leaves))
            for key, item in value.items()
        }
    return None


# Captured from azure-ai-ml 1.35.2 (sdk-requests/out_deploy.json, the deployment PUT).
CAPTURED_DEPLOYMENT_PUT = {
    "location": "eastus2",
    "tags": {},
    "properties": {
        "deploymentConfiguration": {
            "settings": {"default_compute": "cpu-cluster", "continue_on_step_failure": False},
            "componentId": {"assetId": "/subscriptions/...", "referenceType": "Id"},
            "deploymentConfigurationType": "PipelineComponent",
        },
        "description": "retraining pipeline",
        "errorThreshold": -1,
        "maxConcurrencyPerInstance": 1,
        "miniBatchSize": 10,
        "outputFileName": "predictions.csv",
    },
}
# Keys of the captured pipeline-component PUT (sdk-requests/out_comp.json).
CAPTURED_PIPELINE_SPEC_KEYS = {
    "name",
    "description",
    "version",
    "display_name",
    "inputs",
    "outputs",
    "type",
    "jobs",
}
CAPTURED_PIPELINE_NODE_KEYS = {"name", "type", "inputs", "outputs", "_source", "componentId"}


@pytest.fixture(scope="module")
def first() -> Published:
    """One publish into an empty workspace, shared by the assertions about it."""
    return publish(new_workspace())


# ------------------------------------------------------------------ first publish


def test_first_publish_creates_every_resource(first):
    plan, family = build_plans(
        endpoint="retrain-pipeline", deployment="retrain", compute="cpu-cluster"
    )
    assert first.rc == EXIT_OK
    env = plan.environment
    expected = {f"environment {env.name}@{env.version}": "created"}
    for component in plan.components + family.components:
        expected[f"code {component.code.name}@{component.code.version}"] = "created"
        expected[f"component {component.name}@{component.version}"] = "created"
    for pipeline, endpoint in ((plan, "retrain-pipeline"), (family, "retrain-pipeline-family")):
        expected[f"pipeline-component {pipeline.pipeline.name}@{pipeline.pipeline.version}"] = (
            "created"
        )
        expected[f"batch-endpoint {endpoint}"] = "created"
        expected[f"deployment {endpoint}/retrain"] = "created"
        expected[f"default-deployment {endpoint} -> retrain"] = "updated"
    assert first.status() == expected
    assert len(first.lines) == len(expected)  # shared resources (prep, environment) once
    assert first.workspace.transport.unrouted == []


def test_first_publish_puts_each_resource_in_dependency_order(first):
    plan, family = build_plans(
        endpoint="retrain-pipeline", deployment="retrain", compute="cpu-cluster"
    )
    env = plan.environment
    assert family.environment == env
    assert family.pipeline.name == "arima_retrain_family"
    assert [name for _, name in family.pipeline.steps] == ["arima_prep", "arima_fit_shards"]
    expected = [f"/environments/{env.name}/versions/{env.version}"]
    for component in plan.components:
        expected.append(f"/codes/{component.code.name}/versions/{component.code.version}")
        expected.append(f"/components/{component.name}/versions/{component.version}")
    expected += [
        f"/components/arima_retrain/versions/{plan.pipeline.version}",
        "/batchEndpoints/retrain-pipeline",
        "/batchEndpoints/retrain-pipeline/deployments/retrain",
        "/batchEndpoints/retrain-pipeline",  # the default deployment
    ]
    fit = family.component("arima_fit_shards")
    assert fit.code.folder == plan.component("arima_train").code.folder
    expected += [
        f"/codes/{fit.code.name}/versions/{fit.code.version}",
        f"/components/{fit.name}/versions/{fit.version}",
        f"/components/arima_retrain_family/versions/{family.pipeline.version}",
        "/batchEndpoints/retrain-pipeline-family",
        "/batchEndpoints/retrain-pipeline-family/deployments/retrain",
        "/batchEndpoints/retrain-pipeline-family",
    ]
    assert puts(first.workspace) == expected
    # Named components only: the steps reference the registered versions, so nothing
    # anonymous is registered behind them.
    assert "azureml_anonymous" not in first.workspace.names("components")


def test_every_call_carries_the_token_for_its_audience(first):
    requests = first.workspace.transport.requests
    arm = [r for r in requests if r.host == "management.azure.com"]
    blob = [r for r in requests if r.host == first.workspace.blob_host]
    assert arm and blob
    assert {r.audience for r in arm} == {MANAGEMENT}
    assert {r.audience for r in blob} == {STORAGE}
    assert all(r.url.startswith("https://") for r in requests)
    # Every ARM call names an api-version (which one is the SDK's business).
    assert all(r.query.get("api-version") for r in arm)


def test_component_code_is_uploaded_to_the_default_datastore_and_registered(first):
    workspace = first.workspace
    plan = build_plan(endpoint="retrain-pipeline", deployment="retrain", compute="cpu-cluster")
    for component in plan.components:
        code = component.code
        for relative in code.files:
            blob = f"{workspace.container}/{code.blob_prefix}/{relative}"
            assert workspace.blobs[blob] == code.source(relative).read_bytes()
        asset = workspace.get(workspace.asset_id("codes", code.name, code.version))
        assert asset is not None
        assert asset["properties"]["codeUri"] == (
            f"https://{workspace.blob_host}/{workspace.container}/{code.blob_prefix}"
        )
        assert asset["properties"]["tags"] == {"content_sha256": code.sha256}
        spec = workspace.get(workspace.asset_id("components", component.name, component.version))
        assert spec is not None
        component_spec = spec["properties"]["componentSpec"]
        code_id = workspace.asset_id("codes", code.name, code.version)
        env_id = workspace.asset_id("environments", plan.environment.name, plan.environment.version)
        assert component_spec["code"] == f"azureml:{code_id}"
        assert component_spec["environment"] == f"azureml:{env_id}"
    blob_puts = first.workspace.transport.calls("PUT", workspace.blob_host)
    assert {r.header("x-ms-blob-type") for r in blob_puts} == {"BlockBlob"}


def test_the_evaluate_code_carries_its_additional_include_beside_its_own_files(first):
    """evaluate.yml includes the shared scoring package: its files are uploaded inside the
    evaluate code asset under scoring/, beside evaluate.py, as azure-ai-ml merges them, and
    the registered component names no additional_includes (its code is already merged)."""
    workspace = first.workspace
    plan = build_plan(endpoint="retrain-pipeline", deployment="retrain", compute="cpu-cluster")
    code = plan.component("arima_evaluate").code
    shared = Path(__file__).resolve().parents[2] / "pipeline_defs/components/train/src/scoring"
    assert code.includes == (shared,)
    assert {"evaluate.py", "evaluation/metrics.py", "scoring/metrics.py"} <= set(code.files)
    assert "scoring/__init__.py" in code.files and "scoring/backtest.py" in code.files
    blob = f"{workspace.container}/{code.blob_prefix}/scoring/metrics.py"
    assert workspace.blobs[blob] == (shared / "metrics.py").read_bytes()
    spec = workspace.get(
        workspace.asset_id("components", "arima_evaluate", plan.component("arima_evaluate").version)
    )
    assert spec is not None
    assert not spec["properties"]["componentSpec"].get("additional_includes")
    assert not spec["properties"]["componentSpec"].get("additionalIncludes")


def test_environment_is_the_conda_file_on_the_components_image(first):
    workspace = first.workspace
    plan = build_plan(endpoint="retrain-pipeline", deployment="retrain", compute="cpu-cluster")
    env = plan.environment
    (request,) = [r for r in workspace.transport.calls("PUT") if "/environments/" in r.path]
    properties = request.json["properties"]
    assert properties["image"] == "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"
    assert "statsmodels==" in properties["condaFile"]
    assert properties["tags"] == {"content_sha256": env.sha256}


def test_pipeline_component_body_has_the_captured_shape(first):
    workspace = first.workspace
    plan = build_plan(endpoint="retrain-pipeline", deployment="retrain", compute="cpu-cluster")
    (request,) = [
        r for r in workspace.transport.calls("PUT") if "/components/arima_retrain/" in r.path
    ]
    body = request.json
    assert body["properties"]["isAnonymous"] is False
    spec = body["properties"]["componentSpec"]
    assert set(spec) >= CAPTURED_PIPELINE_SPEC_KEYS
    assert spec["type"] == "pipeline"
    assert spec["version"] == plan.pipeline.version
    assert set(spec["jobs"]) == {"prep", "train", "evaluate"}
    for node, name in plan.pipeline.steps:
        job = spec["jobs"][node]
        assert set(job) >= CAPTURED_PIPELINE_NODE_KEYS
        version = plan.component(name).version
        assert job["componentId"] == workspace.asset_id("components", name, version)
    assert spec["jobs"]["evaluate"]["inputs"]["model"]["value"] == (
        "${{parent.jobs.train.outputs.model}}"
    )
    # Pipeline inputs stay what the service supplies (types, literal defaults as strings).
    assert spec["inputs"]["data"] == {"type": "uri_folder"}
    assert spec["inputs"]["season_length"] == {"type": "integer", "default": "12"}
    # Inputs a run may omit (the first model has no champion) are optional on the component,
    # typed as the evaluate step declares them; the step still binds them.
    assert spec["inputs"]["champion"] == {"type": "uri_folder", "optional": True}
    assert spec["inputs"]["run_key"] == {"type": "string", "optional": True}
    assert spec["jobs"]["evaluate"]["inputs"]["champion"]["value"] == (
        "${{parent.inputs.champion}}"
    )


def test_the_family_pipeline_is_its_own_component_with_its_optional_inputs_declared(first):
    workspace = first.workspace
    family = build_plans(endpoint="retrain-pipeline", deployment="retrain", compute="cpu-cluster")[
        1
    ]
    (request,) = [
        r for r in workspace.transport.calls("PUT") if "/components/arima_retrain_family/" in r.path
    ]
    spec = request.json["properties"]["componentSpec"]
    assert spec["type"] == "pipeline" and set(spec["jobs"]) == {"prep", "fit"}
    fit = family.component("arima_fit_shards")
    assert spec["jobs"]["fit"]["componentId"] == workspace.asset_id(
        "components", "arima_fit_shards", fit.version
    )
    assert spec["jobs"]["fit"]["type"] == "parallel"
    # what the service sends: series_columns always; previous and champions only when the
    # family has a successful run / production models
    assert spec["inputs"]["series_columns"]["type"] == "string"
    assert spec["inputs"]["backtest_folds"] == {"type": "integer", "default": "0"}
    assert spec["inputs"]["backtest_horizon"] == {"type": "integer", "default": "0"}
    assert spec["inputs"]["rerun_salt"] == {"type": "string", "optional": True}
    for name in ("previous", "champions"):
        assert spec["inputs"][name] == {"type": "uri_folder", "optional": True}
        assert spec["jobs"]["fit"]["inputs"][name]["value"] == f"${{{{parent.inputs.{name}}}}}"


def test_deployment_put_has_the_captured_shape_and_follows_the_long_running_operation(first):
    workspace = first.workspace
    plan = build_plan(endpoint="retrain-pipeline", deployment="retrain", compute="cpu-cluster")
    requests = workspace.transport.requests
    index = next(
        i
        for i, r in enumerate(requests)
        if r.method == "PUT" and r.path.endswith("/deployments/retrain")
    )
    put = requests[index]
    assert key_tree(put.json) == key_tree(CAPTURED_DEPLOYMENT_PUT)
    configuration = put.json["properties"]["deploymentConfiguration"]
    assert configuration["componentId"] == {
        "assetId": workspace.asset_id("components", "arima_retrain", plan.pipeline.version),
        "referenceType": "Id",
    }
    assert configuration["settings"] == {
        "default_compute": "cpu-cluster",
        "continue_on_step_failure": False,
    }
    assert put.json["location"] == workspace.location
    assert put.json["tags"] == {"content_sha256": plan.deployment.sha256}
    # 201 + Azure-AsyncOperation: the SDK polls the operation until it succeeds, then
    # reads the deployment back.
    after = [(r.method, r.path) for r in requests[index + 1 : index + 4]]
    assert [m for m, _ in after] == ["GET", "GET", "GET"]
    assert re.search(r"/locations/eastus2/mfeOperationsStatus/[^/]+$", after[0][1])
    assert after[1][1] == after[0][1]
    assert after[2][1] == put.path
    stored = workspace.get(put.path)
    assert stored is not None
    assert stored["properties"]["provisioningState"] == "Succeeded"


def test_the_deployment_becomes_the_endpoints_default(first):
    workspace = first.workspace
    endpoint_puts = [
        r
        for r in workspace.transport.calls("PUT")
        if r.path.endswith("/batchEndpoints/retrain-pipeline")
    ]
    create, make_default = (r.json for r in endpoint_puts)
    assert create["properties"]["authMode"] == "aadToken"
    assert "defaults" not in create["properties"]
    assert make_default["properties"]["defaults"] == {"deploymentName": "retrain"}
    endpoint = workspace.get(f"{workspace.arm_id}/batchEndpoints/retrain-pipeline")
    assert endpoint is not None
    assert endpoint["properties"]["defaults"] == {"deploymentName": "retrain"}
    assert endpoint["properties"]["scoringUri"].endswith(".inference.ml.azure.com/jobs")


# ------------------------------------------------------------------ idempotence


def test_second_publish_changes_nothing_and_says_so():
    workspace = new_workspace()
    assert publish(workspace).rc == EXIT_OK
    workspace.transport.clear()

    again = publish(workspace)

    assert again.rc == EXIT_OK
    assert set(again.status().values()) == {"unchanged"}
    # environment, 3 codes, 3 components, pipeline, ep, dep, default; then the family's
    # fit code and component, pipeline, ep, dep, default
    assert len(again.lines) == 11 + 6
    assert workspace.transport.calls("PUT") == []
    assert workspace.transport.calls("POST") == []
    assert workspace.transport.calls(host=workspace.blob_host) == []


def test_a_changed_component_file_makes_a_new_version_and_updates_the_deployment(tmp_path):
    definitions = tmp_path / "pipeline_defs"
    shutil.copytree(
        PIPELINE_DEFS, definitions, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    workspace = new_workspace()
    before = build_plan(
        definitions, endpoint="retrain-pipeline", deployment="retrain", compute="cpu-cluster"
    )
    assert publish(workspace, definitions=definitions).rc == EXIT_OK
    train_py = definitions / "components" / "train" / "src" / "train.py"
    train_py.write_text(train_py.read_text() + "\n# a changed line\n")
    after = build_plan(
        definitions, endpoint="retrain-pipeline", deployment="retrain", compute="cpu-cluster"
    )
    workspace.transport.clear()

    second = publish(workspace, definitions=definitions)
    family = build_plans(
        definitions, endpoint="retrain-pipeline", deployment="retrain", compute="cpu-cluster"
    )[1]
    fit = family.component("arima_fit_shards")  # its code is the train folder too

    assert second.rc == EXIT_OK
    train_before, train_after = before.component("arima_train"), after.component("arima_train")
    assert train_after.version != train_before.version
    assert second.status() == {
        f"environment arima-train-env@{after.environment.version}": "unchanged",
        f"code arima_prep_code@{after.component('arima_prep').code.version}": "unchanged",
        f"component arima_prep@{after.component('arima_prep').version}": "unchanged",
        f"code arima_train_code@{train_after.code.version}": "created",
        f"component arima_train@{train_after.version}": "created",
        f"code arima_evaluate_code@{after.component('arima_evaluate').code.version}": "unchanged",
        f"component arima_evaluate@{after.component('arima_evaluate').version}": "unchanged",
        f"pipeline-component arima_retrain@{after.pipeline.version}": "created",
        "batch-endpoint retrain-pipeline": "unchanged",
        "deployment retrain-pipeline/retrain": "updated",
        "default-deployment retrain-pipeline -> retrain": "unchanged",
        f"code arima_fit_shards_code@{fit.code.version}": "created",
        f"component arima_fit_shards@{fit.version}": "created",
        f"pipeline-component arima_retrain_family@{family.pipeline.version}": "created",
        "batch-endpoint retrain-pipeline-family": "unchanged",
        "deployment retrain-pipeline-family/retrain": "updated",
        "default-deployment retrain-pipeline-family -> retrain": "unchanged",
    }
    assert puts(workspace) == [
        f"/codes/arima_train_code/versions/{train_after.code.version}",
        f"/components/arima_train/versions/{train_after.version}",
        f"/components/arima_retrain/versions/{after.pipeline.version}",
        "/batchEndpoints/retrain-pipeline/deployments/retrain",
        f"/codes/arima_fit_shards_code/versions/{fit.code.version}",
        f"/components/arima_fit_shards/versions/{fit.version}",
        f"/components/arima_retrain_family/versions/{family.pipeline.version}",
        "/batchEndpoints/retrain-pipeline-family/deployments/retrain",
    ]
    deployment_put, _ = [r for r in workspace.transport.calls("PUT") if "/deployments/" in r.path]
    assert deployment_put.json["properties"]["deploymentConfiguration"]["componentId"][
        "assetId"
    ] == (workspace.asset_id("components", "arima_retrain", after.pipeline.version))
    # Old versions stay registered (a rollback is a deployment pointing back at them).
    assert sorted(workspace.names("components")["arima_train"]) == sorted(
        [train_before.version, train_after.version]
    )


# ------------------------------------------------------------------ CLI contract


def test_dry_run_prints_the_plan_without_any_azure_client():
    out = io.StringIO()
    rc = main(["--dry-run"], environ={}, out=out)  # no credential, no transport, no workspace
    plan = build_plan(endpoint="retrain-pipeline", deployment="retrain", compute="cpu-cluster")
    assert rc == EXIT_OK
    text = out.getvalue()
    assert "nothing is sent to Azure" in text
    for component in plan.components:
        assert f"component {component.name}@{component.version}" in text
    assert f"pipeline-component arima_retrain@{plan.pipeline.version}" in text
    assert "deployment retrain-pipeline/retrain" in text


def test_workspace_comes_from_the_environment_when_no_flags_are_given():
    workspace = new_workspace()
    environ = {
        "AZUREML_SUBSCRIPTION_ID": workspace.subscription,
        "AZUREML_RESOURCE_GROUP": workspace.resource_group,
        "AZUREML_WORKSPACE": workspace.workspace,
    }
    out = io.StringIO()
    rc = main(
        ["--endpoint", "ep2", "--deployment", "d2"],
        environ=environ,
        credential=FakeCredential(),
        transport=workspace.transport,
        out=out,
    )
    assert rc == EXIT_OK
    assert "deployment ep2/d2: created" in out.getvalue()
    assert workspace.get(f"{workspace.arm_id}/batchEndpoints/ep2/deployments/d2") is not None


def test_missing_workspace_settings_are_a_usage_error(capsys):
    rc = main([], environ={"AZUREML_WORKSPACE": "ws"}, out=io.StringIO())
    assert rc == EXIT_USAGE
    err = capsys.readouterr().err
    assert "--subscription (or $AZUREML_SUBSCRIPTION_ID)" in err
    assert "--resource-group (or $AZUREML_RESOURCE_GROUP)" in err
    assert "--workspace" not in err


def test_a_missing_compute_fails_before_anything_is_created(capsys):
    workspace = new_workspace(computes=())
    result = publish(workspace)
    assert result.rc == EXIT_AZURE
    assert "compute 'cpu-cluster' does not exist" in capsys.readouterr().err
    assert workspace.transport.calls("PUT") == []


def test_an_azure_error_is_reported_with_exit_code_1(capsys):
    workspace = new_workspace()
    # The endpoint PUT is refused (e.g. the identity lacks the role for it).
    workspace.transport.route(
        "PUT",
        r"management\.azure\.com/.*/batchEndpoints/[^/]+",
        lambda request, match: _forbidden(),
        first=True,
    )
    result = publish(workspace)
    assert result.rc == EXIT_AZURE
    assert "AuthorizationFailed" in capsys.readouterr().err
    # What was done before the failure was reported, line by line.
    assert (
        result.status()[f"pipeline-component arima_retrain@{_plan().pipeline.version}"] == "created"
    )
    assert not any(line.startswith("batch-endpoint") for line in result.lines)


def test_a_pipeline_that_cannot_be_published_is_a_usage_error(tmp_path, capsys):
    definitions = tmp_path / "pipeline_defs"
    shutil.copytree(PIPELINE_DEFS, definitions, ignore=shutil.ignore_patterns("__pycache__"))
    pipeline = definitions / "pipeline.yml"
    pipeline.write_text(
        pipeline.read_text().replace("./components/train/train.yml", "azureml:arima_train:1")
    )
    rc = main(["--dry-run", "--definitions", str(definitions)], environ={}, out=io.StringIO())
    assert rc == EXIT_USAGE
    assert "job 'train' must name a local component YAML" in capsys.readouterr().err


def test_runs_as_a_module_with_help():
    result = subprocess.run(
        [sys.executable, "-m", "deploy.publish", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0
    for flag in (
        "--subscription",
        "--resource-group",
        "--workspace",
        "--endpoint",
        "--deployment",
        "--compute",
        "--dry-run",
    ):
        assert flag in result.stdout
    assert "examples:" in result.stdout
    assert "AZUREML_WORKSPACE" in result.stdout


def _plan():
    return build_plan(endpoint="retrain-pipeline", deployment="retrain", compute="cpu-cluster")


def _forbidden():
    from tests.deploy.fake_arm import arm_error

    return arm_error(403, "AuthorizationFailed", "The client does not have authorization")


def test_an_endpoint_made_by_hand_is_taken_over_without_losing_its_default_until_the_end():
    workspace = new_workspace()
    endpoint_id = f"{workspace.arm_id}/batchEndpoints/retrain-pipeline"
    workspace.resources[endpoint_id.lower()] = {
        "id": endpoint_id,
        "name": "retrain-pipeline",
        "type": "Microsoft.MachineLearningServices/workspaces/batchEndpoints",
        "location": workspace.location,
        "tags": {"owner": "ops"},
        "properties": {
            "description": "made in the studio",
            "properties": {},
            "authMode": "AADToken",
            "defaults": {"deploymentName": "hand-made"},
            "scoringUri": "https://retrain-pipeline.eastus2.inference.ml.azure.com/jobs",
            "provisioningState": "Succeeded",
        },
    }

    result = publish(workspace)

    assert result.rc == EXIT_OK
    status = result.status()
    assert status["batch-endpoint retrain-pipeline"] == "updated"
    assert status["deployment retrain-pipeline/retrain"] == "created"
    assert status["default-deployment retrain-pipeline -> retrain"] == "updated"
    update, make_default = (
        r.json for r in workspace.transport.calls("PUT") if r.path == endpoint_id
    )
    # The description update keeps the existing default and tags; only the last step moves it.
    assert update["properties"]["defaults"] == {"deploymentName": "hand-made"}
    assert update["tags"]["owner"] == "ops"
    assert make_default["properties"]["defaults"] == {"deploymentName": "retrain"}
    assert make_default["tags"]["owner"] == "ops"


# ------------------------------------------------------------------ datastores


def test_datastores_for_the_apps_containers_are_created_identity_based_then_left_alone():
    workspace = new_workspace()
    first = publish(workspace, "--storage-account", "retrainsa")

    assert first.rc == EXIT_OK
    assert first.status()["datastore trainingdata"] == "created"
    assert first.status()["datastore retrainartifacts"] == "created"
    puts = {
        r.path.rsplit("/", 1)[1]: r.json["properties"]
        for r in workspace.transport.calls("PUT")
        if "/datastores/" in r.path
    }
    assert puts["trainingdata"]["accountName"] == "retrainsa"
    assert puts["trainingdata"]["containerName"] == "data"
    assert puts["retrainartifacts"]["containerName"] == "retrain-artifacts"
    for properties in puts.values():
        assert properties["datastoreType"] == "AzureBlob"
        # identity-based: no account key or SAS is stored in the workspace
        assert properties["credentials"]["credentialsType"] == "None"
    assert {r.audience for r in workspace.transport.calls("PUT") if "/datastores/" in r.path} == {
        MANAGEMENT
    }

    workspace.transport.clear()
    again = publish(workspace, "--storage-account", "retrainsa")
    assert again.status()["datastore trainingdata"] == "unchanged"
    assert not [r for r in workspace.transport.calls("PUT") if "/datastores/" in r.path]

    moved = publish(workspace, "--storage-account", "retrainsa", "--data-container", "incoming")
    assert moved.status()["datastore trainingdata"] == "updated"
    assert moved.status()["datastore retrainartifacts"] == "unchanged"


def test_dry_run_lists_the_datastores_it_would_create():
    out = io.StringIO()
    assert main(["--dry-run", "--storage-account", "retrainsa"], environ={}, out=out) == EXIT_OK
    assert "datastore trainingdata -> retrainsa/data (identity-based)" in out.getvalue()
