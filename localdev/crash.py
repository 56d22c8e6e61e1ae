"""Crash injection for the multi-process tests (local tooling, never deployed).

``LOCALDEV_CRASH_AT`` makes a local host process kill itself with SIGKILL (as ``kill -9``
would, no cleanup) at one point of handling an event, chosen by the state write it makes
there; ``LOCALDEV_CLOCK_OFFSET`` (seconds) moves the service's clock on, so a restarted
host sees claims and submissions of the killed one as old without a test waiting for
the real lease to run out. Both wrap the service's ports (no patching):

- ``create:<key prefix>:before|after`` - around the first create of a key with the prefix
  (``create:runs/:after`` = after the run record is written, before the submit;
  ``create:jobs/:before`` = after the submit, before the job is recorded);
- ``claim`` - right after a finalisation claim (``finalising_at``) is written;
  ``claim:before`` - right before it is written (the run event read, nothing kept).
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from shared.ports import JSON, Clock, StateStore
from shared.service import RetrainService

log = logging.getLogger(__name__)


def die(where: str) -> None:
    log.warning("crash injection: killing this process %s", where)
    logging.shutdown()
    os.kill(os.getpid(), signal.SIGKILL)


class CrashingStateStore:
    """A StateStore that kills the process at the configured write."""

    def __init__(self, inner: StateStore, spec: str) -> None:
        self._inner = inner
        self._spec = spec.split(":")

    def create(self, key: str, document: Mapping[str, Any]) -> str:
        op, prefix, when = [*self._spec, "", "", ""][:3]
        hit = op == "create" and key.startswith(prefix)
        if hit and when == "before":
            die(f"before creating {key}")
        etag = self._inner.create(key, document)
        if hit and when == "after":
            die(f"after creating {key}")
        return etag

    def replace(self, key: str, document: Mapping[str, Any], *, etag: str) -> str:
        claim = key.startswith("runs/") and document.get("finalising_at")
        claiming = self._spec[0] == "claim" and claim and not document.get("finalised")
        before = self._spec[1:2] == ["before"]
        if claiming and before:
            die(f"before claiming {key}")
        new = self._inner.replace(key, document, etag=etag)
        if claiming and not before:
            die(f"after claiming {key}")
        return new

    def get(self, key: str) -> tuple[JSON, str]:
        return self._inner.get(key)

    def list_keys(self, prefix: str) -> list[str]:
        return self._inner.list_keys(prefix)

    def delete(self, key: str) -> None:
        self._inner.delete(key)


class OffsetClock:
    def __init__(self, inner: Clock, offset: timedelta) -> None:
        self._inner = inner
        self._offset = offset

    def now(self) -> datetime:
        return self._inner.now() + self._offset


def arm(service: RetrainService, environ: Mapping[str, str] = os.environ) -> None:
    """Wrap ``service``'s ports as ``LOCALDEV_CRASH_AT`` / ``LOCALDEV_CLOCK_OFFSET`` say."""
    spec = environ.get("LOCALDEV_CRASH_AT")
    if spec:
        service.context.state = CrashingStateStore(service.context.state, spec)
        log.warning("crash injection armed: %s", spec)
    offset = environ.get("LOCALDEV_CLOCK_OFFSET")
    if offset:
        service.context.clock = OffsetClock(service.context.clock, timedelta(seconds=float(offset)))
        log.warning("clock moved on by %s s", offset)
