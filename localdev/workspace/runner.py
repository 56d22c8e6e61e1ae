"""The local workspace: a stand-in for Azure ML that runs the pipeline YAML for real.

``LocalWorkspace`` implements the ``PipelineClient`` port. It reads the Azure ML CLI v2
pipeline job YAML and the command-component YAMLs it references (with PyYAML, not
azure-ai-ml, so it stays fast to import), and runs each step as a subprocess, the way a
compute node would:

* inputs given as ``azureml://datastores/<ds>/paths/<p>`` are downloaded from the Blob
  container mapped to ``<ds>`` into the job folder (local paths are used as they are);
* each command has its ``${{inputs.x}}`` / ``${{outputs.y}}`` placeholders replaced by
  local paths and values, and its ``$[[ ... ]]`` optional segments kept only when the
  optional inputs inside them are given;
* a step whose fingerprint (component YAML, code folder, literal inputs, input content)
  matches an earlier successful step reuses that step's outputs without running;
* a parallel step (``type: parallel``) runs its entry script over a pool of worker
  processes with Azure ML's semantics (``localdev.workspace.parallel``), and reuses each
  mini-batch seen before, so a family's unchanged shards are not fitted again;
* pipeline-level outputs with a datastore path are uploaded there when the steps finish;
* completion is announced through ``notify`` as an Azure ML Event Grid event.

Layout under ``root``::

    mlflow.db                         MLflow store the steps log to (MLFLOW_TRACKING_URI)
    jobs/<run id>/job.json            the run's state (read by get_run from any instance)
    jobs/<run id>/logs/<step>.log     each step's stdout and stderr
    jobs/<run id>/inputs/<name>/      downloaded inputs
    jobs/<run id>/outputs/<step>/...  outputs of steps that are not reusable
    jobs/<run id>/logs/<step>/worker-*.log  a parallel step's worker logs
    cache/<fingerprint>/outputs/...   outputs of successful steps, reused by later runs
    cache/code/<digest>/              a step's code snapshot when its component lists
                                      additional_includes (code folder + includes)
    cache/batches/<fingerprint>/      a parallel step's mini-batch: rows.txt and its keyed
                                      output files, reused by later runs
    cache/<fingerprint>/published/    where those outputs were last uploaded: a reused
                                      output is republished by a copy inside the storage
                                      account (no upload), as Azure ML moves no data either

``cache/`` can be deleted at any time; the next runs simply run every step again.

Modules, one job each: ``runner`` (this: submissions, the queue and its worker thread, a
run from its first step to its event), ``steps`` (one step: inputs, fingerprint, reuse,
the command or parallel step, the cache), ``parallel`` + ``prs_worker`` (a parallel step's
worker pool), ``snapshot`` (code snapshots with ``additional_includes``), ``datastores``
(inputs downloaded, outputs published), ``jobs`` (``job.json`` records), ``events`` (the
run-completed event), ``remote`` (a workspace process serving the folder), ``definition``
and ``plan`` (the YAML, read and bound to a submission), ``server`` (that process).
Runs execute one at a time, in submission order, on a background thread. A run that was
queued or running when its workspace closed is marked ``Canceled`` (no event is sent).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from localdev.workspace.datastores import Datastores, expand_output_path
from localdev.workspace.definition import PipelineDefinition, load_pipeline
from localdev.workspace.events import RUN_COMPLETED, RUN_STATUS_CHANGED, run_event
from localdev.workspace.jobs import (
    _JOB_NAME,
    RunFailed,
    experiment_id,
    new_record,
    read_json,
    to_run,
    utc_now,
    write_json_atomically,
)
from localdev.workspace.plan import _plan, render_command
from localdev.workspace.remote import SERVER_FILE, live_server, submit_to
from localdev.workspace.steps import StepRunner, _Canceled, _Run
from localdev.workspace.zygote import ZygotePool
from shared.errors import NotFound, PipelineError
from shared.ports import FAMILY_PIPELINE, RETRAIN_PIPELINE, PipelineRun, PipelineSubmission

if TYPE_CHECKING:
    from azure.storage.blob import BlobServiceClient

logger = logging.getLogger(__name__)

FAMILY_PIPELINE_FILE = "family_pipeline.yml"


class LocalWorkspace(StepRunner):
    """The ``PipelineClient`` port over the local backend: runs the pipeline YAML at
    ``pipeline_path`` with subprocesses and keeps its state under ``root``.

    ``datastores`` maps Azure ML datastore names (``workspaceblobstore``, ...) to Blob
    container names in ``blob_service``. ``notify`` receives an Event Grid event (a dict in
    the Event Grid schema) when a run completes or fails. ``python`` replaces a leading
    ``python`` in component commands. ``parallel_workers`` caps the worker processes of a
    parallel step (default: the machine's cores).

    A submission names its pipeline (``PipelineSubmission.pipeline``): ``"retrain"`` runs
    ``pipeline_path``, ``"family"`` runs ``family_pipeline_path`` (default:
    ``family_pipeline.yml`` beside ``pipeline_path``), as Azure ML invokes the family
    pipeline's own endpoint.
    """

    def __init__(
        self,
        root: Path,
        pipeline_path: Path,
        *,
        blob_service: BlobServiceClient,
        datastores: Mapping[str, str],
        notify: Callable[[dict[str, Any]], None] | None = None,
        python: str = sys.executable,
        workspace_name: str = "local",
        serve: bool = False,
        parallel_workers: int | None = None,
        family_pipeline_path: Path | None = None,
    ) -> None:
        self._root = Path(root).resolve()
        self._jobs = self._root / "jobs"
        self._cache = self._root / "cache"
        self._jobs.mkdir(parents=True, exist_ok=True)
        self._cache.mkdir(parents=True, exist_ok=True)
        self._pipeline_path = Path(pipeline_path).resolve()
        load_pipeline(self._pipeline_path)  # fail fast on a broken pipeline
        family = family_pipeline_path or self._pipeline_path.parent / FAMILY_PIPELINE_FILE
        self._pipelines = {RETRAIN_PIPELINE: self._pipeline_path, FAMILY_PIPELINE: family}
        self._data = Datastores(blob_service, datastores, self._cache)
        self._notify = notify
        self._python = python
        self._workspace_name = workspace_name
        self._parallel_workers = parallel_workers or os.cpu_count() or 1
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._queue: queue.Queue[_Run | None] = queue.Queue()
        self._closed = False
        self._process: subprocess.Popen[str] | None = None
        # Parallel steps' workers fork from preloaded processes kept for the workspace's life.
        self._zygotes = ZygotePool(self._root / "zygotes")
        # A workspace process serving this folder (``python -m localdev.workspace.server``)
        # runs the jobs, so they outlive whoever submitted them; this instance then only
        # hands submissions to it and reads job state from the shared folder.
        self._server_url = None if serve else live_server(self._root)
        self._worker = threading.Thread(
            target=self._work, name=f"local-workspace-{workspace_name}", daemon=True
        )
        if self._server_url is None:
            self._worker.start()
        else:
            logger.info("local workspace %s: jobs run by %s", self._root, self._server_url)

    @property
    def root(self) -> Path:
        return self._root

    # -- PipelineClient ---------------------------------------------------------------

    def submit(self, submission: PipelineSubmission) -> PipelineRun:
        run_id = submission.run_key
        if not _JOB_NAME.match(run_id):
            raise PipelineError(
                f"run key {run_id!r} cannot be an Azure ML job name: use letters, digits, "
                "'-' and '_' (at most 255), starting with a letter or digit"
            )
        if self._server_url is not None:
            return submit_to(self._server_url, submission)
        directory = self._jobs / run_id
        with self._lock:
            if self._closed:
                raise PipelineError("the local workspace is closed; no new runs are accepted")
            record = None
            if not directory.exists():
                definition = load_pipeline(self._pipeline_for(submission.pipeline))
                plan = _plan(definition, submission.inputs)
                with contextlib.suppress(FileExistsError):  # else another workspace won it
                    directory.mkdir()
                    record = new_record(run_id, submission, definition)
                    self._save(directory, record)
                    self._queue.put(_Run(run_id, submission, definition, plan, record, directory))
        if record is None:
            return self._existing(run_id, submission)
        logger.info("queued run %s of model %s", run_id, submission.model)
        return to_run(record)

    def get_run(self, run_id: str) -> PipelineRun:
        return to_run(self._load(run_id))

    def find_run(self, run_key: str) -> PipelineRun | None:
        # Local jobs are named by their run key, as the service asks Azure ML to name them.
        try:
            return self.get_run(run_key)
        except NotFound:
            return None

    def wait(self, run_id: str, timeout: float) -> PipelineRun:
        """Block until the run finishes (and its completion event, if any, was handed to
        ``notify``) and return it; ``TimeoutError`` after ``timeout`` seconds (the run goes
        on)."""
        deadline = time.monotonic() + timeout
        while True:
            record = self._load(run_id)
            run = to_run(record)
            if run.finished and record.get("notified") is not False:
                return run
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                state = "finished, notify still busy" if run.finished else f"still {run.status}"
                raise TimeoutError(
                    f"run {run_id} is {state} after {timeout:g} s "
                    f"(logs: {self._jobs / run_id / 'logs'})"
                )
            with self._changed:
                self._changed.wait(min(remaining, 0.1))

    def resume(self) -> int:
        """Take up the jobs a workspace process left unfinished when it died (state
        ``Queued`` or ``Running`` on disk): each is queued again and runs from its first
        step (finished steps are reused from the cache); finished jobs whose completion
        was never announced are announced now. Only the process that serves the folder
        calls this. Returns how many jobs were taken up."""
        taken = 0
        for path in sorted(self._jobs.glob("*/job.json")):
            record = read_json(path)
            if record is None:
                continue
            if record.get("status") in ("Queued", "Running"):
                inputs = dict(record.get("inputs") or {})
                submission = PipelineSubmission(
                    run_key=str(record["run_key"]),
                    model=str(record.get("model") or ""),
                    inputs=inputs,
                    tags=dict(record.get("tags") or {}),
                    experiment=str(record.get("experiment") or "retrain"),
                    pipeline=str(record.get("pipeline_name") or RETRAIN_PIPELINE),
                )
                definition = load_pipeline(self._pipeline_for(submission.pipeline))
                record.update(status="Queued", resumed_at=utc_now())
                self._save(path.parent, record)
                run = _Run(
                    record["run_id"],
                    submission,
                    definition,
                    _plan(definition, inputs),
                    record,
                    path.parent,
                )
                self._queue.put(run)
                taken += 1
                logger.info(
                    "run %s taken up again after its workspace process died", path.parent.name
                )
            elif record.get("notified") is False:
                self._announce(record)
                record["notified"] = True
                self._save(path.parent, record)
        return taken

    def close(self) -> None:
        """Stop the worker: the running step is terminated and runs still queued or
        running are marked Canceled. Safe to call more than once."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._server_url is not None:
                return
            process = self._process
            while True:
                try:
                    pending = self._queue.get_nowait()
                except queue.Empty:
                    break
                if pending is not None:
                    self._cancel(pending)
            self._queue.put(None)
        if process is not None and process.poll() is None:
            _terminate(process)
        self._worker.join(timeout=30)
        if self._worker.is_alive():
            logger.warning("local workspace worker did not stop within 30 s")
        if self._zygotes is not None:
            self._zygotes.close()

    def __enter__(self) -> LocalWorkspace:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- job records --------------------------------------------------------------------

    def _pipeline_for(self, name: str) -> Path:
        """The pipeline YAML a submission's ``pipeline`` names."""
        if name not in self._pipelines:
            raise PipelineError(
                f"the local workspace has no pipeline {name!r}; it runs "
                f"{', '.join(sorted(self._pipelines))}"
            )
        return self._pipelines[name]

    def _existing(self, run_id: str, submission: PipelineSubmission) -> PipelineRun:
        record = self._load(run_id, wait_for_writer=True)
        if record.get("inputs") != dict(submission.inputs):
            logger.warning(
                "run %s already exists with other inputs; returning it unchanged", run_id
            )
        logger.info("run %s already exists (%s); nothing started", run_id, record["status"])
        return to_run(record)

    def _save(self, directory: Path, record: Mapping[str, Any]) -> None:
        with self._changed:
            write_json_atomically(directory / "job.json", record)
            self._changed.notify_all()

    def _load(self, run_id: str, *, wait_for_writer: bool = False) -> dict[str, Any]:
        if not _JOB_NAME.match(run_id):
            raise NotFound(f"no run {run_id!r} in the local workspace")
        path = self._jobs / run_id / "job.json"
        deadline = time.monotonic() + (5.0 if wait_for_writer else 0.0)
        while True:
            try:
                record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
                return record
            except FileNotFoundError:
                if time.monotonic() >= deadline:
                    raise NotFound(f"no run {run_id!r} in the local workspace") from None
                time.sleep(0.05)

    # -- the worker ---------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            run = self._queue.get()
            if run is None:
                return
            try:
                self._execute(run)
            except Exception:  # never let one run kill the worker
                logger.exception("local workspace worker: unexpected error in run %s", run.run_id)

    def _cancel(self, run: _Run) -> None:
        run.record.update(
            status="Canceled",
            error="the local workspace closed before the run finished",
            finished_at=utc_now(),
        )
        self._save(run.directory, run.record)
        logger.info("run %s canceled: the workspace closed", run.run_id)

    def _execute(self, run: _Run) -> None:
        record = run.record
        with self._lock:
            if self._closed:
                self._cancel(run)
                return
            record.update(status="Running", started_at=utc_now())
            self._save(run.directory, record)
        logger.info("run %s started (%d steps)", run.run_id, len(run.definition.steps))
        started = time.monotonic()
        self._warm_parallel_steps(run)
        try:
            for step in run.definition.steps:
                self._run_step(run, step)
            record["outputs"] = self._upload_outputs(run)
            record["status"] = "Completed"
        except _Canceled:
            record["status"] = "Canceled"
            record["error"] = "the local workspace closed before the run finished"
        except RunFailed as exc:
            record["status"] = "Failed"
            record["error"] = str(exc)
        except Exception as exc:
            logger.exception("run %s: unexpected error", run.run_id)
            record["status"] = "Failed"
            record["error"] = f"the local workspace failed: {exc!r}"
        record["finished_at"] = utc_now()
        record["duration_s"] = round(time.monotonic() - started, 3)
        announce = self._notify is not None and record["status"] in {"Completed", "Failed"}
        if announce:
            record["notified"] = False
        self._save(run.directory, record)
        if record["status"] == "Failed":
            logger.error(
                "run %s failed after %.1f s: %s", run.run_id, record["duration_s"], record["error"]
            )
        else:
            logger.info(
                "run %s %s in %.1f s", run.run_id, record["status"].lower(), record["duration_s"]
            )
        if announce:
            self._announce(record)
            record["notified"] = True
            self._save(run.directory, record)

    # -- data in and out ------------------------------------------------------------------

    def _upload_outputs(self, run: _Run) -> dict[str, str]:
        bound = {
            pipeline_output: (step.name, output)
            for step in run.definition.steps
            for output, pipeline_output in step.outputs.items()
            if pipeline_output is not None
        }
        uris: dict[str, str] = {}
        for name, spec in run.definition.outputs.items():
            if spec.path is None:
                continue
            uri = expand_output_path(spec.path, job_name=run.run_id, output_name=name)
            uploaded, copied = self._data.publish(name, uri, run.outputs[bound[name]])
            logger.info(
                "[%s] published output %s to %s (%d file(s) uploaded, %d copied in storage)",
                run.run_id,
                name,
                uri,
                uploaded,
                copied,
            )
            uris[name] = uri
        return uris

    # -- events ---------------------------------------------------------------------------

    def _announce(self, record: Mapping[str, Any]) -> None:
        if self._notify is None:
            return
        event = run_event(record, self._workspace_name)
        try:
            self._notify(event)
        except Exception:
            logger.exception("notify failed for run %s (%s)", record["run_id"], event["eventType"])


def _terminate(process: subprocess.Popen[str]) -> None:
    """SIGTERM the step's process group, then SIGKILL it if it lingers."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.name == "posix":
            os.killpg(process.pid, signal.SIGTERM)
        else:
            process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.name == "posix":
                os.killpg(process.pid, signal.SIGKILL)
            else:
                process.kill()


# Names other modules import from here (kept when the runner was split by job).
_read_json = read_json
_write_json_atomically = write_json_atomically

__all__ = [
    "RUN_COMPLETED",
    "RUN_STATUS_CHANGED",
    "SERVER_FILE",
    "LocalWorkspace",
    "PipelineDefinition",
    "RunFailed",
    "experiment_id",
    "live_server",
    "load_pipeline",
    "render_command",
]
