"""Who sent an event: the storage account of a BlobCreated, the workspace of a run event.

Event Grid stamps each event with the resource that raised it (``topic`` in the Event Grid
schema, ``source`` in CloudEvents), and a subscription can only be created by someone
allowed on that resource; an event naming another resource was not sent by ours. A
refusal raises ``Untrusted`` (an ``InvalidInput``: the event is dead-lettered with the
reason, and never retried).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.errors import InvalidInput
from shared.settings import TrustSettings

_ACCOUNT_MARKER = "/providers/microsoft.storage/storageaccounts/"


class Untrusted(InvalidInput):
    """The event names a sender the service does not trust."""


def event_origin(event: Mapping[str, Any]) -> str:
    """The resource id that raised the event (``topic``, or ``source`` for a CloudEvent)."""
    origin = event.get("source") if "specversion" in event else event.get("topic")
    return origin if isinstance(origin, str) else ""


def check_storage(event: Mapping[str, Any], trust: TrustSettings) -> None:
    """``Untrusted`` unless the event comes from a trusted storage account."""
    if trust.storage_accounts is None:
        return
    origin = event_origin(event)
    lowered = origin.lower()
    account = lowered.split(_ACCOUNT_MARKER, 1)[1] if _ACCOUNT_MARKER in lowered else ""
    account = account.split("/", 1)[0]
    if not lowered.startswith("/subscriptions/") or account not in trust.storage_accounts:
        raise Untrusted(
            f"blob event from {origin[:300]!r} refused: the service trusts storage account(s) "
            f"{', '.join(trust.storage_accounts)} only (RETRAIN_TRUSTED_STORAGE_ACCOUNTS)"
        )


def check_workspace(event: Mapping[str, Any], trust: TrustSettings) -> None:
    """``Untrusted`` unless the event comes from a trusted Azure ML workspace."""
    if trust.workspaces is None:
        return
    origin = event_origin(event)
    if origin.lower().rstrip("/") not in trust.workspaces:
        raise Untrusted(
            f"run event from {origin[:300]!r} refused: the service trusts workspace(s) "
            f"{', '.join(trust.workspaces)} only (RETRAIN_TRUSTED_WORKSPACES)"
        )
