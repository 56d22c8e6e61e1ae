"""Trigger handlers: new data, schedule ticks, drift signals, manual requests, pause and
resume, the end of a run, and the sweep's share (due bursts, arrivals whose event never
came).

Each turns its message into a policy signal and applies ``shared.policy.step`` to the
model's policy state (``policy/<model>.json``, written ETag-conditionally, so only one
instance can claim a model's next run). A ``Retrain`` is then resolved against the data
snapshot (``shared.policy.resolve``) and launched: the run record is written
create-if-absent (the run key is the lock) and the pipeline submitted. Every decision is
one ledger entry with the events it covered and the run it led to.

Arrivals (BlobCreated) that reach an instance at the same time are decided per model
together: one conditional write of the policy state for all of them (a group commit,
``shared/service/groupcommit.py``), duplicates recognised inside the state
(``shared/policy/batch.py``), one ledger record holding their decisions.

Snapshots are derived incrementally: an arrival names its blob, which is checked once;
a run's snapshot is the previous run's manifest overlaid with the blobs that arrived
since. No event lists the data prefix; the sweep lists it once per model to find blobs
whose event never came (seen: what the policy state knows, and the snapshots of the
model's runs).

Split by job: ``arrivals`` (the BlobCreated path), ``decide`` (a policy step and acting on
its decision), ``launch`` (run record, snapshot manifest, then ``submit`` here),
``catchup`` (blobs without an event, quarantine records), ``policystate`` (the state
document and the caches beside it), ``decisions`` (ledger records), ``forecast_error``
(scoring new data against the production model's forecast).
"""

from __future__ import annotations

import logging

from shared.errors import InvalidInput, NotFound, PipelineError
from shared.messages import (
    DriftAlerted,
    NewDataArrived,
    PauseRequested,
    ResumeRequested,
    RetrainRequested,
    ScheduleTicked,
    SweepTicked,
    TriggerMessage,
)
from shared.parsing import FORCE_RERUN_TAG, MODEL_TAG, RUN_KEY_TAG
from shared.policy import (
    DriftSignal,
    Due,
    Manual,
    Pause,
    Resume,
    RunEnded,
    Signal,
    Tick,
    classify_failure,
)
from shared.ports import JSON, PipelineSubmission
from shared.service.arrivals import _arrival
from shared.service.catchup import _absorb, _catch_up
from shared.service.context import Context
from shared.service.decide import _act, _apply, _decide
from shared.service.decisions import _digest_key, _event_id, _mark_seen, _record, flush_journal
from shared.service.family import family_submission
from shared.service.launch import _attempt_of, mark_active
from shared.service.outcome import Outcome
from shared.service.policystate import _read_state, collect_orphan_chunks, policy_key
from shared.service.precheck import precheck_queued
from shared.settings import ModelConfig

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------ entry points


def handle_schedule(tick: ScheduleTicked, ctx: Context) -> list[Outcome]:
    """A schedule tick asks every model; each retrains only if its data changed. A
    failure for one model is dead-lettered and does not stop the others (a timer
    invocation is not retried)."""
    outcomes = []
    for name in sorted(ctx.models):
        try:
            outcomes.append(handle_trigger(tick, ctx, model=name))
        except Exception as exc:
            ctx.dead_letter("on_schedule", f"{tick.describe()} for model {name}", exc)
            outcomes.append(Outcome(name, "failed", f"{type(exc).__name__}: {exc}"))
    return outcomes


def handle_trigger(message: TriggerMessage, ctx: Context, *, model: str | None = None) -> Outcome:
    """Decide on one trigger for one model, launch the run on Retrain, record why."""
    name = model or getattr(message, "model", None)
    config = ctx.models.get(str(name))
    if config is None:
        raise InvalidInput(f"unknown model {name!r}")
    if isinstance(message, NewDataArrived):
        return _arrival(message, config, ctx)
    event = _event_id(message)
    if event is not None and ctx.exists(_digest_key(event)):
        outcome = Outcome(config.name, "skip", f"duplicate delivery ({message.describe()})")
        return _record(config, outcome, message.describe(), [event], ctx)
    signal: Signal
    if isinstance(message, ScheduleTicked):
        signal = Tick(message.describe())
    elif isinstance(message, DriftAlerted):
        signal = DriftSignal(message.describe(), event=event, resolved=message.resolved)
    else:
        signal = Manual(message.describe(), force=message.force)
    outcome = _decide(config, signal, ctx, trigger=message.describe(), events=[event])
    if event is not None:
        _mark_seen(event, message.describe(), ctx)
    return outcome


def handle_pause(message: PauseRequested | ResumeRequested, ctx: Context) -> list[Outcome]:
    """Pause or resume a model (operator action); on resume the held arrivals are
    replayed or dropped as the model's policy says, and recorded either way."""
    config = ctx.models.get(message.model)
    if config is None:
        raise NotFound(f"unknown model {message.model!r}")
    kind = Pause if isinstance(message, PauseRequested) else Resume
    signal = kind(message.requested_by, message.reason)
    return [_decide(config, signal, ctx, trigger=message.describe(), events=[])]


def after_run(key: str, ctx: Context) -> list[Outcome]:
    """A run was finalised: tell the policy, which may fire what queued behind it. Never
    raises (finalisation is done; the sweep fires what this could not)."""
    try:
        record = ctx.state.get(f"runs/{key}.json")[0]
        config = ctx.models.get(str(record.get("model")))
        if config is None:
            return []
        return _run_ended(config, record, ctx)
    except Exception:
        log.exception("after run %s: the policy could not be told; the sweep will", key)
        return []


def on_sweep(message: SweepTicked, ctx: Context) -> list[Outcome]:
    """The sweep's share of the policy, per model: notice a run that ended without telling
    the policy, turn committed blobs the index has never seen into arrivals (one listing
    of the prefix and one of the index), and fire what has become due (bursts gone quiet,
    cooldowns over, retries whose backoff passed, stale claims)."""
    outcomes: list[Outcome] = []
    for name in sorted(ctx.models):
        config = ctx.models[name]
        try:
            outcomes += _sweep_model(config, message, ctx)
        except Exception as exc:
            log.exception("sweep: the policy of model %s could not be applied", name)
            outcomes.append(Outcome(name, "failed", f"sweep of model {name}: {exc}"))
    return outcomes


def _run_ended(config: ModelConfig, record: JSON, ctx: Context) -> list[Outcome]:
    key = str(record["run_key"])
    status = str(record.get("status"))
    signal = RunEnded(key, status, classify_failure(status, record.get("error")), _attempt_of(key))
    state, decision = _apply(config, signal, ctx)
    if state.retry_at and state.last_run == key:
        log.info("%s: run %s %s; retry due at %s", config.name, key, status, state.retry_at)
    if decision is None:
        return []
    return [_act(config, state, decision, ctx, trigger=f"run {key} ended ({status})", events=[])]


def _sweep_model(config: ModelConfig, message: SweepTicked, ctx: Context) -> list[Outcome]:
    outcomes: list[Outcome] = []
    state = _read_state(config, ctx)
    if state.journal:  # left in the head by an instance that died before flushing it
        flush_journal(config, state.journal, ctx)
    if state.active_run:
        try:
            record = ctx.state.get(f"runs/{state.active_run}.json")[0]
        except NotFound:
            record = {"run_key": state.active_run, "status": "Failed", "finalised": True}
        if record.get("finalised"):
            outcomes += _run_ended(config, record, ctx)
    found, quarantined = _catch_up(config, state, ctx, "the sweep")
    _absorb(config, found, ctx)
    # a page of the queued files still unchecked (check_on_arrival false), so that no
    # launch reads more than a page of them (shared/service/precheck.py)
    if outcomes:  # a run ended and its successor may have launched: the state moved on
        state = _read_state(config, ctx)
    try:
        prechecked = precheck_queued(config, state, ctx, trigger=message.describe())
    except Exception as exc:  # storage trouble: nothing recorded; the next sweep tries again
        log.warning("sweep: queued files of %s not checked: %s", config.name, exc)
        prechecked = Outcome(config.name, "failed", f"checking queued files: {exc}")
    if prechecked is not None:
        outcomes.append(prechecked)
    state, decision = _apply(config, Due(), ctx, found, quarantined)
    if decision is not None:
        outcomes.append(_act(config, state, decision, ctx, trigger=message.describe(), events=[]))
    try:
        collect_orphan_chunks(config, ctx)
    except Exception:  # left for the next sweep
        log.exception("sweep: orphan chunks of %s not collected", config.name)
    return outcomes


def submit(key: str, ctx: Context) -> JSON:
    """Submit the pipeline for the run record ``key`` (its snapshot manifest is written
    already). A failed submit marks the record ``SubmitFailed`` and raises
    ``PipelineError``; the sweep submits it again.

    A forced run must be a real new attempt, but a batch endpoint's invoke cannot ask Azure
    ML to skip step reuse: it sends the optional literal input ``rerun_salt`` (its run key),
    which every step takes and ignores, so each step's inputs differ from any earlier run's
    and nothing is reused; resubmitting the same forced run sends the same salt, so what it
    finished already stays reusable. It is also tagged ``retrain_force_rerun``."""
    record = ctx.state.get(f"runs/{key}.json")[0]
    config = ctx.models[str(record["model"])]
    manifest_path = f"retrain/{key}/snapshot.json"
    inputs: dict[str, str | int | float] = {
        "data": f"azureml://datastores/{ctx.data_datastore}/paths/{config.prefix}",
        "manifest": ctx.artifacts.uri(manifest_path),
        **config.pipeline_inputs(),
        "run_key": key,
    }
    champion = record.get("champion") or {}
    if champion.get("model_uri"):  # absent for the first model
        inputs["champion"] = champion["model_uri"]
    tags = {RUN_KEY_TAG: key, MODEL_TAG: config.name}
    if record.get("force"):
        tags[FORCE_RERUN_TAG] = "true"
        inputs["rerun_salt"] = key
    submission = PipelineSubmission(run_key=key, model=config.name, inputs=inputs, tags=tags)
    if config.series_columns:  # a family: its own pipeline, inputs and champions folder
        submission = family_submission(submission, record, config, ctx)
    try:
        run = ctx.pipeline.submit(submission)
    except Exception as exc:
        ctx.update_run(key, {"status": "SubmitFailed", "error": str(exc)})
        raise PipelineError(f"could not submit the pipeline for run {key}: {exc}") from exc

    ctx.remember_job(run.run_id, key)

    def submitted(record: JSON) -> None:
        # The run may have finished (and been finalised) before this write lands.
        record["pipeline_run_id"] = run.run_id
        if record.get("status") in ("Submitting", "SubmitFailed"):
            record["status"] = run.status

    return ctx.update_run(key, submitted)


# Re-exported for handlers.py's routing table.
__all__ = [
    "RetrainRequested",
    "after_run",
    "handle_pause",
    "handle_schedule",
    "handle_trigger",
    "mark_active",
    "on_sweep",
    "policy_key",
    "submit",
]
