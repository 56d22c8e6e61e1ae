"""Start and stop the Azurite blob emulator (npm package `azurite`, pinned in package.json).

Usage as a library::

    with Azurite() as azurite:
        client = BlobServiceClient.from_connection_string(azurite.connection_string)

or from a shell: ``python -m localdev.azurite`` (``--help`` for options).

Azurite listens on a free loopback port (it reports the port it bound, so there is no race
between choosing a port and binding it). Its console output goes to ``azurite.log`` in the
work folder, which is the first place to look when something misbehaves.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import ctypes
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent

# The well-known development account every Azure Storage emulator accepts.
ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

# Current azure-storage-blob speaks an API version newer than Azurite knows about.
AZURITE_FLAGS: tuple[str, ...] = ("--skipApiVersionCheck", "--disableTelemetry", "--loose")
LOG_FILE_NAME = "azurite.log"

_LISTENING = re.compile(r"Azurite Blob service successfully listens on https?://[^\s:/]+:(\d+)")
_PR_SET_PDEATHSIG = 1


class AzuriteError(RuntimeError):
    """Base class of the errors raised here.

    AzuriteError
     ├── AzuriteNotInstalledError  node_modules has no azurite: run `npm ci`
     └── AzuriteStartError         the process exited or never listened (see its log)
    """


class AzuriteNotInstalledError(AzuriteError):
    """The azurite npm package is not installed in the repository's node_modules."""


class AzuriteStartError(AzuriteError):
    """Azurite did not come up; the message carries the tail of its log."""


def connection_string_for(blob_endpoint: str) -> str:
    """The connection string of the development account for a blob endpoint URL."""
    return (
        "DefaultEndpointsProtocol=http;"
        f"AccountName={ACCOUNT_NAME};"
        f"AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint={blob_endpoint};"
    )


def azurite_executable(repo_root: Path = REPO_ROOT) -> Path:
    """Path of the installed `azurite-blob` launcher, or AzuriteNotInstalledError."""
    name = "azurite-blob.cmd" if os.name == "nt" else "azurite-blob"
    executable = repo_root / "node_modules" / ".bin" / name
    if not executable.exists():
        raise AzuriteNotInstalledError(
            f"Azurite is not installed: {executable} does not exist. "
            f"Run `npm ci` in {repo_root} (scripts/ensure-env.sh does it for you); "
            "the version is pinned in package.json and package-lock.json."
        )
    return executable


class Azurite:
    """The Azurite blob service as a child process on a loopback port.

    A context manager: ``__enter__`` starts it and waits until the port answers,
    ``__exit__`` stops it. ``in_memory=True`` (the default) keeps blobs in memory;
    ``in_memory=False`` persists them under ``workdir``. ``workdir`` holds the log
    (``azurite.log``); when not given, a temporary folder is made and removed on ``stop()``
    unless ``keep_workdir`` (a folder passed in is never removed). ``port=0`` lets Azurite
    pick a free port.

    Azurite runs in its own process group and ``stop()`` terminates the whole group
    (SIGTERM, then SIGKILL after ``stop_timeout``). When started from the main thread on
    Linux it is also told to die with this process, so a killed test run leaves no emulator
    behind; an atexit hook stops any instance still running at interpreter exit.
    """

    def __init__(
        self,
        *,
        in_memory: bool = True,
        workdir: str | os.PathLike[str] | None = None,
        keep_workdir: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        repo_root: Path = REPO_ROOT,
        startup_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        debug_log: bool = False,
    ) -> None:
        self.in_memory = in_memory
        self.host = host
        self.requested_port = port
        self.repo_root = repo_root
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.debug_log = debug_log
        self._given_workdir = Path(workdir) if workdir is not None else None
        self._keep_workdir = keep_workdir or workdir is not None
        self._workdir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._port: int | None = None
        self._lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Azurite:
        """Start Azurite and wait until its port answers; returns self."""
        with self._lock:
            if self._process is not None:
                raise AzuriteError("Azurite is already started")
            executable = azurite_executable(self.repo_root)
            workdir = self._prepare_workdir()
            log_path = workdir / LOG_FILE_NAME
            command = self._command(executable, workdir)
            logger.debug("Starting Azurite: %s (log: %s)", " ".join(command), log_path)
            self._log_file = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
            log_offset = self._log_file.tell()  # an earlier run may have written to it
            try:
                self._process = subprocess.Popen(
                    command,
                    cwd=workdir,
                    stdin=subprocess.DEVNULL,
                    stdout=self._log_file,
                    stderr=subprocess.STDOUT,
                    start_new_session=os.name == "posix",
                    preexec_fn=_die_with_parent_hook(),
                )
            except OSError as error:
                self._close_log()
                raise AzuriteStartError(f"Could not run {executable}: {error}") from error
            _running.add(self)
        try:
            self._port = self._wait_until_listening(log_path, log_offset)
        except BaseException:
            self._stop(remove_workdir=False)  # keep the log the error message points at
            raise
        logger.info("Azurite blob service listening at %s (log: %s)", self.blob_endpoint, log_path)
        return self

    def stop(self) -> None:
        """Terminate Azurite and anything it started; safe to call more than once."""
        self._stop(remove_workdir=not self._keep_workdir)

    def _stop(self, *, remove_workdir: bool) -> None:
        with self._lock:
            process, self._process = self._process, None
            if process is not None:
                _terminate_process_tree(process, self.stop_timeout)
                logger.info("Azurite (pid %s) stopped", process.pid)
            _running.discard(self)
            self._close_log()
            self._port = None
            if self._workdir is not None and remove_workdir:
                shutil.rmtree(self._workdir, ignore_errors=True)
                self._workdir = None

    def __enter__(self) -> Azurite:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what callers use --------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def port(self) -> int:
        if self._port is None:
            raise AzuriteError("Azurite is not running; call start() first")
        return self._port

    @property
    def blob_endpoint(self) -> str:
        """``http://127.0.0.1:PORT/devstoreaccount1`` (path-style, as emulators use)."""
        return f"http://{self.host}:{self.port}/{ACCOUNT_NAME}"

    @property
    def connection_string(self) -> str:
        return connection_string_for(self.blob_endpoint)

    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            raise AzuriteError("Azurite has no work folder; call start() first")
        return self._workdir

    @property
    def log_path(self) -> Path:
        return self.workdir / LOG_FILE_NAME

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def read_log(self) -> str:
        """Azurite's console output so far (for debugging failing tests)."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except (OSError, AzuriteError):
            return ""

    def __repr__(self) -> str:
        where = self.blob_endpoint if self._port is not None else "not running"
        return f"Azurite({where})"

    # -- internals ---------------------------------------------------------------------------

    def _prepare_workdir(self) -> Path:
        if self._given_workdir is not None:
            self._given_workdir.mkdir(parents=True, exist_ok=True)
            self._workdir = self._given_workdir.resolve()
        else:
            self._workdir = Path(tempfile.mkdtemp(prefix="azurite-"))
        return self._workdir

    def _command(self, executable: Path, workdir: Path) -> list[str]:
        command = [
            str(executable),
            "--blobHost",
            self.host,
            "--blobPort",
            str(self.requested_port),
            *AZURITE_FLAGS,
        ]
        if self.in_memory:
            command.append("--inMemoryPersistence")
        else:
            command += ["--location", str(workdir)]
        if self.debug_log:
            command += ["--debug", str(workdir / "azurite-debug.log")]
        return command

    def _wait_until_listening(self, log_path: Path, log_offset: int) -> int:
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout
        while True:
            text = _read_text(log_path, log_offset)
            match = _LISTENING.search(text)
            port = int(match.group(1)) if match else self.requested_port
            if port and _port_answers(self.host, port):
                return port
            returncode = self._process.poll()
            if returncode is not None:
                raise AzuriteStartError(
                    f"Azurite exited with code {returncode} before it listened. "
                    f"Its log ({log_path}) ends with:\n{_tail(text)}"
                )
            if time.monotonic() > deadline:
                raise AzuriteStartError(
                    f"Azurite did not listen within {self.startup_timeout:.0f} s. "
                    f"Its log ({log_path}) ends with:\n{_tail(text)}"
                )
            time.sleep(0.05)

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


# Instances still running at interpreter exit are stopped then.
_running: weakref.WeakSet[Azurite] = weakref.WeakSet()


@atexit.register
def _stop_all_at_exit() -> None:
    for azurite in list(_running):
        azurite.stop()


def _terminate_process_tree(process: subprocess.Popen[bytes], timeout: float) -> None:
    if os.name != "posix":
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        return
    # The child leads its own session, so its pid is the group id of everything it started.
    group = process.pid
    if process.poll() is None:
        _signal_group(group, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            logger.warning(
                "Azurite (pid %s) ignored SIGTERM for %.0f s; killing it", group, timeout
            )
            _signal_group(group, signal.SIGKILL)
            process.wait()
    # Anything the launcher left behind in its group goes too.
    _signal_group(group, signal.SIGKILL)


def _signal_group(group: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signum)


def _die_with_parent_hook() -> Callable[[], None] | None:
    """A preexec hook asking Linux to SIGTERM the child when this process dies.

    Linux sends the signal when the *thread* that forked exits, so it is only used from the
    main thread, whose end is the end of the process.
    """
    if not sys.platform.startswith("linux"):
        return None
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return hook


def _port_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _read_text(path: Path, offset: int = 0) -> str:
    try:
        with path.open("rb") as file:
            file.seek(offset)
            return file.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.splitlines()[-lines:]) or "(empty)"


# -- command line ------------------------------------------------------------------------------


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m localdev.azurite",
        description=(
            "Run the Azurite blob emulator in the foreground on a loopback port and print its "
            "connection string. Stop it with Ctrl-C."
        ),
    )
    parser.add_argument(
        "--port", type=int, default=0, help="port to listen on (default: a free port)"
    )
    parser.add_argument(
        "--location",
        type=Path,
        help="persist blobs (and the log) in this folder instead of keeping them in memory",
    )
    parser.add_argument(
        "--debug-log", action="store_true", help="also write Azurite's verbose debug log"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    azurite = Azurite(
        in_memory=args.location is None,
        workdir=args.location,
        port=args.port,
        debug_log=args.debug_log,
    )
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        azurite.start()
    except AzuriteError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    try:
        print(f"Blob endpoint:     {azurite.blob_endpoint}")
        print(f"Connection string: {azurite.connection_string}")
        print(f"Log:               {azurite.log_path}")
        print("Press Ctrl-C to stop.", flush=True)
        while azurite.running:
            time.sleep(0.5)
        print(f"Azurite exited unexpectedly; see {azurite.log_path}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        azurite.stop()


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
