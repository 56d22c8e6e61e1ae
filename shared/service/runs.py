"""Run-completion handlers: a pipeline run changed state or finished.

Finalisation is claimed with an ETag-conditional write (``finalising_at``) so two
deliveries cannot both do it; a claim older than ``FINALISE_LEASE`` (its holder died) may
be taken over, and every step is safe to repeat (see ``shared.service.promotion``). If
finalising fails, the claim is released and the error re-raised, so the platform's retry
finishes the job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from shared.errors import ConflictError, InvalidInput, NotFound
from shared.messages import PipelineRunCompleted, SweepTicked
from shared.parsing import RUN_KEY_TAG, parse_time
from shared.policy import STUCK_SUBMITTING
from shared.ports import JSON, RUN_TERMINAL_STATES
from shared.service.context import Context
from shared.service.outcome import Outcome
from shared.service.promotion import finalise_completed
from shared.service.triggers import after_run, on_sweep, submit

log = logging.getLogger(__name__)

# A finalisation claim older than this is taken to belong to an instance that died.
FINALISE_LEASE = timedelta(minutes=10)
# A run with no result this long after it was started is recorded as failed by the sweep.
RUN_TIMEOUT = timedelta(hours=24)


def _status_unless_finished(status: str) -> Callable[[JSON], None]:
    def change(record: JSON) -> None:
        if not record.get("finalised") and record.get("status") not in RUN_TERMINAL_STATES:
            record["status"] = status

    return change


def handle_run_event(message: PipelineRunCompleted, ctx: Context) -> list[Outcome]:
    """Record a status change; on a terminal status, finalise the run once."""
    key = message.run_key or ctx.run_key_of_job(message.run_id)
    if key is None:
        reason = (
            f"run {message.run_id} has no {RUN_KEY_TAG} tag and is no job the service "
            "started: not a retraining run"
        )
        log.info("ignored: %s", reason)
        return [Outcome(None, "ignored", reason)]
    for _ in range(5):
        try:
            record, etag = ctx.state.get(f"runs/{key}.json")
        except NotFound:
            raise InvalidInput(f"run event for unknown run key {key!r}") from None
        model = str(record["model"])
        expected = record.get("pipeline_run_id")
        if expected and message.run_id != expected:
            reason = f"event for run {message.run_id}, but run key {key} is run {expected}"
            return [Outcome(model, "ignored", reason, run_key=key)]
        if record.get("finalised"):
            return [Outcome(model, "skip", f"run {key} was already finalised", run_key=key)]
        if message.status not in RUN_TERMINAL_STATES:
            ctx.update_run(key, _status_unless_finished(message.status))
            return [Outcome(model, "status", f"run {key} is {message.status}", run_key=key)]
        if _claimed(record, ctx):
            return [Outcome(model, "skip", f"run {key} is being finalised already", key)]
        claim = dict(record, status=message.status, finalising_at=ctx.clock.now().isoformat())
        try:
            ctx.state.replace(f"runs/{key}.json", claim, etag=etag)
            break
        except ConflictError:
            continue  # the record changed (e.g. a status update): look again
    else:
        raise ConflictError(f"run record {key} kept changing; the event will be retried")
    try:
        if message.status != "Completed":
            outcome = _finalise_failed(model, key, message, ctx)
        else:
            outcome = finalise_completed(model, key, claim, ctx)
    except Exception:
        ctx.update_run(key, {"finalising_at": None})
        raise
    ctx.state.delete(f"active/{key}.json")
    after_run(key, ctx)  # the trigger policy: fire what queued behind this run
    return [outcome]


def handle_sweep(message: SweepTicked, ctx: Context) -> list[Outcome]:
    """Reconcile the runs still open (``active/``) with the backend, for the events that
    never came (Event Grid delivers at least once, but deliveries can be lost or dropped
    after their retries):

    - a run the backend reports finished is finalised exactly as its event would have
      done (same claim, same gate);
    - a run whose submit failed, or that sat in ``Submitting`` past ``STUCK_SUBMITTING``,
      is looked up by its run key first (an ambiguous failure may have started a job)
      and submitted again only when the backend has none;
    - a run still going after ``RUN_TIMEOUT`` is recorded as failed (the job is left
      alone; if it completes later its event finds the run finalised and is ignored).

    Each run's failure is logged and reported, and does not stop the others.
    """
    outcomes: list[Outcome] = []
    for marker in ctx.state.list_keys("active/"):
        key = marker.removeprefix("active/").removesuffix(".json")
        try:
            outcome = _reconcile(key, ctx)
        except Exception as exc:
            log.exception("sweep: run %s could not be reconciled", key)
            outcome = Outcome(None, "failed", f"sweep of run {key}: {exc}", run_key=key)
        if outcome is not None:
            outcomes.append(outcome)
    outcomes += on_sweep(message, ctx)  # the trigger policy: due bursts, unseen arrivals
    for model in sorted(ctx.models):
        ctx.registry.reconcile(model)
    log.info("%s: %d open run(s) needed attention", message.describe(), len(outcomes))
    return outcomes


def _reconcile(key: str, ctx: Context) -> Outcome | None:
    try:
        record = ctx.state.get(f"runs/{key}.json")[0]
    except NotFound:
        ctx.state.delete(f"active/{key}.json")
        return None
    model = str(record["model"])
    if record.get("finalised"):
        ctx.state.delete(f"active/{key}.json")
        return None
    now = ctx.clock.now()
    age = now - (parse_time(record.get("created_at")) or now)
    run_id = record.get("pipeline_run_id")
    if not run_id:
        if record.get("status") != "SubmitFailed" and age < STUCK_SUBMITTING:
            return None  # its submit may still be under way
        found = ctx.pipeline.find_run(key)
        if found is None:
            submit(key, ctx)
            return Outcome(model, "retrain", f"sweep resubmitted run {key}", run_key=key)
        ctx.update_run(key, {"pipeline_run_id": found.run_id, "status": found.status})
        ctx.remember_job(found.run_id, key)
        run_id = found.run_id
    try:
        run = ctx.pipeline.get_run(str(run_id))
    except NotFound:
        run = None
    if run is not None and run.finished:
        event = PipelineRunCompleted(str(run_id), key, run.status, event_id=f"sweep:{key}")
        [outcome] = handle_run_event(event, ctx)
        log.info("sweep: run %s had finished (%s) without its event reaching us", key, run.status)
        return outcome
    if age > RUN_TIMEOUT:
        why = "the backend does not know it" if run is None else f"still {run.status}"
        error = f"no result after {RUN_TIMEOUT}: {why}; the service stopped waiting"
        ctx.update_run(key, {"status": "Failed", "error": error, "finalised": True})
        ctx.state.delete(f"active/{key}.json")
        outcome = Outcome(model, "failed", f"run {key} timed out: {error}", run_key=key)
        ctx.ledger(model, "run", outcome)
        log.warning("%s: run %s timed out: %s", model, key, error)
        return outcome
    if run is not None and run.status != record.get("status"):
        ctx.update_run(key, _status_unless_finished(run.status))
    return None


def _claimed(record: Mapping[str, Any], ctx: Context) -> bool:
    claimed_at = parse_time(record.get("finalising_at"))
    return claimed_at is not None and ctx.clock.now() - claimed_at < FINALISE_LEASE


def _finalise_failed(model: str, key: str, message: PipelineRunCompleted, ctx: Context) -> Outcome:
    try:
        error = ctx.pipeline.get_run(message.run_id).error or message.status
    except NotFound:
        error = message.status
    ctx.update_run(key, {"status": message.status, "error": error, "finalised": True})
    outcome = Outcome(model, "failed", f"run {key} {message.status}: {error}", run_key=key)
    ctx.ledger(model, "run", outcome)
    log.warning("%s: run %s %s: %s", model, key, message.status, error)
    return outcome
