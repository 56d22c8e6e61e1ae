"""The local host keeps what it refuses itself, decides each event of a batch on its own,
and its blob watcher catches up when storage was not listening at start."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from localdev.azurite import Azurite
from localdev.host import BlobSubscription, HostRefusal, LocalFunctionsHost
from tests.localdev.test_host import (
    SETTINGS,
    Recorder,
    build_app,
    call,
    eventgrid_event,
    notify,
    wait_for,
)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def refusals() -> list[HostRefusal]:
    return []


@pytest.fixture
def host(recorder: Recorder, refusals: list[HostRefusal]) -> Iterator[LocalFunctionsHost]:
    with LocalFunctionsHost(
        build_app(recorder), app_settings=SETTINGS, on_refused=refusals.append
    ) as running:
        yield running


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"[" * 1000 + b"]" * 1000, "nested too deeply"),
        (b'[{"id": "1", "n": ' + b"7" * 5000 + b"}]", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_unreadable_deliveries_are_400_and_kept_verbatim(host, refusals, body, problem):
    reply = notify(host, body)
    assert reply.status == 400 and problem in reply.text
    [refusal] = refusals
    assert refusal.body == body and refusal.status == 400 and problem in refusal.reason


def test_requests_the_host_refuses_are_kept(host, refusals):
    assert call("GET", host.eventgrid_url("on_event")).status == 405
    assert call("DELETE", f"{host.base_url}/api/models/m/retrain", b"x").status == 405
    assert call("POST", f"{host.base_url}/api/nothing/here", b"{}").status == 404
    assert [r.status for r in refusals] == [405, 405, 404]
    assert refusals[1].body == b"x" and refusals[1].method == "DELETE"


def test_secret_headers_are_not_kept(host, refusals):
    call("POST", f"{host.base_url}/api/none", b"", {"x-functions-key": "s3cret"})
    [refusal] = refusals
    assert "x-functions-key" not in refusal.headers


def test_one_bad_event_in_a_batch_does_not_lose_the_others(host, recorder, refusals):
    good = [eventgrid_event("/one"), eventgrid_event("/two")]
    batch = [good[0], {"id": "x", "subject": "no type"}, "text", good[1]]
    reply = notify(host, json.dumps(batch).encode())
    assert 200 <= reply.status < 300
    # the events of a delivery run at the same time: in no particular order
    assert sorted(e.subject for e in recorder.of("on_event")) == ["/one", "/two"]
    assert sorted(r.event_index for r in refusals if r.event_index is not None) == [1, 2]
    assert all(r.body == json.dumps(batch).encode() for r in refusals)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Forwarder:
    """A TCP relay from a loopback port to Azurite, started when the test says: until
    then, storage at that port is simply not listening."""

    def __init__(self, port: int, target: int) -> None:
        self.server = socket.create_server(("127.0.0.1", port))
        self.target = target
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            sink.close()

    def close(self) -> None:
        self.server.close()


def test_watcher_catches_up_when_storage_was_not_listening_at_start(
    recorder: Recorder, azurite: Azurite, new_container
):
    container = new_container("late")
    port = free_port()
    connection = azurite.connection_string.replace(f":{azurite.port}/", f":{port}/")
    subscription = BlobSubscription(connection, container.container_name, "on_event")
    with LocalFunctionsHost(
        build_app(recorder), app_settings=SETTINGS, blob_subscriptions=[subscription]
    ):
        container.upload_blob("written-while-storage-was-unreachable.csv", b"1")
        forwarder = Forwarder(port, azurite.port)
        try:
            wait_for(
                lambda: any(
                    e.subject.endswith("/written-while-storage-was-unreachable.csv")
                    for e in recorder.of("on_event")
                ),
                "the watcher to catch up on the blob written while storage was unreachable",
                timeout=30,
            )
        finally:
            forwarder.close()


def test_two_hosts_watching_one_container_emit_one_event_id_per_blob_version(
    azurite: Azurite, new_container
):
    container = new_container("twice")
    recorders = [Recorder(), Recorder()]
    hosts = [
        LocalFunctionsHost(
            build_app(recorder),
            app_settings=SETTINGS,
            blob_subscriptions=[
                BlobSubscription(
                    azurite.connection_string,
                    container.container_name,
                    "on_event",
                    poll_interval=0.05,
                )
            ],
        ).start()
        for recorder in recorders
    ]
    try:
        container.upload_blob("a.csv", b"1")
        container.upload_blob("a.csv", b"2", overwrite=True)
        wait_for(
            lambda: all(len(r.of("on_event")) >= 1 for r in recorders),
            "both hosts to deliver",
        )
        time.sleep(0.3)  # let both watchers see the overwrite too
    finally:
        for host in hosts:
            host.stop()
    versions = [{e.get_json()["eTag"]: e.id for e in r.of("on_event")} for r in recorders]
    common = versions[0].keys() & versions[1].keys()
    assert common
    assert all(versions[0][etag] == versions[1][etag] for etag in common)
