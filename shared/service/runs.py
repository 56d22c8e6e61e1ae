"""Run-completion handlers: a pipeline run changed state or finished.

Finalisation is claimed with an ETag-conditional write (``finalising_at``) so two
deliveries cannot both do it; a claim older than ``FINALISE_LEASE`` (its holder died) may
be taken over, and every step is safe to repeat (see ``shared.service.promotion``). The
claim counts its attempts (``finalise_attempt``): a first attempt need not look for what
an earlier one did, which keeps a family's finalisation from reading its history. If
finalising fails, the claim is released and the error re-raised, so the platform's retry
finishes the job.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from shared.errors import ConflictError, InvalidInput, NotFound
from shared.messages import PipelineRunCompleted, SweepTicked
from shared.parsing import RUN_KEY_TAG, parse_time
from shared.policy import STUCK_SUBMITTING
from shared.ports import JSON, RUN_TERMINAL_STATES, PipelineRun
from shared.service.context import Context
from shared.service.family import is_family
from shared.service.family_collect import collect_orphans
from shared.service.family_finalise import finalise_family
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


def handle_run_event(
    message: PipelineRunCompleted, ctx: Context, *, backend_run: PipelineRun | None = None
) -> list[Outcome]:
    """Record a status change; on a terminal status, finalise the run once.

    A run event is a hint, not the truth (anyone who can reach the webhook can send one):
    before finalising, the backend is asked for the run's real status
    (``PipelineClient.get_run``; the sweep passes what it already asked as
    ``backend_run``). An event the backend contradicts (a "Failed" for a run still going,
    a run the backend does not know) is ignored with a ledger entry; when both say the
    run ended but disagree how, the backend's status is the one acted on.
    """
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
            return [_noted(ctx, Outcome(model, "ignored", reason, run_key=key), message)]
        if record.get("finalised"):
            outcome = Outcome(model, "skip", f"run {key} was already finalised", run_key=key)
            return [_noted(ctx, outcome, message)]
        if message.status not in RUN_TERMINAL_STATES:
            ctx.update_run(key, _status_unless_finished(message.status))
            return [Outcome(model, "status", f"run {key} is {message.status}", run_key=key)]
        if backend_run is None:
            asked, refusal = _ask_backend(model, key, message, ctx)
            if asked is None:
                return [refusal] if refusal is not None else []
            backend_run = asked
        if backend_run.status != message.status:
            log.warning(
                "%s: event %s says run %s %s; the backend says %s: acting on the backend's",
                model,
                message.event_id,
                key,
                message.status,
                backend_run.status,
            )
            message = dataclasses.replace(message, status=backend_run.status)
        if _claimed(record, ctx):
            return [Outcome(model, "skip", f"run {key} is being finalised already", key)]
        claim = dict(
            record,
            status=message.status,
            finalising_at=ctx.clock.now().isoformat(),
            finalise_attempt=_attempt(record),
        )
        try:
            ctx.state.replace(f"runs/{key}.json", claim, etag=etag)
            break
        except ConflictError:
            continue  # the record changed (e.g. a status update): look again
    else:
        raise ConflictError(f"run record {key} kept changing; the event will be retried")
    try:
        if message.status != "Completed":
            outcome = _finalise_failed(model, key, message, backend_run, ctx)
        elif is_family(claim, ctx):  # gate, registry and promotion per series
            outcome = finalise_family(model, key, claim, ctx)
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
      alone; if it completes later its event finds the run finalised and is ignored);
    - the history chain documents of family moves never made (an attempt that lost its
      compare-and-swap or died before it) are collected, a bounded number per sweep
      (``shared.service.family_collect``).

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
        try:
            ctx.registry.reconcile(model)
        except Exception as exc:  # one model's registry trouble must not stop the others
            log.warning("sweep: the registry of %s could not be reconciled: %s", model, exc)
            outcomes.append(Outcome(model, "failed", f"registry reconcile: {exc}"))
    try:  # history chain documents of family moves never made (family_collect)
        collect_orphans(ctx)
    except Exception:  # left for the next sweep
        log.exception("sweep: the families' orphan history documents were not collected")
    log.info("%s: %d open run(s) needed attention", message.describe(), len(outcomes))
    return outcomes


def _reconcile(key: str, ctx: Context) -> Outcome | None:
    try:
        record = ctx.state.get(f"runs/{key}.json")[0]
    except NotFound:
        # A marker may be written just before its record (a launch under way): only an
        # old one without a record is dropped.
        try:
            since = parse_time(ctx.state.get(f"active/{key}.json")[0].get("since"))
        except (NotFound, InvalidInput):
            since = None
        if since is None or ctx.clock.now() - since > STUCK_SUBMITTING:
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
        if found is None and age > RUN_TIMEOUT:
            return _give_up(
                model,
                key,
                f"no job could be started in {RUN_TIMEOUT} (last error: {record.get('error')})",
                ctx,
            )
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
        [outcome] = handle_run_event(event, ctx, backend_run=run)
        log.info("sweep: run %s had finished (%s) without its event reaching us", key, run.status)
        return outcome
    if age > RUN_TIMEOUT:
        why = "the backend does not know it" if run is None else f"still {run.status}"
        return _give_up(
            model, key, f"no result after {RUN_TIMEOUT}: {why}; the service stopped waiting", ctx
        )
    if run is not None and run.status != record.get("status"):
        ctx.update_run(key, _status_unless_finished(run.status))
    return None


def _give_up(model: str, key: str, error: str, ctx: Context) -> Outcome:
    """Record an open run as failed for good (the policy then treats it as ended)."""
    ctx.update_run(key, {"status": "Failed", "error": error, "finalised": True})
    ctx.state.delete(f"active/{key}.json")
    outcome = Outcome(model, "failed", f"run {key} timed out: {error}", run_key=key)
    ctx.ledger(model, "run", outcome)
    log.warning("%s: run %s timed out: %s", model, key, error)
    return outcome


def _attempt(record: Mapping[str, Any]) -> int:
    """Which attempt at finalising this claim is: 1 when no claim was ever written (a
    record claimed before attempts were counted has ``finalising_at``: it counts as one),
    so a first attempt knows nothing was registered or moved for it yet."""
    earlier = record.get("finalise_attempt")
    if isinstance(earlier, int) and not isinstance(earlier, bool):
        return earlier + 1
    return 2 if "finalising_at" in record else 1


def _claimed(record: Mapping[str, Any], ctx: Context) -> bool:
    claimed_at = parse_time(record.get("finalising_at"))
    return claimed_at is not None and ctx.clock.now() - claimed_at < FINALISE_LEASE


def _noted(ctx: Context, outcome: Outcome, message: PipelineRunCompleted) -> Outcome:
    """Leave a trace an operator can see of a run event that changed nothing (a child
    step's event, a redelivery after finalisation); the sweep's own checks leave none."""
    if outcome.model is not None and not message.event_id.startswith("sweep:"):
        ctx.ledger(
            outcome.model,
            "run_event",
            outcome,
            event_id=message.event_id,
            status=message.status,
            run_id=message.run_id,
        )
    return outcome


def _ask_backend(
    model: str, key: str, message: PipelineRunCompleted, ctx: Context
) -> tuple[PipelineRun, None] | tuple[None, Outcome]:
    """The backend's view of the event's run, or the ledgered refusal of the event."""
    try:
        run = ctx.pipeline.get_run(message.run_id)
    except NotFound:
        why = f"the backend knows no run {message.run_id}"
    else:
        if run.finished:
            return run, None
        why = f"the backend says run {message.run_id} is {run.status}"
    reason = (
        f"event {message.event_id} says run {key} {message.status}, but {why}: "
        "ignored (run events are hints; the sweep follows the real run)"
    )
    outcome = Outcome(model, "ignored", reason, run_key=key)
    ctx.ledger(model, "run", outcome, event_id=message.event_id)
    log.warning("%s: %s", model, reason)
    return None, outcome


def _finalise_failed(
    model: str,
    key: str,
    message: PipelineRunCompleted,
    backend_run: PipelineRun,
    ctx: Context,
) -> Outcome:
    error = backend_run.error or message.status
    ctx.update_run(key, {"status": message.status, "error": error, "finalised": True})
    outcome = Outcome(model, "failed", f"run {key} {message.status}: {error}", run_key=key)
    ctx.ledger(model, "run", outcome)
    log.warning("%s: run %s %s: %s", model, key, message.status, error)
    return outcome
