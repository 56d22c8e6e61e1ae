"""Serve your own models locally, on a stack that stays up: ``scripts/serve.sh``.

Starts Azurite with its blobs kept in a folder (on a fixed port, so uploads made with the
same connection string keep working across restarts), the local Functions host serving
``function_app`` on a fixed port, and the local Azure ML workspace. The host watches the
data container (``RETRAIN_DATA_CONTAINER``): every file uploaded under a model's prefix is
delivered as an Event Grid BlobCreated event, and finished runs come back through the
host's Event Grid webhook (``RETRAIN_LOCAL_EVENTS_URL`` is wired to it).

The app settings are the ``Values`` of ``local.settings.json`` (made from
``local.settings.example.json`` on first use); an environment variable of the same name
wins, as with ``func start``. The models come from ``RETRAIN_MODELS_FILE`` (a YAML or JSON
file) or the inline ``RETRAIN_MODELS``; every setting is checked before anything starts.

``--connection-string`` (or a real connection string in ``AzureWebJobsStorage``) uses that
storage instead of starting Azurite: it becomes the app's storage setting too. Ctrl-C stops
everything; the blobs and the workspace stay under ``--data`` for the next start.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import socket
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from shared.errors import ConfigurationError
from shared.settings import APP_ROOT, ModelConfig, Settings

if TYPE_CHECKING:
    from localdev.stack import LocalStack

log = logging.getLogger("localdev.serve")

DEFAULT_HOST_PORT = 7071
DEFAULT_AZURITE_PORT = 10000
DEFAULT_DATA = APP_ROOT / ".local" / "serve"
SETTINGS_FILE = APP_ROOT / "local.settings.json"
EXAMPLE_SETTINGS_FILE = APP_ROOT / "local.settings.example.json"
STORAGE_SETTINGS = ("RETRAIN_STORAGE_CONNECTION_STRING", "AzureWebJobsStorage")
_DEVELOPMENT_STORAGE = "usedevelopmentstorage=true"
LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class ServeError(Exception):
    """The stack cannot start as configured; the message says what to change."""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/serve.sh",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_HOST_PORT,
        help=f"the Functions host's port (default {DEFAULT_HOST_PORT}; 0: any free port)",
    )
    parser.add_argument(
        "--azurite-port",
        type=int,
        default=DEFAULT_AZURITE_PORT,
        help=f"Azurite's blob port (default {DEFAULT_AZURITE_PORT}, the port "
        "UseDevelopmentStorage=true means; 0: any free port)",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help="folder for Azurite's blobs, the local workspace (job folders, logs, plots) "
        "and the logs (default: .local/serve); kept across restarts",
    )
    parser.add_argument(
        "--settings",
        type=Path,
        default=SETTINGS_FILE,
        help="local.settings.json whose Values are the app settings; made from "
        "local.settings.example.json when missing (default: ./local.settings.json)",
    )
    parser.add_argument(
        "--models",
        type=Path,
        help="a models file (YAML or JSON, docs/settings.md): sets RETRAIN_MODELS_FILE over "
        "the models in the settings",
    )
    parser.add_argument(
        "--connection-string",
        help="use this Blob storage (another Azurite, a storage account) instead of starting "
        "Azurite; it becomes the app's storage setting too",
    )
    parser.add_argument(
        "--workspace-process",
        action="store_true",
        help="run the local workspace as its own process (its log: <data>/workspace.log); "
        "Ctrl-C stops it too",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    return parser.parse_args(argv)


# ------------------------------------------------------------------ settings


def ensure_local_settings(path: Path, example: Path = EXAMPLE_SETTINGS_FILE) -> bool:
    """Make ``path`` from the example when it does not exist; True when it was made."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(example, path)
    return True


def read_app_settings(path: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The ``Values`` of a local.settings.json; an environment variable of the same name, or
    any ``RETRAIN_*`` / ``AZUREML_*`` / ``AzureWebJobsStorage*`` one, wins (as with
    ``func start``, where the environment is part of the app settings)."""
    from localdev.host import HostError, load_local_settings

    env = os.environ if environ is None else environ
    try:
        values = load_local_settings(path)
    except (HostError, ValueError) as exc:
        raise ServeError(f"{path}: {exc}") from exc
    prefixes = ("RETRAIN_", "AZUREML_", "AzureWebJobsStorage", "APPLICATIONINSIGHTS_")
    for name, value in env.items():
        if name in values or name.startswith(prefixes):
            values[name] = value
            if name in MODELS_SETTINGS:  # the environment's models replace the file's
                values.pop(next(other for other in MODELS_SETTINGS if other != name), None)
    return values


MODELS_SETTINGS = ("RETRAIN_MODELS", "RETRAIN_MODELS_FILE")


def external_storage(values: Mapping[str, str], given: str | None) -> str | None:
    """The connection string of a storage to use instead of starting Azurite: the one
    given on the command line, else a real (non-development) one in the settings."""
    if given:
        return given
    for name in STORAGE_SETTINGS:
        value = (values.get(name) or "").strip()
        if value and value.replace(" ", "").lower().rstrip(";") != _DEVELOPMENT_STORAGE:
            return value
    return None


def require_free_port(port: int, what: str, option: str) -> None:
    """Fail clearly when a fixed port is taken (before a child process finds out)."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise ServeError(
                f"port {port} for {what} is in use ({exc.strerror}): is another serve or "
                f"Azurite running? Stop it, or choose another port with {option}"
            ) from exc


# ------------------------------------------------------------------ what to tell the user


def describe(
    settings: Settings,
    *,
    base_url: str,
    connection_string: str,
    storage_note: str,
    data: Path,
    settings_path: Path,
) -> str:
    """What runs where, where to upload and how to fire the schedule."""
    models_from = (
        f"RETRAIN_MODELS_FILE={settings.models_file}" if settings.models_file else "RETRAIN_MODELS"
    )
    container = settings.data_container
    lines = [
        "",
        f"Serving {len(settings.models)} model(s) ({models_from}; settings: {settings_path})",
        f"  Functions host  {base_url}  (HTTP API under {base_url}/api)",
        f"  Dashboard       {base_url}/api/dashboard",
        f"  Storage         {storage_note}",
        f"  Workspace       {settings.local_workspace_dir} (job folders, step logs, plots)",
        "",
        f"Upload data files (CSV or Parquet) to container '{container}' under a model's prefix:",
    ]
    for model in settings.models:
        lines.append(f"  {model.name:<16} {container}/{model.prefix}<file>   ({_shape(model)})")
    first = settings.models[0] if settings.models else None
    prefix = first.prefix if first else "<prefix>/"
    time_column = first.time_column if first else "timestamp"
    value_column = first.value_column if first else "value"
    lines += [
        f"  Columns: {time_column},{value_column} (as each model's time_column/value_column say).",
        "  For example, from this folder:",
        f"    CS='{connection_string}'",
        '    .venv/bin/python -c "import sys; from azure.storage.blob import BlobClient; '
        f"BlobClient.from_connection_string(sys.argv[1], '{container}', sys.argv[2])"
        ".upload_blob(open(sys.argv[3], 'rb'), overwrite=True)\" "
        f'"$CS" {prefix}my-data.csv my-data.csv',
        "",
        f"Schedule: RETRAIN_SCHEDULE '{settings.schedule}' (UTC). Fire it now:",
        f"    curl -X POST {base_url}/admin/functions/on_schedule "
        "-H 'Content-Type: application/json' -d '{}'",
        f"Ask for a run:  curl -X POST {base_url}/api/models/<model>/retrain",
        f"Runs, decisions: {base_url}/api/models/<model>/ledger   Logs: {data / 'serve.log'}",
        "Ctrl-C stops everything; blobs and the workspace stay for the next start.",
        "",
    ]
    return "\n".join(lines)


def _shape(model: ModelConfig) -> str:
    series = f", series by {', '.join(model.series_columns)}" if model.series_columns else ""
    return (
        f"frequency {model.frequency}, season {model.season_length}, "
        f"horizon {model.horizon}{series}"
    )


# ------------------------------------------------------------------ main


def configure_logging(level: str, log_file: Path) -> None:
    """Full logger names on every line, to the console and to ``log_file``."""
    formatter = logging.Formatter(LOG_FORMAT, datefmt="%H:%M:%S")
    root = logging.getLogger()
    root.setLevel(level.upper())
    for handler in (logging.StreamHandler(sys.stderr), logging.FileHandler(log_file)):
        handler.setFormatter(formatter)
        root.addHandler(handler)
    if root.level > logging.DEBUG:
        logging.getLogger("azure").setLevel(logging.WARNING)  # one line per SDK request


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    data: Path = args.data.resolve()
    data.mkdir(parents=True, exist_ok=True)
    configure_logging(args.log_level, data / "serve.log")
    stopping = threading.Event()

    def stop(signum: int, frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        stack, text = start(args, data)
    except (ServeError, ConfigurationError) as exc:
        print(f"serve: cannot start: {exc}", file=sys.stderr, flush=True)
        return 2
    except Exception as exc:  # Azurite or the host failed to come up: say so, no trace
        log.debug("start failed", exc_info=exc)
        print(f"serve: cannot start: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    try:
        print(text, flush=True)
        stopping.wait()
    finally:
        print("serve: stopping ...", flush=True)
        stack.close()
        print("serve: stopped", flush=True)
    return 0


def start(args: argparse.Namespace, data: Path) -> tuple[LocalStack, str]:
    """Start the stack; returns it and the text telling the user where things are."""
    from localdev.stack import start_stack

    created = ensure_local_settings(args.settings)
    if created:
        log.info("made %s from %s: edit it to serve your models", args.settings, "the example")
    values = read_app_settings(args.settings)
    if args.models is not None:
        values.pop("RETRAIN_MODELS", None)
        values["RETRAIN_MODELS_FILE"] = str(args.models.resolve())
    connection_string = external_storage(values, args.connection_string)
    if connection_string is None:
        require_free_port(args.azurite_port, "Azurite", "--azurite-port")
    require_free_port(args.port, "the Functions host", "--port")
    values.setdefault("RETRAIN_LOCAL_WORKSPACE_DIR", str(data / "workspace"))
    # Validate before starting anything (a bad setting is reported with its name).
    storage = connection_string or "UseDevelopmentStorage=true"
    check_values = {**values, "AzureWebJobsStorage": storage}
    check_values.pop("RETRAIN_STORAGE_CONNECTION_STRING", None)
    Settings.from_env(check_values)
    stack = start_stack(
        data,
        connection_string=connection_string,
        extra_settings=values,
        workspace_process=args.workspace_process,
        host_port=args.port,
        azurite_port=args.azurite_port,
        azurite_location=data / "azurite",
    )
    try:
        text = _started(stack, data, args.settings, given_storage=connection_string is not None)
    except BaseException:
        stack.close()
        raise
    return stack, text


def _started(stack: LocalStack, data: Path, settings_path: Path, *, given_storage: bool) -> str:
    """Warn about models with nothing in production; the text telling where things are."""
    for model in stack.settings.models:
        if stack.service.registry.get_alias(model.name, "production").version is None:
            log.warning(
                "%s has no production version yet: upload its data under %s/%s",
                model.name,
                stack.settings.data_container,
                model.prefix,
            )
    # The given storage's key is never printed (Azurite's is the well-known development key).
    used = (
        "<the connection string you gave>"
        if given_storage
        else str(stack.settings.storage.connection_string)
    )
    note = (
        f"Azurite at {stack.blobs.url}, blobs kept in {data / 'azurite'}"
        if not given_storage
        else f"{stack.blobs.url} (given storage; no Azurite started)"
    )
    text = describe(
        stack.settings,
        base_url=stack.host.base_url,
        connection_string=used,
        storage_note=note,
        data=data,
        settings_path=settings_path,
    )
    (data / "serve.json").write_text(
        json.dumps({"url": stack.host.base_url, "storage": stack.blobs.url, "pid": os.getpid()})
    )
    return text


if __name__ == "__main__":
    sys.exit(main())
