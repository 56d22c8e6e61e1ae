"""With storage down, a call gives up after a bounded number of quick tries (the client's
default backs off for minutes; Event Grid waits about 30 s)."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import AzureError, ServiceRequestError
from azure.core.pipeline.transport import HttpTransport
from azure.storage.blob import BlobServiceClient

from shared.adapters import blob
from shared.adapters.blob import BlobStateStore, client_options
from shared.adapters.budget import invocation_budget


class DownTransport(HttpTransport):
    """Storage that refuses every connection; records the tries and the waits."""

    def __init__(self) -> None:
        self.tries = 0
        self.slept = 0.0

    def send(self, request: Any, **kwargs: Any) -> Any:
        self.tries += 1
        raise ServiceRequestError("connection refused")

    def sleep(self, duration: float) -> None:
        self.slept += duration

    def open(self) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> DownTransport:
        return self

    def __exit__(self, *args: Any) -> None: ...


def test_a_state_read_gives_up_after_a_bounded_budget():
    transport = DownTransport()
    service = BlobServiceClient(
        "https://account.blob.core.windows.net",
        credential="a2V5",
        transport=transport,
        **client_options(),
    )
    store = BlobStateStore(service.get_container_client("state"))
    with pytest.raises(ServiceRequestError):
        store.get("runs/x.json")
    assert transport.tries == blob.RETRY_TOTAL + 1
    assert transport.slept <= blob.RETRY_TOTAL * (blob.RETRY_BACKOFF + blob.RETRY_JITTER)


class SlowTransport(DownTransport):
    """Storage that does not answer in time; records the timeouts each try was given."""

    def __init__(self) -> None:
        super().__init__()
        self.timeouts: list[tuple[float, float]] = []

    def send(self, request: Any, **kwargs: Any) -> Any:
        self.timeouts.append((kwargs["connection_timeout"], kwargs["read_timeout"]))
        return super().send(request, **kwargs)


def store_over(transport: HttpTransport) -> BlobStateStore:
    service = BlobServiceClient(
        "https://account.blob.core.windows.net",
        credential="a2V5",
        transport=transport,
        **client_options(),
    )
    return BlobStateStore(service.get_container_client("state"))


def test_inside_an_invocation_budget_each_try_gets_only_what_is_left():
    transport = SlowTransport()
    with invocation_budget(2.0), pytest.raises(AzureError):
        store_over(transport).get("runs/x.json")
    assert transport.timeouts and all(c <= 2.0 and r <= 2.0 for c, r in transport.timeouts)


def test_a_spent_budget_makes_no_request_at_all():
    transport = SlowTransport()
    with invocation_budget(0.0), pytest.raises(AzureError):
        store_over(transport).get("runs/x.json")
    assert transport.tries == 0
