"""One worker process of a local parallel step (standard library only; run as a script).

Behaves as a worker of Azure ML's parallel run for ``task.type: run_function``: imports the
entry script from the code folder with the step's program arguments in ``sys.argv``, calls
``init()`` once, then ``run(mini_batch)`` for each mini-batch it is given (a list of file
paths), and ``shutdown()`` (if defined) at the end.

Protocol with ``localdev.workspace.parallel``: requests arrive on stdin, one JSON object per
line (``{"files": [...]}`` or ``{"shutdown": true}``); replies go to the process's original
stdout, one JSON object per line (``{"ready": true}`` after init; per batch
``{"ok": true, "rows": [...]}`` or ``{"ok": false, "error": "..."}``; each with the
process's peak resident memory ``peak_rss_kb``, its resident memory after the batch
``rss_kb`` and ``seconds`` spent). Whatever the entry
script prints (stdout and stderr, Python or C) goes to the worker's log file instead.

Usage: prs_worker.py LOG_FILE CODE_FOLDER ENTRY_SCRIPT LOGGING_LEVEL -- PROGRAM_ARGUMENTS...

**Zygote mode** (``prs_worker.py --zygote CONTROL_FD CODE_FOLDER ENTRY_SCRIPT``, Linux): the
process imports the entry script once, then forgets every module loaded from the code folder
(the entry script and its own packages) and keeps the rest (numpy, scipy, statsmodels,
pandas, ...: the start-up cost of a worker). Then, for each request on the control socket
(``SOCK_SEQPACKET``, one JSON message each), it forks: ``{"fork": ARGV, "env": {...}}``
with the worker's channel passed as a file descriptor (``SCM_RIGHTS``) starts a worker
exactly as above (the child takes the channel as its stdin and stdout, the request's
environment, a session of its own, and imports the entry script afresh with its own
``sys.argv``, then calls ``init()``), replying ``{"pid": N}``; ``{"kill": PID}`` kills one of
its workers; ``{"status": PID}`` replies ``{"code": EXIT_CODE or null}`` (null: running;
negative: killed by that signal, as ``subprocess``). The zygote exits when its control
socket closes. Its first message is ``{"ready": true, "preloaded": N, "seconds": S}``.
See ``localdev.workspace.zygote``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import resource
import select
import signal
import socket
import sys
import time
import traceback
from pathlib import Path
from typing import Any, TextIO


def _peak_rss_kb() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _rss_kb() -> int:
    """Resident memory now (Linux; 0 elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def _reply(channel: TextIO, message: dict[str, Any]) -> None:
    memory = {"peak_rss_kb": _peak_rss_kb(), "rss_kb": _rss_kb()}
    channel.write(json.dumps(message | memory) + "\n")
    channel.flush()


def _rows(result: Any) -> list[str]:
    """The rows ``run`` returned, as lines: a DataFrame's rows space-separated without a
    header, any other sequence one element per line."""
    if result is None:
        return []
    if hasattr(result, "to_csv"):
        text = str(result.to_csv(sep=" ", header=False, index=False))
        return text.splitlines()
    return [item if isinstance(item, str) else str(item) for item in result]


def main(argv: list[str]) -> int:
    log_file, code, entry, level, separator, *arguments = argv
    assert separator == "--", "usage: prs_worker.py LOG CODE ENTRY LEVEL -- ARGS..."
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    log = open(log_file, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 (for the process)
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    sys.stdout = sys.stderr = log
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format=f"%(asctime)s %(levelname)s [worker {os.getpid()}] %(name)s: %(message)s",
        stream=log,
    )
    os.chdir(code)
    sys.path.insert(0, code)
    sys.argv = [entry, *arguments]
    try:
        spec = importlib.util.spec_from_file_location(Path(entry).stem, Path(code) / entry)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {entry} from {code}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        if hasattr(module, "init"):
            module.init()
        if not callable(getattr(module, "run", None)):
            raise AttributeError(f"{entry} defines no run(mini_batch)")
    except BaseException:
        text = traceback.format_exc()
        log.write(text)
        _reply(channel, {"ready": False, "error": text[-4000:]})
        return 1
    _reply(channel, {"ready": True})
    for line in sys.stdin:
        request = json.loads(line)
        if request.get("shutdown"):
            break
        started = time.perf_counter()
        try:
            rows = _rows(module.run(list(request["files"])))
        except Exception:
            text = traceback.format_exc()
            log.write(text)
            _reply(channel, {"ok": False, "error": text[-4000:], "seconds": 0.0})
            continue
        _reply(channel, {"ok": True, "rows": rows, "seconds": time.perf_counter() - started})
    if callable(getattr(module, "shutdown", None)):
        module.shutdown()
    return 0


def _under(path: str | None, folder: str) -> bool:
    if not path:
        return False
    try:
        return os.path.realpath(path).startswith(folder + os.sep)
    except (TypeError, ValueError):
        return False


def preload(code: str, entry: str) -> int:
    """Import ``entry`` from ``code`` (best effort), then drop from ``sys.modules`` every
    module whose file lies in ``code``; return how many modules stay loaded."""
    folder = os.path.realpath(code)
    sys.path.insert(0, code)
    sys.argv = [entry]
    try:
        spec = importlib.util.spec_from_file_location(Path(entry).stem, Path(code) / entry)
        if spec is not None and spec.loader is not None:
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
    except BaseException:  # the workers import it again and report the error themselves
        sys.stderr.write(f"preload of {entry} failed:\n{traceback.format_exc()}")
    for name, module in list(sys.modules.items()):
        if _under(getattr(module, "__file__", None), folder):
            del sys.modules[name]
    sys.path[:] = [p for p in sys.path if p != code]
    sys.argv = [sys.argv[0]]
    return len(sys.modules)


def _become_worker(channel: int, argv: list[str], env: dict[str, str]) -> None:
    """In a forked child: the worker of ``main``, talking over ``channel``; never returns."""
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()
        os.dup2(channel, 0)
        os.dup2(channel, 1)
        os.close(channel)
        os.environ.clear()
        os.environ.update(env)
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115 (the process's)
        code = main(argv)
        logging.shutdown()
        sys.stdout.flush()
    except BaseException:
        with contextlib.suppress(Exception):
            os.write(2, traceback.format_exc().encode("utf-8", "replace"))
    finally:
        os._exit(code)


def zygote(control_fd: int, code: str, entry: str) -> int:
    """Serve fork requests on ``control_fd`` (see the module docstring)."""
    control = socket.socket(fileno=control_fd)
    os.chdir(code)
    started = time.perf_counter()
    loaded = preload(code, entry)
    seconds = round(time.perf_counter() - started, 3)
    control.send(json.dumps({"ready": True, "preloaded": loaded, "seconds": seconds}).encode())
    codes: dict[int, int] = {}
    children: set[int] = set()

    def reap() -> None:
        for pid in list(children):
            with contextlib.suppress(ChildProcessError):
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    children.discard(pid)
                    codes[pid] = os.waitstatus_to_exitcode(status)

    while True:
        readable, _, _ = select.select([control], [], [], 0.5)
        reap()
        if not readable:
            continue
        message, fds, _, _ = socket.recv_fds(control, 1 << 20, 1)
        if not message:
            break
        request = json.loads(message)
        reply: dict[str, Any]
        if "fork" in request:
            pid = os.fork()
            if pid == 0:
                control.close()
                _become_worker(fds[0], list(request["fork"]), dict(request["env"]))
            for fd in fds:
                os.close(fd)
            children.add(pid)
            reply = {"pid": pid}
        elif "kill" in request:
            pid = int(request["kill"])
            reap()
            if pid in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            reply = {"ok": True}
        else:
            pid = int(request["status"])
            reap()
            reply = {"code": codes.get(pid) if pid not in children else None}
        for fd in fds if "fork" not in request else ():
            os.close(fd)
        control.send(json.dumps(reply).encode())
    for pid in children:  # the workspace is gone: so are its workers
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--zygote"]:
        sys.exit(zygote(int(sys.argv[2]), sys.argv[3], sys.argv[4]))
    sys.exit(main(sys.argv[1:]))
