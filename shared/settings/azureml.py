"""The Azure ML workspace and the published pipeline the service invokes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.settings.common import INVOKE_FORMS


@dataclass(frozen=True)
class AzureMLSettings:
    """The Azure ML workspace and the published pipeline the service invokes."""

    subscription_id: str
    resource_group: str
    workspace: str
    endpoint: str = "retrain-pipeline"
    deployment: str | None = None
    family_endpoint: str | None = None  # None: "<endpoint>-family", as deploy.publish names it
    family_deployment: str | None = None  # None: the family endpoint's default deployment
    invoke: str = "batch_endpoint"
    v1_endpoint_url: str | None = None
    managed_identity_client_id: str | None = None

    def describe(self) -> str:
        target = (
            f"v1 pipeline endpoint {self.v1_endpoint_url}"
            if self.invoke == "v1_pipeline_endpoint"
            else f"batch endpoint {self.endpoint}"
            + (f" (deployment {self.deployment})" if self.deployment else " (its default)")
        )
        return f"workspace {self.workspace} in {self.resource_group}, {target}"


def azureml_settings(get: Any, problems: list[str]) -> AzureMLSettings | None:
    required = {
        "subscription_id": "AZUREML_SUBSCRIPTION_ID",
        "resource_group": "AZUREML_RESOURCE_GROUP",
        "workspace": "AZUREML_WORKSPACE",
    }
    values = {attr: get(name) for attr, name in required.items()}
    for attr, name in required.items():
        if not values[attr]:
            problems.append(f"{name} is not set: RETRAIN_BACKEND=azureml needs the workspace")
    invoke = get("RETRAIN_INVOKE", "batch_endpoint") or "batch_endpoint"
    v1_url = get("RETRAIN_V1_PIPELINE_ENDPOINT_URL")
    if invoke not in INVOKE_FORMS:
        problems.append(f"RETRAIN_INVOKE={invoke!r} must be one of {', '.join(INVOKE_FORMS)}")
    elif invoke == "v1_pipeline_endpoint" and not (v1_url or "").startswith("https://"):
        problems.append(
            "RETRAIN_INVOKE=v1_pipeline_endpoint needs RETRAIN_V1_PIPELINE_ENDPOINT_URL, the "
            f"https REST endpoint of the PipelineEndpoint or PublishedPipeline (got {v1_url!r})"
        )
    if not all(values.values()):
        return None
    return AzureMLSettings(
        subscription_id=str(values["subscription_id"]),
        resource_group=str(values["resource_group"]),
        workspace=str(values["workspace"]),
        endpoint=get("RETRAIN_BATCH_ENDPOINT") or "retrain-pipeline",
        deployment=get("RETRAIN_BATCH_DEPLOYMENT") or None,
        family_endpoint=get("RETRAIN_AZUREML_FAMILY_ENDPOINT") or None,
        family_deployment=get("RETRAIN_AZUREML_FAMILY_DEPLOYMENT") or None,
        invoke=invoke,
        v1_endpoint_url=v1_url or None,
        managed_identity_client_id=get("AZURE_CLIENT_ID") or None,
    )
