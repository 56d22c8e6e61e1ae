"""The hot path's single REST calls (``shared/adapters/blobhttp.py``): the same answers as
the SDK's clients against Azurite, over one keep-alive connection per thread, and the same
bounded failures when storage refuses connections or never answers."""

from __future__ import annotations

import socket
import threading

import pytest
from azure.core.exceptions import AzureError, ServiceRequestError
from azure.storage.blob import BlobServiceClient

from shared.adapters import blob
from shared.adapters.blob import BlobDataStore, BlobStateStore, client_options
from shared.adapters.blobhttp import BlobCalls, HttpClientTransport
from shared.adapters.budget import invocation_budget
from shared.errors import ConflictError, NotFound


def test_state_documents_round_trip_with_the_sdk_clients_etags(new_container, azurite):
    container = new_container("calls")
    # the service's client (its default transport is replaced by the lean one)
    service = BlobServiceClient.from_connection_string(
        azurite.connection_string, **client_options()
    )
    store = BlobStateStore(service.get_container_client(container.container_name))
    etag = store.create("runs/a b+ü.json", {"n": 1})
    sdk = container.get_blob_client("runs/a b+ü.json").get_blob_properties()
    assert sdk.etag == etag
    assert sdk.content_settings.content_type == "application/json"
    assert store.get("runs/a b+ü.json") == ({"n": 1}, etag)
    with pytest.raises(ConflictError):
        store.create("runs/a b+ü.json", {"n": 2})
    second = store.replace("runs/a b+ü.json", {"n": 2}, etag=etag)
    with pytest.raises(ConflictError):
        store.replace("runs/a b+ü.json", {"n": 3}, etag=etag)
    assert store.get("runs/a b+ü.json") == ({"n": 2}, second)
    store.delete("runs/a b+ü.json")
    store.delete("runs/a b+ü.json")  # gone already: nothing to do
    with pytest.raises(NotFound):
        store.get("runs/a b+ü.json")


def test_data_reads_whole_and_by_range(new_container, azurite):
    container = new_container("calls")
    container.upload_blob("m/x.csv", b"0123456789")
    container.upload_blob("m/empty.csv", b"")
    service = BlobServiceClient.from_connection_string(
        azurite.connection_string, **client_options()
    )
    data = BlobDataStore(service.get_container_client(container.container_name))
    assert data.read_bytes("m/x.csv") == b"0123456789"
    assert data.read_range("m/x.csv", 6, 10) == (b"6789", 10)
    assert data.read_range("m/x.csv", 8, 100) == (b"89", 10)
    assert data.read_range("m/x.csv", 20, 30) == (b"", 10)
    assert data.read_range("m/empty.csv", 0, 8) == (b"", 0)
    with pytest.raises(NotFound):
        data.read_bytes("m/missing.csv")
    with pytest.raises(NotFound):
        data.read_range("m/missing.csv", 0, 8)


def test_a_thread_keeps_one_connection(new_container, azurite):
    container = new_container("calls")
    accepted = _ConnectionCounter(azurite.blob_endpoint)
    with accepted:
        service = BlobServiceClient(
            accepted.url(),
            credential=_key(azurite.connection_string),
            **client_options(),
        )
        store = BlobStateStore(service.get_container_client(container.container_name))
        for i in range(5):
            store.create(f"k/{i}.json", {"i": i})
            store.get(f"k/{i}.json")
    assert accepted.count == 1


def test_a_refused_connection_fails_after_the_bounded_retries():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    service = BlobServiceClient(
        f"http://127.0.0.1:{port}/devstoreaccount1", credential=None, **client_options()
    )
    calls = BlobCalls(service.get_container_client("state"))
    with pytest.raises(ServiceRequestError):
        calls.get("runs/x.json")


def test_storage_that_never_answers_fails_within_the_budget():
    with _Silent() as silent:
        service = BlobServiceClient(
            f"http://127.0.0.1:{silent.port}/devstoreaccount1", credential=None, **client_options()
        )
        store = BlobStateStore(service.get_container_client("state"))
        with invocation_budget(0.6), pytest.raises(AzureError):
            store.get("runs/x.json")
    # each try got no more than what was left of the budget; none started after it
    assert 1 <= silent.connections <= blob.RETRY_TOTAL + 1


def test_the_transport_is_only_swapped_for_the_sdks_default():
    class Mine(HttpClientTransport):
        pass

    mine = Mine()
    service = BlobServiceClient(
        "https://account.blob.core.windows.net", credential="a2V5", transport=mine
    )
    calls = BlobCalls(service.get_container_client("state"))
    assert calls._pipeline._transport is mine


# -------------------------------------------------------------------------------- helpers


def _key(connection_string: str) -> dict[str, str]:
    parts = dict(p.split("=", 1) for p in connection_string.split(";") if "=" in p)
    return {"account_name": parts["AccountName"], "account_key": parts["AccountKey"]}


class _ConnectionCounter:
    """A TCP relay in front of Azurite that counts the connections it accepts."""

    def __init__(self, endpoint: str) -> None:
        host_port = endpoint.split("//", 1)[1].split("/", 1)[0]
        host, port = host_port.rsplit(":", 1)
        self.target = (host, int(port))
        self.account = endpoint.rstrip("/").rsplit("/", 1)[1]
        self.count = 0
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen()
        self.port = self.server.getsockname()[1]

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{self.account}"

    def __enter__(self) -> _ConnectionCounter:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *args: object) -> None:
        self.server.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            self.count += 1
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass
    finally:
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Silent:
    """Accepts connections, reads the requests, never answers."""

    def __init__(self) -> None:
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen()
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self.held: list[socket.socket] = []

    def __enter__(self) -> _Silent:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *args: object) -> None:
        self.server.close()
        for held in self.held:
            held.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            self.held.append(client)


def test_the_benchs_account_sas_works_on_the_hot_path_and_expires(new_container, azurite):
    from bench.trigger_throughput import sas_connection_string

    container = new_container("calls")
    container.upload_blob("m/x.csv", b"0123456789")
    service = BlobServiceClient.from_connection_string(
        sas_connection_string(azurite.blob_endpoint), **client_options()
    )
    client = service.get_container_client(container.container_name)
    store, data = BlobStateStore(client), BlobDataStore(client)
    etag = store.create("policy/m.json", {"n": 1})
    second = store.replace("policy/m.json", {"n": 2}, etag=etag)
    with pytest.raises(ConflictError):
        store.replace("policy/m.json", {"n": 3}, etag=etag)
    assert store.get("policy/m.json") == ({"n": 2}, second)
    assert data.read_bytes("m/x.csv") == b"0123456789"
    store.delete("policy/m.json")
    expired = BlobServiceClient.from_connection_string(
        sas_connection_string(azurite.blob_endpoint, hours=-1), **client_options()
    )
    with pytest.raises(AzureError):  # refused: the SAS is what authenticates the calls
        BlobDataStore(expired.get_container_client(container.container_name)).read_bytes("m/x.csv")
