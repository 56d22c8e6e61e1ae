"""Blob subscriptions: a poller that turns new blobs in Azurite into
``Microsoft.Storage.BlobCreated`` events, and blobs gone since the last poll into
``Microsoft.Storage.BlobDeleted`` events (Event Grid schema, the fields Azure sends), and
delivers them through the host's own Event Grid webhook, retried as Event Grid retries."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

from localdev.host.base import HostBase
from localdev.host.common import (
    ZERO_SUBSCRIPTION_ID,
    HostError,
    _enum_value,
    _etag,
    _event_time,
    _utcnow,
)


@dataclass(frozen=True)
class BlobSubscription:
    """Deliver a ``Microsoft.Storage.BlobCreated`` event to an Event Grid trigger function for
    each new committed blob in a container, like a storage-account event subscription.

    ``prefix``/``suffix`` filter blob names (Event Grid's subjectBeginsWith/subjectEndsWith).
    Blobs already there when the host starts are ignored unless ``deliver_existing``. An
    overwrite (same name, new ETag) is a new event, as in Azure. A blob the watcher has
    seen that is gone from a later listing is a ``BlobDeleted`` event (Azure's data subscription
    includes both types). Deliveries answered 5xx (or
    not answered) are retried up to ``max_delivery_attempts`` times, then dropped with an
    error in the log (Event Grid would dead-letter them).
    """

    connection_string: str
    container: str
    function_name: str
    prefix: str = ""
    poll_interval: float = 0.2
    deliver_existing: bool = False
    suffix: str = ""
    max_delivery_attempts: int = 3

    def __post_init__(self) -> None:
        if self.poll_interval <= 0:
            raise ValueError("poll_interval must be positive")
        if self.max_delivery_attempts < 1:
            raise ValueError("max_delivery_attempts must be at least 1")


class BlobWatcher(HostBase):
    """The blob-subscription part of the host."""

    def _watch_blobs(self, subscription: BlobSubscription, ready: threading.Event) -> None:
        from azure.core.exceptions import AzureError, ResourceNotFoundError
        from azure.storage.blob import BlobServiceClient

        from shared.adapters.blob import client_options

        # Quick retries: a storage that is not up yet must not stall the watcher for
        # minutes in the client's default backoff; the loop below keeps trying.
        service = BlobServiceClient.from_connection_string(
            subscription.connection_string, **client_options()
        )
        container = service.get_container_client(subscription.container)
        seen: dict[str, str] | None = None
        waiting_reported = False
        failures = 0
        # When the first listing fails (storage not listening yet), whatever was written
        # from the watcher's start on is new: the watcher catches up on it once storage
        # answers. (Last-modified times have one-second resolution: from a second before.)
        started = _utcnow().replace(microsecond=0) - dt.timedelta(seconds=1)
        missed_start = False
        self._log.info(
            "Watching container '%s'%s for new blobs -> Functions.%s",
            subscription.container,
            f" (prefix '{subscription.prefix}')" if subscription.prefix else "",
            subscription.function_name,
        )
        while not self._stopping.is_set():
            try:
                blobs = [
                    blob
                    for blob in container.list_blobs(name_starts_with=subscription.prefix or None)
                    if blob.name.endswith(subscription.suffix)
                ]
                failures = 0
            except ResourceNotFoundError:
                if not waiting_reported:
                    self._log.info(
                        "Container '%s' does not exist yet; waiting for it", subscription.container
                    )
                    waiting_reported = True
                if seen is None:
                    seen = {}  # whatever appears in it later is new
                ready.set()
                self._stopping.wait(subscription.poll_interval)
                continue
            except (AzureError, OSError) as error:
                ready.set()
                failures += 1
                missed_start = missed_start or seen is None
                if failures in (1, 10) or failures % 100 == 0:
                    self._log.warning(
                        "Cannot list container '%s' (%s); retrying", subscription.container, error
                    )
                self._stopping.wait(subscription.poll_interval)
                continue
            current = {blob.name: _etag(blob) for blob in blobs}
            if seen is None:
                if subscription.deliver_existing:
                    seen = {}
                elif missed_start:
                    seen = {
                        blob.name: current[blob.name]
                        for blob in blobs
                        if blob.last_modified is not None and blob.last_modified < started
                    }
                    self._log.info(
                        "Storage answers now: catching up on %d blob(s) written in container "
                        "'%s' since the watcher started",
                        len(current) - len(seen),
                        subscription.container,
                    )
                else:
                    seen = dict(current)
            ready.set()
            fresh = [blob for blob in blobs if seen.get(blob.name) != current[blob.name]]
            fresh.sort(key=lambda blob: (blob.last_modified or _utcnow(), blob.name))
            for blob in fresh:
                if self._stopping.is_set():
                    return
                event = self._blob_created_event(container, blob)
                self._deliver(subscription, event)
                seen[blob.name] = current[blob.name]
            for gone in sorted(set(seen) - set(current)):
                if self._stopping.is_set():
                    return
                self._deliver(subscription, self._blob_deleted_event(container, gone, seen[gone]))
                del seen[gone]
            self._stopping.wait(subscription.poll_interval)

    def _blob_created_event(self, container: Any, blob: Any) -> dict[str, Any]:
        content = getattr(blob, "content_settings", None)
        blob_type = _enum_value(getattr(blob, "blob_type", None) or "BlockBlob")
        account = getattr(container, "account_name", None) or "devstoreaccount1"
        return {
            "topic": (
                f"/subscriptions/{ZERO_SUBSCRIPTION_ID}/resourceGroups/local/providers/"
                f"Microsoft.Storage/storageAccounts/{account}"
            ),
            "subject": f"/blobServices/default/containers/{container.container_name}/blobs/"
            f"{blob.name}",
            "eventType": "Microsoft.Storage.BlobCreated",
            # One id per blob version: hosts that watch the same container (several local
            # instances) emit the same event for a blob, which the service deduplicates,
            # as one storage subscription would deliver it once.
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{container.url}/{blob.name}#{_etag(blob)}")),
            "data": {
                "api": "PutBlob",
                "clientRequestId": str(uuid.uuid4()),
                "requestId": str(uuid.uuid4()),
                "eTag": _etag(blob),
                "contentType": getattr(content, "content_type", None) or "application/octet-stream",
                "contentLength": int(blob.size or 0),
                "blobType": blob_type,
                "url": container.get_blob_client(blob.name).url,
                "sequencer": self._next_sequencer(),
                "storageDiagnostics": {"batchId": str(uuid.uuid4())},
            },
            "dataVersion": "",
            "metadataVersion": "1",
            "eventTime": _event_time(_utcnow()),
        }

    def _blob_deleted_event(self, container: Any, name: str, etag: str) -> dict[str, Any]:
        """What Azure sends for a deleted blob: no ETag and no length in its data."""
        account = getattr(container, "account_name", None) or "devstoreaccount1"
        return {
            "topic": (
                f"/subscriptions/{ZERO_SUBSCRIPTION_ID}/resourceGroups/local/providers/"
                f"Microsoft.Storage/storageAccounts/{account}"
            ),
            "subject": f"/blobServices/default/containers/{container.container_name}/blobs/{name}",
            "eventType": "Microsoft.Storage.BlobDeleted",
            # One id per deleted version, shared by hosts watching the same container.
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{container.url}/{name}#{etag}#deleted")),
            "data": {
                "api": "DeleteBlob",
                "clientRequestId": str(uuid.uuid4()),
                "requestId": str(uuid.uuid4()),
                "contentType": "application/octet-stream",
                "blobType": "BlockBlob",
                "url": container.get_blob_client(name).url,
                "sequencer": self._next_sequencer(),
                "storageDiagnostics": {"batchId": str(uuid.uuid4())},
            },
            "dataVersion": "",
            "metadataVersion": "1",
            "eventTime": _event_time(_utcnow()),
        }

    def _next_sequencer(self) -> str:
        # Increasing within a host and across restarts (time based), 32 hex digits as in Azure.
        with self._sequencer_lock:
            self._last_sequencer = max(time.time_ns(), self._last_sequencer + 1)
            return f"{self._last_sequencer:032x}"

    def _deliver(self, subscription: BlobSubscription, event: dict[str, Any]) -> None:
        body = json.dumps([event]).encode("utf-8")
        delay = 0.2
        for attempt in range(1, subscription.max_delivery_attempts + 1):
            try:
                url = self.eventgrid_url(subscription.function_name)
            except HostError:
                return  # stopped
            request = urllib.request.Request(
                url,
                data=body,
                method="POST",
                headers={
                    "Content-Type": "application/json",
                    "aeg-event-type": "Notification",
                    "aeg-subscription-name": f"LOCAL-{subscription.container.upper()}",
                    "aeg-delivery-count": str(attempt - 1),
                    "aeg-data-version": "",
                    "aeg-metadata-version": "1",
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=300) as response:
                    response.read()
                return
            except urllib.error.HTTPError as error:
                status = error.code
                detail = error.read().decode("utf-8", errors="replace")
                if status < 500 and status not in (408, 429):
                    self._log.error(
                        "Event %s for %s was refused (%s %s); not retried",
                        event["id"],
                        event["subject"],
                        status,
                        detail,
                    )
                    return
                problem = f"{status} {detail}"
            except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
                problem = str(error)
            if attempt < subscription.max_delivery_attempts:
                self._log.warning(
                    "Delivery %s of event %s failed (%s); retrying in %.1f s",
                    attempt,
                    event["id"],
                    problem,
                    delay,
                )
                if self._stopping.wait(delay):
                    return
                delay *= 2
            else:
                self._log.error(
                    "Event %s for %s dropped after %s delivery attempts (last: %s); "
                    "Event Grid would dead-letter it",
                    event["id"],
                    event["subject"],
                    attempt,
                    problem,
                )
