"""An in-memory Azure ML workspace at the HTTP level, for azure-core clients.

``FakeTransport`` is an azure-core ``HttpTransport``: give it to ``MLClient(...,
transport=...)`` (and to azure-storage-blob clients) and every request is answered by a
route table of ``(method, regex over host+path) -> handler`` and recorded, with the token
audience read from its Authorization header. It is generic: ``FakeWorkspace`` installs
the routes that publishing touches (workspace, computes, default datastore, code /
environment / component versions including ``azureml_anonymous`` ones, batch endpoints
and deployments with the MFE long-running-operation shape, blob uploads), and other fakes
can add their own routes to the same transport.

Response shapes follow /work/shared/reference/azure-wire-contracts.md: versioned assets
answer PUT with 201 + Location on create and 200 on an identical re-PUT (a version is
immutable: a different body gets 409); batch endpoint and deployment PUTs answer 201/200
+ ``Azure-AsyncOperation`` (``.../locations/<region>/mfeOperationsStatus/<id>``) +
``Location`` + ``x-ms-async-operation-timeout``, the operation reports ``Updating`` once
and then ``Succeeded``, and the resource is then provisioned (endpoint ``scoringUri`` set).
Assumptions beyond the reference (not checked against the live service) are marked
ASSUMED below.
"""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from azure.core.pipeline._tools import is_rest
from azure.core.pipeline.transport import HttpTransport, RequestsTransportResponse
from azure.core.rest._requests_basic import RestRequestsTransportResponse
from requests.structures import CaseInsensitiveDict
from urllib3 import HTTPResponse

from tests.fake_entra import token_audience

MANAGEMENT_HOST = "management.azure.com"
PROVIDER = "Microsoft.MachineLearningServices"


# ------------------------------------------------------------------ credential


# ------------------------------------------------------------------ transport


@dataclass
class Recorded:
    method: str
    url: str
    host: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def audience(self) -> str | None:
        return token_audience(self.header("Authorization"))

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Reply:
    status: int
    body: Any = None  # JSON-able, bytes, or None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Recorded, "re.Match[str]"], Reply]


class FakeTransport(HttpTransport):
    """Route table + request log. Unrouted requests get 404 ``NoRoute`` and are kept in
    ``unrouted`` so a test can assert none happened."""

    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.requests: list[Recorded] = []
        self.unrouted: list[Recorded] = []

    def route(self, method: str, pattern: str, handler: Handler, *, first: bool = False) -> None:
        """``pattern`` is matched in full against ``host + path`` (no query); the first
        matching route answers (``first=True`` puts this one ahead of the others, e.g. to
        make one call fail)."""
        entry = (method.upper(), re.compile(pattern, re.IGNORECASE), handler)
        if first:
            self.routes.insert(0, entry)
        else:
            self.routes.append(entry)

    # HttpTransport
    def __enter__(self) -> FakeTransport:
        return self

    def __exit__(self, *args: object) -> None:
        return None

    def open(self) -> None:
        return None

    def close(self) -> None:
        return None

    def send(self, request: Any, **kwargs: Any) -> Any:
        recorded = _record(request)
        self.requests.append(recorded)
        reply = self._dispatch(recorded)
        return _response(request, recorded, reply)

    def _dispatch(self, recorded: Recorded) -> Reply:
        target = recorded.host + recorded.path
        for method, pattern, handler in self.routes:
            if method != recorded.method:
                continue
            match = pattern.fullmatch(target)
            if match:
                return handler(recorded, match)
        self.unrouted.append(recorded)
        return arm_error(404, "NoRoute", f"fake has no route for {recorded.method} {target}")

    # queries for tests
    def calls(self, method: str | None = None, host: str | None = None) -> list[Recorded]:
        return [
            r
            for r in self.requests
            if (method is None or r.method == method) and (host is None or r.host == host)
        ]

    def clear(self) -> None:
        self.requests.clear()
        self.unrouted.clear()


def _record(request: Any) -> Recorded:
    parts = urlsplit(request.url)
    body = request.content if is_rest(request) else request.data
    return Recorded(
        method=request.method.upper(),
        url=request.url,
        host=parts.netloc.lower(),
        path=parts.path,
        query=dict(parse_qsl(parts.query, keep_blank_values=True)),
        headers={str(k): str(v) for k, v in request.headers.items()},
        body=_as_bytes(body),
    )


def _as_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    if hasattr(body, "read"):
        return _as_bytes(body.read())
    if isinstance(body, dict):  # form fields
        return json.dumps(body).encode()
    if isinstance(body, Iterable):
        return b"".join(_as_bytes(chunk) for chunk in body)
    raise TypeError(f"cannot read request body of type {type(body).__name__}")


def _response(request: Any, recorded: Recorded, reply: Reply) -> Any:
    if isinstance(reply.body, bytes):
        content, content_type = reply.body, "application/octet-stream"
    elif reply.body is None:
        content, content_type = b"", "application/json"
    else:
        content, content_type = json.dumps(reply.body).encode(), "application/json"
    headers = CaseInsensitiveDict(
        {
            "Content-Type": content_type,
            "Content-Length": str(len(content)),
            "Date": formatdate(usegmt=True),
            "x-ms-request-id": f"fake-{len(recorded.url)}",
            **reply.headers,
        }
    )
    internal = requests.Response()
    internal.status_code = reply.status
    internal.reason = _REASONS.get(reply.status, "Status")
    internal.headers = headers
    internal.url = recorded.url
    internal.raw = HTTPResponse(
        body=io.BytesIO(content), preload_content=False, status=reply.status, headers=headers
    )
    if is_rest(request):
        response = RestRequestsTransportResponse(request=request, internal_response=internal)
        response.read()
        return response
    return RequestsTransportResponse(request, internal)


_REASONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    400: "Bad Request",
    404: "Not Found",
    409: "Conflict",
}


def arm_error(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"error": {"code": code, "message": message}})


# ------------------------------------------------------------------ the workspace

_SEG = r"[^/]+"


@dataclass
class _Operation:
    target: str
    polls: int = 0


class FakeWorkspace:
    """The ARM side of one Azure ML workspace (plus its default blob datastore), in memory.

    ``resources`` maps ARM ids (``/subscriptions/.../versions/<v>``) to the stored
    resource bodies; ``blobs`` maps ``<container>/<blob>`` to bytes.
    """

    def __init__(
        self,
        transport: FakeTransport,
        *,
        subscription: str = "00000000-0000-0000-0000-000000000001",
        resource_group: str = "rg",
        workspace: str = "ws",
        location: str = "eastus2",
        computes: Iterable[str] = ("cpu-cluster",),
        storage_account: str = "fakewsstorage",
        container: str = "azureml-blobstore-00000000",
        poll_delay_ms: int = 1,
    ) -> None:
        self.transport = transport
        self.subscription = subscription
        self.resource_group = resource_group
        self.workspace = workspace
        self.location = location
        self.computes = set(computes)
        self.storage_account = storage_account
        self.container = container
        self.poll_delay_ms = poll_delay_ms
        self.resources: dict[str, dict[str, Any]] = {}
        self.blobs: dict[str, bytes] = {}
        self.operations: dict[str, _Operation] = {}
        self._ids = itertools.count(1)
        self._install()

    # ids and urls
    @property
    def arm_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/{PROVIDER}/workspaces/{self.workspace}"
        )

    @property
    def blob_host(self) -> str:
        return f"{self.storage_account}.blob.core.windows.net"

    def asset_id(self, kind: str, name: str, version: str) -> str:
        return f"{self.arm_id}/{kind}/{name}/versions/{version}"

    def names(self, kind: str) -> dict[str, list[str]]:
        """``{name: [versions]}`` of one asset kind (codes, environments, components)."""
        found: dict[str, list[str]] = {}
        prefix = f"{self.arm_id}/{kind}/".lower()
        for arm_id in self.resources:
            if arm_id.lower().startswith(prefix) and "/versions/" in arm_id:
                name, _, version = arm_id[len(prefix) :].partition("/versions/")
                found.setdefault(name, []).append(version)
        return found

    def get(self, arm_id: str) -> dict[str, Any] | None:
        return self.resources.get(arm_id.lower())

    # routes
    def _install(self) -> None:
        ws = re.escape(MANAGEMENT_HOST) + (
            rf"/subscriptions/{_SEG}/resourceGroups/{_SEG}/providers/{PROVIDER}/workspaces/{_SEG}"
        )
        t = self.transport
        t.route("GET", ws, self._get_workspace)
        t.route("GET", ws + rf"/computes/(?P<name>{_SEG})", self._get_compute)
        t.route("GET", ws + r"/datastores", self._list_datastores)
        t.route("GET", ws + rf"/datastores/(?P<name>{_SEG})", self._get_resource)
        t.route("PUT", ws + rf"/datastores/(?P<name>{_SEG})", self._put_datastore)
        versioned = (
            r"/(?P<kind>codes|environments|components)"
            rf"/(?P<name>{_SEG})/versions/(?P<version>{_SEG})"
        )
        t.route("GET", ws + versioned, self._get_resource)
        t.route("PUT", ws + versioned, self._put_version)
        endpoint = rf"/batchEndpoints/(?P<endpoint>{_SEG})"
        t.route("GET", ws + endpoint, self._get_resource)
        t.route("PUT", ws + endpoint, self._put_endpoint)
        t.route("GET", ws + endpoint + "/deployments", self._list_deployments)
        t.route("GET", ws + endpoint + rf"/deployments/(?P<deployment>{_SEG})", self._get_resource)
        t.route(
            "PUT", ws + endpoint + rf"/deployments/(?P<deployment>{_SEG})", self._put_deployment
        )
        t.route(
            "GET",
            re.escape(MANAGEMENT_HOST)
            + rf"/subscriptions/{_SEG}/providers/{PROVIDER}/locations/{_SEG}"
            + rf"/mfeOperationsStatus/(?P<op>{_SEG})",
            self._poll,
        )
        t.route(
            "PUT", re.escape(self.blob_host) + r"/(?P<container>[^/]+)/(?P<blob>.+)", self._put_blob
        )

    def _get_workspace(self, request: Recorded, match: re.Match[str]) -> Reply:
        return Reply(
            200,
            {
                "id": self.arm_id,
                "name": self.workspace,
                "type": f"{PROVIDER}/workspaces",
                "location": self.location,
                "properties": {
                    "discoveryUrl": f"https://{self.location}.api.azureml.ms/discovery",
                    "storageAccount": f"/subscriptions/{self.subscription}/resourceGroups/"
                    f"{self.resource_group}/providers/Microsoft.Storage/storageAccounts/"
                    f"{self.storage_account}",
                },
            },
        )

    def _get_compute(self, request: Recorded, match: re.Match[str]) -> Reply:
        name = match["name"]
        if name not in self.computes:
            return arm_error(404, "ResourceNotFound", f"compute {name} not found")
        return Reply(
            200,
            {
                "id": f"{self.arm_id}/computes/{name}",
                "name": name,
                "location": self.location,
                "properties": {
                    "computeType": "AmlCompute",
                    "provisioningState": "Succeeded",
                    "properties": {},
                },
            },
        )

    def _list_datastores(self, request: Recorded, match: re.Match[str]) -> Reply:
        # ASSUMED shape of the default datastore (AzureBlob, identity-less account-key style).
        datastore = {
            "id": f"{self.arm_id}/datastores/workspaceblobstore",
            "name": "workspaceblobstore",
            "type": f"{PROVIDER}/workspaces/datastores",
            "properties": {
                "datastoreType": "AzureBlob",
                "accountName": self.storage_account,
                "containerName": self.container,
                "endpoint": "core.windows.net",
                "protocol": "https",
                "credentials": {"credentialsType": "AccountKey"},
                "isDefault": True,
                "description": None,
                "properties": {},
                "tags": {},
            },
        }
        return Reply(200, {"value": [datastore]})

    def _get_resource(self, request: Recorded, match: re.Match[str]) -> Reply:
        resource = self.resources.get(request.path.lower())
        if resource is None:
            return arm_error(404, "ResourceNotFound", f"{request.path} not found")
        return Reply(200, resource)

    def _put_datastore(self, request: Recorded, match: re.Match[str]) -> Reply:
        # Datastores are not versioned: a PUT creates (201) or replaces (200) the resource.
        arm_id = f"{self.arm_id}/datastores/{match['name']}"
        existing = self.resources.get(arm_id.lower())
        resource = {
            "id": arm_id,
            "name": match["name"],
            "type": f"{PROVIDER}/workspaces/datastores",
            "properties": dict(request.json["properties"]),
            "systemData": _system_data(),
        }
        self.resources[arm_id.lower()] = resource
        return Reply(200 if existing else 201, resource)

    def _put_version(self, request: Recorded, match: re.Match[str]) -> Reply:
        kind, name, version = match["kind"], match["name"], match["version"]
        arm_id = self.asset_id(kind, name, version)
        properties = dict(request.json["properties"])
        problem = self._missing_references(kind, properties)
        if problem:
            return arm_error(400, "UserError", problem)
        existing = self.resources.get(arm_id.lower())
        if existing is not None:
            if _comparable(existing["properties"]) != _comparable(properties):
                # ASSUMED: a version's content is immutable; the service refuses changes.
                return arm_error(
                    409, "UserError", f"{kind} {name}:{version} exists with other content"
                )
            return Reply(200, existing)
        resource = {
            "id": arm_id,
            "name": version,
            "type": f"{PROVIDER}/workspaces/{kind}/versions",
            "properties": {**properties, "provisioningState": "Succeeded"},
            "systemData": _system_data(),
        }
        self.resources[arm_id.lower()] = resource
        location = (
            f"https://{MANAGEMENT_HOST}{arm_id}?api-version={request.query.get('api-version', '')}"
        )
        return Reply(201, resource, {"Location": location})

    def _missing_references(self, kind: str, properties: dict[str, Any]) -> str | None:
        """Components must reference code, environments and child components that exist."""
        if kind != "components":
            return None
        spec = properties.get("componentSpec", {})
        references = [spec.get("code"), spec.get("environment")]
        references += [job.get("componentId") for job in (spec.get("jobs") or {}).values()]
        for reference in references:
            if not isinstance(reference, str) or "/subscriptions/" not in reference:
                continue
            arm_id = reference.removeprefix("azureml:")
            if arm_id.lower() not in self.resources:
                return f"referenced asset {arm_id} does not exist"
        return None

    def _put_endpoint(self, request: Recorded, match: re.Match[str]) -> Reply:
        arm_id = f"{self.arm_id}/batchEndpoints/{match['endpoint']}"
        body = request.json
        existing = self.resources.get(arm_id.lower())
        requested = body.get("properties", {})
        auth_mode = str(requested.get("authMode") or "AADToken")
        resource = {
            "id": arm_id,
            "name": match["endpoint"],
            "type": f"{PROVIDER}/workspaces/batchEndpoints",
            "location": body.get("location", self.location),
            "tags": body.get("tags") or {},
            "properties": {
                "description": requested.get("description"),
                "properties": {
                    **(requested.get("properties") or {}),
                    "BatchEndpointCreationApiVersion": request.query.get("api-version"),
                },
                "authMode": "AADToken" if auth_mode.lower() == "aadtoken" else auth_mode,
                "defaults": {
                    "deploymentName": (requested.get("defaults") or {}).get("deploymentName")
                },
                "scoringUri": existing["properties"]["scoringUri"] if existing else None,
                "swaggerUri": None,
                "provisioningState": "Updating" if existing else "Creating",
            },
            "systemData": _system_data(),
        }
        self.resources[arm_id.lower()] = resource
        return self._long_running(request, arm_id, resource, created=existing is None)

    def _list_deployments(self, request: Recorded, match: re.Match[str]) -> Reply:
        prefix = f"{self.arm_id}/batchEndpoints/{match['endpoint']}/deployments/".lower()
        found = [r for arm_id, r in self.resources.items() if arm_id.startswith(prefix)]
        return Reply(200, {"value": found})

    def _put_deployment(self, request: Recorded, match: re.Match[str]) -> Reply:
        endpoint_id = f"{self.arm_id}/batchEndpoints/{match['endpoint']}"
        if endpoint_id.lower() not in self.resources:
            return arm_error(404, "ResourceNotFound", f"endpoint {match['endpoint']} not found")
        body = request.json
        configuration = body.get("properties", {}).get("deploymentConfiguration") or {}
        asset = (configuration.get("componentId") or {}).get("assetId")
        if not asset:
            # The service's message for this case (MicrosoftDocs/azure-docs#114151).
            return arm_error(400, "RequestInvalid", "The AssetId field is required.")
        if asset.lower() not in self.resources:
            return arm_error(400, "UserError", f"component {asset} does not exist")
        arm_id = f"{endpoint_id}/deployments/{match['deployment']}"
        existing = self.resources.get(arm_id.lower())
        resource = {
            "id": arm_id,
            "name": match["deployment"],
            "type": f"{PROVIDER}/workspaces/batchEndpoints/deployments",
            "location": body.get("location", self.location),
            "tags": body.get("tags") or {},
            "properties": {
                **body.get("properties", {}),
                "provisioningState": "Updating" if existing else "Creating",
            },
            "systemData": _system_data(),
        }
        self.resources[arm_id.lower()] = resource
        return self._long_running(request, arm_id, resource, created=existing is None)

    def _long_running(
        self, request: Recorded, arm_id: str, resource: dict[str, Any], *, created: bool
    ) -> Reply:
        op = f"bebes:{next(self._ids):08d}"
        self.operations[op] = _Operation(arm_id)
        base = f"https://{MANAGEMENT_HOST}/subscriptions/{self.subscription}/providers/{PROVIDER}"
        api_version = request.query.get("api-version", "")
        headers = {
            "Azure-AsyncOperation": f"{base}/locations/{self.location}/mfeOperationsStatus/{op}"
            "?api-version=2023-10-01",
            "Location": f"https://{MANAGEMENT_HOST}{arm_id}?api-version={api_version}",
            "x-ms-async-operation-timeout": "PT30M",
            **self._poll_delay(),
        }
        return Reply(201 if created else 200, resource, headers)

    def _poll(self, request: Recorded, match: re.Match[str]) -> Reply:
        op_id = match["op"]
        operation = self.operations.get(op_id)
        if operation is None:
            return arm_error(404, "ResourceNotFound", f"operation {op_id} not found")
        operation.polls += 1
        base = f"/subscriptions/{self.subscription}/providers/{PROVIDER}/locations/{self.location}"
        status = "Updating" if operation.polls == 1 else "Succeeded"
        if status == "Succeeded":
            self._provisioned(operation.target)
        return Reply(
            200,
            {"id": f"{base}/mfeOperationsStatus/{op_id}", "name": op_id, "status": status},
            self._poll_delay(),
        )

    def _poll_delay(self) -> dict[str, str]:
        """The service sends ``Retry-After`` in whole seconds; azure-core treats 0 as "not
        given" and then waits its default 30 s, so the fake asks for 1 ms instead."""
        return {"retry-after-ms": str(self.poll_delay_ms)}

    def _provisioned(self, arm_id: str) -> None:
        resource = self.resources[arm_id.lower()]
        properties = resource["properties"]
        properties["provisioningState"] = "Succeeded"
        if resource["type"].endswith("/batchEndpoints") and not properties.get("scoringUri"):
            properties["scoringUri"] = (
                f"https://{resource['name']}.{self.location}.inference.ml.azure.com/jobs"
            )

    def _put_blob(self, request: Recorded, match: re.Match[str]) -> Reply:
        if match["container"] != self.container:
            return Reply(404, b"ContainerNotFound", {"x-ms-error-code": "ContainerNotFound"})
        self.blobs[f"{match['container']}/{match['blob']}"] = request.body
        md5 = base64.b64encode(hashlib.md5(request.body).digest()).decode()
        return Reply(
            201,
            None,
            {
                "ETag": f'"0x{next(self._ids):016X}"',
                "Last-Modified": formatdate(usegmt=True),
                "Content-MD5": md5,
                "x-ms-request-server-encrypted": "true",
                "x-ms-version": request.header("x-ms-version") or "2025-01-05",
            },
        )


def _comparable(properties: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in properties.items() if k not in {"provisioningState"}}


def _system_data() -> dict[str, str]:
    return {
        "createdAt": "2024-06-01T00:00:00Z",
        "createdBy": "fake",
        "createdByType": "User",
        "lastModifiedAt": "2024-06-01T00:00:00Z",
    }
