"""Runs: one run's record, a model's runs newest first (with step progress and a family
run's counts), a run's steps and logs, artifacts, report and plot."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
from typing import Any

from shared.errors import ConflictError, InvalidInput, NotFound
from shared.parsing.common import parse_time
from shared.ports import JSON, PipelineStep, RunInspector
from shared.service import audit
from shared.service.context import Context
from shared.service.queries.common import check_page, known_run_key, mapping, newest

log = logging.getLogger(__name__)


# What a run key adds to its model's name: the snapshot id, then the attempt.
_RUN_SUFFIX = re.compile(r"[0-9a-f]{16}(?:-r[0-9]+)?")


def get_run(ctx: Context, run_key: str) -> JSON:
    return ctx.state.get(f"runs/{known_run_key(run_key)}.json")[0]


def run_report(ctx: Context, run_key: str) -> str:
    return audit.run_report(ctx, known_run_key(run_key))


def list_runs(ctx: Context, model: str, *, limit: int = 50) -> list[JSON]:
    """The model's runs, newest first (by the record's ``created_at``): each run record
    with its ``run_key``. At most ``limit`` (0 to ``MAX_PAGE``); a page costs two listings
    of names and one read per run returned (the time index ``index/runs/<model>/``, see
    ``newest``)."""
    if model not in ctx.models:
        raise NotFound(f"unknown model {model!r}")
    check_page(limit)
    base = f"runs/{model}-"
    keys = {
        key.removeprefix("runs/").removesuffix(".json"): key
        for key in ctx.state.list_keys(base)
        if _RUN_SUFFIX.fullmatch(key.removeprefix(base).removesuffix(".json"))
    }
    page = newest(ctx, f"index/runs/{model}/", keys, lambda r: r.get("created_at"), limit)
    return [{**record, "run_key": run_key} for run_key, record in page]


# The most log lines one request returns.
MAX_LOG_LINES = 2000


_ARTIFACTS = {
    "snapshot": "snapshot.json",
    "prepared": "prepared/",
    "model": "model/",
    "metrics": "metrics/metrics.json",
    "forecast_plot_svg": "metrics/forecast.svg",
    "forecast_plot_png": "metrics/forecast.png",
}


def _inspector(ctx: Context) -> RunInspector | None:
    if ctx.inspector is not None:
        return ctx.inspector
    return ctx.pipeline if isinstance(ctx.pipeline, RunInspector) else None


def _step_json(step: PipelineStep) -> JSON:
    return dataclasses.asdict(step)


# Step states that may still change (a finalised run's NotStarted steps never will).
_ACTIVE_STEP = frozenset(
    {"Running", "Queued", "Preparing", "Starting", "Provisioning", "Finalizing", "CancelRequested"}
)


_STEP_FIELDS = frozenset(f.name for f in dataclasses.fields(PipelineStep))


def _steps_of(ctx: Context, record: JSON) -> list[PipelineStep] | None:
    """The run's steps from the backend; None when it cannot say (no job yet, a backend
    without ``RunInspector``, the job unknown to it, or the backend failing: logged).

    A finalised run's steps no longer change: the first answer whose steps have all
    ended is kept under ``index/steps/<run key>.json`` and read from there after, so a
    list of finished runs costs one state read per run, not backend calls.
    """
    inspector, run_id = _inspector(ctx), record.get("pipeline_run_id")
    if inspector is None or not run_id:
        return None
    cache = f"index/steps/{record.get('run_key')}.json"
    if record.get("finalised"):
        with contextlib.suppress(NotFound):
            kept = ctx.state.get(cache)[0].get("steps") or []
            return [PipelineStep(**{k: v for k, v in s.items() if k in _STEP_FIELDS}) for s in kept]
    try:
        steps = inspector.get_steps(str(run_id))
    except NotFound:
        return None
    except Exception as exc:  # a listing must not fail for one run's backend trouble
        log.warning("the steps of run %s could not be read: %s", record.get("run_key"), exc)
        return None
    ended = not any(s.status in _ACTIVE_STEP for s in steps)
    if record.get("finalised") and steps and ended:
        with contextlib.suppress(ConflictError):
            ctx.state.create(cache, {"steps": [_step_json(s) for s in steps]})
    return steps


def _elapsed(ctx: Context, record: JSON) -> float | None:
    """Seconds from the run record's creation to its last change (to now while open)."""
    try:
        start = parse_time(record.get("created_at"))
        end = parse_time(record.get("updated_at")) if record.get("finalised") else ctx.clock.now()
    except InvalidInput:
        return None
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 3)


def run_summary(ctx: Context, record: JSON, steps: list[PipelineStep] | None) -> JSON:
    """What a list of runs shows for one: status, trigger, outcome, elapsed time and
    step progress (``steps`` None: the backend cannot say)."""
    gate = mapping(record.get("gate"))
    trigger = mapping(record.get("trigger"))
    progress = None
    if steps is not None:
        progress = {
            "total": len(steps),
            "completed": sum(s.status == "Completed" for s in steps),
            "running": [s.name for s in steps if s.status == "Running"],
            "failed": [s.name for s in steps if s.status == "Failed"],
            "durations_s": {s.name: s.duration_s for s in steps},
        }
    key = str(record.get("run_key"))
    return {
        "run_key": key,
        "model": record.get("model"),
        "status": record.get("status"),
        "finalised": bool(record.get("finalised")),
        "created_at": record.get("created_at"),
        "updated_at": record.get("updated_at"),
        "elapsed_s": _elapsed(ctx, record),
        "trigger": trigger.get("kind"),
        "trigger_reason": trigger.get("reason"),
        "pipeline_run_id": record.get("pipeline_run_id"),
        "model_version": record.get("model_version"),
        "promoted": record.get("promoted"),
        "gate_passed": gate.get("passed") if gate else None,
        "family": family_counts(record.get("family")),
        "error": record.get("error"),
        "steps": progress,
        "links": run_links(key),
    }


def family_counts(summary: Any) -> JSON | None:
    """A family run's counts for a list of runs, and its worst series by error (None for
    a single-series run)."""
    if not isinstance(summary, dict):
        return None
    keys = (
        "series_total",
        "trained",
        "promoted",
        "refused",
        "registered_only",
        "failed",
        "excluded",
        "missing",
    )
    worst = summary.get("worst")
    first = worst[0] if isinstance(worst, list) and worst else None
    return {k: summary.get(k) for k in keys} | {"worst": first}


def run_links(run_key: str) -> JSON:
    """The API's pages about one run."""
    return {
        "run": f"/api/runs/{run_key}",
        "steps": f"/api/runs/{run_key}/steps",
        "artifacts": f"/api/runs/{run_key}/artifacts",
        "report": f"/api/runs/{run_key}/report",
        "plot": f"/api/runs/{run_key}/plot",
    }


def list_run_summaries(ctx: Context, model: str, *, limit: int = 50) -> list[JSON]:
    """``list_runs`` as summaries with step progress (one backend question per run)."""
    records = list_runs(ctx, model, limit=limit)
    return [run_summary(ctx, record, _steps_of(ctx, record)) for record in records]


def _check_lines(lines: int) -> int:
    if isinstance(lines, bool) or not isinstance(lines, int) or not 0 <= lines <= MAX_LOG_LINES:
        raise InvalidInput(f"lines must be a whole number from 0 to {MAX_LOG_LINES}")
    return lines


def run_steps(ctx: Context, run_key: str, *, lines: int = 20) -> JSON:
    """The run's steps as the backend reports them, each with the last ``lines`` lines of
    its log; ``available`` False (and no steps) when the backend cannot say."""
    _check_lines(lines)
    record = get_run(ctx, run_key)
    steps = _steps_of(ctx, record)
    inspector = _inspector(ctx)
    listed: list[JSON] = []
    for step in steps or []:
        tail: list[str] = []
        if inspector is not None and lines:
            with contextlib.suppress(NotFound):
                tail = inspector.get_log_tail(
                    str(record["pipeline_run_id"]), step.name, lines=lines
                )
        listed.append({**_step_json(step), "log_tail": tail})
    return {
        "run_key": run_key,
        "status": record.get("status"),
        "pipeline_run_id": record.get("pipeline_run_id"),
        "available": steps is not None,
        "steps": listed,
    }


def step_log(ctx: Context, run_key: str, step: str, *, lines: int = 200) -> JSON:
    """The last ``lines`` lines of one step's log; NotFound when the backend cannot say."""
    _check_lines(lines)
    record = get_run(ctx, run_key)
    inspector, run_id = _inspector(ctx), record.get("pipeline_run_id")
    if inspector is None or not run_id:
        raise NotFound(f"run {run_key} has no step logs the backend can give")
    tail = inspector.get_log_tail(str(run_id), step, lines=lines)
    return {"run_key": run_key, "step": step, "lines": tail}


def run_artifacts(ctx: Context, run_key: str) -> JSON:
    """Where the run's inputs and outputs are in the artifact datastore (URIs as the
    pipeline takes them) and its audit report."""
    record = get_run(ctx, run_key)
    base = f"retrain/{run_key}/"
    return {
        "run_key": run_key,
        "status": record.get("status"),
        "artifacts": {name: ctx.artifacts.uri(base + path) for name, path in _ARTIFACTS.items()},
        "links": run_links(run_key),
    }


def run_plot(ctx: Context, run_key: str) -> tuple[bytes, str]:
    """The run's forecast plot and its media type (the SVG titled with the gate's verdict
    once finalised, else the PNG); NotFound when the run wrote none."""
    found = audit.run_plot(ctx, get_run(ctx, run_key))
    if found is None:
        raise NotFound(f"run {run_key} wrote no forecast plot")
    return found
