"""The hot path's single REST calls on Azure: with the Function App's identity (a token
credential, over HTTPS) each call carries the same authorization, version and
preconditions as the storage SDK's own client sends for the same operation, recorded at
the azure-core transport (nothing reaches Azure)."""

from __future__ import annotations

from typing import Any

from azure.core.credentials import AccessToken
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest._http_response_impl import HttpResponseImpl
from azure.core.utils import CaseInsensitiveDict
from azure.storage.blob import BlobServiceClient

from shared.adapters.blobhttp import BlobCalls

ACCOUNT = "https://retrainstate.blob.core.windows.net"


class Identity:
    """A token credential, as DefaultAzureCredential is to the SDK."""

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken("identity-token", 4_102_444_800)


class _Raw:
    """The transport's own response object, which the SDK closes."""

    def close(self) -> None: ...


class Recording(HttpTransport):  # type: ignore[type-arg]
    """Answers every request with ``status`` and keeps the requests."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.requests: list[Any] = []

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *args: object) -> None: ...

    def open(self) -> None: ...

    def close(self) -> None: ...

    def send(self, request: Any, **kwargs: Any) -> Any:
        self.requests.append(request)
        headers = CaseInsensitiveDict(
            {
                "ETag": '"0x1"',
                "Last-Modified": "Wed, 02 Dec 2026 21:00:00 GMT",
                "x-ms-request-id": "r",
                "x-ms-version": "2025-01-05",
                "Content-Length": "0",
            }
        )
        response = HttpResponseImpl(
            request=request,
            internal_response=_Raw(),
            status_code=self.status,
            reason="OK",
            content_type=None,
            headers=headers,
            stream_download_generator=None,
        )
        response._content = b""
        response._is_stream_consumed = True
        return response


def _container(transport: Recording, identity: Identity) -> Any:
    service = BlobServiceClient(ACCOUNT, credential=identity, transport=transport)
    return service.get_container_client("state")


def test_a_conditional_create_sends_what_the_sdk_sends_with_the_apps_identity():
    sdk_transport, ours_transport = Recording(201), Recording(201)
    sdk_identity, our_identity = Identity(), Identity()
    _container(sdk_transport, sdk_identity).upload_blob("runs/k.json", b"{}", overwrite=False)
    answer = BlobCalls(_container(ours_transport, our_identity)).put(
        "runs/k.json", b"{}", content_type="application/json", if_none_match=True
    )
    assert answer.status_code == 201
    [sdk], [ours] = sdk_transport.requests, ours_transport.requests
    assert (ours.method, ours.url) == (sdk.method, sdk.url)
    for header in ("Authorization", "x-ms-version", "x-ms-blob-type", "If-None-Match"):
        assert ours.headers[header] == sdk.headers[header], header
    assert ours.headers["Authorization"] == "Bearer identity-token"
    assert our_identity.scopes == sdk_identity.scopes  # the same audience
    assert "x-ms-date" in ours.headers


def test_a_read_and_a_ranged_read_carry_the_identity():
    transport = Recording(200)
    calls = BlobCalls(_container(transport, Identity()))
    calls.get("data/a b.parquet")
    calls.get("data/a b.parquet", byte_range=(10, 19))
    whole, ranged = transport.requests
    assert whole.method == ranged.method == "GET"
    assert whole.url == f"{ACCOUNT}/state/data/a%20b.parquet"
    assert ranged.headers["x-ms-range"] == "bytes=10-19" and "x-ms-range" not in whole.headers
    assert {r.headers["Authorization"] for r in (whole, ranged)} == {"Bearer identity-token"}
