"""The whole local stack in one object: Azurite, the local Functions host serving
``function_app``, and the service wired to the local workspace.

Used by the demo and the end-to-end tests. The host delivers new blobs in the data
container to ``on_blob_created`` as Event Grid BlobCreated events, and the local workspace
announces finished runs by POSTing Azure ML RunCompleted events to the host's Event Grid
webhook for ``on_run_completed`` — the same paths events take on Azure.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.storage.blob import BlobServiceClient

import function_app
from localdev.azurite import Azurite
from localdev.host import BlobSubscription, HostRefusal, LocalFunctionsHost
from shared.adapters.blob import container_client
from shared.bootstrap import build_service, check_storage, get_service, set_service
from shared.errors import InvalidInput
from shared.ports import JSON
from shared.service import RetrainService
from shared.settings import Settings

log = logging.getLogger(__name__)


class RefusedByHost(InvalidInput):
    """The local Functions host refused the request itself (before any function ran)."""


def keep_refusals(
    service: Callable[[], RetrainService] = get_service,
) -> Callable[[HostRefusal], None]:
    """An ``on_refused`` for the local host: every request it refuses itself (405, its
    own 400/404) is dead-lettered as ``deadletter/host/...`` with the body verbatim and
    the request line and headers, as the app keeps what it refuses."""

    def keep(refusal: HostRefusal) -> None:
        error = RefusedByHost(f"{refusal.status}: {refusal.reason}")
        service().context.dead_letter("host", refusal.body, error, request=refusal.describe())

    return keep


@dataclass
class LocalStack:
    settings: Settings
    host: LocalFunctionsHost
    service: RetrainService
    blobs: BlobServiceClient
    _resources: ExitStack

    def upload(self, name: str, content: bytes | str) -> None:
        """Land a data blob, as a producer would; the host turns it into BlobCreated."""
        container_client(self.blobs, self.settings.data_container).upload_blob(
            name, content, overwrite=True
        )

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Call the host over HTTP (``path`` like ``/api/models``); returns status, JSON."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.host.base_url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def ledger(self, model: str) -> list[JSON]:
        return self.service.list_ledger(model)

    def wait_for(
        self, what: str, check: Callable[[], Any], *, timeout: float = 600, every: float = 0.2
    ) -> Any:
        """Poll ``check`` until it returns something truthy; TimeoutError naming ``what``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(every)
        raise TimeoutError(f"gave up waiting for {what} after {timeout:.0f} s")

    def wait_for_ledger(self, model: str, count: int, *, timeout: float = 60) -> list[JSON]:
        """The ledger once it holds at least ``count`` entries."""
        found: list[JSON] = self.wait_for(
            f"{count} ledger entries for {model}",
            lambda: (entries := self.ledger(model)) and len(entries) >= count and entries,
            timeout=timeout,
        )
        return found

    def wait_for_run(self, run_key: str, *, timeout: float = 900) -> JSON:
        """The run record once the service has finalised it (gate decided or failed)."""
        record: JSON = self.wait_for(
            f"run {run_key} to be finalised",
            lambda: (r := self.service.get_run(run_key)).get("finalised") and r,
            timeout=timeout,
        )
        return record

    def close(self) -> None:
        set_service(None)
        self._resources.close()


def start_workspace_process(
    root: Path,
    *,
    pipeline: Path,
    connection_string: str,
    datastores: dict[str, str],
    events_url: str,
    log_path: Path | None = None,
    environ: dict[str, str] | None = None,
    timeout: float = 60,
) -> subprocess.Popen[bytes]:
    """Start the local workspace as its own process serving ``root`` (like Azurite): jobs
    submitted by any host to a ``LocalWorkspace`` on ``root`` run there, outlive the host,
    and announce their end at ``events_url``. Returns once it answers."""
    from localdev.workspace.runner import live_server

    command = [
        *(sys.executable, "-m", "localdev.workspace.server"),
        *("--root", str(root), "--pipeline", str(pipeline)),
        *("--connection-string", connection_string, "--events-url", events_url),
    ]
    for name, container in datastores.items():
        command += ["--datastore", f"{name}={container}"]
    log = (log_path or Path(root).parent / "workspace.log").open("ab")
    repo = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, **(environ or {}), "PYTHONPATH": repo}
    process = subprocess.Popen(command, cwd=repo, env=env, stdout=log, stderr=log)
    log.close()
    deadline = time.monotonic() + timeout
    while live_server(Path(root)) is None:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the local workspace process did not start (log: {log.name})")
        time.sleep(0.1)
    return process


def stop_process(process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


def start_stack(
    workdir: Path,
    *,
    models: list[dict[str, Any]] | None = None,
    connection_string: str | None = None,
    extra_settings: Mapping[str, str] | None = None,
    workspace_process: bool = False,
    host_port: int = 0,
    azurite_port: int = 0,
    azurite_location: Path | None = None,
) -> LocalStack:
    """Start everything under ``workdir``; Azurite too unless ``connection_string`` is given.

    ``models`` becomes RETRAIN_MODELS; without it ``extra_settings`` must name the models
    (RETRAIN_MODELS or RETRAIN_MODELS_FILE). ``connection_string`` (an external Azurite or
    storage account) replaces the started Azurite everywhere: it becomes the app's only
    storage setting (AzureWebJobsStorage; any RETRAIN_STORAGE_* setting is dropped) and the
    storage the host watches. ``azurite_location``: keep Azurite's blobs in this folder
    (default: in memory); ``azurite_port`` and ``host_port``: fixed ports (0: any free one).
    ``workspace_process``: run the local workspace as its own process (its jobs survive a
    restart of the host); otherwise it runs inside this process, as a thread."""
    resources = ExitStack()
    try:
        if connection_string is None:
            azurite = resources.enter_context(
                Azurite(
                    in_memory=azurite_location is None,
                    workdir=azurite_location or workdir / "azurite",
                    port=azurite_port,
                )
            )
            connection_string = azurite.connection_string
        app_settings = app_settings_for(
            workdir, connection_string, models=models, extra_settings=extra_settings
        )
        data_container = app_settings.get("RETRAIN_DATA_CONTAINER", "data")
        host = LocalFunctionsHost(
            function_app.create_app(),
            app_settings=app_settings,
            port=host_port,
            blob_subscriptions=[
                BlobSubscription(connection_string, data_container, "on_blob_created")
            ],
            on_refused=keep_refusals(),
        )
        # Validate before anything listens: a bad setting, or a storage that does not
        # answer, fails the start naming the setting.
        check_storage(Settings.from_env(app_settings))
        # Make sure the watched container exists before the watcher starts.
        blobs = BlobServiceClient.from_connection_string(connection_string)
        container_client(blobs, data_container)
        host.start()
        resources.callback(host.stop)
        app_settings["RETRAIN_LOCAL_EVENTS_URL"] = host.eventgrid_url("on_run_completed")
        settings = Settings.from_env(app_settings)
        if workspace_process:
            process = start_workspace_process(
                settings.local_workspace_dir,
                pipeline=settings.pipeline_path,
                connection_string=connection_string,
                datastores={
                    settings.data_datastore: settings.data_container,
                    settings.artifact_datastore: settings.artifact_container,
                },
                events_url=app_settings["RETRAIN_LOCAL_EVENTS_URL"],
                log_path=workdir / "workspace.log",
            )
            resources.callback(stop_process, process)
        service = build_service(settings)  # after the workspace process: its client finds it
        resources.callback(service.pipeline.close)  # type: ignore[attr-defined]
        set_service(service)
        log.info("local stack up: host %s, storage %s", host.base_url, blobs.url)
        return LocalStack(settings, host, service, blobs, resources)
    except BaseException:
        resources.close()
        raise


STORAGE_SETTING = "AzureWebJobsStorage"


def app_settings_for(
    workdir: Path,
    connection_string: str,
    *,
    models: list[dict[str, Any]] | None = None,
    extra_settings: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The app settings of a local stack: ``extra_settings`` with the storage replaced by
    ``connection_string`` (the only storage setting left), the workspace under
    ``workdir`` unless set, and the schedules' defaults."""
    app_settings = {
        "RETRAIN_LOCAL_WORKSPACE_DIR": str(workdir / "workspace"),
        **({"RETRAIN_MODELS": json.dumps(models)} if models is not None else {}),
        **(extra_settings or {}),
    }
    for name in list(app_settings):
        if name.startswith(("RETRAIN_STORAGE_CONNECTION_STRING", "RETRAIN_STORAGE__")) or (
            name.startswith(f"{STORAGE_SETTING}__")
        ):
            del app_settings[name]
    app_settings[STORAGE_SETTING] = connection_string
    app_settings.setdefault("RETRAIN_SCHEDULE", "0 0 3 * * *")
    app_settings.setdefault("RETRAIN_SWEEP_SCHEDULE", "0 */5 * * * *")
    return app_settings
