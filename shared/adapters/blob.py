"""Blob storage adapters for the StateStore, DataStore and ArtifactStore ports.

The same code talks to Azure Storage and to Azurite; only the connection string differs.
Conditional writes use the service's own preconditions (``If-None-Match: *`` to create,
``If-Match: <etag>`` to replace), so they hold across any number of app instances.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.request
from collections.abc import Mapping
from typing import Any

import requests
import requests.adapters
from azure.core.exceptions import (
    AzureError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.core.pipeline import PipelineRequest
from azure.storage.blob import BlobServiceClient, ContainerClient, ContentSettings, LinearRetry

from shared.adapters.blobhttp import BlobCalls, fail
from shared.adapters.budget import remaining
from shared.errors import ConflictError, NotFound
from shared.ports import JSON, DataFile

_JSON = "application/json"
_JSON_CONTENT = ContentSettings(content_type=_JSON)

# The storage client's retry budget. Its default (exponential backoff from 15 s, three
# retries) keeps one failing call busy for minutes, and every invocation makes several:
# with storage down, Event Grid (which waits about 30 s) would give up long before the
# function answered. Two quick retries, a short connect timeout: a call that cannot
# reach storage fails within about 10 s, the invocation answers 5xx, Event Grid retries
# later with its own backoff.
RETRY_TOTAL = 2
RETRY_BACKOFF = 0.5  # seconds between tries, plus or minus RETRY_JITTER
RETRY_JITTER = 0.25
CONNECTION_TIMEOUT = 3  # seconds to open a connection
READ_TIMEOUT = 30  # seconds without a byte from an open connection
COPY_WAIT = 20  # seconds a server-side artifact copy may stay pending


class BudgetSpent(AzureError):
    """The invocation's storage time budget is spent (``shared.adapters.budget``)."""


_current = threading.local()


class BudgetedRetry(LinearRetry):
    """``LinearRetry`` that keeps to the invocation's time budget, when there is one:
    each try's connect and read timeouts are cut to what is left, the wait between
    tries too, and no try starts once the budget is spent."""

    def send(self, request: PipelineRequest[Any]) -> Any:
        _current.request = request
        try:
            self._fit(request)
            return super().send(request)
        finally:
            _current.request = None

    def increment(
        self,
        settings: dict[str, Any],
        request: Any,
        response: Any | None = None,
        error: AzureError | None = None,
    ) -> bool:
        left = remaining()
        if left is not None and left <= 0:
            return False
        more = bool(super().increment(settings, request, response, error))
        request = getattr(_current, "request", None)
        if more and request is not None:
            self._fit(request)
        return more

    def get_backoff_time(self, settings: dict[str, Any]) -> float:
        backoff = float(super().get_backoff_time(settings))
        left = remaining()
        return backoff if left is None else max(0.0, min(backoff, left))

    @staticmethod
    def _fit(request: PipelineRequest[Any]) -> None:
        left = remaining()
        if left is None:
            return
        if left <= 0:
            raise BudgetSpent("the invocation's storage time budget is spent")
        request.context.options["connection_timeout"] = min(CONNECTION_TIMEOUT, left)
        request.context.options["read_timeout"] = min(READ_TIMEOUT, left)


# Connections kept open to storage: the events of a delivery are handled at the same time
# (up to the worker's 32 threads), each making its storage calls; with the requests
# library's default pool of 10, every call beyond it opened a new connection.
POOL_SIZE = 64


def _session() -> requests.Session:
    session = requests.Session()
    # Without a proxy in the environment, do not look for one (nor for ~/.netrc) on every
    # request: requests reads the whole environment and stats ~/.netrc each time.
    session.trust_env = bool(urllib.request.getproxies())
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=POOL_SIZE)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def client_options() -> dict[str, Any]:
    """Keyword arguments for ``BlobServiceClient(...)`` / ``from_connection_string``:
    the bounded retry budget above, kept within the invocation's time budget, and a
    connection pool as large as the invocations that may run at once."""
    return {
        # for the default transport (RequestsTransport), which takes the session
        "session": _session(),
        "retry_policy": BudgetedRetry(
            backoff=RETRY_BACKOFF,  # type: ignore[arg-type]  # annotated int, takes float
            retry_total=RETRY_TOTAL,
            random_jitter_range=RETRY_JITTER,  # type: ignore[arg-type]
        ),
        "connection_timeout": CONNECTION_TIMEOUT,
        "read_timeout": READ_TIMEOUT,
    }


def container_client(service: BlobServiceClient, name: str) -> ContainerClient:
    """The container, created if it does not exist yet."""
    container = service.get_container_client(name)
    with contextlib.suppress(ResourceExistsError):
        container.create_container()
    return container


def _dump(document: Mapping[str, Any]) -> bytes:
    # Compact: a model's policy state may hold thousands of pending arrivals and is
    # written on every decision (indented and sorted, it took 3 times as long).
    return json.dumps(document, separators=(",", ":"), default=str).encode()


class BlobStateStore:
    """JSON documents in one container, with create-if-absent and ETag if-match writes.
    Reads and writes are single REST calls (``shared/adapters/blobhttp.py``); listings go
    through the SDK's client."""

    def __init__(self, container: ContainerClient) -> None:
        self._container = container
        self._calls = BlobCalls(container)

    def create(self, key: str, document: Mapping[str, Any]) -> str:
        # One request: the upload's answer carries the new ETag (no properties read after).
        response = self._calls.put(key, _dump(document), content_type=_JSON, if_none_match=True)
        if response.status_code == 409:
            raise ConflictError(f"state document {key!r} already exists")
        if response.status_code != 201:
            raise fail(response, f"creating state document {key!r}")
        return str(response.headers["ETag"])

    def get(self, key: str) -> tuple[JSON, str]:
        response = self._calls.get(key)
        if response.status_code == 404:
            raise NotFound(f"no state document {key!r}")
        if response.status_code != 200:
            raise fail(response, f"reading state document {key!r}")
        return json.loads(response.content), str(response.headers["ETag"])

    def replace(self, key: str, document: Mapping[str, Any], *, etag: str) -> str:
        response = self._calls.put(key, _dump(document), content_type=_JSON, if_match=etag)
        if response.status_code in (404, 409, 412):
            raise ConflictError(f"state document {key!r} changed since it was read")
        if response.status_code != 201:
            raise fail(response, f"replacing state document {key!r}")
        return str(response.headers["ETag"])

    def list_keys(self, prefix: str) -> list[str]:
        return sorted(b.name for b in self._container.list_blobs(name_starts_with=prefix))

    def delete(self, key: str) -> None:
        response = self._calls.delete(key)
        if response.status_code not in (202, 404):
            raise fail(response, f"deleting state document {key!r}")


class BlobDataStore:
    """The data container: one prefix per model, CSV and Parquet blobs under it."""

    def __init__(self, container: ContainerClient) -> None:
        self._container = container
        self._calls = BlobCalls(container)

    @property
    def container_name(self) -> str:
        return str(self._container.container_name)

    def list_files(self, prefix: str) -> list[DataFile]:
        files = [
            DataFile(name=b.name, etag=str(b.etag), size=int(b.size))
            for b in self._container.list_blobs(name_starts_with=prefix)
        ]
        return sorted(files, key=lambda f: f.name)

    def read_bytes(self, name: str) -> bytes:
        response = self._calls.get(name)
        if response.status_code == 404:
            raise NotFound(f"no data blob {name!r} in {self.container_name!r}")
        if response.status_code != 200:
            raise fail(response, f"reading data blob {name!r}")
        return bytes(response.content)

    def read_range(self, name: str, start: int, end: int) -> tuple[bytes, int]:
        """Bytes ``start`` to ``end`` (exclusive) of a blob, cut to its size, and the blob's
        size: one ranged read. An empty range (or an empty blob) reads nothing."""
        if end <= start:
            return b"", self._size(name)
        response = self._calls.get(name, byte_range=(start, end - 1))
        if response.status_code == 404:
            raise NotFound(f"no data blob {name!r} in {self.container_name!r}")
        if response.status_code == 416:  # the range starts past the end
            return b"", self._size(name)
        if response.status_code == 200:  # no range applied: the whole blob
            content = bytes(response.content)
            return content[start:end], len(content)
        if response.status_code != 206:
            raise fail(response, f"reading data blob {name!r}")
        total = response.headers.get("Content-Range", "").rpartition("/")[2]
        return bytes(response.content), int(total)

    def _size(self, name: str) -> int:
        response = self._calls.call("HEAD", name)
        if response.status_code == 404:
            raise NotFound(f"no data blob {name!r} in {self.container_name!r}")
        if response.status_code != 200:
            raise fail(response, f"reading data blob {name!r}")
        return int(response.headers.get("Content-Length", "0"))


class BlobArtifactStore:
    """The Azure ML datastore's container, addressed by ``azureml://`` URIs."""

    def __init__(self, container: ContainerClient, *, datastore: str) -> None:
        self._container = container
        self._datastore = datastore

    def write_json(self, path: str, document: Mapping[str, Any]) -> None:
        self._container.upload_blob(
            path, _dump(document), overwrite=True, content_settings=_JSON_CONTENT
        )

    def read_json(self, path: str) -> JSON:
        try:
            data = self._container.download_blob(path).readall()
        except ResourceNotFoundError as exc:
            raise NotFound(f"no artifact {path!r} in datastore {self._datastore!r}") from exc
        document = json.loads(data)
        if not isinstance(document, dict):
            raise NotFound(f"artifact {path!r} is not a JSON object")
        return document

    def read_bytes(self, path: str) -> bytes:
        try:
            return bytes(self._container.download_blob(path).readall())
        except ResourceNotFoundError as exc:
            raise NotFound(f"no artifact {path!r} in datastore {self._datastore!r}") from exc

    def uri(self, path: str) -> str:
        return f"azureml://datastores/{self._datastore}/paths/{path}"

    def copy(self, source: str, destination: str) -> None:
        """Server-side copy inside the container (Copy Blob from the source's URL: within
        one storage account the destination request's credentials authorise the source;
        such a copy completes synchronously). A copy still pending after ``COPY_WAIT``
        seconds is aborted and raised as an error, so the caller's retry starts over."""
        src = self._container.get_blob_client(source)
        dst = self._container.get_blob_client(destination)
        try:
            result = dst.start_copy_from_url(src.url)
        except ResourceNotFoundError as exc:
            raise NotFound(f"no artifact {source!r} in datastore {self._datastore!r}") from exc
        status = result.get("copy_status")
        deadline = time.monotonic() + COPY_WAIT
        while status == "pending" and time.monotonic() < deadline:
            time.sleep(0.2)
            status = dst.get_blob_properties().copy.status
        if status != "success":
            with contextlib.suppress(AzureError):
                dst.abort_copy(str(result["copy_id"]))
            raise AzureError(f"copy of {source!r} to {destination!r} did not finish ({status})")
