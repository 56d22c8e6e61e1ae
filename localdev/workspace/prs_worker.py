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
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import resource
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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
