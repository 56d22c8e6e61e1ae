"""The local host invokes the events of one Event Grid delivery at the same time, as the
Functions Event Grid extension does (ProcessEventsAsync: one execution per event, awaited
together, 500 when any failed), on a host-wide pool of PYTHON_THREADPOOL_THREAD_COUNT
threads.

Concurrency is shown without clocks: the events of a delivery wait on a barrier that only
the other events of the same delivery can complete (bounded by a timeout, which fails the
event and so the delivery when the host invokes them one after the other)."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func
import pytest

from localdev.host import HostConfigurationError, LocalFunctionsHost

BARRIER_TIMEOUT = 10.0  # seconds; only reached when the host does not run events together


@dataclass
class Delivery:
    """What one delivery's events share: the barrier they meet at, what they did."""

    parties: int
    barrier: threading.Barrier = field(init=False)
    lock: threading.Lock = field(default_factory=threading.Lock)
    met: list[str] = field(default_factory=list)  # subjects that passed the barrier
    active: int = 0
    most_active: int = 0

    def __post_init__(self) -> None:
        self.barrier = threading.Barrier(self.parties)


class World:
    def __init__(self) -> None:
        self.delivery: Delivery | None = None

    def app(self) -> func.FunctionApp:
        app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

        @app.event_grid_trigger(arg_name="event")
        def on_event(event: func.EventGridEvent) -> None:
            delivery = self.delivery
            assert delivery is not None
            with delivery.lock:
                delivery.active += 1
                delivery.most_active = max(delivery.most_active, delivery.active)
            try:
                if event.subject.startswith("meet"):
                    delivery.barrier.wait(BARRIER_TIMEOUT)
                    with delivery.lock:
                        delivery.met.append(event.subject)
                if event.subject.endswith("fail"):
                    raise RuntimeError(f"{event.subject} fails on purpose")
            finally:
                with delivery.lock:
                    delivery.active -= 1

        return app


def event(subject: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "topic": "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/s",
        "subject": subject,
        "eventType": "Test.Happened",
        "eventTime": "2024-05-01T10:00:00Z",
        "dataVersion": "1.0",
        "metadataVersion": "1",
        "data": {},
    }


def deliver(host: LocalFunctionsHost, events: list[dict[str, Any]]) -> tuple[int, str]:
    request = urllib.request.Request(
        host.eventgrid_url("on_event"),
        data=json.dumps(events).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "aeg-event-type": "Notification"},
    )
    try:
        with urllib.request.urlopen(request, timeout=3 * BARRIER_TIMEOUT) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.delenv("PYTHON_THREADPOOL_THREAD_COUNT", raising=False)  # the default is shown
    return World()


@pytest.fixture
def host(world: World) -> Iterator[LocalFunctionsHost]:
    with LocalFunctionsHost(world.app(), app_settings={}) as running:
        yield running


def test_the_events_of_one_delivery_are_invoked_at_the_same_time(
    world: World, host: LocalFunctionsHost
) -> None:
    assert host.invocation_threads == 32  # PYTHON_THREADPOOL_THREAD_COUNT unset
    world.delivery = Delivery(parties=5)
    subjects = [f"meet-{n}" for n in range(5)]

    status, body = deliver(host, [event(s) for s in subjects])

    assert (status, body) == (202, "")
    assert sorted(world.delivery.met) == subjects  # each met all the others at the barrier
    assert world.delivery.most_active == 5


def test_one_failing_event_answers_500_and_the_others_are_still_decided(
    world: World, host: LocalFunctionsHost
) -> None:
    world.delivery = Delivery(parties=5)
    events = [event(s) for s in ("meet-a", "meet-b-fail", "meet-c", "meet-d-fail", "meet-e")]

    status, body = deliver(host, events)

    assert status == 500
    # every event ran to its end, the failing ones too (they passed the barrier together)
    assert sorted(world.delivery.met) == sorted(e["subject"] for e in events)
    # the failures are reported in the order of the events, whatever order they ended in
    assert body == (
        "Function 'on_event' failed for "
        f"event {events[1]['id']}: RuntimeError('meet-b-fail fails on purpose'); "
        f"event {events[3]['id']}: RuntimeError('meet-d-fail fails on purpose')"
    )
    # the host keeps serving: the next delivery is decided on its own
    world.delivery = Delivery(parties=2)
    assert deliver(host, [event("meet-1"), event("meet-2")])[0] == 202


def test_the_pool_is_sized_by_python_threadpool_thread_count(world: World) -> None:
    settings = {"PYTHON_THREADPOOL_THREAD_COUNT": "1"}
    with LocalFunctionsHost(world.app(), app_settings=settings) as host:
        assert host.invocation_threads == 1
        world.delivery = Delivery(parties=1)
        status, _ = deliver(host, [event("one"), event("two"), event("three-fail")])

    assert status == 500
    assert world.delivery.most_active == 1  # one thread: one event at a time


@pytest.mark.parametrize("value", ["0", "-3", "many", "2.5"])
def test_a_thread_count_that_is_not_a_positive_whole_number_is_refused(
    world: World, value: str
) -> None:
    with pytest.raises(HostConfigurationError, match="PYTHON_THREADPOOL_THREAD_COUNT"):
        LocalFunctionsHost(world.app(), app_settings={"PYTHON_THREADPOOL_THREAD_COUNT": value})
