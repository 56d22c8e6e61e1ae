"""One step of a local job: its inputs fetched and fingerprinted, then reused from the
cache or run (a command as a subprocess, a parallel step over worker processes,
``localdev.workspace.parallel``), in its code snapshot (``localdev.workspace.snapshot``),
its outputs stored in the cache for later runs.

:class:`StepRunner` is the part of ``LocalWorkspace`` that does this (a mixin: the
workspace holds the state declared here, and records the job with ``_save``).
"""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import os
import shlex
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from localdev.workspace.datastores import Datastores, safe_name
from localdev.workspace.definition import PipelineDefinition, Step
from localdev.workspace.jobs import RunFailed, utc_now
from localdev.workspace.parallel import ParallelCanceled, ParallelFailed, ParallelRun
from localdev.workspace.plan import (
    _Plan,
    _update_with_text,
    _update_with_tree,
    _Uri,
    _Value,
    render_command,
)
from localdev.workspace.snapshot import code_snapshot
from localdev.workspace.zygote import ZygotePool
from shared.errors import PipelineError
from shared.parsing.common import FORCE_RERUN_TAG
from shared.ports import PipelineSubmission

# The runner's logger: the step's lines belong to the run's log stream.
logger = logging.getLogger("localdev.workspace.runner")

_STDERR_TAIL_LINES = 15


class _Canceled(Exception):
    pass


@dataclass
class _Run:
    run_id: str
    submission: PipelineSubmission
    definition: PipelineDefinition
    plan: _Plan
    record: dict[str, Any]
    directory: Path
    downloads: dict[str, Path] = field(default_factory=dict)
    outputs: dict[tuple[str, str], Path] = field(default_factory=dict)


class StepRunner:
    """Runs one step of a job (see the module docstring)."""

    _root: Path
    _cache: Path
    _python: str
    _parallel_workers: int
    _closed: bool
    _lock: Any  # threading.RLock
    _process: subprocess.Popen[str] | None
    _data: Datastores
    _zygotes: ZygotePool | None = None

    @property
    def mlflow_tracking_uri(self) -> str:
        """Where steps log with MLflow (given to them as ``MLFLOW_TRACKING_URI`` unless the
        environment already sets one): an sqlite store under the workspace folder."""
        return f"sqlite:///{self._root / 'mlflow.db'}"

    def _save(self, directory: Path, record: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def _run_step(self, run: _Run, step: Step) -> None:
        prefix = f"{run.run_id}/{step.name}"
        state: dict[str, Any] = run.record["steps"][step.name]
        state.update(status="Running", started_at=utc_now())
        self._save(run.directory, run.record)
        logger.info("[%s] step started", prefix)
        started = time.monotonic()
        try:
            fingerprint, input_values, static = self._prepare_inputs(run, step)
            state["fingerprint"] = fingerprint
            entry = self._cache / fingerprint
            # A forced run (the service's retrain_force_rerun tag) runs every step again.
            forced = (run.record.get("tags") or {}).get(FORCE_RERUN_TAG) == "true"
            cached = (entry / "meta.json").is_file()
            if step.component.deterministic and cached and not forced:
                meta = json.loads((entry / "meta.json").read_text(encoding="utf-8"))
                for output in step.component.outputs:
                    run.outputs[(step.name, output)] = entry / "outputs" / output
                state.update(reused=True, reused_from=meta.get("run_id"))
                logger.info(
                    "[%s] reused outputs of %s from run %s",
                    prefix,
                    step.name,
                    meta.get("run_id"),
                )
            else:
                if step.component.parallel is not None:
                    self._run_parallel(run, step, input_values, state, static)
                else:
                    self._run_command(run, step, input_values, state)
                if not cached:  # a forced run keeps its own outputs beside the cached ones
                    self._store_outputs(run, step, fingerprint)
        except BaseException as exc:
            state.update(
                status="Canceled" if isinstance(exc, _Canceled) else "Failed",
                duration_s=round(time.monotonic() - started, 3),
            )
            self._save(run.directory, run.record)
            raise
        state.update(
            status="Completed",
            duration_s=round(time.monotonic() - started, 3),
            outputs={o: str(run.outputs[(step.name, o)]) for o in step.component.outputs},
        )
        self._save(run.directory, run.record)
        logger.info(
            "[%s] step finished in %.2f s%s",
            prefix,
            state["duration_s"],
            " (reused)" if state["reused"] else "",
        )

    def _prepare_inputs(self, run: _Run, step: Step) -> tuple[str, dict[str, str], str]:
        """Fetch the step's inputs; return its fingerprint, the command's input values and,
        for a parallel step, the static digest its mini-batch fingerprints start from
        (everything but the content of the input split into mini-batches)."""
        component = step.component
        batched = component.parallel.input_data if component.parallel is not None else None
        digest, static = hashlib.sha256(), hashlib.sha256()
        both = (digest, static)
        for each in both:
            _update_with_text(each, "component", component.text, "python", self._python)
        if component.code is not None:
            for each in both:
                _update_with_text(each, "code")
                _update_with_tree(each, self._code_of(step), skip_caches=True)
        values: dict[str, str] = {}
        for name in sorted(component.inputs):
            resolved = run.plan[step.name].get(name)
            if resolved is None:
                for each in both:
                    _update_with_text(each, "absent", name)
            elif isinstance(resolved, _Value):
                for each in both:
                    _update_with_text(each, "literal", name, resolved.text)
                values[name] = resolved.text
            else:
                if isinstance(resolved, _Uri):
                    path = self._materialise(run, step, name, resolved)
                else:
                    path = run.outputs[(resolved.step, resolved.output)]
                for each in (digest,) if name == batched else both:
                    _update_with_text(each, "content", name)
                    _update_with_tree(each, path)
                values[name] = str(path)
        return digest.hexdigest(), values, static.hexdigest()

    def _code_of(self, step: Step) -> Path:
        """The folder a step runs in: its code folder, merged with its additional includes
        as Azure ML merges them (``localdev.workspace.snapshot``)."""
        code = step.component.code
        assert code is not None
        if not code.is_dir():
            raise RunFailed(f"step {step.name!r}: code folder {code} does not exist")
        return code_snapshot(code, step.component.additional_includes, self._cache / "code")

    def _run_parallel(
        self,
        run: _Run,
        step: Step,
        input_values: Mapping[str, str],
        state: dict[str, Any],
        static_digest: str,
    ) -> None:
        """A parallel step over a pool of worker processes (``localdev.workspace.parallel``);
        mini-batches seen before are reused from ``cache/batches/``."""
        settings = step.component.parallel
        assert settings is not None and step.component.code is not None
        output_root = run.directory / "outputs" / step.name
        shutil.rmtree(output_root, ignore_errors=True)
        outputs: dict[str, Path] = {}
        for output in step.component.outputs:
            outputs[output] = output_root / output
            outputs[output].mkdir(parents=True)
            run.outputs[(step.name, output)] = outputs[output]
        try:
            arguments = render_command(
                settings.program_arguments, input_values, {k: str(v) for k, v in outputs.items()}
            )
        except (PipelineError, ValueError) as exc:
            raise RunFailed(f"step {step.name!r}: cannot build its arguments: {exc}") from exc
        log_dir = run.directory / "logs" / step.name
        state["log"] = str(log_dir)
        env = self._parallel_env(run)
        parallel = ParallelRun(
            step=f"{run.run_id}/{step.name}",
            settings=settings,
            code=self._code_of(step),
            python=self._python,
            program_arguments=arguments,
            input_folder=Path(input_values[settings.input_data]),
            outputs=outputs,
            static_digest=static_digest,
            cache=self._cache / "batches",
            log_dir=log_dir,
            env=env,
            max_workers=self._parallel_workers,
            cancelled=lambda: self._closed,
            zygotes=self._zygotes,
        )
        try:
            state["parallel"] = parallel.run()
        except ParallelCanceled:
            raise _Canceled() from None
        except ParallelFailed as exc:
            raise RunFailed(f"{exc}\n(worker logs: {log_dir})") from exc
        finally:
            self._save(run.directory, run.record)

    def _parallel_env(self, run: _Run) -> dict[str, str]:
        env = dict(os.environ, PYTHONUNBUFFERED="1", AZUREML_RUN_ID=run.run_id)
        env.setdefault("MLFLOW_TRACKING_URI", self.mlflow_tracking_uri)
        return env

    def _warm_parallel_steps(self, run: _Run) -> None:
        """Start the zygote of each parallel step of ``run`` now, so that its imports overlap
        the steps before it (``localdev.workspace.zygote``). Best effort: a step that cannot
        be warmed starts its workers when it runs, as without a zygote."""
        if self._zygotes is None:
            return
        for step in run.definition.steps:
            settings = step.component.parallel
            if settings is None or step.component.code is None:
                continue
            try:
                code = self._code_of(step)
                self._zygotes.get(
                    self._python, code, settings.entry_script, self._parallel_env(run)
                )
            except Exception:
                logger.warning("[%s] cannot warm the workers of %s", run.run_id, step.name)

    def _run_command(
        self, run: _Run, step: Step, input_values: Mapping[str, str], state: dict[str, Any]
    ) -> None:
        output_root = run.directory / "outputs" / step.name
        shutil.rmtree(output_root, ignore_errors=True)
        output_paths: dict[str, str] = {}
        for output in step.component.outputs:
            path = output_root / output
            path.mkdir(parents=True)
            run.outputs[(step.name, output)] = path
            output_paths[output] = str(path)
        try:
            argv = render_command(step.component.command, input_values, output_paths)
        except (PipelineError, ValueError) as exc:
            raise RunFailed(f"step {step.name!r}: cannot build its command: {exc}") from exc
        if argv and argv[0] in {"python", "python3"}:
            argv[0] = self._python
        if step.component.code is not None:
            cwd = self._code_of(step)
        else:
            cwd = run.directory / "work" / step.name
            cwd.mkdir(parents=True, exist_ok=True)
        log_path = run.directory / "logs" / f"{step.name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        state["log"] = str(log_path)
        logger.debug("[%s/%s] %s", run.run_id, step.name, shlex.join(argv))
        exit_code, stderr_tail = self._run_process(
            argv, cwd, log_path, f"{run.run_id}/{step.name}", run.run_id
        )
        state["exit_code"] = exit_code
        if self._closed:
            raise _Canceled()
        if exit_code != 0:
            how = (
                f"was killed by signal {-exit_code}"
                if exit_code < 0
                else f"failed with exit code {exit_code}"
            )
            tail = "\n".join(stderr_tail) or "(nothing on stderr)"
            raise RunFailed(
                f"step {step.name!r} {how}; last lines of its stderr:\n{tail}\n"
                f"(full log: {log_path})"
            )

    def _run_process(
        self, argv: list[str], cwd: Path, log_path: Path, prefix: str, run_id: str
    ) -> tuple[int, list[str]]:
        env = dict(os.environ, PYTHONUNBUFFERED="1", AZUREML_RUN_ID=run_id)
        # Steps that log with MLflow write to a store under the workspace folder, as Azure ML
        # points them at the workspace's tracking server (open it with `mlflow ui
        # --backend-store-uri sqlite:///<root>/mlflow.db`).
        env.setdefault("MLFLOW_TRACKING_URI", self.mlflow_tracking_uri)
        tail: collections.deque[str] = collections.deque(maxlen=_STDERR_TAIL_LINES)
        write_lock = threading.Lock()
        with log_path.open("w", encoding="utf-8") as log:

            def pump(stream: IO[str], is_stderr: bool) -> None:
                for raw in stream:
                    line = raw.rstrip("\r\n")
                    with write_lock:
                        log.write(line + "\n")
                        log.flush()
                    logger.info("[%s] %s", prefix, line)
                    if is_stderr:
                        tail.append(line)

            with self._lock:
                if self._closed:
                    raise _Canceled()
                try:
                    process = subprocess.Popen(
                        argv,
                        cwd=cwd,
                        env=env,
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        text=True,
                        encoding="utf-8",
                        errors="replace",
                        start_new_session=os.name == "posix",
                    )
                except OSError as exc:
                    raise RunFailed(f"step {prefix}: cannot run {argv[0]!r}: {exc}") from exc
                self._process = process
            assert process.stdout is not None and process.stderr is not None
            reader = threading.Thread(target=pump, args=(process.stderr, True), daemon=True)
            reader.start()
            try:
                pump(process.stdout, False)
                reader.join()
                exit_code = process.wait()
            finally:
                with self._lock:
                    self._process = None
        return exit_code, list(tail)

    def _store_outputs(self, run: _Run, step: Step, fingerprint: str) -> None:
        """Move a successful step's outputs into the cache, where later runs find them."""
        if not step.component.deterministic:
            return
        entry = self._cache / fingerprint
        staging = self._cache / f".staging-{uuid.uuid4().hex}"
        (staging / "outputs").mkdir(parents=True)
        for output in step.component.outputs:
            os.replace(run.outputs[(step.name, output)], staging / "outputs" / output)
        meta = {
            "run_id": run.run_id,
            "step": step.name,
            "component": step.component.source,
            "created_at": utc_now(),
        }
        (staging / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        try:
            os.rename(staging, entry)
        except OSError:  # the same step finished meanwhile in another workspace: keep theirs
            if not (entry / "meta.json").is_file():
                raise
            shutil.rmtree(staging, ignore_errors=True)
        for output in step.component.outputs:
            run.outputs[(step.name, output)] = entry / "outputs" / output

    def _materialise(self, run: _Run, step: Step, name: str, uri: _Uri) -> Path:
        """The local path of an input, downloading it ("download" mode) on first use."""
        if uri.key not in run.downloads:
            target = run.directory / "inputs" / safe_name(uri.key)
            where = f"step {step.name!r} input {name!r}"
            run.downloads[uri.key] = self._data.materialise(uri, target, where)
        return run.downloads[uri.key]
