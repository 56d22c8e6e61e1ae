"""The hot path's single REST calls (``shared/adapters/blobhttp.py``) as the storage SDK's
own pipeline makes them, for what is not in the request line: each call is a client span
of the SDK's distributed tracing (with its ``traceparent`` header), recorded at the
azure-core transport; and HTTPS is verified against the CA bundle the SDK's transport
uses (certifi's, or ``REQUESTS_CA_BUNDLE``), tried against a loopback TLS server."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import certifi
import pytest
from azure.core.exceptions import ServiceRequestError
from azure.core.rest import HttpRequest
from azure.core.settings import settings
from azure.storage.blob import BlobServiceClient
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.adapters.blobhttp import BlobCalls, HttpClientTransport, ssl_context
from tests.delivery.test_blob_calls_identity import ACCOUNT, Identity, Recording

# ------------------------------------------------------------------ tracing


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Spans of this test, the SDK's tracing switched on for its duration."""
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
        provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    before = settings.tracing_enabled()
    settings.tracing_enabled = True
    try:
        yield exporter
    finally:
        settings.tracing_enabled = before
        exporter.shutdown()  # the processor stays, exporting nothing more


def test_each_call_is_a_client_span_whose_context_goes_with_the_request(spans):
    transport = Recording(200)
    service = BlobServiceClient(ACCOUNT, credential=Identity(), transport=transport)
    calls = BlobCalls(service.get_container_client("retrain-state"))
    calls.get("policy/m.json")
    calls.put("ledger/m/1.json", b"{}", content_type="application/json", if_none_match=True)
    [get_span, put_span] = spans.get_finished_spans()
    assert (get_span.name, put_span.name) == ("GET", "PUT")
    assert get_span.kind == trace.SpanKind.CLIENT
    url = str(get_span.attributes.get("url.full") or get_span.attributes.get("http.url"))
    assert url.endswith("/retrain-state/policy/m.json")
    status = get_span.attributes.get("http.response.status_code")
    assert (status or get_span.attributes.get("http.status_code")) == 200
    for request, span in zip(transport.requests, (get_span, put_span), strict=True):
        trace_id = format(span.context.trace_id, "032x")
        span_id = format(span.context.span_id, "016x")
        assert request.headers["traceparent"].startswith(f"00-{trace_id}-{span_id}-")


def test_the_clients_own_tracing_policy_is_used():
    service = BlobServiceClient(ACCOUNT, credential=Identity(), transport=Recording(200))
    container = service.get_container_client("retrain-state")
    calls = BlobCalls(container)
    own = [getattr(p, "_policy", p) for p in container._pipeline._impl_policies]
    ours = [getattr(p, "_policy", p) for p in calls._pipeline._impl_policies]
    traced = [p for p in ours if type(p).__name__ == "DistributedTracingPolicy"]
    assert len(traced) == 1 and any(p is traced[0] for p in own)


def test_without_tracing_no_span_and_no_trace_header():
    transport = Recording(200)
    service = BlobServiceClient(ACCOUNT, credential=Identity(), transport=transport)
    assert not settings.tracing_enabled()
    BlobCalls(service.get_container_client("retrain-state")).get("policy/m.json")
    assert "traceparent" not in transport.requests[0].headers


# ------------------------------------------------------------------ TLS


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A loopback HTTPS server with a self-signed certificate for 127.0.0.1, answering
    every request 200; its URL and the certificate's file."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    command = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    command += ["-nodes", "-days", "1", "-keyout", str(key), "-out", str(cert)]
    command += ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
    subprocess.run(
        command,
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)  # so the loop sees ``stop`` (a closed socket does not wake accept)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                raw, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            raw.settimeout(5)
            try:
                with context.wrap_socket(raw, server_side=True) as conn:
                    conn.recv(65536)
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            except (OSError, ssl.SSLError):
                continue  # the client refused the certificate

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.getsockname()[1]}/devstoreaccount1/c/b", cert
    finally:
        stop.set()
        server.close()
        thread.join(10)


def _get(url: str) -> Any:
    request = HttpRequest("GET", url)
    return HttpClientTransport().send(request, connection_timeout=5, read_timeout=5)


def test_https_is_verified_with_certifi_unless_the_sdks_ca_bundle_setting_names_another(
    tls_server, monkeypatch
):
    url, cert = tls_server
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    ssl_context.cache_clear()
    try:
        expected = ssl.create_default_context(cafile=certifi.where()).get_ca_certs()
        assert ssl_context().get_ca_certs() == expected
        with pytest.raises(ServiceRequestError, match="CERTIFICATE_VERIFY_FAILED"):
            _get(url)  # a certificate certifi does not vouch for
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
        ssl_context.cache_clear()
        response = _get(url)
        assert response.status_code == 200 and response.content == b"ok"
    finally:
        ssl_context.cache_clear()


def test_a_ca_bundle_folder_is_used_as_requests_uses_it_and_a_missing_one_is_a_request_error(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path))  # a folder (hashed certificates)
    ssl_context.cache_clear()
    try:
        assert ssl_context().verify_mode == ssl.CERT_REQUIRED  # a folder: no IsADirectoryError
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "missing.pem"))
        ssl_context.cache_clear()
        with pytest.raises(ServiceRequestError):
            _get("https://127.0.0.1:9/devstoreaccount1/c/b")
    finally:
        ssl_context.cache_clear()
