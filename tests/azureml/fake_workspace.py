"""An Azure ML workspace in memory, at the HTTP level.

``FakeAzureML`` is an azure-core ``HttpTransport``: hand it to the real clients
(``MLClient(credential, sub, rg, ws, transport=fake)``, an azure-core ``PipelineClient``)
and every request they send lands here instead of on the network. It routes method + path
to handlers that keep state the way the service does, with response bodies shaped like
the recorded and captured ones in ``/work/shared/reference`` (azure-wire-contracts.md
§1.4-1.7, §3 and ``sdk-requests/*.json``):

* ARM (``management.azure.com``): workspace GET, batch endpoint GET (with ``scoringUri``),
  its deployments list, jobs GET / list (``tag`` and ``properties`` filters, paging with
  ``nextLink``), model container GET and model versions GET / PUT / list (including the
  SDK's ``$orderBy=createdtime desc&$top=1`` probe);
* the batch endpoint's scoring URI: ``POST .../jobs`` creates a pipeline job, idempotent on
  the ``repeatability_request-id`` header, routed by the ``azureml-model-deployment``
  header (or the endpoint's default deployment);
* the regional API host: discovery, run-history ``details`` (where a failed job's error
  message lives) and the v1 ``PipelineEndpointSubmit`` / ``PipelineSubmit`` URLs.

Every request is recorded (``fake.requests``) with its decoded JSON body and the audience
of its bearer token, and the fake refuses a token minted for the wrong audience (401), so
a test that gets a 200 already knows the audience was right.

Faults are injected per route with ``fake.inject(route, *faults)``; each fault is used by
one matching request, in order. ``Fault.processed`` says whether the request takes effect
before the fault strikes: a lost response after the job was created is the "ambiguous
failure" the adapter must resolve by looking the job up before invoking again.

Jobs move with ``fake.set_status(name, ...)`` / ``fake.finish(name, ...)`` (``on_finish``
lets an end-to-end test write a completed job's outputs where the service reads them), and
``fake.run_event(name)`` builds the Azure ML Event Grid event (``RunCompleted`` or
``RunStatusChanged``) Event Grid would deliver for the job.
"""

from __future__ import annotations

import io
import itertools
import json
import re
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from azure.core.exceptions import (
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest import HttpRequest
from azure.core.rest._requests_basic import RestRequestsTransportResponse

from tests.fake_entra import token_audience

SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
RESOURCE_GROUP = "rg"
WORKSPACE = "ws"
REGION = "eastus2"
ENDPOINT = "retrain-ep"
DEPLOYMENT = "pipeline-dep"

MANAGEMENT_SCOPE = "https://management.azure.com/.default"
ML_SCOPE = "https://ml.azure.com/.default"
MANAGEMENT_AUDIENCE = "https://management.azure.com"
ML_AUDIENCE = "https://ml.azure.com"

ARM_HOST = "management.azure.com"
API_HOST = f"{REGION}.api.azureml.ms"
PROVIDER = "Microsoft.MachineLearningServices"
WORKSPACE_ID = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}"
    f"/providers/{PROVIDER}/workspaces/{WORKSPACE}"
)
# Recorded run events and job resources use these casings (reference §1.1, §4.1).
_TERMINAL = {"Completed", "Failed", "Canceled", "NotResponding", "Paused"}
_EPOCH = datetime(2024, 6, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Fault:
    """What goes wrong with one request.

    ``status``: answer with this HTTP status (``retry_after`` as the Retry-After header);
    ``error``: raise this azure-core error instead of answering. ``processed``: the
    request takes effect first (the job is created, the model written) and only then the
    answer is lost or replaced.
    """

    status: int | None = None
    retry_after: str | None = None
    error: type[Exception] | None = None
    processed: bool = False
    message: str = "injected fault"


def throttled(retry_after: float | str = 7) -> Fault:
    """429 Too Many Requests with Retry-After (seconds)."""
    return Fault(status=429, retry_after=str(retry_after), message="Too many requests")


def unavailable(retry_after: float | str | None = None) -> Fault:
    """503 Service Unavailable, before the request took effect."""
    after = None if retry_after is None else str(retry_after)
    return Fault(status=503, retry_after=after, message="The service is unavailable")


def server_error_after_send(status: int = 500) -> Fault:
    """The request took effect, then the service answered 5xx (ambiguous)."""
    return Fault(status=status, processed=True, message="Internal server error")


def connect_timeout() -> Fault:
    """The connection could not be made in time: nothing reached the service."""
    return Fault(error=ServiceRequestTimeoutError, message="Connection timed out")


def connection_reset_before_send() -> Fault:
    return Fault(error=ServiceRequestError, message="Connection reset by peer")


def read_timeout() -> Fault:
    """The request was sent and processed; the answer did not come in time."""
    return Fault(error=ServiceResponseTimeoutError, processed=True, message="Read timed out")


def response_lost() -> Fault:
    """Ambiguous failure: the job was created but the response was lost (connection
    reset while reading it)."""
    return Fault(
        error=ServiceResponseError,
        processed=True,
        message="Connection aborted: ConnectionResetError(104, 'Connection reset by peer')",
    )


class _CIDict(dict[str, str]):
    """Headers as sent, looked up case-insensitively."""

    def get_ci(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.items() if k.lower() == lowered), None)


@dataclass
class Recorded:
    """One request as the fake received it."""

    method: str
    url: str
    host: str
    path: str
    query: dict[str, str]
    headers: _CIDict
    body: Any
    route: str
    audience: str | None
    outcome: str = ""

    def header(self, name: str) -> str | None:
        return self.headers.get_ci(name)

    @property
    def api_version(self) -> str | None:
        return self.query.get("api-version")


@dataclass
class _Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class NotRouted(AssertionError):
    """The fake has no route for a request the code under test sent."""


def _error(status: int, code: str, message: str, detail: str | None = None) -> _Response:
    body: dict[str, Any] = {"error": {"code": code, "message": message, "details": []}}
    if detail:
        body["error"]["details"].append(
            {"code": detail, "message": message, "details": [], "additionalInfo": []}
        )
    return _Response(status, body, {"x-ms-response-type": "error"})


class FakeAzureML(HttpTransport):  # type: ignore[type-arg]
    """The in-memory workspace; see the module docstring."""

    def __init__(
        self,
        *,
        honour_job_name: bool = False,
        deployments: tuple[str, ...] = (DEPLOYMENT,),
        default_deployment: str | None = DEPLOYMENT,
        page_size: int = 50,
        on_finish: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        # The service ignores invoke's job name for pipeline-component deployments
        # (azure-sdk-for-python#32763); honour_job_name=True models a service that keeps it.
        self.honour_job_name = honour_job_name
        self.deployments = list(deployments)
        self.default_deployment = default_deployment
        self.page_size = page_size
        # Called by finish() with the job name and resource: an end-to-end test writes the
        # job's outputs (metrics.json, the model) to its artifact store here.
        self.on_finish = on_finish
        self.requests: list[Recorded] = []
        self.sleeps: list[float] = []
        self.jobs: dict[str, dict[str, Any]] = {}
        self.job_deployment: dict[str, str | None] = {}
        self.job_errors: dict[str, str] = {}
        self.models: dict[str, dict[int, dict[str, Any]]] = {}
        self.v1_endpoints: set[str] = set()
        self._repeatability: dict[str, str] = {}
        self._faults: dict[str, deque[Fault]] = defaultdict(deque)
        self._names = itertools.count(1)
        self._ticks = itertools.count(1)
        self._routes = [
            ("GET", ARM_HOST, r"/workspaces/(?P<ws>[^/]+)$", "workspace.get", self._workspace),
            (
                "GET",
                ARM_HOST,
                r"/batchEndpoints/(?P<ep>[^/]+)$",
                "endpoint.get",
                self._endpoint,
            ),
            (
                "GET",
                ARM_HOST,
                r"/batchEndpoints/(?P<ep>[^/]+)/deployments$",
                "deployments.list",
                self._deployments,
            ),
            ("GET", ARM_HOST, r"/jobs/(?P<name>[^/]+)$", "jobs.get", self._job_get),
            ("GET", ARM_HOST, r"/jobs$", "jobs.list", self._job_list),
            ("GET", ARM_HOST, r"/models/(?P<name>[^/]+)$", "models.container", self._container),
            (
                "GET",
                ARM_HOST,
                r"/models/(?P<name>[^/]+)/versions$",
                "models.list",
                self._versions,
            ),
            (
                "GET",
                ARM_HOST,
                r"/models/(?P<name>[^/]+)/versions/(?P<version>[^/]+)$",
                "models.get",
                self._version_get,
            ),
            (
                "PUT",
                ARM_HOST,
                r"/models/(?P<name>[^/]+)/versions/(?P<version>[^/]+)$",
                "models.put",
                self._version_put,
            ),
            ("POST", "inference", r"^/jobs$", "invoke", self._invoke),
            ("GET", API_HOST, r"^/discovery$", "discovery", self._discovery),
            (
                "GET",
                API_HOST,
                r"/history/v1\.0/.*/runs/(?P<name>[^/]+)/details$",
                "history.details",
                self._history,
            ),
            (
                "POST",
                API_HOST,
                r"/PipelineRuns/(?:PipelineEndpointSubmit/Id|PipelineSubmit)/(?P<id>[^/]+)$",
                "v1.submit",
                self._v1_submit,
            ),
        ]

    # -- test controls ------------------------------------------------------------------

    @property
    def scoring_uri(self) -> str:
        return f"https://{ENDPOINT}.{REGION}.inference.ml.azure.com/jobs"

    def inject(self, route: str, *faults: Fault) -> None:
        """Make the next requests on ``route`` (e.g. ``"invoke"``, ``"jobs.get"``) fail."""
        self._faults[route].extend(faults)

    def calls(self, route: str | None = None) -> list[Recorded]:
        """The recorded requests, optionally only those of one route."""
        return [r for r in self.requests if route is None or r.route == route]

    def set_status(self, name: str, status: str) -> None:
        self.jobs[name]["properties"]["status"] = status

    def finish(self, name: str, status: str = "Completed", *, error: str | None = None) -> None:
        """Drive a job to a terminal status; a failed job keeps ``error`` for run history."""
        if status == "Completed" and self.on_finish is not None:
            self.on_finish(name, self.jobs[name])
        self.set_status(name, status)
        if error is not None:
            self.job_errors[name] = error

    def run_event(self, name: str, event_type: str | None = None) -> dict[str, Any]:
        """The Azure ML event Event Grid delivers for the job's current status (Event Grid
        schema, as in reference §4.1): ``RunCompleted`` for a completed job unless
        ``event_type`` says ``RunStatusChanged``."""
        job = self.jobs[name]["properties"]
        status = job["status"]
        if event_type is None:
            event_type = "RunCompleted" if status == "Completed" else "RunStatusChanged"
        data: dict[str, Any] = {
            "experimentId": "0fa9dfaa-cba3-4fa7-b590-23e48548f5c1",
            "experimentName": job["experimentName"],
            "runId": name,
            "runType": "azureml.PipelineRun",
            "runTags": dict(job.get("tags") or {}),
            "runProperties": dict(job.get("properties") or {}),
        }
        if event_type == "RunStatusChanged":
            data["runStatus"] = status
        return {
            "topic": WORKSPACE_ID,
            "subject": f"experiments/0fa9dfaa-cba3-4fa7-b590-23e48548f5c1/runs/{name}",
            "eventType": f"Microsoft.MachineLearningServices.{event_type}",
            "eventTime": self._now(),
            "id": f"evt-{name}-{next(self._ticks)}",
            "data": data,
            "dataVersion": "",
            "metadataVersion": "1",
        }

    def jobs_for_run_key(self, run_key: str, key: str = "retrain_run_key") -> list[str]:
        """Names of the jobs that carry ``run_key`` (in properties or tags)."""
        return [
            name
            for name, job in self.jobs.items()
            if run_key
            in (
                (job["properties"].get("properties") or {}).get(key),
                (job["properties"].get("tags") or {}).get(key),
            )
        ]

    # -- HttpTransport --------------------------------------------------------------------

    def __enter__(self) -> FakeAzureML:
        return self

    def __exit__(self, *args: Any) -> None:
        pass

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def sleep(self, duration: float) -> None:
        self.sleeps.append(duration)

    def send(self, request: Any, **kwargs: Any) -> Any:
        parts = urlsplit(request.url)
        raw = request.content if isinstance(request, HttpRequest) else request.body
        if isinstance(raw, bytes | bytearray):
            raw = raw.decode()
        body = json.loads(raw) if raw else None
        headers = _CIDict({str(k): str(v) for k, v in request.headers.items()})
        authorization = headers.get_ci("Authorization") or ""
        bearer = authorization.removeprefix("Bearer ").strip()
        handler, route, params = self._route(request.method, parts.hostname or "", parts.path)
        recorded = Recorded(
            method=request.method,
            url=request.url,
            host=parts.hostname or "",
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers=headers,
            body=body,
            route=route,
            audience=token_audience(bearer) if bearer else None,
        )
        self.requests.append(recorded)
        fault = self._faults[route].popleft() if self._faults[route] else None
        if fault is not None and not fault.processed:
            return self._fail(request, recorded, fault)
        response = self._authorise(recorded) or handler(recorded, **params)
        if fault is not None:
            return self._fail(request, recorded, fault)
        recorded.outcome = str(response.status)
        return _to_http_response(request, response)

    def _fail(self, request: Any, recorded: Recorded, fault: Fault) -> Any:
        if fault.error is not None:
            recorded.outcome = fault.error.__name__
            raise fault.error(fault.message)
        assert fault.status is not None
        response = _error(fault.status, "ServiceError", fault.message)
        if fault.retry_after is not None:
            response.headers["Retry-After"] = fault.retry_after
        recorded.outcome = str(fault.status)
        return _to_http_response(request, response)

    def _route(self, method: str, host: str, path: str) -> tuple[Any, str, dict[str, str]]:
        for route_method, route_host, pattern, name, handler in self._routes:
            if method != route_method or route_host not in host:
                continue
            match = re.search(pattern, path)
            if match:
                return handler, name, match.groupdict()
        raise NotRouted(f"the fake workspace has no route for {method} https://{host}{path}")

    def _authorise(self, request: Recorded) -> _Response | None:
        if request.route == "discovery":
            return None
        expected = ML_AUDIENCE if request.route == "invoke" else MANAGEMENT_AUDIENCE
        if request.audience != expected:
            return _error(
                401,
                "InvalidAuthenticationToken",
                f"the access token audience is {request.audience!r}, expected {expected!r}",
            )
        return None

    def _now(self) -> str:
        moment = _EPOCH + timedelta(seconds=next(self._ticks))
        return moment.isoformat().replace("+00:00", "Z")

    def _check_scope(self, request: Recorded) -> _Response | None:
        if f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/" not in request.path:
            return _error(404, "ResourceGroupNotFound", "unknown subscription or resource group")
        if f"/workspaces/{WORKSPACE}" not in request.path:
            return _error(404, "ResourceNotFound", "unknown workspace")
        return None

    # -- ARM: workspace and endpoint ------------------------------------------------------

    def _workspace(self, request: Recorded, ws: str) -> _Response:
        problem = self._check_scope(request)
        if problem:
            return problem
        return _Response(
            200,
            {
                "id": WORKSPACE_ID,
                "name": WORKSPACE,
                "type": f"{PROVIDER}/workspaces",
                "location": REGION,
                "properties": {"discoveryUrl": f"https://{API_HOST}/discovery"},
            },
        )

    def _endpoint(self, request: Recorded, ep: str) -> _Response:
        problem = self._check_scope(request)
        if problem:
            return problem
        if ep != ENDPOINT:
            return _error(404, "UserError", f"batch endpoint {ep} not found", "EndpointNotFound")
        return _Response(
            200,
            {
                "id": f"{WORKSPACE_ID}/batchEndpoints/{ENDPOINT}",
                "name": ENDPOINT,
                "type": f"{PROVIDER}/workspaces/batchEndpoints",
                "location": REGION,
                "properties": {
                    "authMode": "AADToken",
                    "scoringUri": self.scoring_uri,
                    "swaggerUri": None,
                    "defaults": {"deploymentName": self.default_deployment},
                    "provisioningState": "Succeeded",
                },
            },
        )

    def _deployments(self, request: Recorded, ep: str) -> _Response:
        problem = self._check_scope(request)
        if problem:
            return problem
        component = f"{WORKSPACE_ID}/components/retrain_pipeline/versions/3"
        return _Response(
            200,
            {
                "value": [
                    {
                        "id": f"{WORKSPACE_ID}/batchEndpoints/{ep}/deployments/{name}",
                        "name": name,
                        "type": f"{PROVIDER}/workspaces/batchEndpoints/deployments",
                        "location": REGION,
                        "properties": {
                            "deploymentConfiguration": {
                                "deploymentConfigurationType": "PipelineComponent",
                                "componentId": {"referenceType": "Id", "assetId": component},
                            },
                            "provisioningState": "Succeeded",
                        },
                    }
                    for name in self.deployments
                ]
            },
        )

    # -- the scoring URI: invoke ----------------------------------------------------------

    def _invoke(self, request: Recorded) -> _Response:
        request_id = request.header("repeatability_request-id")
        if request_id and request_id in self._repeatability:
            name = self._repeatability[request_id]
            return _Response(200, self._batch_job(name))
        deployment = request.header("azureml-model-deployment") or self.default_deployment
        if deployment not in self.deployments:
            return _error(400, "UserError", f"deployment {deployment!r} does not exist")
        properties = _ci_get(request.body or {}, "properties") or {}
        wanted = _ci_get(properties, "name")
        if self.honour_job_name and wanted:
            if wanted in self.jobs:
                return _error(409, "UserError", f"a job named {wanted} already exists")
            name = str(wanted)
        else:
            name = f"batchjob-{next(self._names):08x}"
        user_properties = dict(_ci_get(properties, "properties") or {})
        experiment = user_properties.pop("experimentName", None) or "Default"
        inputs = {
            key: _job_input(value)
            for key, value in (_ci_get(properties, "inputData") or {}).items()
        }
        outputs = {
            key: {
                "jobOutputType": "uri_folder",
                "uri": _ci_get(value, "uri"),
                "mode": "ReadWriteMount",
            }
            for key, value in (_ci_get(properties, "outputData") or {}).items()
        }
        self._create_job(
            name,
            experiment=experiment,
            properties=user_properties,
            tags=dict(_ci_get(properties, "tags") or {}),
            inputs=inputs,
            outputs=outputs,
        )
        self.job_deployment[name] = deployment
        if request_id:
            self._repeatability[request_id] = name
        return _Response(200, self._batch_job(name))

    def _create_job(
        self,
        name: str,
        *,
        experiment: str,
        properties: Mapping[str, Any],
        tags: Mapping[str, Any],
        inputs: Mapping[str, Any],
        outputs: Mapping[str, Any],
    ) -> None:
        self.jobs[name] = {
            "id": f"{WORKSPACE_ID}/jobs/{name}",
            "name": name,
            "type": f"{PROVIDER}/workspaces/jobs",
            "properties": {
                "description": None,
                "tags": {str(k): str(v) for k, v in tags.items()},
                "properties": {
                    "azureml.runsource": "azureml.PipelineRun",
                    **{str(k): str(v) for k, v in properties.items()},
                },
                "displayName": name,
                "status": "NotStarted",
                "experimentName": experiment,
                "services": {
                    "Studio": {
                        "jobServiceType": "Studio",
                        "endpoint": f"https://ml.azure.com/runs/{name}?wsid={WORKSPACE_ID}",
                    }
                },
                "computeId": None,
                "isArchived": False,
                "jobType": "Pipeline",
                "inputs": dict(inputs),
                "outputs": dict(outputs),
                "jobs": {},
                "settings": {},
            },
            "systemData": {"createdAt": self._now(), "createdBy": "x", "createdByType": "User"},
        }

    def _batch_job(self, name: str) -> dict[str, Any]:
        job = self.jobs[name]["properties"]
        deployment = self.job_deployment.get(name)
        return {
            "id": f"{WORKSPACE_ID}/batchEndpoints/{ENDPOINT}/deployments/{deployment}/jobs/{name}",
            "name": name,
            "type": f"{PROVIDER}/workspaces/batchEndpoints/deployments/jobs",
            "properties": {
                "status": job["status"],
                "properties": {"experimentName": job["experimentName"]},
            },
            "systemData": {"createdAt": self._now(), "createdBy": "x", "createdByType": "User"},
        }

    # -- ARM: jobs ------------------------------------------------------------------------

    def _job_get(self, request: Recorded, name: str) -> _Response:
        problem = self._check_scope(request)
        if problem:
            return problem
        if name not in self.jobs:
            return _error(404, "UserError", f"Could not find job {name}", "JobNotFound")
        return _Response(200, self.jobs[name])

    def _job_list(self, request: Recorded) -> _Response:
        problem = self._check_scope(request)
        if problem:
            return problem
        jobs = list(self.jobs.values())
        tag = request.query.get("tag")
        if tag:
            key, _, value = tag.partition("=")
            jobs = [
                j
                for j in jobs
                if key in j["properties"]["tags"]
                and (not value or j["properties"]["tags"][key] == value)
            ]
        wanted = request.query.get("properties")
        if wanted:
            for term in wanted.split(","):
                key, _, value = term.partition("=")
                jobs = [
                    j
                    for j in jobs
                    if key in j["properties"]["properties"]
                    and (not value or j["properties"]["properties"][key] == value)
                ]
        if request.query.get("listViewType", "ActiveOnly") == "ActiveOnly":
            jobs = [j for j in jobs if not j["properties"]["isArchived"]]
        start = int(request.query.get("$skip") or 0)
        page = jobs[start : start + self.page_size]
        body: dict[str, Any] = {"value": page}
        if start + self.page_size < len(jobs):
            query = {k: v for k, v in request.query.items() if k != "$skip"}
            query["$skip"] = str(start + self.page_size)
            body["nextLink"] = f"https://{ARM_HOST}{request.path}?" + "&".join(
                f"{k}={v}" for k, v in query.items()
            )
        return _Response(200, body)

    # -- regional API host: discovery, run history, v1 submit ------------------------------

    def _discovery(self, request: Recorded) -> _Response:
        base = f"https://{API_HOST}"
        return _Response(
            200,
            {
                "api": base,
                "catalog": "https://catalog.cortanaanalytics.com",
                "experimentation": base,
                "history": base,
                "modelmanagement": base,
                "pipelines": base,
            },
        )

    def _history(self, request: Recorded, name: str) -> _Response:
        problem = self._check_scope(request)
        if problem:
            return problem
        if name not in self.jobs:
            return _error(404, "UserError", f"Run {name} was not found", "RunNotFound")
        details: dict[str, Any] = {
            "runId": name,
            "status": self.jobs[name]["properties"]["status"],
            "startTimeUtc": "2024-06-01T00:00:01Z",
            "endTimeUtc": None,
            "logFiles": {},
            "warnings": [],
            "properties": {},
        }
        if name in self.job_errors:
            details["error"] = {
                "error": {"code": "UserError", "message": self.job_errors[name]},
                "correlation": {},
            }
        return _Response(200, details)

    def _v1_submit(self, request: Recorded, id: str) -> _Response:
        problem = self._check_scope(request)
        if problem:
            return problem
        if self.v1_endpoints and id not in self.v1_endpoints:
            return _error(404, "UserError", f"pipeline endpoint {id} not found")
        body = request.body or {}
        if not body.get("ExperimentName"):
            return _error(400, "UserError", "ExperimentName is required")
        name = f"{next(self._names):08x}-aaaa-bbbb-cccc-000000000000"
        parameters = {str(k): str(v) for k, v in (body.get("ParameterAssignments") or {}).items()}
        inputs: dict[str, Any] = {
            k: {"jobInputType": "literal", "value": v} for k, v in parameters.items()
        }
        for key, value in (body.get("DataPathAssignments") or {}).items():
            uri = f"azureml://datastores/{value['DataStoreName']}/paths/{value['RelativePath']}"
            inputs[key] = {"jobInputType": "uri_folder", "uri": uri}
        self._create_job(
            name,
            experiment=str(body["ExperimentName"]),
            properties=body.get("Properties") or {},
            tags=body.get("tags") or {},
            inputs=inputs,
            outputs={},
        )
        job = self.jobs[name]["properties"]
        return _Response(
            200,
            {
                "Id": name,
                "Description": body.get("Description"),
                "Status": {"StatusCode": "NotStarted", "StatusDetail": None},
                "RunHistoryExperimentName": job["experimentName"],
                "ParameterAssignments": parameters,
                "PipelineId": id,
                "RunSource": body.get("RunSource"),
                "tags": job["tags"],
                "Properties": job["properties"],
            },
        )

    # -- ARM: models ----------------------------------------------------------------------

    def _container(self, request: Recorded, name: str) -> _Response:
        problem = self._check_scope(request)
        if problem:
            return problem
        if not self.models.get(name):
            return _error(
                404,
                "UserError",
                "The specified resource was not found.",
                "ModelNotFound",
            )
        latest = max(self.models[name])
        return _Response(
            200,
            {
                "id": f"{WORKSPACE_ID}/models/{name}",
                "name": name,
                "type": f"{PROVIDER}/workspaces/models",
                "properties": {
                    "latestVersion": str(latest),
                    "nextVersion": str(latest + 1),
                    "isArchived": False,
                },
            },
        )

    def _versions(self, request: Recorded, name: str) -> _Response:
        problem = self._check_scope(request)
        if problem:
            return problem
        versions = self.models.get(name) or {}
        items = [versions[v] for v in sorted(versions)]
        if request.query.get("$orderBy", "").lower().startswith("createdtime desc"):
            items.reverse()
        top = request.query.get("$top")
        if top:
            items = items[: int(top)]
        return _Response(200, {"value": items})

    def _version_get(self, request: Recorded, name: str, version: str) -> _Response:
        problem = self._check_scope(request)
        if problem:
            return problem
        try:
            found = self.models.get(name, {}).get(int(version))
        except ValueError:
            found = None
        if found is None:
            message = f"Could not find asset with ID: {name}:{version}"
            return _error(404, "UserError", message, "AssetNotFound")
        return _Response(200, found)

    def _version_put(self, request: Recorded, name: str, version: str) -> _Response:
        problem = self._check_scope(request)
        if problem:
            return problem
        body = (request.body or {}).get("properties") or {}
        number = int(version)
        versions = self.models.setdefault(name, {})
        existing = versions.get(number)
        uri = str(body.get("modelUri") or "")
        job = re.match(r"^azureml://jobs/([^/]+)/", uri)
        created = existing["systemData"]["createdAt"] if existing else self._now()
        if existing and existing["properties"]["properties"] != (body.get("properties") or {}):
            changed = existing["properties"]["properties"]
            if any(changed.get(k) != v for k, v in (body.get("properties") or {}).items()):
                return _error(
                    400,
                    "UserError",
                    "properties of an existing model version cannot be changed",
                )
        versions[number] = {
            "id": f"{WORKSPACE_ID}/models/{name}/versions/{number}",
            "name": str(number),
            "type": f"{PROVIDER}/workspaces/models/versions",
            "properties": {
                "description": body.get("description"),
                "tags": dict(body.get("tags") or {}),
                "properties": dict(body.get("properties") or {}),
                "isArchived": bool(body.get("isArchived", False)),
                "isAnonymous": False,
                "flavors": body.get("flavors") or {},
                "modelType": body.get("modelType"),
                "modelUri": uri,
                "jobName": job.group(1) if job else None,
                "provisioningState": "Succeeded",
                "stage": body.get("stage") or "Development",
            },
            "systemData": {
                "createdAt": created,
                "createdBy": "x",
                "createdByType": "User",
                "lastModifiedAt": self._now(),
            },
        }
        location = f"https://{ARM_HOST}{request.path}?api-version={request.api_version}"
        if existing:
            return _Response(200, versions[number])
        return _Response(201, versions[number], {"Location": location})


def _ci_get(mapping: Mapping[str, Any], key: str) -> Any:
    """The documented REST body uses PascalCase, the SDK camelCase (reference §1.4)."""
    if key in mapping:
        return mapping[key]
    lowered = key.lower()
    return next((v for k, v in mapping.items() if k.lower() == lowered), None)


def _job_input(value: Any) -> dict[str, Any]:
    kind = str(_ci_get(value, "jobInputType") or "")
    if kind.lower() == "literal":
        return {"jobInputType": "literal", "value": str(_ci_get(value, "value"))}
    # The batch body says "UriFolder"; the job resource says "uri_folder" (reference §1.5).
    snake = (
        re.sub(r"(?<!^)(?=[A-Z][a-z])", "_", kind)
        .lower()
        .replace("ml_flow", "mlflow")
        .replace("ml_table", "mltable")
    )
    return {"jobInputType": snake, "uri": _ci_get(value, "uri")}


def _to_http_response(request: Any, response: _Response) -> Any:
    """Wrap the answer in the response class azure-core's requests transport returns."""
    internal = requests.Response()
    internal.status_code = response.status
    internal.reason = requests.status_codes._codes.get(response.status, ("",))[0].upper()  # type: ignore[attr-defined]
    content = b"" if response.body is None else json.dumps(response.body).encode()
    internal.headers.update({"Content-Type": "application/json; charset=utf-8", **response.headers})
    internal._content = content
    internal._content_consumed = True
    internal.raw = io.BytesIO(content)
    internal.url = request.url
    if isinstance(request, HttpRequest):
        wrapped = RestRequestsTransportResponse(request=request, internal_response=internal)
        wrapped.read()
        return wrapped
    from azure.core.pipeline.transport._requests_basic import RequestsTransportResponse

    return RequestsTransportResponse(request, internal)
