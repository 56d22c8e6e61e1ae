"""Make an Azure ML workspace match a Plan (the SDK calls; azure.ai.ml imported lazily).

Each ``ensure_*`` function GETs the resource version the plan names and creates it only
when it is missing (versions are content hashes, see deploy.plan); the deployment and the
endpoint, which have no versions, are compared through their ``content_sha256`` tag.
Each reports one Outcome: created, updated or unchanged.

Code upload, and why publish does it itself: for a component with a local ``code:``
folder, azure-ai-ml 1.35.2 lists code versions by hash, then POSTs
``codes/<uuid>/versions/1/startPendingUpload`` and uploads the files with its own
``BlobServiceClient`` built from the returned SAS URI (``_artifacts/_blob_storage_helper.py``),
which does not receive the transport given to ``MLClient``. So publish uploads each code
folder with azure-storage-blob to the workspace's default datastore (found with
``datastores.get_default()``; identity-based, the caller needs *Storage Blob Data
Contributor* on that account), registers it as a code asset (``PUT codes/<name>/versions/
<hash>``, plain ARM REST: azure-ai-ml has no public code-asset API) and gives the
component that asset's ARM id, which the SDK passes through without uploading anything.
Every call, blob uploads included, then goes through one transport, which tests replace.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from deploy.plan import (
    CONTENT_TAG,
    CodePlan,
    ComponentPlan,
    DatastorePlan,
    DeploymentPlan,
    EndpointPlan,
    EnvironmentPlan,
    Plan,
    PlanError,
)

if TYPE_CHECKING:
    from azure.ai.ml import MLClient
    from azure.core import PipelineClient
    from azure.core.credentials import TokenCredential
    from azure.core.pipeline.transport import HttpTransport

logger = logging.getLogger(__name__)

MANAGEMENT_URL = "https://management.azure.com"
MANAGEMENT_SCOPE = "https://management.azure.com/.default"
CODE_API_VERSION = "2023-04-01"  # what azure-ai-ml 1.35.2 uses for code assets

CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"


class PublishError(RuntimeError):
    """The workspace is not in a state publish can work with (the message says why)."""


@dataclass(frozen=True)
class Outcome:
    kind: str
    ref: str
    status: str

    def line(self) -> str:
        return f"{self.kind} {self.ref}: {self.status}"


Report = Callable[[Outcome], None]


@dataclass(frozen=True)
class Workspace:
    subscription: str
    resource_group: str
    name: str

    @property
    def arm_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.MachineLearningServices/workspaces/{self.name}"
        )

    def asset_id(self, kind: str, name: str, version: str) -> str:
        return f"{self.arm_id}/{kind}/{name}/versions/{version}"


@dataclass
class Clients:
    """The clients publish talks through; ``transport`` is shared by all of them."""

    workspace: Workspace
    ml: MLClient
    arm: PipelineClient
    credential: TokenCredential
    transport: HttpTransport | None


def connect(
    workspace: Workspace, credential: TokenCredential, transport: HttpTransport | None = None
) -> Clients:
    from azure.ai.ml import MLClient
    from azure.core import PipelineClient
    from azure.core.pipeline.policies import (
        BearerTokenCredentialPolicy,
        HeadersPolicy,
        RetryPolicy,
        UserAgentPolicy,
    )

    extra: dict[str, Any] = {"transport": transport} if transport is not None else {}
    ml = MLClient(
        credential, workspace.subscription, workspace.resource_group, workspace.name, **extra
    )
    arm = PipelineClient(
        MANAGEMENT_URL,
        policies=[
            HeadersPolicy(),
            UserAgentPolicy(sdk_moniker="retrain-publish"),
            RetryPolicy(),
            BearerTokenCredentialPolicy(credential, MANAGEMENT_SCOPE),
        ],
        **extra,
    )
    return Clients(workspace, ml, arm, credential, transport)


def publish(
    plan: Plan, clients: Clients, report: Report, *, done: set[str] | None = None
) -> list[Outcome]:
    """Apply the whole plan in dependency order; each outcome is reported as it happens.

    ``done``: resources already applied by this run (an earlier plan's: the family
    pipeline shares the environment and the prep component with the single-series one);
    they are neither asked for again nor reported twice. Updated in place."""
    outcomes: list[Outcome] = []
    done = set() if done is None else done

    def note(outcome: Outcome) -> None:
        outcomes.append(outcome)
        report(outcome)

    def first(key: str) -> bool:
        if key in done:
            return False
        done.add(key)
        return True

    if first(f"compute {plan.deployment.compute}"):
        check_compute(clients, plan.deployment.compute)
    for datastore in plan.datastores:
        if first(f"datastore {datastore.name}"):
            ensure_datastore(clients, datastore, note)
    environment_id = clients.workspace.asset_id(
        "environments", plan.environment.name, plan.environment.version
    )
    if first(f"environment {environment_id}"):
        environment_id = ensure_environment(clients, plan.environment, note)
    for component in plan.components:
        code_id = clients.workspace.asset_id("codes", component.code.name, component.code.version)
        if first(f"code {code_id}"):
            code_id = ensure_code(clients, component.code, note)
        if first(f"component {component.name}@{component.version}"):
            ensure_component(
                clients, component, environment_id=environment_id, code_id=code_id, report=note
            )
    pipeline_id = ensure_pipeline(clients, plan, note)
    ensure_endpoint(clients, plan.endpoint, note)
    ensure_deployment(clients, plan.deployment, pipeline_id=pipeline_id, report=note)
    ensure_default_deployment(clients, plan.deployment, note)
    return outcomes


def ensure_datastore(clients: Clients, plan: DatastorePlan, report: Report) -> None:
    """An identity-based blob datastore (no key or SAS stored in the workspace: jobs reach
    the container with the compute's or the invoker's identity)."""
    from azure.ai.ml.entities import AzureBlobDatastore

    existing = _get_or_none(lambda: clients.ml.datastores.get(plan.name))
    if (
        existing is not None
        and getattr(existing, "account_name", None) == plan.account
        and getattr(existing, "container_name", None) == plan.container
    ):
        report(Outcome("datastore", plan.name, UNCHANGED))
        return
    clients.ml.datastores.create_or_update(
        AzureBlobDatastore(
            name=plan.name,
            account_name=plan.account,
            container_name=plan.container,
            description="retraining service container (deploy.publish)",
        )
    )
    report(Outcome("datastore", plan.name, CREATED if existing is None else UPDATED))


def check_compute(clients: Clients, compute: str) -> None:
    """Fail before creating anything when the deployment's compute does not exist."""
    from azure.core.exceptions import ResourceNotFoundError

    try:
        clients.ml.compute.get(compute)
    except ResourceNotFoundError as error:
        raise PublishError(
            f"compute {compute!r} does not exist in workspace {clients.workspace.name!r}; "
            "create it first or pass --compute"
        ) from error


def ensure_environment(clients: Clients, plan: EnvironmentPlan, report: Report) -> str:
    from azure.ai.ml.entities import Environment

    ref = f"{plan.name}@{plan.version}"
    if _exists(lambda: clients.ml.environments.get(plan.name, version=plan.version)):
        report(Outcome("environment", ref, UNCHANGED))
    else:
        environment = Environment(
            name=plan.name,
            version=plan.version,
            image=plan.image,
            conda_file=str(plan.conda_file),
            description="The retraining pipeline's environment (pipeline_defs/environment)",
            tags={CONTENT_TAG: plan.sha256},
        )
        clients.ml.environments.create_or_update(environment)
        report(Outcome("environment", ref, CREATED))
    return clients.workspace.asset_id("environments", plan.name, plan.version)


def ensure_code(clients: Clients, plan: CodePlan, report: Report) -> str:
    """Upload a component's code folder and register it as a code asset, once per hash."""
    from azure.core.rest import HttpRequest

    code_id = clients.workspace.asset_id("codes", plan.name, plan.version)
    url = f"{MANAGEMENT_URL}{code_id}"
    ref = f"{plan.name}@{plan.version}"
    response = clients.arm.send_request(
        HttpRequest("GET", url, params={"api-version": CODE_API_VERSION})
    )
    if response.status_code == 200:
        report(Outcome("code", ref, UNCHANGED))
        return code_id
    if response.status_code != 404:
        response.raise_for_status()
    code_uri = upload_code(clients, plan)
    body = {
        "properties": {
            "codeUri": code_uri,
            "description": f"Code of component {plan.name.removesuffix('_code')}",
            "isAnonymous": False,
            "isArchived": False,
            "properties": {},
            "tags": {CONTENT_TAG: plan.sha256},
        }
    }
    response = clients.arm.send_request(
        HttpRequest("PUT", url, params={"api-version": CODE_API_VERSION}, json=body)
    )
    response.raise_for_status()
    report(Outcome("code", ref, CREATED))
    return code_id


def upload_code(clients: Clients, plan: CodePlan) -> str:
    """Upload the folder's files under ``plan.blob_prefix`` in the default datastore; return
    the folder's blob URL (the ``codeUri`` of the code asset)."""
    from azure.storage.blob import ContainerClient

    datastore: Any = clients.ml.datastores.get_default()
    account = getattr(datastore, "account_name", None)
    container_name = getattr(datastore, "container_name", None)
    if not account or not container_name:
        raise PublishError(
            f"the default datastore {datastore.name!r} is not an Azure Blob datastore; "
            "publish uploads component code there"
        )
    protocol = getattr(datastore, "protocol", None) or "https"
    endpoint = getattr(datastore, "endpoint", None) or "core.windows.net"
    account_url = f"{protocol}://{account}.blob.{endpoint}"
    extra: dict[str, Any] = {"transport": clients.transport} if clients.transport else {}
    container = ContainerClient(account_url, container_name, credential=clients.credential, **extra)
    try:
        for relative in plan.files:
            data = plan.source(relative).read_bytes()
            container.upload_blob(f"{plan.blob_prefix}/{relative}", data, overwrite=True)
            logger.debug("uploaded %s/%s", plan.blob_prefix, relative)
    finally:
        if clients.transport is None:
            container.close()
    return f"{account_url}/{container_name}/{plan.blob_prefix}"


def ensure_component(
    clients: Clients, plan: ComponentPlan, *, environment_id: str, code_id: str, report: Report
) -> str:
    from azure.ai.ml import load_component

    ref = f"{plan.name}@{plan.version}"
    component_id = clients.workspace.asset_id("components", plan.name, plan.version)
    if _exists(lambda: clients.ml.components.get(plan.name, version=plan.version)):
        report(Outcome("component", ref, UNCHANGED))
        return component_id
    component: Any = load_component(source=plan.yaml_path)
    component.version = plan.version
    component.environment = environment_id
    component.code = code_id  # an ARM id: the SDK uploads nothing
    if getattr(component, "additional_includes", None):
        # already merged into the uploaded code (CodePlan.files), as the SDK would merge them
        component.additional_includes = []
    component.tags = {**(component.tags or {}), CONTENT_TAG: plan.sha256}
    clients.ml.components.create_or_update(component)
    report(Outcome("component", ref, CREATED))
    return component_id


def ensure_pipeline(clients: Clients, plan: Plan, report: Report) -> str:
    """The pipeline component: pipeline.yml's steps bound to the registered components."""
    pipeline = plan.pipeline
    ref = f"{pipeline.name}@{pipeline.version}"
    pipeline_id = clients.workspace.asset_id("components", pipeline.name, pipeline.version)
    if _exists(lambda: clients.ml.components.get(pipeline.name, version=pipeline.version)):
        report(Outcome("pipeline-component", ref, UNCHANGED))
        return pipeline_id
    clients.ml.components.create_or_update(build_pipeline_component(plan))
    report(Outcome("pipeline-component", ref, CREATED))
    return pipeline_id


def build_pipeline_component(plan: Plan) -> Any:
    """pipeline.yml as a named pipeline component whose steps reference the registered
    component versions (``azureml:<name>:<version>``) instead of the local YAML files.

    azure-ai-ml turns a pipeline job into a component with ``PipelineJob._to_component()``
    (what the CLI does for ``job_definition`` deployments); its result is anonymous, so its
    inputs, outputs and jobs are copied into a named ``PipelineComponent``. Job-level parts
    of pipeline.yml (settings, output paths, experiment name) do not belong to a component:
    the deployment carries the settings, and each invoke names its output paths.
    """
    from azure.ai.ml import load_job
    from azure.ai.ml.entities import PipelineComponent

    pipeline = plan.pipeline
    overrides = [
        {f"jobs.{node}.component": f"azureml:{name}:{plan.component(name).version}"}
        for node, name in pipeline.steps
    ]
    job: Any = load_job(source=pipeline.yaml_path, params_override=overrides)
    draft = job._to_component()
    return PipelineComponent(
        name=pipeline.name,
        version=pipeline.version,
        display_name=job.display_name,
        description=job.description,
        inputs={**draft.inputs, **optional_step_inputs(plan, set(draft.inputs))},
        outputs=draft.outputs,
        jobs=draft.jobs,
        tags={CONTENT_TAG: pipeline.sha256},
    )


def optional_step_inputs(plan: Plan, declared: set[str]) -> dict[str, Any]:
    """Pipeline inputs the steps bind (``${{parent.inputs.X}}``) but pipeline.yml cannot
    declare, because a pipeline *job* has no optional inputs (e.g. ``champion``, absent
    for a model's first run): declared on the component as optional, with the type the
    step's own component YAML gives them, so an invoke may give or omit them."""
    import yaml
    from azure.ai.ml import Input

    document = yaml.safe_load(plan.pipeline.yaml_path.read_text())
    found: dict[str, Any] = {}
    for node, name in plan.pipeline.steps:
        declared_by_step = yaml.safe_load(plan.component(name).yaml_path.read_text())["inputs"]
        for step_input, binding in (document["jobs"][node].get("inputs") or {}).items():
            match = _PARENT_INPUT.fullmatch(str(binding).strip())
            if match is None or match.group(1) in declared:
                continue
            spec = declared_by_step[step_input]
            if not spec.get("optional"):
                raise PlanError(
                    f"step {node!r} binds {binding} to its required input {step_input!r}, "
                    "but pipeline.yml does not declare it"
                )
            found[match.group(1)] = Input(type=spec["type"], optional=True)
    return found


_PARENT_INPUT = re.compile(r"\$\{\{\s*parent\.inputs\.([A-Za-z_]\w*)\s*\}\}")


def ensure_endpoint(clients: Clients, plan: EndpointPlan, report: Report) -> None:
    from azure.ai.ml.entities import BatchEndpoint

    existing = _get_or_none(lambda: clients.ml.batch_endpoints.get(plan.name))
    if existing is not None and (existing.tags or {}).get(CONTENT_TAG) == plan.sha256:
        report(Outcome("batch-endpoint", plan.name, UNCHANGED))
        return
    current_default = _default_deployment(existing) if existing is not None else None
    endpoint = BatchEndpoint(
        name=plan.name,
        description=plan.description,
        tags={**((existing.tags or {}) if existing is not None else {}), CONTENT_TAG: plan.sha256},
        defaults={"deployment_name": current_default} if current_default else None,
    )
    clients.ml.batch_endpoints.begin_create_or_update(endpoint).result()
    report(Outcome("batch-endpoint", plan.name, CREATED if existing is None else UPDATED))


def ensure_deployment(
    clients: Clients, plan: DeploymentPlan, *, pipeline_id: str, report: Report
) -> None:
    from azure.ai.ml.entities import PipelineComponentBatchDeployment

    ref = f"{plan.endpoint}/{plan.name}"
    existing = _get_or_none(
        lambda: clients.ml.batch_deployments.get(plan.name, endpoint_name=plan.endpoint)
    )
    if existing is not None and (existing.tags or {}).get(CONTENT_TAG) == plan.sha256:
        report(Outcome("deployment", ref, UNCHANGED))
        return
    settings: dict[str, Any] = dict(plan.settings)  # continue_on_step_failure stays a bool
    deployment = PipelineComponentBatchDeployment(
        name=plan.name,
        endpoint_name=plan.endpoint,
        component=pipeline_id,
        settings=settings,
        description=plan.description,
        tags={CONTENT_TAG: plan.sha256},
    )
    clients.ml.batch_deployments.begin_create_or_update(deployment).result()
    report(Outcome("deployment", ref, CREATED if existing is None else UPDATED))


def ensure_default_deployment(clients: Clients, plan: DeploymentPlan, report: Report) -> None:
    from azure.ai.ml.entities import BatchEndpoint

    ref = f"{plan.endpoint} -> {plan.name}"
    endpoint = clients.ml.batch_endpoints.get(plan.endpoint)
    if _default_deployment(endpoint) == plan.name:
        report(Outcome("default-deployment", ref, UNCHANGED))
        return
    updated = BatchEndpoint(
        name=plan.endpoint,
        description=endpoint.description,
        tags=endpoint.tags,
        defaults={"deployment_name": plan.name},
    )
    clients.ml.batch_endpoints.begin_create_or_update(updated).result()
    report(Outcome("default-deployment", ref, UPDATED))


def _default_deployment(endpoint: Any) -> str | None:
    defaults = getattr(endpoint, "defaults", None)
    if defaults is None:
        return None
    if isinstance(defaults, dict):
        value = defaults.get("deployment_name") or defaults.get("deploymentName")
    else:
        value = getattr(defaults, "deployment_name", None)
    return str(value) if value else None


def _exists(get: Callable[[], object]) -> bool:
    return _get_or_none(get) is not None


def _get_or_none(get: Callable[[], Any]) -> Any:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        return get()
    except ResourceNotFoundError:
        return None
