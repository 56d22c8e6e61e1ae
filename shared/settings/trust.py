"""Trust: which senders the service believes (storage accounts, workspaces)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from shared.settings.azureml import AzureMLSettings
from shared.settings.storage import StorageSettings

LOCAL_WORKSPACE_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local/providers/"
    "Microsoft.MachineLearningServices/workspaces/local"
)
_DEVELOPMENT_ACCOUNT = "devstoreaccount1"


@dataclass(frozen=True)
class TrustSettings:
    """Which senders the service believes: BlobCreated events must come from one of
    ``storage_accounts`` (their ``topic``/``source`` names the account), Azure ML run events
    from one of ``workspaces`` (full resource ids, compared case-insensitively). ``None``
    trusts any sender (the default when the service is built without settings, in tests).

    ``RETRAIN_TRUSTED_STORAGE_ACCOUNTS`` (comma-separated names; default: the account of the
    storage connection) and ``RETRAIN_TRUSTED_WORKSPACES`` (comma-separated resource ids;
    default: the configured Azure ML workspace, or the local workspace) override them;
    ``*`` trusts any.
    """

    storage_accounts: tuple[str, ...] | None = None
    workspaces: tuple[str, ...] | None = None

    def describe(self) -> str:
        accounts = ", ".join(self.storage_accounts) if self.storage_accounts else "any"
        workspaces = ", ".join(self.workspaces) if self.workspaces else "any"
        return f"storage events from {accounts}; run events from {workspaces}"


def trust_settings(
    get: Any,
    storage: StorageSettings | None,
    azureml: AzureMLSettings | None,
    problems: list[str],
) -> TrustSettings:
    accounts_raw = get("RETRAIN_TRUSTED_STORAGE_ACCOUNTS")
    accounts: tuple[str, ...] | None
    if accounts_raw:
        accounts = _listed(accounts_raw)
    else:
        account = _storage_account(storage)
        accounts = (account,) if account else None
    for account in (accounts or ()) if accounts_raw else ():
        if not re.fullmatch(r"[a-z0-9]{3,24}", account):
            problems.append(
                f"RETRAIN_TRUSTED_STORAGE_ACCOUNTS: {account!r} is not a storage account name"
            )
    workspaces_raw = get("RETRAIN_TRUSTED_WORKSPACES")
    workspaces: tuple[str, ...] | None
    if workspaces_raw:
        workspaces = _listed(workspaces_raw)
    elif azureml is not None:
        workspaces = (
            f"/subscriptions/{azureml.subscription_id}/resourceGroups/{azureml.resource_group}"
            f"/providers/Microsoft.MachineLearningServices/workspaces/{azureml.workspace}".lower(),
        )
    else:
        workspaces = (LOCAL_WORKSPACE_ID.lower(),)
    for workspace in workspaces or ():
        if not workspace.startswith("/subscriptions/") or "/workspaces/" not in workspace:
            problems.append(
                f"RETRAIN_TRUSTED_WORKSPACES: {workspace!r} is not a workspace resource id "
                "(/subscriptions/<id>/resourceGroups/<rg>/providers/"
                "Microsoft.MachineLearningServices/workspaces/<name>)"
            )
    return TrustSettings(storage_accounts=accounts, workspaces=workspaces)


def _listed(raw: str) -> tuple[str, ...] | None:
    items = tuple(item.strip().lower() for item in raw.split(",") if item.strip())
    return None if "*" in items or not items else items


def _storage_account(storage: StorageSettings | None) -> str | None:
    """The account name of the storage connection (Azurite's devstoreaccount1 locally)."""
    if storage is None:
        return None
    if storage.connection_string is not None:
        parts = dict(
            part.split("=", 1) for part in storage.connection_string.split(";") if "=" in part
        )
        lowered = {k.strip().lower(): v.strip() for k, v in parts.items()}
        if lowered.get("usedevelopmentstorage", "").lower() == "true":
            return _DEVELOPMENT_ACCOUNT
        name = lowered.get("accountname")
        return name.lower() if name else None
    host = (storage.blob_service_uri or "").removeprefix("https://").split("/", 1)[0]
    return host.split(".", 1)[0].lower() or None
