"""The composition root: builds the service from one Settings object.

``get_service()`` builds it once per process on first use (never at import, so a bad
setting fails the first invocation with a clear message instead of hiding every
function). Tests and the local host build their own with ``build_service`` and install it
with ``set_service``. Heavy adapters are imported here, inside the functions, so that
importing the Function App stays cheap.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import threading
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.errors import ConfigurationError
from shared.ports import ModelRegistry, PipelineClient, StateStore
from shared.service import RetrainService
from shared.settings import AzureMLSettings, Settings, StorageSettings

if TYPE_CHECKING:
    from azure.ai.ml import MLClient
    from azure.core.credentials import TokenCredential
    from azure.core.pipeline.transport import HttpTransport
    from azure.storage.blob import BlobServiceClient

log = logging.getLogger(__name__)

_lock = threading.Lock()
_service: RetrainService | None = None


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def pipeline_sha256(pipeline_path: Path) -> str:
    """A hash of the pipeline definition: its YAML and every file of its components."""
    root = pipeline_path.parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def post_event_to(url: str) -> Callable[[dict[str, Any]], None]:
    """Deliver an event as Event Grid would: POST to the host's webhook, Notification."""

    def notify(event: dict[str, Any]) -> None:
        request = urllib.request.Request(
            url,
            data=json.dumps([event]).encode(),
            headers={"Content-Type": "application/json", "aeg-event-type": "Notification"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=600) as response:
            response.read()

    return notify


def blob_service(storage: StorageSettings) -> BlobServiceClient:
    """A Blob service client from a connection string or an identity-based connection."""
    from azure.storage.blob import BlobServiceClient

    from shared.adapters.azure.workspace import default_credential
    from shared.adapters.blob import client_options

    if storage.connection_string is not None:
        return BlobServiceClient.from_connection_string(
            storage.connection_string, **client_options()
        )
    return BlobServiceClient(
        str(storage.blob_service_uri),
        credential=default_credential(storage.managed_identity_client_id),
        **client_options(),
    )


def check_storage(settings: Settings) -> None:
    """Fail fast when the storage does not answer: one request to the state container with
    no retries and ``settings.storage_timeout`` seconds to connect and read, raising a
    ``ConfigurationError`` that names the storage setting (instead of the first call
    hanging in the client's retries). ``storage_timeout`` 0 skips the check."""
    if settings.storage_timeout <= 0:
        return
    from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError
    from azure.storage.blob import BlobServiceClient

    from shared.adapters.azure.workspace import default_credential

    timeout = settings.storage_timeout
    options: dict[str, Any] = {
        "retry_total": 0,
        "connection_timeout": timeout,
        "read_timeout": timeout,
    }
    storage = settings.storage
    client = (
        BlobServiceClient.from_connection_string(storage.connection_string, **options)
        if storage.connection_string is not None
        else BlobServiceClient(
            str(storage.blob_service_uri),
            credential=default_credential(storage.managed_identity_client_id),
            **options,
        )
    )
    where = f"{storage.source} ({_endpoint(client)})"
    try:
        with client:
            client.get_container_client(settings.state_container).exists(
                timeout=max(1, round(timeout))
            )
    except (ClientAuthenticationError, HttpResponseError) as exc:
        status = getattr(exc, "status_code", None)
        raise ConfigurationError(
            f"the storage named by {where} refused the service ({status or 'no status'}): "
            f"{_first_line(exc)}; check the account, its key or the identity's role"
        ) from exc
    except (AzureError, OSError, ValueError) as exc:
        raise ConfigurationError(
            f"the storage named by {where} did not answer within {timeout:g} s "
            f"({_first_line(exc)}); is it running (Azurite) and is the setting right? "
            "(RETRAIN_STORAGE_TIMEOUT sets the wait)"
        ) from exc
    log.debug("storage %s answers", where)


def _endpoint(client: BlobServiceClient) -> str:
    return str(client.url).split("?", 1)[0]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0][:300]


def build_service(
    settings: Settings,
    *,
    notify: Callable[[dict[str, Any]], None] | None = None,
    azure_transport: HttpTransport | None = None,
    azure_credential: TokenCredential | None = None,
) -> RetrainService:
    """Wire the real adapters for ``settings.backend``.

    Local backend: ``notify`` receives the local workspace's run-completion events; by
    default they are POSTed to ``RETRAIN_LOCAL_EVENTS_URL`` (the local host's Event Grid
    webhook for the run-completed function) or, when that is unset, handed straight to
    this service. Azure ML backend: ``azure_transport`` and ``azure_credential`` replace
    azure-core's HTTP transport and ``DefaultAzureCredential`` (tests play a workspace
    with them; production passes neither).
    """
    from shared.adapters.blob import (
        BlobArtifactStore,
        BlobDataStore,
        BlobStateStore,
        container_client,
    )
    from shared.telemetry import configure

    configure(
        settings.telemetry_connection_string, client_id=settings.storage.managed_identity_client_id
    )
    check_storage(settings)
    blobs = blob_service(settings.storage)
    state = BlobStateStore(container_client(blobs, settings.state_container))
    clock = SystemClock()
    service_box: list[RetrainService] = []
    pipeline: PipelineClient
    registry: ModelRegistry
    if settings.azureml is not None:
        pipeline, registry = _azureml_backend(
            settings, settings.azureml, state, clock, azure_transport, azure_credential
        )
        target = settings.azureml.describe()
    else:
        pipeline = _local_backend(settings, blobs, notify, service_box)
        from shared.adapters.document_registry import DocumentModelRegistry

        registry = DocumentModelRegistry(state, clock)
        target = f"local workspace in {settings.local_workspace_dir}"
    service = RetrainService(
        models=settings.models,
        gate=settings.gate,
        data_container=settings.data_container,
        data_datastore=settings.data_datastore,
        state=state,
        data=BlobDataStore(container_client(blobs, settings.data_container)),
        artifacts=BlobArtifactStore(
            container_client(blobs, settings.artifact_container),
            datastore=settings.artifact_datastore,
        ),
        pipeline=pipeline,
        registry=registry,
        clock=clock,
        code_version=settings.code_version,
        pipeline_sha256=pipeline_sha256(settings.pipeline_path),
    )
    service_box.append(service)
    service.context.trust = settings.trust
    service.context.schedule = settings.schedule
    if settings.backend == "local":
        from localdev.workspace.server import LocalRunInspector

        service.context.inspector = LocalRunInspector(settings.local_workspace_dir)
    log.info(
        "retrain service ready: backend=%s (%s), storage %s, models=%s; gate: %s",
        settings.backend,
        target,
        settings.storage.describe(),
        ", ".join(m.name for m in settings.models),
        settings.gate.describe(),
    )
    return service


def _azureml_backend(
    settings: Settings,
    azureml: AzureMLSettings,
    state: StateStore,
    clock: SystemClock,
    transport: HttpTransport | None,
    credential: TokenCredential | None,
) -> tuple[PipelineClient, ModelRegistry]:
    """The published pipeline (batch endpoint, or the v1 submit URL) and the workspace
    registry, sharing one MLClient made on first use (azure.ai.ml loads lazily)."""
    from shared.adapters.azure.pipeline import AzureMLPipelineClient
    from shared.adapters.azure.registry import AzureMLModelRegistry
    from shared.adapters.azure.v1 import V1PipelineEndpointClient
    from shared.adapters.azure.workspace import connect, default_credential

    token_credential = credential or default_credential(azureml.managed_identity_client_id)

    @functools.cache
    def ml_client() -> MLClient:
        return connect(
            subscription_id=azureml.subscription_id,
            resource_group=azureml.resource_group,
            workspace_name=azureml.workspace,
            credential=token_credential,
            transport=transport,
        )

    pipeline: PipelineClient
    if azureml.invoke == "v1_pipeline_endpoint":
        pipeline = V1PipelineEndpointClient(
            str(azureml.v1_endpoint_url),
            ml_client=ml_client,
            credential=token_credential,
            transport=transport,
            artifact_datastore=settings.artifact_datastore,
        )
    else:
        pipeline = AzureMLPipelineClient(
            ml_client,
            endpoint_name=azureml.endpoint,
            deployment_name=azureml.deployment,
            family_endpoint_name=azureml.family_endpoint,
            family_deployment_name=azureml.family_deployment,
            artifact_datastore=settings.artifact_datastore,
        )
    return pipeline, AzureMLModelRegistry(ml_client, state=state, clock=clock)


def _local_backend(
    settings: Settings,
    blobs: BlobServiceClient,
    notify: Callable[[dict[str, Any]], None] | None,
    service_box: list[RetrainService],
) -> PipelineClient:
    """The local workspace (local-only code: it never ships in the Function App)."""
    from localdev.workspace import LocalWorkspace

    if notify is None and settings.local_events_url:
        notify = post_event_to(settings.local_events_url)
    if notify is None:

        def notify(event: dict[str, Any]) -> None:
            from shared.parsing import parse_run_event

            service_box[0].handle(parse_run_event(event))

    return LocalWorkspace(
        settings.local_workspace_dir,
        settings.pipeline_path,
        blob_service=blobs,
        datastores={
            settings.data_datastore: settings.data_container,
            settings.artifact_datastore: settings.artifact_container,
        },
        notify=notify,
    )


def get_service() -> RetrainService:
    """The process's service, built from the environment on first use."""
    global _service
    with _lock:
        if _service is None:
            _service = build_service(Settings.from_env())
        return _service


def set_service(service: RetrainService | None) -> None:
    """Install a service built elsewhere (tests, the local host); None to reset."""
    global _service
    with _lock:
        _service = service
