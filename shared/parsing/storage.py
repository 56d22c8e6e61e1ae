"""Azure Storage ``BlobCreated`` events for the data container."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shared.errors import InvalidInput, UnknownModel
from shared.messages import (
    NewDataArrived,
)
from shared.parsing.common import (
    BLOB_CREATED,
    envelope,
    event_data,
)
from shared.settings import ModelConfig


def parse_blob_created(
    event: Mapping[str, Any], *, container: str, models: Sequence[ModelConfig]
) -> NewDataArrived:
    """A ``Microsoft.Storage.BlobCreated`` event for the data container."""
    event_id, event_type, subject, event_time, raw = envelope(event)
    if event_type != BLOB_CREATED:
        raise InvalidInput(f"expected a {BLOB_CREATED} event, got {event_type!r}")
    data = event_data(raw, BLOB_CREATED)
    marker = "/containers/"
    if marker not in subject or "/blobs/" not in subject:
        raise InvalidInput(f"subject {subject!r} does not name a blob")
    blob_container, _, name = subject.split(marker, 1)[1].partition("/blobs/")
    if blob_container != container:
        raise InvalidInput(
            f"blob {name!r} is in container {blob_container!r}; the service reads data from "
            f"{container!r} (check the Event Grid subscription's subject filter)"
        )
    model = next((m for m in models if name.startswith(m.prefix)), None)
    if model is None:
        known = ", ".join(m.prefix for m in models)
        raise UnknownModel(f"no model owns blob {name!r}: known prefixes are {known}")
    try:
        size = int(data.get("contentLength", 0))
    except (TypeError, ValueError):
        raise InvalidInput(f"contentLength {data.get('contentLength')!r} is not a number") from None
    return NewDataArrived(
        model=model.name,
        blob_name=name,
        etag=str(data.get("eTag", "")),
        size=size,
        api=str(data.get("api", "")),
        url=str(data.get("url", "")),
        event_id=event_id,
        event_time=event_time,
    )
