"""A parallel step run locally as Azure ML runs one, over a pool of worker processes.

Semantics kept from Azure ML's parallel run (``type: parallel``, ``task.type:
run_function``):

* the ``input_data`` folder's files (recursively, in name order) are split into
  mini-batches of ``mini_batch_size`` files;
* ``instance_count * max_concurrency_per_instance`` workers (capped by the local cores)
  each import the entry script and call ``init()`` once, then ``run(mini_batch)`` per batch;
  ``init()`` failing fails the step;
* a batch fails when ``run`` raises, returns fewer rows than it received files, exceeds
  ``retry_settings.timeout`` seconds (its worker is killed and replaced, ``init()`` runs
  again) or its worker dies; a failed batch is retried up to ``retry_settings.max_retries``
  times;
* more failed batches than ``mini_batch_error_threshold`` (or failed files than
  ``error_threshold``; -1 = no limit) stop the step as failed;
* the rows of every successful batch are appended to ``<append_row_to>/parallel_run_step.txt``
  (batches in input order here; Azure ML gives no order).

Batches run longest expected first (:func:`expected_cost`: rows, from a Parquet footer or
a text file's lines), so that the step does not end with one worker running a long batch
while the others idle (Azure ML schedules in its own order).

Beyond Azure ML, batches are reused: a batch whose fingerprint (the step's static digest:
job definition, code, literal inputs and other inputs' content; plus the batch files' names
and bytes) matches an earlier successful batch is not run again. Its rows come from the
cache, and so do its keyed output files: the files a batch writes to an output other than
``append_row_to`` must be named after one of its input files (the part of the name before
the first ``.``; ``shard-00003.parquet`` -> ``models/shard-00003.pkl``). That is how a new
blob that leaves most shards of a family unchanged retrains only the shards it touches.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import queue
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from localdev.workspace.definition import ParallelSettings
from localdev.workspace.plan import _files_under, _update_with_text, _update_with_tree
from localdev.workspace.zygote import ForkedProcess, ZygoteError, ZygotePool
from shared.datacheck import parquet_footer
from shared.errors import InvalidData, PipelineError

logger = logging.getLogger(__name__)

APPEND_ROW_FILE = "parallel_run_step.txt"
WORKER_SCRIPT = Path(__file__).with_name("prs_worker.py")
INIT_TIMEOUT_S = 600.0  # Azure ML's first_task_creation_timeout default


class ParallelFailed(PipelineError):
    """The parallel step failed: init() failed, or too many mini-batches failed."""


class ParallelCanceled(Exception):
    """The workspace closed while the step ran."""


@dataclass
class Batch:
    index: int
    files: list[Path]
    fingerprint: str
    attempts: int = 0
    status: str = "pending"  # pending, ok, reused, failed
    rows: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    started: float | None = None  # monotonic, the last attempt's
    ended: float | None = None
    worker: str | None = None


@dataclass(eq=False)
class _Worker:
    """One worker process and the thread reading its replies."""

    process: subprocess.Popen[str] | ForkedProcess
    replies: queue.Queue[dict[str, Any] | None]
    label: str = ""
    peak_rss_kb: int = 0
    rss_after_batch_kb: list[int] = field(default_factory=list)

    def send(self, message: Mapping[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()

    def receive(self, timeout: float) -> dict[str, Any] | None:
        """The next reply; None when the worker died; ``queue.Empty`` on timeout."""
        reply = self.replies.get(timeout=timeout)
        if reply is not None:
            self.peak_rss_kb = max(self.peak_rss_kb, int(reply.get("peak_rss_kb") or 0))
            if "ok" in reply and reply.get("rss_kb"):
                self.rss_after_batch_kb.append(int(reply["rss_kb"]))
        return reply

    def stop(self, *, kill: bool = False) -> None:
        if self.process.poll() is None and not kill:
            with contextlib.suppress(OSError, ValueError):
                self.send({"shutdown": True})
                assert self.process.stdin is not None
                self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                kill = True
        if kill and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@dataclass
class ParallelRun:
    """One run of a parallel step: set up with everything resolved, then ``run()``."""

    step: str
    settings: ParallelSettings
    code: Path
    python: str
    program_arguments: list[str]
    input_folder: Path
    outputs: Mapping[str, Path]
    static_digest: str
    cache: Path
    log_dir: Path
    env: Mapping[str, str]
    max_workers: int
    cancelled: Callable[[], bool] = lambda: False
    zygotes: ZygotePool | None = None
    batches: list[Batch] = field(default_factory=list)
    worker_peaks_kb: list[int] = field(default_factory=list)
    worker_rss_kb: list[list[int]] = field(default_factory=list)
    worker_ready: dict[str, tuple[float, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _failure: str | None = None
    _started: float = 0.0
    _workers: set[_Worker] = field(default_factory=set)

    # -- planning ----------------------------------------------------------------------

    def plan(self) -> list[Batch]:
        files = sorted(
            (p for p in _files_under(self.input_folder, skip_caches=False) if p.is_file()),
            key=lambda p: p.relative_to(self.input_folder).as_posix(),
        )
        size = self.settings.mini_batch_size
        self.batches = [
            Batch(
                index=i // size,
                files=files[i : i + size],
                fingerprint=self._fingerprint(files[i : i + size]),
            )
            for i in range(0, len(files), size)
        ]
        return self.batches

    def _fingerprint(self, files: list[Path]) -> str:
        digest = hashlib.sha256()
        _update_with_text(digest, "parallel-batch", self.static_digest)
        for path in files:
            _update_with_text(digest, "file", path.relative_to(self.input_folder).as_posix())
            _update_with_tree(digest, path)
        return digest.hexdigest()

    @property
    def concurrency(self) -> int:
        per_instance = self.settings.max_concurrency_per_instance or (os.cpu_count() or 1)
        return max(1, min(self.settings.instance_count * per_instance, self.max_workers))

    # -- running -----------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        """Run every batch not reused; write the appended rows; return a summary for the
        job record. Raises ``ParallelFailed`` or ``ParallelCanceled``."""
        started = self._started = time.monotonic()
        if not self.batches:
            self.plan()
        for name in self.outputs:
            self.outputs[name].mkdir(parents=True, exist_ok=True)
        pending: queue.Queue[Batch] = queue.Queue()
        runnable = [batch for batch in self.batches if not self._restore(batch)]
        # Longest expected first (LPT): the last batches to start are the cheapest, so the
        # workers finish close together instead of one running a long batch alone.
        for batch in sorted(runnable, key=lambda b: (-expected_cost(b.files), b.index)):
            pending.put(batch)
        to_run = pending.qsize()
        slots = min(self.concurrency, to_run)
        logger.info(
            "[%s] %d mini-batch(es) of %d file(s): %d reused, %d to run on %d worker(s)",
            self.step,
            len(self.batches),
            self.settings.mini_batch_size,
            len(self.batches) - to_run,
            to_run,
            slots,
        )
        threads = [
            threading.Thread(
                target=self._slot, args=(n, pending), name=f"{self.step}-slot-{n}", daemon=True
            )
            for n in range(slots)
        ]
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads):
            if self.cancelled():
                self._fail("canceled")
                self._kill_all()
            for thread in threads:
                thread.join(timeout=0.2)
        if self.cancelled():
            raise ParallelCanceled()
        if self._failure is not None:
            raise ParallelFailed(f"parallel step {self.step!r}: {self._failure}")
        self._write_rows()
        ok = [b for b in self.batches if b.status in ("ok", "reused")]
        return {
            "mini_batches": len(self.batches),
            "reused": sum(b.status == "reused" for b in self.batches),
            "ran": sum(b.status == "ok" for b in self.batches),
            "failed": sum(b.status == "failed" for b in self.batches),
            "retries": sum(max(0, b.attempts - 1) for b in self.batches),
            "rows": sum(len(b.rows) for b in ok),
            "workers": slots,
            "worker_peak_rss_kb": sorted(self.worker_peaks_kb, reverse=True),
            # Resident memory after each batch, per worker: growth here would be a leak
            # (the peak above is a maximum, which creeps up with the largest model seen).
            "worker_rss_after_batch_kb": self.worker_rss_kb,
            "run_seconds": round(sum(b.seconds for b in self.batches if b.status == "ok"), 3),
            "wall_seconds": round(time.monotonic() - started, 3),
            "failures": {
                str(b.index): b.errors[-1][-500:] for b in self.batches if b.status == "failed"
            },
            "timeline": self._timeline(),
        }

    def _timeline(self) -> dict[str, Any]:
        """Where the step's wall time went, in seconds from its start: each worker's start
        (process launched, ``init()`` done) and each batch run (worker, start, end, files)."""

        def at(moment: float | None) -> float | None:
            return None if moment is None else round(moment - self._started, 6)

        return {
            "workers": {
                label: [at(launched), at(ready)]
                for label, (launched, ready) in sorted(self.worker_ready.items())
            },
            "batches": [
                {
                    "index": b.index,
                    "files": [p.name for p in b.files],
                    "worker": b.worker,
                    "start": at(b.started),
                    "end": at(b.ended),
                }
                for b in self.batches
                if b.status == "ok"
            ],
        }

    def _slot(self, number: int, pending: queue.Queue[Batch]) -> None:
        worker: _Worker | None = None
        generation = 0
        try:
            while self._failure is None:
                try:
                    batch = pending.get_nowait()
                except queue.Empty:
                    return
                if worker is None:
                    generation += 1
                    worker = self._start_worker(f"{number}.{generation}")
                    if worker is None:
                        return
                worker = self._attempt(worker, batch, pending)
        except Exception as exc:  # a bug here must fail the step, not lose batches
            logger.exception("[%s] worker slot %d failed", self.step, number)
            self._fail(f"worker slot {number} failed: {exc!r}")
        finally:
            if worker is not None:
                self._retire(worker)

    def _attempt(
        self, worker: _Worker, batch: Batch, pending: queue.Queue[Batch]
    ) -> _Worker | None:
        """Give ``batch`` to ``worker``; the worker to keep using (None when it was killed)."""
        batch.attempts += 1
        timeout = self.settings.timeout
        reply: dict[str, Any] | None
        batch.started, batch.worker = time.monotonic(), worker.label
        try:
            worker.send({"files": [str(p) for p in batch.files]})
            reply = worker.receive(timeout)
            batch.ended = time.monotonic()
        except queue.Empty:
            self._retire(worker, kill=True)
            self._batch_failed(
                batch, f"timed out after {timeout:g} s (the worker was restarted)", pending
            )
            return None
        except (OSError, ValueError):
            reply = None
        if reply is None:
            code = worker.process.poll()
            self._retire(worker, kill=True)
            self._batch_failed(batch, f"its worker process died (exit code {code})", pending)
            return None
        if not reply.get("ok"):
            self._batch_failed(batch, f"run() raised:\n{reply.get('error', '').rstrip()}", pending)
            return worker
        rows = [str(r) for r in reply.get("rows") or []]
        if len(rows) < len(batch.files):
            self._batch_failed(
                batch, f"run() returned {len(rows)} row(s) for {len(batch.files)} file(s)", pending
            )
            return worker
        batch.rows, batch.status, batch.seconds = rows, "ok", float(reply.get("seconds") or 0.0)
        self._store(batch)
        return worker

    def _batch_failed(self, batch: Batch, why: str, pending: queue.Queue[Batch]) -> None:
        batch.errors.append(why)
        names = ", ".join(p.name for p in batch.files)
        if batch.attempts <= self.settings.max_retries:
            logger.warning(
                "[%s] mini-batch %d (%s) failed (attempt %d), retrying: %s",
                self.step,
                batch.index,
                names,
                batch.attempts,
                why,
            )
            pending.put(batch)
            return
        batch.status = "failed"
        logger.error(
            "[%s] mini-batch %d (%s) failed after %d attempt(s): %s",
            self.step,
            batch.index,
            names,
            batch.attempts,
            why,
        )
        with self._lock:
            failed = [b for b in self.batches if b.status == "failed"]
            items = sum(len(b.files) for b in failed)
        batch_limit = self.settings.mini_batch_error_threshold
        item_limit = self.settings.error_threshold
        if batch_limit >= 0 and len(failed) > batch_limit:
            self._fail(
                f"{len(failed)} mini-batch(es) failed, more than mini_batch_error_threshold "
                f"{batch_limit}; the last ({names}): {why}"
            )
        elif item_limit >= 0 and items > item_limit:
            self._fail(
                f"{items} file(s) failed, more than error_threshold {item_limit}; "
                f"the last ({names}): {why}"
            )

    def _fail(self, why: str) -> None:
        with self._lock:
            if self._failure is None:
                self._failure = why

    def _start_worker(self, label: str) -> _Worker | None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_file = self.log_dir / f"worker-{label}.log"
        argv = [
            self.python,
            str(WORKER_SCRIPT),
            str(log_file),
            str(self.code),
            self.settings.entry_script,
            self.settings.logging_level,
            "--",
            *self.program_arguments,
        ]
        launched = time.monotonic()
        process: subprocess.Popen[str] | ForkedProcess | None = self._fork(argv[2:])
        if process is None:
            process = self._spawn(argv)
        replies: queue.Queue[dict[str, Any] | None] = queue.Queue()
        assert process.stdout is not None
        threading.Thread(target=_pump, args=(process.stdout, replies), daemon=True).start()
        worker = _Worker(process, replies, label)
        with self._lock:
            self._workers.add(worker)
        try:
            ready = worker.receive(INIT_TIMEOUT_S)
        except queue.Empty:
            ready = {"ready": False, "error": f"init() did not finish within {INIT_TIMEOUT_S:g} s"}
        if not ready or not ready.get("ready"):
            error = (ready or {}).get("error") or f"the worker exited ({process.poll()})"
            self._fail(f"init() of {self.settings.entry_script} failed (log: {log_file}):\n{error}")
            self._retire(worker, kill=True)
            return None
        self.worker_ready[label] = (launched, time.monotonic())
        return worker

    def _fork(self, arguments: list[str]) -> ForkedProcess | None:
        """A worker forked from the workspace's preloaded zygote (``localdev.workspace.zygote``);
        None when there is none (then a fresh interpreter starts)."""
        if self.zygotes is None:
            return None
        zygote = self.zygotes.get(self.python, self.code, self.settings.entry_script, self.env)
        if zygote is None:
            return None
        try:
            return zygote.fork(arguments, self.env)
        except ZygoteError as exc:
            logger.warning("[%s] cannot fork a worker, starting one afresh: %s", self.step, exc)
            return None

    def _spawn(self, argv: list[str]) -> subprocess.Popen[str]:
        return subprocess.Popen(
            argv,
            cwd=self.code,
            env=dict(self.env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            start_new_session=os.name == "posix",
        )

    def _retire(self, worker: _Worker, *, kill: bool = False) -> None:
        worker.stop(kill=kill)
        with self._lock:
            if worker in self._workers:
                self._workers.discard(worker)
                self.worker_peaks_kb.append(worker.peak_rss_kb)
                self.worker_rss_kb.append(worker.rss_after_batch_kb)

    def _kill_all(self) -> None:
        with self._lock:
            workers = list(self._workers)
        for worker in workers:
            worker.stop(kill=True)

    # -- rows and the batch cache ------------------------------------------------------

    def _write_rows(self) -> None:
        if self.settings.append_row_to is None:
            return
        target = self.outputs[self.settings.append_row_to] / APPEND_ROW_FILE
        with target.open("w", encoding="utf-8") as handle:
            for batch in self.batches:
                if batch.status in ("ok", "reused"):
                    handle.writelines(row + "\n" for row in batch.rows)

    def _keyed_outputs(self, batch: Batch) -> dict[str, list[Path]]:
        stems = {p.name.split(".")[0] for p in batch.files}
        found: dict[str, list[Path]] = {}
        for name, folder in self.outputs.items():
            if name == self.settings.append_row_to or not folder.is_dir():
                continue
            found[name] = sorted(
                p
                for p in folder.iterdir()
                if not p.name.startswith(".") and p.name.split(".")[0] in stems
            )
        return found

    def _store(self, batch: Batch) -> None:
        entry = self.cache / batch.fingerprint
        if (entry / "meta.json").is_file():
            return
        staging = self.cache / f".staging-{uuid.uuid4().hex}"
        staging.mkdir(parents=True)
        for name, paths in self._keyed_outputs(batch).items():
            (staging / "outputs" / name).mkdir(parents=True)
            for path in paths:
                _copy(path, staging / "outputs" / name / path.name)
        (staging / "rows.txt").write_text("".join(r + "\n" for r in batch.rows), encoding="utf-8")
        meta = {"step": self.step, "files": [p.name for p in batch.files], "seconds": batch.seconds}
        (staging / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
        try:
            os.rename(staging, entry)
        except OSError:  # stored meanwhile by another run: keep theirs
            shutil.rmtree(staging, ignore_errors=True)

    def _restore(self, batch: Batch) -> bool:
        entry = self.cache / batch.fingerprint
        if not (entry / "meta.json").is_file():
            return False
        outputs = entry / "outputs"
        if outputs.is_dir():
            for folder in outputs.iterdir():
                if folder.name not in self.outputs:
                    return False
                for path in folder.iterdir():
                    _copy(path, self.outputs[folder.name] / path.name)
        batch.rows = (entry / "rows.txt").read_text(encoding="utf-8").splitlines()
        batch.status = "reused"
        return True


def expected_cost(files: list[Path]) -> float:
    """What a mini-batch is expected to cost, to start the longest first: its data rows
    (a Parquet file's row count from its footer, a text file's lines), or its bytes for
    files of other kinds. A hint only: a file that cannot be read counts its size."""
    total = 0.0
    for path in files:
        try:
            content = path.read_bytes()
        except OSError:
            continue
        if path.suffix.lower() == ".parquet":
            try:
                total += parquet_footer(content, name=path.name).rows
                continue
            except InvalidData:
                pass
        elif path.suffix.lower() in (".csv", ".txt", ".jsonl", ".tsv"):
            total += content.count(b"\n")
            continue
        total += len(content)
    return total


def _copy(source: Path, target: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True)
    else:
        shutil.copy2(source, target)


def _pump(stream: IO[str], replies: queue.Queue[dict[str, Any] | None]) -> None:
    for line in stream:
        text = line.strip()
        if not text:
            continue
        try:
            replies.put(json.loads(text))
        except ValueError:
            logger.debug("worker said: %s", text)
    replies.put(None)
