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
from shared.messages import PipelineRunCompleted
from shared.parsing import RUN_KEY_TAG, parse_time
from shared.ports import JSON, RUN_TERMINAL_STATES
from shared.service.context import Context
from shared.service.outcome import Outcome
from shared.service.promotion import finalise_completed

log = logging.getLogger(__name__)

# A finalisation claim older than this is taken to belong to an instance that died.
FINALISE_LEASE = timedelta(minutes=10)


def _status_unless_finished(status: str) -> Callable[[JSON], None]:
    def change(record: JSON) -> None:
        if not record.get("finalised") and record.get("status") not in RUN_TERMINAL_STATES:
            record["status"] = status

    return change


def handle_run_event(message: PipelineRunCompleted, ctx: Context) -> list[Outcome]:
    """Record a status change; on a terminal status, finalise the run once."""
    if message.run_key is None:
        reason = f"run {message.run_id} has no {RUN_KEY_TAG} tag: not a retraining run"
        log.info("ignored: %s", reason)
        return [Outcome(None, "ignored", reason)]
    key = message.run_key
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
            return [_finalise_failed(model, key, message, ctx)]
        return [finalise_completed(model, key, claim, ctx)]
    except Exception:
        ctx.update_run(key, {"finalising_at": None})
        raise


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
