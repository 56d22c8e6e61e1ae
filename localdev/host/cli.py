"""``python -m localdev.host``: serve an app from a shell, with Azurite, the way
``func start`` would."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import MutableMapping, Sequence
from pathlib import Path
from typing import Any

from localdev.host.common import HostConfigurationError, HostError
from localdev.host.core import LocalFunctionsHost
from localdev.host.watcher import BlobSubscription

logger = logging.getLogger(__name__)


# -- command line ------------------------------------------------------------------------------

_DEVELOPMENT_STORAGE = "usedevelopmentstorage=true"


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m localdev.host",
        description=(
            "Serve the function app locally (HTTP, Event Grid and timer triggers) with Azurite "
            "for Blob storage, the way `func start` would. Stop it with Ctrl-C."
        ),
    )
    parser.add_argument(
        "--app", default="function_app:app", help="MODULE:ATTRIBUTE (default: function_app:app)"
    )
    parser.add_argument(
        "--settings",
        type=Path,
        default=Path("local.settings.json"),
        help="local.settings.json whose Values become app settings; the environment wins "
        "(default: ./local.settings.json, if present)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=7071, help="port (default 7071; 0: any free)")
    parser.add_argument(
        "--connection-string",
        help="use this Blob storage instead of starting Azurite",
    )
    parser.add_argument(
        "--azurite-location",
        type=Path,
        help="persist Azurite's blobs in this folder (default: in memory)",
    )
    parser.add_argument(
        "--storage-setting",
        action="append",
        default=None,
        metavar="NAME",
        help="app setting to point at the started Azurite when unset or "
        "UseDevelopmentStorage=true (repeatable; default: AzureWebJobsStorage)",
    )
    parser.add_argument(
        "--watch",
        action="append",
        default=[],
        metavar="CONTAINER[/PREFIX]=FUNCTION",
        help="deliver BlobCreated events for new blobs in CONTAINER to the Event Grid trigger "
        "FUNCTION (repeatable)",
    )
    parser.add_argument(
        "--deliver-existing",
        action="store_true",
        help="also deliver events for blobs already in watched containers",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    return parser.parse_args(argv)


def _parse_watch(text: str) -> tuple[str, str, str]:
    target, separator, function_name = text.partition("=")
    container, _, prefix = target.partition("/")
    if not separator or not container or not function_name:
        raise ValueError(f"--watch {text!r}: expected CONTAINER[/PREFIX]=FUNCTION")
    return container, prefix, function_name


def point_storage_settings(
    environ: MutableMapping[str, str],
    connection_string: str,
    names: Sequence[str],
    *,
    replace_all: bool,
) -> list[str]:
    """Point the app's storage settings at ``connection_string``; returns the names set.

    The started Azurite takes ``names`` that are unset or ``UseDevelopmentStorage=true``.
    A storage given with ``--connection-string`` (``replace_all``) replaces the storage
    everywhere: every name in ``names`` and RETRAIN_STORAGE_CONNECTION_STRING when set,
    and identity-based ``<name>__*`` settings are dropped, so the app and the blob watcher
    use the same storage (otherwise the app would keep its own setting, and a first call
    to an absent development storage hangs in the client's retries)."""
    changed = []
    targets = list(names)
    if (
        environ.get("RETRAIN_STORAGE_CONNECTION_STRING")
        and "RETRAIN_STORAGE_CONNECTION_STRING" not in targets
    ):
        targets.append("RETRAIN_STORAGE_CONNECTION_STRING")
    for name in targets:
        current = environ.get(name, "").replace(" ", "").lower()
        if replace_all or current in ("", _DEVELOPMENT_STORAGE):
            environ[name] = connection_string
            changed.append(name)
    if replace_all:
        for name in list(environ):
            if name.startswith(("RETRAIN_STORAGE__", *(f"{n}__" for n in names))):
                del environ[name]
    return changed


def load_local_settings(path: Path) -> dict[str, str]:
    """The ``Values`` of a local.settings.json file (empty if the file does not exist)."""
    if not path.exists():
        return {}
    document = json.loads(path.read_text(encoding="utf-8"))
    if document.get("IsEncrypted"):
        raise HostConfigurationError(f"{path} is encrypted; decrypt it or use plain values")
    values = document.get("Values") or {}
    if not isinstance(values, dict):
        raise HostConfigurationError(f"{path}: Values must be an object")
    return {str(name): "" if value is None else str(value) for name, value in values.items()}


def _import_app(spec: str) -> Any:
    module_name, _, attribute = spec.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attribute or "app")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if logging.getLogger().level > logging.DEBUG:
        logging.getLogger("azure").setLevel(logging.WARNING)  # one line per SDK request
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    # Ctrl-C stops the host even when it was started from a process that ignores SIGINT
    # (a background job of a script): Python keeps an inherited SIG_IGN otherwise.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        watches = [_parse_watch(text) for text in args.watch]
        for name, value in load_local_settings(args.settings).items():
            if name in os.environ:
                logger.info(
                    "Skipping '%s' from local settings as it's already defined in the environment",
                    name,
                )
            else:
                os.environ[name] = value
    except (ValueError, HostError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    from localdev.azurite import Azurite, AzuriteError

    azurite: Azurite | None = None
    try:
        connection_string = args.connection_string
        if connection_string is None:
            azurite = Azurite(
                in_memory=args.azurite_location is None, workdir=args.azurite_location
            ).start()
            connection_string = azurite.connection_string
        for name in point_storage_settings(
            os.environ,
            connection_string,
            args.storage_setting or ["AzureWebJobsStorage"],
            replace_all=args.connection_string is not None,
        ):
            logger.info(
                "App setting %s -> %s",
                name,
                "the local Azurite" if azurite else "the given storage",
            )
        sys.path.insert(0, os.getcwd())
        app = _import_app(args.app)
        subscriptions = [
            BlobSubscription(
                connection_string,
                container,
                function_name,
                prefix=prefix,
                deliver_existing=args.deliver_existing,
            )
            for container, prefix, function_name in watches
        ]
        from localdev.stack import keep_refusals

        if os.environ.get("LOCALDEV_CRASH_AT") or os.environ.get("LOCALDEV_CLOCK_OFFSET"):
            from localdev.crash import arm
            from shared.bootstrap import get_service

            arm(get_service())

        host = LocalFunctionsHost(
            app,
            app_settings=dict(os.environ),
            host=args.host,
            port=args.port,
            blob_subscriptions=subscriptions,
            on_refused=keep_refusals(),
        )
        with host:
            print(f"Local Functions host: {host.base_url}   (Ctrl-C to stop)", flush=True)
            if azurite is not None:
                print(f"Azurite: {azurite.connection_string}", flush=True)
            while True:
                time.sleep(1)
    except KeyboardInterrupt:
        return 0
    except (HostError, AzuriteError, ValueError, ImportError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        if azurite is not None:
            azurite.stop()


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
