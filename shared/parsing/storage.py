"""Azure Storage ``BlobCreated`` and ``BlobDeleted`` events for the data container."""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

from azure.eventgrid import SystemEventNames

from shared.errors import InvalidInput, UnknownModel
from shared.messages import (
    DataDeleted,
    NewDataArrived,
)
from shared.parsing.common import (
    BLOB_CREATED,
    MAX_NAME,
    check_blob_name,
    envelope,
    event_data,
    printable,
    whole_number,
)
from shared.parsing.trust import check_storage
from shared.settings import ModelConfig, TrustSettings

BLOB_DELETED = SystemEventNames.StorageBlobDeletedEventName.value

# The largest block blob Azure Storage accepts (190.7 TiB); a bigger length is forged.
MAX_CONTENT_LENGTH = 50_000 * 4000 * 1024 * 1024


def parse_blob_created(
    event: Mapping[str, Any],
    *,
    container: str,
    models: Sequence[ModelConfig],
    trust: TrustSettings | None = None,
) -> NewDataArrived:
    """A ``Microsoft.Storage.BlobCreated`` event for the data container.

    With ``trust``, the event's ``topic`` (Event Grid schema) or ``source`` (CloudEvents)
    must name a storage account the service trusts (``Untrusted`` otherwise).
    """
    event_id, event_type, subject, event_time, raw = envelope(event)
    if event_type != BLOB_CREATED:
        raise InvalidInput(f"expected a {BLOB_CREATED} event, got {event_type!r}")
    if trust is not None:
        check_storage(event, trust)
    data = event_data(raw, BLOB_CREATED)
    name, model = _model_blob(subject, container, models)
    size = whole_number(
        data.get("contentLength", 0), "contentLength", least=0, most=MAX_CONTENT_LENGTH
    )
    url = _text(data, "url", 4 * 1024)
    _check_url_names(url, container, name)
    return NewDataArrived(
        model=model.name,
        blob_name=name,
        etag=_text(data, "eTag", MAX_NAME),
        size=size,
        api=_text(data, "api", MAX_NAME),
        url=url,
        event_id=event_id,
        event_time=event_time,
    )


def parse_blob_deleted(
    event: Mapping[str, Any],
    *,
    container: str,
    models: Sequence[ModelConfig],
    trust: TrustSettings | None = None,
) -> DataDeleted:
    """A ``Microsoft.Storage.BlobDeleted`` event for the data container (Event Grid schema
    or CloudEvents). Its data has no ETag or length (``api``, ``url``, ``sequencer``...),
    and, as for BlobCreated, the name is the subject's, checked against the decoded url."""
    event_id, event_type, subject, event_time, raw = envelope(event)
    if event_type != BLOB_DELETED:
        raise InvalidInput(f"expected a {BLOB_DELETED} event, got {event_type!r}")
    if trust is not None:
        check_storage(event, trust)
    data = event_data(raw, BLOB_DELETED)
    name, model = _model_blob(subject, container, models)
    url = _text(data, "url", 4 * 1024)
    _check_url_names(url, container, name)
    return DataDeleted(
        model=model.name,
        blob_name=name,
        api=_text(data, "api", MAX_NAME),
        url=url,
        event_id=event_id,
        event_time=event_time,
        sequencer=_text(data, "sequencer", MAX_NAME),
    )


def parse_blob_event(
    event: Mapping[str, Any],
    *,
    container: str,
    models: Sequence[ModelConfig],
    trust: TrustSettings | None = None,
) -> NewDataArrived | DataDeleted:
    """A storage event for the data container, by its type: BlobCreated or BlobDeleted
    (one Event Grid subscription delivers both to ``on_blob_created``)."""
    if isinstance(event, Mapping) and BLOB_DELETED in (event.get("eventType"), event.get("type")):
        return parse_blob_deleted(event, container=container, models=models, trust=trust)
    return parse_blob_created(event, container=container, models=models, trust=trust)


def _model_blob(
    subject: str, container: str, models: Sequence[ModelConfig]
) -> tuple[str, ModelConfig]:
    """The blob name a storage event's subject gives, and the model whose prefix owns it."""
    marker = "/containers/"
    if marker not in subject or "/blobs/" not in subject:
        raise InvalidInput(f"subject {subject[:200]!r} does not name a blob")
    blob_container, _, name = subject.split(marker, 1)[1].partition("/blobs/")
    if blob_container != container:
        raise InvalidInput(
            f"blob {name[:200]!r} is in container {blob_container[:100]!r}; the service reads "
            f"data from {container!r} (check the Event Grid subscription's subject filter)"
        )
    check_blob_name(name)
    model = next((m for m in models if name.startswith(m.prefix)), None)
    if model is None:
        known = ", ".join(m.prefix for m in models)
        raise UnknownModel(f"no model owns blob {name[:200]!r}: known prefixes are {known}")
    return name, model


def _text(data: Mapping[str, Any], key: str, limit: int) -> str:
    value = data.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"{key} must be a string, got {type(value).__name__}")
    return printable(value, key, limit)


def _check_url_names(url: str, container: str, name: str) -> None:
    """``data.url`` is percent-encoded and ``subject`` is not: when the url is there, it
    must name the same blob once decoded (else one of the two was tampered with)."""
    if not url:
        return
    try:
        path = urllib.parse.urlsplit(url).path
        decoded = urllib.parse.unquote(path, errors="strict")
    except ValueError:  # a bad port, bad percent-encoding
        raise InvalidInput(f"data.url {url[:200]!r} is not a URL") from None
    if not decoded.endswith(f"/{container}/{name}"):
        raise InvalidInput(
            f"data.url {url[:200]!r} does not name blob {name[:200]!r} of the subject"
        )
