"""The blob operations on the hot path (a state document's read, create and conditional
replace, a data blob's read, a byte range of it), each one REST call through a short
pipeline.

Each call of the storage SDK's clients builds a ``BlobClient`` (and its generated client
and serializers), runs sixteen policies, goes through ``requests`` and ``urllib3``, and
deserializes every response header into a properties object: about 1.5 ms of CPU per call
(measured against Azurite), which is most of what an arrival costs the Function App. Here
a call runs the policies that matter (the storage headers with ``x-ms-date``, the
client's own retry policy: the invocation's time budget, the client's credential: shared
key, SAS or token, and the client's distributed tracing: a span per request, so
Application Insights shows the call as a dependency) over ``http.client`` with one
keep-alive connection per thread and host, HTTPS verified with the CA bundle the SDK's
own transport uses (:func:`ssl_context`): about 0.5 ms. Same requests, same answers, same
retries and timeouts.

A client built with a transport of its own (the transport-level tests, a proxy in the
environment) keeps it: only the SDK's default ``requests`` transport is replaced.
"""

from __future__ import annotations

import copy
import functools
import http.client
import os
import select
import ssl
import threading
import urllib.parse
import urllib.request
from typing import Any

from azure.core.exceptions import (
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.pipeline import Pipeline
from azure.core.pipeline.policies import DistributedTracingPolicy
from azure.core.pipeline.transport import HttpTransport, RequestsTransport
from azure.core.rest import HttpRequest
from azure.core.rest._http_response_impl import HttpResponseImpl
from azure.core.utils import CaseInsensitiveDict
from azure.storage.blob import ContainerClient

DEFAULT_CONNECTION_TIMEOUT = 3.0
DEFAULT_READ_TIMEOUT = 30.0


class _Response(HttpResponseImpl):
    """A response read whole (the hot path's bodies are small)."""


_MAX_HEADER_LINE = 65536
_MAX_HEADERS = 100


class _Headers:
    """A response's header lines as ``http.client.HTTPResponse`` reads them (``get``,
    ``get_all``, ``items``): a list and a lower-cased index, without the ``email``
    package's parser (``http.client``'s own: about a seventh of the host's CPU per
    storage call in a profile of the arrival path)."""

    __slots__ = ("_index", "_pairs")

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs
        self._index: dict[str, list[str]] = {}
        for name, value in pairs:
            self._index.setdefault(name.lower(), []).append(value)

    def get(self, name: str, default: Any = None) -> Any:
        values = self._index.get(name.lower())
        return values[0] if values else default

    def get_all(self, name: str, default: Any = None) -> Any:
        return list(self._index.get(name.lower(), ())) or default

    def items(self) -> list[tuple[str, str]]:
        return list(self._pairs)


def _read_header_lines(fp: Any) -> list[tuple[str, str]]:
    """The header lines up to the blank line (a folded line continues the previous
    value), within ``http.client``'s limits (line length, number of headers)."""
    pairs: list[tuple[str, str]] = []
    lines = 0  # folded lines count too: they are lines http.client would count
    while True:
        line = fp.readline(_MAX_HEADER_LINE + 1)
        if len(line) > _MAX_HEADER_LINE:
            raise http.client.LineTooLong("header line")
        if line in (b"\r\n", b"\n", b""):
            return pairs
        lines += 1
        if lines > _MAX_HEADERS:
            raise http.client.HTTPException(f"got more than {_MAX_HEADERS} headers")
        text = line.decode("iso-8859-1").rstrip("\r\n")
        if text[:1] in (" ", "\t") and pairs:
            name, value = pairs[-1]
            pairs[-1] = (name, f"{value} {text.strip()}")
            continue
        name, _, value = text.partition(":")
        pairs.append((name.strip(), value.strip()))


class _LeanHTTPResponse(http.client.HTTPResponse):
    """``http.client.HTTPResponse`` reading its headers with ``_read_header_lines``; the
    rest (status line, chunked bodies, lengths, when the connection closes) as the
    standard library's ``begin`` decides it."""

    def begin(self) -> None:
        if self.headers is not None:
            return
        while True:
            version, status, reason = self._read_status()
            if status != http.client.CONTINUE:
                break
            _read_header_lines(self.fp)  # the interim response's headers
        self.code = self.status = status
        self.reason = reason.strip()
        if version in ("HTTP/1.0", "HTTP/0.9"):
            self.version = 10
        elif version.startswith("HTTP/1."):
            self.version = 11
        else:
            raise http.client.UnknownProtocol(version)
        self.headers = self.msg = _Headers(_read_header_lines(self.fp))
        encoding = self.headers.get("transfer-encoding")
        self.chunked = bool(encoding and encoding.lower() == "chunked")
        self.chunk_left = None
        self.will_close = self._check_close()
        self.length = None
        length = self.headers.get("content-length")
        if length and not self.chunked:
            try:
                self.length = int(length)
            except ValueError:
                self.length = None
            else:
                if self.length < 0:
                    self.length = None
        if (
            status in (http.client.NO_CONTENT, http.client.NOT_MODIFIED)
            or 100 <= status < 200
            or self._method == "HEAD"
        ):
            self.length = 0
        if not self.will_close and not self.chunked and self.length is None:
            self.will_close = True


class HttpClientTransport(HttpTransport):
    """An azure-core transport over ``http.client``: one keep-alive connection per thread
    and host, honouring the pipeline's ``connection_timeout`` and ``read_timeout``. A
    connection the server closed while idle is opened again before a request is sent;
    a failure to connect is a ``ServiceRequestError`` (nothing was sent), a failure after
    sending a ``ServiceResponseError`` (as the SDK's transport raises them, so the retry
    policy treats them alike). A forked child never uses its parent's connections."""

    def __init__(self) -> None:
        self._local = threading.local()

    def __enter__(self) -> HttpClientTransport:
        return self

    def __exit__(self, *args: Any) -> None: ...

    def open(self) -> None: ...

    def close(self) -> None: ...

    def _connection(
        self, scheme: str, host: str, port: int | None, connect_timeout: float
    ) -> http.client.HTTPConnection:
        connections: dict[tuple[str, str, int | None], http.client.HTTPConnection] | None = getattr(
            self._local, "connections", None
        )
        if connections is None or getattr(self._local, "pid", None) != os.getpid():
            # none yet in this thread, or a forked child's copy of its parent's: new ones
            connections = self._local.connections = {}
            self._local.pid = os.getpid()
        key = (scheme, host, port)
        connection = connections.get(key)
        if connection is not None and connection.sock is not None and _dropped(connection.sock):
            connection.close()
        if connection is None:
            if scheme == "https":
                try:
                    context = ssl_context()
                except (OSError, ssl.SSLError) as exc:  # the CA bundle named cannot be read
                    raise ServiceRequestError(exc, error=exc) from exc
                connection = http.client.HTTPSConnection(host, port, context=context)
            else:
                connection = http.client.HTTPConnection(host, port)
            connections[key] = connection
            connection.response_class = _LeanHTTPResponse
        if connection.sock is None:
            connection.timeout = connect_timeout
            try:
                connection.connect()
            except OSError as exc:
                connection.close()
                raise ServiceRequestError(exc, error=exc) from exc
        return connection

    def send(self, request: Any, **kwargs: Any) -> _Response:
        connect_timeout = float(kwargs.get("connection_timeout") or DEFAULT_CONNECTION_TIMEOUT)
        read_timeout = float(kwargs.get("read_timeout") or DEFAULT_READ_TIMEOUT)
        url = urllib.parse.urlsplit(request.url)
        connection = self._connection(
            url.scheme, url.hostname or "", url.port, max(connect_timeout, 0.001)
        )
        assert connection.sock is not None
        connection.sock.settimeout(max(read_timeout, 0.001))
        target = url.path + (f"?{url.query}" if url.query else "")
        body = request.content if request.content is not None else None
        try:
            connection.request(request.method, target, body=body, headers=dict(request.headers))
            answer = connection.getresponse()
            content = answer.read()
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise ServiceResponseError(exc, error=exc) from exc
        headers = CaseInsensitiveDict(answer.getheaders())
        response = _Response(
            request=request,
            internal_response=answer,
            status_code=answer.status,
            reason=answer.reason,
            content_type=headers.get("Content-Type"),
            headers=headers,
            stream_download_generator=None,
        )
        response._content = content
        response._is_stream_consumed = True
        if answer.will_close:
            connection.close()
        return response


def _dropped(sock: Any) -> bool:
    """Whether an idle connection was closed by the server (readable with nothing sent
    means end of stream, or an error)."""
    try:
        if hasattr(select, "poll"):  # any descriptor number (select() stops at 1,024)
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """The TLS context of the hot path's HTTPS connections: the CA bundle the SDK's own
    transport (``requests``) verifies storage with: ``REQUESTS_CA_BUNDLE`` or
    ``CURL_CA_BUNDLE`` when set (``requests`` honours them), else certifi's (installed
    with ``requests``), else the system's store."""
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if not bundle:
        try:
            import certifi
        except ImportError:  # pragma: no cover - requests always brings it
            return ssl.create_default_context()
        bundle = certifi.where()
    if os.path.isdir(bundle):  # requests takes a folder of hashed certificates too
        return ssl.create_default_context(capath=bundle)
    return ssl.create_default_context(cafile=bundle)


_SHARED = HttpClientTransport()


def _base_transport(container: ContainerClient) -> Any:
    transport = container._pipeline._transport  # the client's own
    while not isinstance(transport, RequestsTransport) and hasattr(transport, "_transport"):
        transport = transport._transport  # a wrapper shared with the service
    return transport


class BlobCalls:
    """Single REST calls on the blobs of one container (``ContainerClient``), through a
    pipeline of its headers, retry and credential policies. Raises ``HttpResponseError``
    (an ``AzureError``) for an answer other than those each method expects."""

    def __init__(self, container: ContainerClient) -> None:
        transport = _base_transport(container)
        if isinstance(transport, RequestsTransport) and not urllib.request.getproxies():
            transport = _SHARED
        policies: list[Any] = [
            copy.copy(container._config.headers_policy),
            copy.copy(container._config.retry_policy),
        ]
        credential = getattr(container, "_credential_policy", None)
        if credential is not None:
            policies.append(copy.copy(credential))
        # a span per request, as the SDK's pipeline makes one (Application Insights shows
        # the call as a dependency), with the client's own tracing options
        policies.append(_tracing_policy(container))
        self._pipeline = Pipeline(transport, policies=policies)
        self._version = str(container._client._config.version)
        parts = urllib.parse.urlsplit(container.url)
        self._base = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        self._query = parts.query  # a SAS, when the client has one

    def url(self, name: str) -> str:
        url = f"{self._base}/{urllib.parse.quote(name, safe='~/')}"
        return f"{url}?{self._query}" if self._query else url

    def call(
        self,
        method: str,
        name: str,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> Any:
        """One call; the response whatever its status."""
        request = HttpRequest(
            method,
            self.url(name),
            headers={"x-ms-version": self._version, **(headers or {})},
            content=content,
        )
        return self._pipeline.run(request).http_response

    def get(self, name: str, *, byte_range: tuple[int, int] | None = None) -> Any:
        """GET a blob (a ``byte_range`` [start, end] inclusive: 206 when it is one); the
        response, 404 included."""
        headers = {"x-ms-range": f"bytes={byte_range[0]}-{byte_range[1]}"} if byte_range else {}
        return self.call("GET", name, headers)

    def put(
        self,
        name: str,
        body: bytes,
        *,
        content_type: str,
        if_none_match: bool = False,
        if_match: str | None = None,
    ) -> Any:
        """Put Blob (a block blob in one request) under a precondition; the response."""
        headers = {"x-ms-blob-type": "BlockBlob", "x-ms-blob-content-type": content_type}
        if if_none_match:
            headers["If-None-Match"] = "*"
        if if_match is not None:
            headers["If-Match"] = if_match
        return self.call("PUT", name, headers, body)

    def delete(self, name: str) -> Any:
        return self.call("DELETE", name)


def _tracing_policy(container: ContainerClient) -> DistributedTracingPolicy:
    """The client pipeline's own ``DistributedTracingPolicy`` (its options as the client
    was built), else a new one."""
    for policy in getattr(container._pipeline, "_impl_policies", ()):
        found = getattr(policy, "_policy", policy)  # a SansIO policy runs wrapped
        if isinstance(found, DistributedTracingPolicy):
            return found
    return DistributedTracingPolicy()


def fail(response: Any, what: str) -> HttpResponseError:
    """The error for an answer the caller did not expect (storage refused or failed)."""
    code = response.headers.get("x-ms-error-code", "")
    return HttpResponseError(
        message=f"{what}: storage answered {response.status_code} {code}".strip(),
        response=response,
    )
