"""Workers of a local parallel step forked from a preloaded process (a "zygote").

A worker of the family's fit step spends 1.1-1.4 s (idle machine) importing what its entry
script needs (numpy, scipy, statsmodels, pandas) before ``init()``, and every worker pays
it, on every core at once. A :class:`Zygote` is one process per (interpreter, code folder,
entry script, environment) that imports the entry script once, forgets the modules of the
code folder (so each worker imports the entry script afresh, with its own ``sys.argv``, and
runs ``init()`` itself: Azure ML's semantics are kept) and keeps the rest loaded; workers
are forked from it (``prs_worker.py --zygote``). The workspace starts it when a run starts,
so the import overlaps the steps before the parallel one (prep runs on one core), and keeps
it for later runs of the same step until the workspace closes.

A :class:`ForkedProcess` is the part of ``subprocess.Popen`` the parallel step uses
(``stdin``, ``stdout``, ``poll``, ``kill``, ``wait``) over the worker's socket and the
zygote's control socket. Linux only (fd passing over ``SOCK_SEQPACKET``): elsewhere, or
with ``LOCALDEV_PARALLEL_FORK=0`` in the environment, or when the zygote cannot be used,
workers start as fresh interpreters as before.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

logger = logging.getLogger(__name__)

WORKER_SCRIPT = Path(__file__).with_name("prs_worker.py")
READY_TIMEOUT_S = 600.0
CALL_TIMEOUT_S = 30.0
FORK_SETTING = "LOCALDEV_PARALLEL_FORK"
# Per run, not per interpreter: a worker gets them from its request, the zygote is shared.
PER_RUN_VARIABLES = frozenset({"AZUREML_RUN_ID"})


class ZygoteError(Exception):
    """The zygote cannot fork a worker (it died, did not start, or answered nonsense)."""


def forking_supported() -> bool:
    """Whether workers can be forked from a zygote here (Linux, and not switched off)."""
    if os.environ.get(FORK_SETTING, "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    return sys.platform.startswith("linux") and hasattr(socket, "send_fds")


class _Channel:
    """The worker's stdin: writes to its socket; ``close()`` ends the stream (EOF)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._file = sock.makefile("w", encoding="utf-8")

    def write(self, text: str) -> int:
        return self._file.write(text)

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._file.flush()
        self._file.close()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)


class ForkedProcess:
    """A worker forked by a :class:`Zygote`, used as the parallel step uses a ``Popen``."""

    def __init__(self, zygote: Zygote, pid: int, sock: socket.socket) -> None:
        self.zygote = zygote
        self.pid = pid
        self.args = f"worker {pid} forked by zygote {zygote.pid}"
        self._sock = sock
        self.stdin = _Channel(sock)
        self.stdout: IO[str] = sock.makefile("r", encoding="utf-8")
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                self.returncode = self.zygote.status(self.pid)
            except ZygoteError:
                self.returncode = -9  # the zygote is gone, and its workers with it
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            with contextlib.suppress(ZygoteError):
                self.zygote.kill(self.pid)

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
            time.sleep(0.02)
        with contextlib.suppress(OSError):
            self._sock.close()
        return code


class Zygote:
    """One preloaded process forking workers (see the module docstring)."""

    def __init__(
        self, python: str, code: Path, entry_script: str, env: Mapping[str, str], log: Path
    ) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        self._control, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._lock = threading.Lock()
        self._ready: dict[str, Any] | None = None
        self._broken: str | None = None
        with child, log.open("ab") as output:
            self.process = subprocess.Popen(
                [
                    python,
                    str(WORKER_SCRIPT),
                    "--zygote",
                    str(child.fileno()),
                    str(code),
                    entry_script,
                ],
                cwd=code,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                pass_fds=(child.fileno(),),
                start_new_session=True,
            )
        self.pid = self.process.pid
        self.log = log

    @property
    def preload(self) -> dict[str, Any] | None:
        """The zygote's ready message (modules kept loaded, seconds), once it was read."""
        return self._ready

    def _receive(self, timeout: float) -> dict[str, Any]:
        self._control.settimeout(timeout)
        try:
            message = self._control.recv(1 << 16)
        except (OSError, TimeoutError) as exc:
            raise ZygoteError(f"zygote {self.pid}: {exc!r}") from exc
        if not message:
            raise ZygoteError(f"zygote {self.pid} exited ({self.process.poll()}); log: {self.log}")
        reply: dict[str, Any] = json.loads(message)
        return reply

    def _call(self, request: Mapping[str, Any], fds: tuple[int, ...] = ()) -> dict[str, Any]:
        with self._lock:
            if self._broken is not None:
                raise ZygoteError(self._broken)
            try:
                if self._ready is None:
                    self._ready = self._receive(READY_TIMEOUT_S)
                    logger.info("zygote %d ready: %s", self.pid, self._ready)
                data = json.dumps(request).encode()
                if fds:
                    socket.send_fds(self._control, [data], list(fds))
                else:
                    self._control.send(data)
                return self._receive(CALL_TIMEOUT_S)
            except (ZygoteError, OSError, ValueError) as exc:
                self._broken = f"zygote {self.pid} unusable: {exc}"
                raise ZygoteError(self._broken) from exc

    def fork(self, argv: list[str], env: Mapping[str, str]) -> ForkedProcess:
        """A new worker running ``prs_worker.main(argv)`` with ``env`` as its environment."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            reply = self._call({"fork": argv, "env": dict(env)}, (theirs.fileno(),))
        except ZygoteError:
            ours.close()
            raise
        finally:
            theirs.close()
        return ForkedProcess(self, int(reply["pid"]), ours)

    def status(self, pid: int) -> int | None:
        code = self._call({"status": pid}).get("code")
        return None if code is None else int(code)

    def kill(self, pid: int) -> None:
        self._call({"kill": pid})

    def alive(self) -> bool:
        return self._broken is None and self.process.poll() is None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._control.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class ZygotePool:
    """The workspace's zygotes, one per (interpreter, code folder, entry script, environment
    but its per-run variables); closed with the workspace."""

    def __init__(self, log_dir: Path) -> None:
        self._log_dir = log_dir
        self._lock = threading.Lock()
        self._zygotes: dict[tuple[Any, ...], Zygote] = {}
        self._closed = False
        self._started = 0

    def get(
        self, python: str, code: Path, entry_script: str, env: Mapping[str, str]
    ) -> Zygote | None:
        """The zygote for these (started now if there is none alive); None when workers
        cannot be forked here."""
        if not forking_supported():
            return None
        shared = {k: v for k, v in env.items() if k not in PER_RUN_VARIABLES}
        key = (python, str(code), entry_script, tuple(sorted(shared.items())))
        with self._lock:
            if self._closed:
                return None
            zygote = self._zygotes.get(key)
            if zygote is not None and zygote.alive():
                return zygote
            if zygote is not None:
                zygote.close()
            self._started += 1
            log = self._log_dir / f"zygote-{self._started}.log"
            try:
                zygote = Zygote(python, code, entry_script, shared, log)
            except OSError:
                logger.exception("cannot start a zygote for %s in %s", entry_script, code)
                return None
            self._zygotes[key] = zygote
            logger.info("zygote %d started for %s in %s", zygote.pid, entry_script, code)
            return zygote

    def zygotes(self) -> list[Zygote]:
        """The zygotes started and not replaced (alive or not)."""
        with self._lock:
            return list(self._zygotes.values())

    def close(self) -> None:
        with self._lock:
            self._closed = True
            zygotes, self._zygotes = list(self._zygotes.values()), {}
        for zygote in zygotes:
            zygote.close()
