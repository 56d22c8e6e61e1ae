"""Trigger handlers: new data, schedule ticks, drift signals, manual requests, pause and
resume, the end of a run, and the sweep's share (due bursts, arrivals whose event never
came).

Each turns its message into a policy signal and applies ``shared.policy.step`` to the
model's policy state (``policy/<model>.json``, written ETag-conditionally, so only one
instance can claim a model's next run). A ``Retrain`` is then resolved against the data
snapshot (``shared.policy.resolve``) and launched: the run record is written
create-if-absent (the run key is the lock) and the pipeline submitted. Every decision is
one ledger entry with the events it covered and the run it led to.

Snapshots are derived incrementally: an arrival names its blob; the blob is checked once
and recorded in the append-only index ``seen/<model>/<blob>/<etag>.json``; a run's
snapshot is the previous run's manifest overlaid with the blobs that arrived since. No
event lists the data prefix; the sweep lists it once per model to find blobs whose event
never came.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

from shared.datacheck import check_csv
from shared.errors import ConflictError, InvalidData, InvalidInput, NotFound, PipelineError
from shared.messages import (
    COMMITTING_BLOB_APIS,
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
    Arrival,
    Coalesced,
    Decision,
    DriftSignal,
    Due,
    Manual,
    ModelState,
    Pause,
    Resume,
    Retrain,
    RunEnded,
    Signal,
    Tick,
    classify_failure,
    launched,
    not_launched,
    resolve,
    step,
)
from shared.policy.engine import absorb
from shared.policy.forecast import score_actuals
from shared.ports import JSON, DataFile, PipelineSubmission
from shared.service.context import Context
from shared.service.outcome import Outcome
from shared.service.promotion import PRODUCTION
from shared.settings import ModelConfig
from shared.snapshot import Snapshot, overlay, parse_seen_key, run_key, seen_key

log = logging.getLogger(__name__)


def policy_key(model: str) -> str:
    return f"policy/{model}.json"


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


# ------------------------------------------------------------------------------ arrivals


def _arrival(message: NewDataArrived, config: ModelConfig, ctx: Context) -> Outcome:
    event = f"eventgrid:{message.event_id}"
    what = message.describe()
    if message.api not in COMMITTING_BLOB_APIS:
        outcome = Outcome(
            config.name, "skip", f"blob API {message.api!r} does not commit data; waiting for it"
        )
        _mark_seen(event, what, ctx)
        return _record(config, outcome, what, [event], ctx)
    if ctx.exists(_digest_key(event)):
        outcome = Outcome(config.name, "skip", f"duplicate delivery of event {message.event_id}")
        return _record(config, outcome, what, [event], ctx)
    blob = DataFile(message.blob_name, message.etag, message.size)
    return _blob_arrived(config, blob, event, what, ctx)


def _blob_arrived(
    config: ModelConfig, blob: DataFile, event: str, what: str, ctx: Context
) -> Outcome:
    """Check a committed blob once (dedupe on name + ETag), then hand it to the policy."""
    checked = _check_blob(config, blob, event, what, ctx)
    if isinstance(checked, Outcome):
        return checked
    signal, content = checked
    index = seen_key(config.name, blob.name, blob.etag)
    outcome = _decide(config, signal, ctx, trigger=what, events=[event], index=index)
    _mark_seen(event, what, ctx)
    _forecast_error(config, blob, content, ctx)
    return outcome


def _check_blob(
    config: ModelConfig, blob: DataFile, event: str, what: str, ctx: Context
) -> tuple[Arrival, bytes] | Outcome:
    """The arrival of a blob version not seen before, with its rows counted; or the
    recorded outcome of a duplicate or a blob gone already. A bad file is quarantined,
    recorded, indexed as seen and ``InvalidData`` raised."""
    index = seen_key(config.name, blob.name, blob.etag)
    try:
        seen = ctx.state.get(index)[0]
    except NotFound:
        seen = None
    if seen is not None:
        why = f"blob {blob.name} with ETag {blob.etag} was seen already (as {seen.get('event')})"
        _mark_seen(event, what, ctx)
        outcome = Outcome(config.name, "skip", f"duplicate: {why}")
        return _record(config, outcome, what, [event], ctx)
    try:
        content = ctx.data.read_bytes(blob.name)
        rows = check_csv(
            content,
            name=blob.name,
            time_column=config.time_column,
            value_column=config.value_column,
        )
    except InvalidData as exc:
        _quarantine(config, blob, event, what, exc, ctx)
        raise
    except NotFound:
        # Not checked, so it joins no snapshot; if it comes back the sweep finds it.
        outcome = Outcome(
            config.name, "skip", f"blob {blob.name} was gone before it could be checked"
        )
        log.warning("%s: %s", config.name, outcome.reason)
        _mark_seen(event, what, ctx)
        return _record(config, outcome, what, [event], ctx)
    return Arrival(what, event, blob.name, blob.etag, blob.size, rows), content


def _catch_up(config: ModelConfig, ctx: Context, why: str) -> list[Arrival]:
    """Committed blobs under the model's prefix that the index has never seen (their
    event never came), checked: one listing of the prefix and one of the index."""
    seen = {parse_seen_key(config.name, k) for k in ctx.state.list_keys(f"seen/{config.name}/")}
    found: list[Arrival] = []
    for blob in ctx.data.list_files(config.prefix):
        if (blob.name, blob.etag.strip('"')) in seen:
            continue
        what = f"{why} found {blob.name} ({blob.size} bytes) without an event"
        try:
            checked = _check_blob(config, blob, f"sweep:{blob.name}@{blob.etag}", what, ctx)
        except InvalidData:
            continue  # quarantined and recorded
        if not isinstance(checked, Outcome):
            found.append(checked[0])
    return found


def _absorb(config: ModelConfig, found: list[Arrival], ctx: Context) -> None:
    """Record blobs found without an event: each a ledger entry (the signal that follows
    decides on them together)."""
    for arrival in found:
        outcome = Outcome(config.name, "coalesced", f"{arrival.reason}; decided with the rest")
        _record(config, outcome, arrival.reason, [arrival.event], ctx)
        _mark_seen(arrival.event, arrival.reason, ctx)


def _quarantine(
    config: ModelConfig, blob: DataFile, event: str, what: str, exc: Exception, ctx: Context
) -> None:
    record = {
        "blob": blob.name,
        "etag": blob.etag,
        "reason": str(exc),
        "at": ctx.clock.now().isoformat(),
    }
    key = f"quarantine/{blob.name}.json"
    try:
        ctx.state.create(key, record)
    except ConflictError:  # an earlier version of the file was quarantined
        ctx.state.replace(key, record, etag=ctx.state.get(key)[1])
    # Seen (as quarantined): a redelivery of this version is a duplicate, not a new
    # quarantine; a fixed upload has another ETag and is checked again.
    with contextlib.suppress(ConflictError):
        ctx.state.create(
            seen_key(config.name, blob.name, blob.etag),
            {"event": event, "quarantined": True, "at": record["at"]},
        )
    _mark_seen(event, what, ctx)
    outcome = Outcome(config.name, "skip", f"quarantined: {exc}")
    _record(config, outcome, what, [event], ctx)
    log.warning("%s: QUARANTINED %s: %s", config.name, blob.name, exc)


# ------------------------------------------------------------------------------ deciding


def _decide(
    config: ModelConfig,
    signal: Signal,
    ctx: Context,
    *,
    trigger: str,
    events: Sequence[str | None],
    index: str | None = None,
) -> Outcome:
    """Apply the policy to the model's state, act on the decision, record it."""
    catch_up = isinstance(signal, Manual | Tick | DriftSignal)
    found = _catch_up(config, ctx, "the request") if catch_up else []
    _absorb(config, found, ctx)
    state, decision = _apply(config, signal, ctx, found)
    if index is not None:  # the arrival is in the policy state now: index it
        with contextlib.suppress(ConflictError):
            ctx.state.create(index, {"event": events[0], "at": ctx.clock.now().isoformat()})
    if decision is None:
        return Outcome(config.name, "none", "nothing to decide")
    return _act(config, state, decision, ctx, trigger=trigger, events=events)


def _apply(
    config: ModelConfig, signal: Signal, ctx: Context, found: Sequence[Arrival] = ()
) -> tuple[ModelState, Decision | None]:
    """One policy step; ``found`` arrivals (without an event) join the state first and
    are indexed as seen once they are in it."""
    now = ctx.clock.now()
    state, decision = _update_state(
        config,
        lambda s: step(absorb(s, found, now=now), signal, now=now, policy=config.policy),
        ctx,
    )
    for arrival in found:
        with contextlib.suppress(ConflictError):
            ctx.state.create(
                seen_key(config.name, arrival.blob, arrival.etag),
                {"event": arrival.event, "at": now.isoformat()},
            )
    return state, decision


def _update_state(
    config: ModelConfig,
    change: Callable[[ModelState], tuple[ModelState, Decision | None]],
    ctx: Context,
    attempts: int = 20,
) -> tuple[ModelState, Decision | None]:
    """Read-change-write the model's policy state, ETag-conditionally; retried when
    another instance wrote first (the change is recomputed on what it wrote)."""
    key = policy_key(config.name)
    for _ in range(attempts):
        try:
            document, etag = ctx.state.get(key)
            state = ModelState.from_json(document)
        except NotFound:
            document, etag, state = {}, None, ModelState()
        new_state, decision = change(state)
        if new_state == state:
            return new_state, decision
        try:
            if etag is None:
                ctx.state.create(key, new_state.as_json())
            else:
                ctx.state.replace(key, new_state.as_json(), etag=etag)
            return new_state, decision
        except ConflictError:
            continue
    raise ConflictError(f"policy state of {config.name} kept changing; try again")


def _act(
    config: ModelConfig,
    state: ModelState,
    decision: Decision,
    ctx: Context,
    *,
    trigger: str,
    events: Sequence[str | None],
) -> Outcome:
    if isinstance(decision, Retrain):
        return _fire(config, state, decision, ctx, trigger=trigger)
    details: dict[str, Any] = {}
    if isinstance(decision, Coalesced):
        details["due_at"] = decision.due_at.isoformat()
    behind = getattr(decision, "behind", None)
    outcome = Outcome(config.name, decision.decision, decision.reason, behind, details)
    log.info("%s: %s %s: %s", config.name, decision.decision.upper(), trigger, decision.reason)
    return _record(config, outcome, trigger, events, ctx)


def _fire(
    config: ModelConfig, state: ModelState, decision: Retrain, ctx: Context, *, trigger: str
) -> Outcome:
    """Resolve a claimed Retrain against the snapshot and launch it (or release the
    claim with the reason). The ledger entry lists every event the run covers."""
    events = list(decision.events)
    arrivals = [
        DataFile(str(r.blob), str(r.etag), r.size) for r in decision.requests if r.kind == "arrival"
    ]
    try:
        base = (
            ctx.artifacts.read_json(f"retrain/{state.base_run}/snapshot.json")
            if state.base_run
            else None
        )
        snapshot = overlay(config.name, config.prefix, base, arrivals)
        existing, attempts = _latest_run(snapshot, ctx)
        resolution = resolve(
            decision,
            snapshot=snapshot,
            existing=existing,
            attempts=attempts,
            now=ctx.clock.now(),
            policy=config.policy,
        )
    except Exception:
        _update_state(config, lambda s: (not_launched(s, restore=True), None), ctx)
        raise
    key = resolution.run_key
    if resolution.action == "skip" or key is None:
        _update_state(config, lambda s: (not_launched(s, restore=False), None), ctx)
        outcome = Outcome(config.name, "skip", resolution.reason, key)
        log.info("%s: SKIP %s: %s", config.name, trigger, resolution.reason)
        return _record(config, outcome, trigger, events, ctx)
    _update_state(config, lambda s: (launched(s, key), None), ctx)
    if resolution.action == "adopt":
        outcome = Outcome(config.name, "skip", resolution.reason, key)
        return _record(config, outcome, trigger, events, ctx)
    try:
        _launch(
            config,
            key,
            snapshot,
            decision,
            resolution.reason,
            ctx,
            resume=resolution.action == "resume",
            force=bool(resolution.extra.get("force")),
        )
    except PipelineError:
        # The run record says SubmitFailed; the sweep submits it again.
        outcome = Outcome(config.name, "retrain", f"{resolution.reason} (submit failed)", key)
        _record(config, outcome, trigger, events, ctx)
        raise
    except ConflictError:
        outcome = Outcome(config.name, "skip", f"run {key} was started concurrently", key)
        return _record(config, outcome, trigger, events, ctx)
    outcome = Outcome(config.name, "retrain", resolution.reason, key)
    log.info("%s: RETRAIN as run %s, on %s", config.name, key, resolution.reason)
    return _record(config, outcome, trigger, events, ctx)


def _record(
    config: ModelConfig, outcome: Outcome, trigger: str, events: Sequence[str | None], ctx: Context
) -> Outcome:
    ctx.ledger(config.name, "trigger", outcome, trigger=trigger, events=[e for e in events if e])
    return outcome


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
    try:
        state = ModelState.from_json(ctx.state.get(policy_key(config.name))[0])
    except NotFound:
        state = ModelState()
    if state.active_run:
        try:
            record = ctx.state.get(f"runs/{state.active_run}.json")[0]
        except NotFound:
            record = {"run_key": state.active_run, "status": "Failed", "finalised": True}
        if record.get("finalised"):
            outcomes += _run_ended(config, record, ctx)
    found = _catch_up(config, ctx, "the sweep")
    _absorb(config, found, ctx)
    state, decision = _apply(config, Due(), ctx, found)
    if decision is not None:
        outcomes.append(_act(config, state, decision, ctx, trigger=message.describe(), events=[]))
    return outcomes


# ------------------------------------------------------------------------------ helpers


def _digest_key(text: str) -> str:
    return f"events/{hashlib.sha256(text.encode()).hexdigest()[:32]}.json"


def _event_id(message: TriggerMessage) -> str | None:
    """What identifies a delivery (listed in the ledger; its digest marks it processed):
    the Event Grid event id, or for an alert without one its id and condition (Azure
    Monitor: alertId + monitorCondition)."""
    if isinstance(message, NewDataArrived):
        return f"eventgrid:{message.event_id}"
    if isinstance(message, DriftAlerted):
        if message.event_id:
            return f"eventgrid:{message.event_id}"
        if message.alert_id:
            state = "resolved" if message.resolved else "fired"
            return f"alert:{message.model}:{message.alert_id}:{state}"
    return None  # an alert without an id cannot be told apart from a new one


def _mark_seen(event: str, what: str, ctx: Context) -> None:
    with contextlib.suppress(ConflictError):
        ctx.state.create(
            _digest_key(event),
            {"event": event, "seen_at": ctx.clock.now().isoformat(), "message": what},
        )


def _attempt(key: str, base: str) -> int:
    """1 for ``runs/<base>.json``, n for ``runs/<base>-r<n>.json``, 0 for other keys."""
    rest = key.removeprefix(f"runs/{base}").removesuffix(".json")
    if rest == "":
        return 1
    return int(rest[2:]) if rest.startswith("-r") and rest[2:].isdigit() else 0


def _attempt_of(key: str) -> int:
    head, _, tail = key.rpartition("-r")
    return int(tail) if head and tail.isdigit() else 1


def _latest_run(snapshot: Snapshot, ctx: Context) -> tuple[JSON | None, int]:
    """The newest run record of this snapshot (attempts ``-r2``, ``-r3``...) and how many
    attempts there are."""
    if snapshot.empty:
        return None, 0
    base = run_key(snapshot)
    keys = [k for k in ctx.state.list_keys(f"runs/{base}") if _attempt(k, base) > 0]
    if not keys:
        return None, 0
    latest = max(keys, key=lambda k: _attempt(k, base))
    return ctx.state.get(latest)[0], len(keys)


def _champion(model: str, ctx: Context) -> JSON | None:
    """The production version a new run is compared with: its version, run key and model
    folder in the artifact datastore (None for the first model). Kept in the run record,
    so promotion moves the alias only if it still points there."""
    alias = ctx.registry.get_alias(model, PRODUCTION)
    if alias.version is None:
        return None
    version = ctx.registry.get_version(model, alias.version)
    champion_key = version.tags.get("run_key") or version.lineage.get("run_key")
    # Every version names its model folder (a refreshed champion's is not retrain/<key>/model/);
    # versions registered before that was recorded are found by their run key.
    folder = version.tags.get("model_folder") or version.lineage.get("model_folder")
    if not folder and champion_key:
        folder = ctx.artifacts.uri(f"retrain/{champion_key}/model/")
    return {"version": alias.version, "run_key": champion_key, "model_uri": folder or None}


def _launch(
    config: ModelConfig,
    key: str,
    snapshot: Snapshot,
    decision: Retrain,
    reason: str,
    ctx: Context,
    *,
    resume: bool,
    force: bool,
) -> None:
    """Write the run record (the lock), then submit the pipeline under the run key.

    A resumed run (the earlier submit failed or never happened) takes over the existing
    record instead; submitting the same run key twice is harmless because the backend's
    submit is idempotent on it.
    """
    now = ctx.clock.now().isoformat()
    champion = _champion(config.name, ctx)
    # Listed as open before anything else: an instance dying between the writes below
    # leaves a run the sweep still sees (a marker without a record is simply dropped).
    mark_active(key, config.name, ctx)
    if resume:
        ctx.update_run(
            key,
            {"status": "Submitting", "resubmitted_at": now, "error": None, "champion": champion},
        )
    else:
        kinds = sorted({r.kind for r in decision.requests})
        record = {
            "run_key": key,
            "model": config.name,
            "status": "Submitting",
            "created_at": now,
            "updated_at": now,
            "trigger": {
                "kind": _trigger_kind(kinds),
                "reason": reason,
                "reasons": list(decision.reasons),
                "events": list(decision.events),
            },
            "snapshot": snapshot.manifest(),
            "champion": champion,
            "force": force,
        }
        ctx.state.create(f"runs/{key}.json", record)
    ctx.artifacts.write_json(f"retrain/{key}/snapshot.json", snapshot.manifest())
    submit(key, ctx)


_KINDS = {
    "arrival": "NewDataArrived",
    "tick": "ScheduleTicked",
    "drift": "DriftAlerted",
    "manual": "RetrainRequested",
    "force": "RetrainRequested",
    "retry": "Retry",
}


def _trigger_kind(kinds: list[str]) -> str:
    names = sorted({_KINDS.get(k, k) for k in kinds})
    return "+".join(names) if names else "RetrainRequested"


def mark_active(key: str, model: str, ctx: Context) -> None:
    """List the run under ``active/`` until it is finalised, so the sweep reads only the
    runs still open instead of every run ever started."""
    with contextlib.suppress(ConflictError):
        ctx.state.create(
            f"active/{key}.json",
            {"run_key": key, "model": model, "since": ctx.clock.now().isoformat()},
        )


def submit(key: str, ctx: Context) -> JSON:
    """Submit the pipeline for the run record ``key`` (its snapshot manifest is written
    already). A failed submit marks the record ``SubmitFailed`` and raises
    ``PipelineError``; the sweep submits it again. A forced run carries the tag
    ``retrain_force_rerun`` so the backend bypasses its step cache."""
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
    submission = PipelineSubmission(run_key=key, model=config.name, inputs=inputs, tags=tags)
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


# ------------------------------------------------------------------------------ forecast error


def _forecast_error(config: ModelConfig, blob: DataFile, content: bytes, ctx: Context) -> None:
    """Score the production model's stored forecast against the actuals in a new blob;
    sustained error above the policy's multiple of its validation error becomes a drift
    signal, decided and recorded like any other. Never fails the arrival."""
    multiple = config.policy.forecast_error_multiple
    if multiple is None:
        return
    try:
        champion = _champion(config.name, ctx)
        if not champion or not champion.get("run_key"):
            return
        folder = f"retrain/{champion['run_key']}"
        forecast = ctx.artifacts.read_json(f"{folder}/model/forecast.json")
        if "validation_mae" not in forecast:
            metrics = ctx.artifacts.read_json(f"{folder}/metrics/metrics.json")
            forecast["validation_mae"] = metrics["candidate"]["backtest"]["mae"]
        score = score_actuals(
            forecast,
            content,
            time_column=config.time_column,
            value_column=config.value_column,
            multiple=multiple,
            min_points=config.policy.forecast_error_min_points,
        )
    except NotFound:
        return  # no stored forecast (a model trained before forecast.json existed)
    except Exception:
        log.exception("%s: forecast error of %s could not be scored", config.name, blob.name)
        return
    if score is None:
        return
    log.info("%s: forecast error on %s: %s", config.name, blob.name, score.describe())
    if score.drifted:
        alert = DriftAlerted(
            model=config.name,
            source="forecast-error",
            alert_id=f"{champion['run_key']}:{blob.name}:{blob.etag}",
            description=score.describe(),
            fired_at=ctx.clock.now(),
        )
        handle_trigger(alert, ctx)


# Re-exported for handlers.py's routing table.
__all__ = [
    "RetrainRequested",
    "after_run",
    "handle_pause",
    "handle_schedule",
    "handle_trigger",
    "mark_active",
    "on_sweep",
    "submit",
]
