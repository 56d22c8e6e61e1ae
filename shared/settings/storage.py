"""The storage account: how to reach it, its containers, and the start-up check's time."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

DEFAULT_STORAGE_TIMEOUT = 5.0


@dataclass(frozen=True)
class StorageSettings:
    """How to reach the Blob storage account: a connection string (Azurite, or an account
    key), or an identity-based connection (``<prefix>__blobServiceUri`` or
    ``<prefix>__accountName``, with ``__credential=managedidentity`` and ``__clientId`` for
    a user-assigned identity), as the Functions host reads ``AzureWebJobsStorage``."""

    source: str
    connection_string: str | None = field(default=None, repr=False)  # may hold a key
    blob_service_uri: str | None = None
    managed_identity_client_id: str | None = None

    def describe(self) -> str:
        if self.connection_string is not None:
            return f"connection string from {self.source}"
        who = (
            f"managed identity {self.managed_identity_client_id}"
            if self.managed_identity_client_id
            else "DefaultAzureCredential"
        )
        return f"{self.blob_service_uri} with {who} (from {self.source})"


_STORAGE_PREFIXES = ("RETRAIN_STORAGE", "AzureWebJobsStorage")


def storage_settings(get: Any, problems: list[str]) -> StorageSettings | None:
    """The app's own storage setting first (RETRAIN_STORAGE_CONNECTION_STRING or the
    identity-based RETRAIN_STORAGE__*), then the host's AzureWebJobsStorage(__*)."""
    for prefix in _STORAGE_PREFIXES:
        name = "RETRAIN_STORAGE_CONNECTION_STRING" if prefix == "RETRAIN_STORAGE" else prefix
        connection = get(name)
        if connection:
            return StorageSettings(source=name, connection_string=connection)
        uri, account = get(f"{prefix}__blobServiceUri"), get(f"{prefix}__accountName")
        if uri or account:
            credential = (get(f"{prefix}__credential") or "").lower()
            client_id = get(f"{prefix}__clientId")
            if credential not in ("", "managedidentity"):
                problems.append(
                    f"{prefix}__credential must be 'managedidentity' (or unset), got {credential!r}"
                )
            if client_id and credential != "managedidentity":
                problems.append(f"{prefix}__clientId needs {prefix}__credential=managedidentity")
            if uri and not uri.startswith("https://"):
                problems.append(f"{prefix}__blobServiceUri must be an https URL, got {uri!r}")
            return StorageSettings(
                source=f"{prefix}__*",
                blob_service_uri=uri or f"https://{account}.blob.core.windows.net",
                managed_identity_client_id=client_id or None,
            )
    problems.append(
        "no storage account is configured: set RETRAIN_STORAGE_CONNECTION_STRING or "
        "AzureWebJobsStorage (a connection string), or the identity-based "
        "AzureWebJobsStorage__accountName / __blobServiceUri (the service keeps its state in "
        "Blob storage)"
    )
    return None


# Blob container names: 3-63 lowercase letters, digits and single hyphens, starting and
# ending with a letter or digit.
_CONTAINER_NAME = re.compile(r"^(?=.{3,63}$)[a-z0-9]+(?:-[a-z0-9]+)*$")
CONTAINER_SETTINGS = (
    "RETRAIN_DATA_CONTAINER",
    "RETRAIN_STATE_CONTAINER",
    "RETRAIN_ARTIFACT_CONTAINER",
)


def container_problem(name: str, value: str) -> str | None:
    """Why ``value`` of setting ``name`` is not a Blob container name, or None."""
    if _CONTAINER_NAME.match(value):
        return None
    return (
        f"{name}={value!r} is not a Blob container name: 3-63 lowercase letters, digits and "
        "hyphens, starting and ending with a letter or digit, no two hyphens in a row"
    )


def storage_timeout_setting(raw: str | None, problems: list[str]) -> float:
    if raw is None or not raw.strip():
        return DEFAULT_STORAGE_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 120:
        problems.append(f"RETRAIN_STORAGE_TIMEOUT must be seconds in [0, 120], got {raw!r}")
        return DEFAULT_STORAGE_TIMEOUT
    return value
