"""With storage down, a call gives up after a bounded number of quick tries (the client's
default backs off for minutes; Event Grid waits about 30 s)."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import ServiceRequestError
from azure.core.pipeline.transport import HttpTransport
from azure.storage.blob import BlobServiceClient

from shared.adapters import blob
from shared.adapters.blob import BlobStateStore, client_options


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
