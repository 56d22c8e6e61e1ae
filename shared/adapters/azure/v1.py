"""``V1PipelineEndpointClient``: the ``PipelineClient`` port over a v1 PipelineEndpoint or
PublishedPipeline REST submit URL (azure-wire-contracts.md §3).

Submitting POSTs ``{"ExperimentName", "ParameterAssignments", "DataPathAssignments",
"tags", "Properties", "RunSource", "Description"}`` to the submit URL with a Microsoft
Entra bearer token. The scope is ARM's (``https://management.azure.com/.default``): the v1
SDK sends an ARM token there (``azureml/core/authentication.py``). Literal inputs become
``ParameterAssignments`` (strings, the v1 API's type) plus ``run_key`` so the published
pipeline can write its outputs under ``retrain/<run key>/``; ``azureml://datastores/<ds>/
paths/<p>`` inputs become ``DataPathAssignments``. Unlike v2 invoke, v1 submit takes
tags, so the run key is a job tag (``retrain_run_key``) as well as a property, and the
job is found by either. The answer's ``Id`` is the run id.

Following the run uses the workspace's jobs API (``jobs.get``) exactly as the v2 client
does: v1 pipeline runs are runs of the same workspace. That v1 runs appear there with the
same status names has not been checked against a live workspace.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import HttpResponseError

from shared.adapters.azure.pipeline import OUTPUTS, AzureMLPipelineClient
from shared.adapters.azure.workspace import MANAGEMENT_SCOPE, RetryPolicy
from shared.errors import PipelineError
from shared.parsing import MODEL_TAG, RUN_KEY_TAG
from shared.ports import PipelineSubmission

if TYPE_CHECKING:
    from azure.ai.ml import MLClient
    from azure.core.credentials import TokenCredential
    from azure.core.pipeline.transport import HttpTransport

_DATASTORE_URI = re.compile(r"^azureml://datastores/([^/]+)/paths/(.*)$")


@dataclass(frozen=True)
class _Submitted:
    name: str
    status: str


class V1PipelineEndpointClient(AzureMLPipelineClient):
    """The ``PipelineClient`` port over a v1 submit URL.

    ``submit_url``: the PipelineEndpoint's or PublishedPipeline's ``endpoint`` (e.g.
    ``https://<region>.api.azureml.ms/pipelines/v1.0/subscriptions/.../PipelineRuns/
    PipelineEndpointSubmit/Id/<id>``). ``ml_client`` follows the runs; ``credential`` and
    ``transport`` make the submit POST (pass the same ones the ``MLClient`` has).
    """

    run_key_in_tags = True

    def __init__(
        self,
        submit_url: str,
        *,
        ml_client: MLClient | Callable[[], MLClient],
        credential: TokenCredential,
        transport: HttpTransport | None = None,
        scope: str = MANAGEMENT_SCOPE,
        artifact_datastore: str = "workspaceblobstore",
        outputs: Iterable[str] = OUTPUTS,
        retry: RetryPolicy | None = None,
        run_key_parameter: str = "run_key",
    ) -> None:
        if not submit_url.startswith("https://"):
            raise ValueError("submit_url must be an https:// URL")
        super().__init__(
            ml_client,
            endpoint_name=submit_url,
            artifact_datastore=artifact_datastore,
            outputs=outputs,
            retry=retry,
        )
        self._url = submit_url
        self._credential = credential
        self._transport = transport
        self._scope = scope
        self._run_key_parameter = run_key_parameter
        self._pipeline: Any = None

    def describe_target(self) -> str:
        return "v1 pipeline submit"

    def request_body(self, submission: PipelineSubmission) -> dict[str, Any]:
        """The JSON POSTed for ``submission``."""
        key = submission.run_key
        parameters: dict[str, str] = {}
        data_paths: dict[str, dict[str, str]] = {}
        for name, value in submission.inputs.items():
            match = _DATASTORE_URI.match(value) if isinstance(value, str) else None
            if match:
                data_paths[name] = {"DataStoreName": match.group(1), "RelativePath": match.group(2)}
            elif isinstance(value, bool):
                parameters[name] = "true" if value else "false"
            else:
                parameters[name] = str(value)
        parameters[self._run_key_parameter] = key
        tags = {str(k): str(v) for k, v in submission.tags.items()}
        tags.update({RUN_KEY_TAG: key, MODEL_TAG: submission.model})
        body: dict[str, Any] = {
            "ExperimentName": submission.experiment,
            "Description": f"retrain {submission.model}: run {key}",
            "RunSource": "API",
            "ParameterAssignments": parameters,
            "tags": tags,
            "Properties": {RUN_KEY_TAG: key, MODEL_TAG: submission.model},
        }
        if data_paths:
            body["DataPathAssignments"] = data_paths
        return body

    def _invoke(self, submission: PipelineSubmission) -> _Submitted:
        from azure.core.rest import HttpRequest

        response = self._client_pipeline().send_request(
            HttpRequest("POST", self._url, json=self.request_body(submission))
        )
        if response.status_code != 200:  # the v1 client accepts only 200 (reference §3)
            raise HttpResponseError(response=response)
        try:
            answer = response.json()
            run_id = str(answer["Id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise PipelineError(f"v1 pipeline submit answered without a run Id: {exc}") from exc
        status = str((answer.get("Status") or {}).get("StatusCode") or "NotStarted")
        return _Submitted(name=run_id, status=status)

    def _client_pipeline(self) -> Any:
        if self._pipeline is None:
            from azure.core import PipelineClient
            from azure.core.pipeline.policies import (
                BearerTokenCredentialPolicy,
                HeadersPolicy,
                UserAgentPolicy,
            )

            policies = [
                HeadersPolicy({"Accept": "application/json"}),
                UserAgentPolicy("retrain-service"),
                BearerTokenCredentialPolicy(self._credential, self._scope),
            ]
            options: dict[str, Any] = {"policies": policies}
            if self._transport is not None:
                options["transport"] = self._transport
            self._pipeline = PipelineClient(base_url=self._url, **options)
        return self._pipeline
