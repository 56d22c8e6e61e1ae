"""Trigger handlers: new data, schedule ticks, drift alerts and manual requests.

A trigger takes a snapshot of the model's data, asks the trigger policy
(``shared.policy.decide``), records the decision in the ledger and, on Retrain, writes the
run record (create-if-absent: the run key is the lock) and submits the training pipeline.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging

from shared.datacheck import check_csv
from shared.errors import ConflictError, InvalidData, InvalidInput, NotFound, PipelineError
from shared.messages import (
    COMMITTING_BLOB_APIS,
    DriftAlerted,
    NewDataArrived,
    ScheduleTicked,
    TriggerMessage,
)
from shared.parsing import MODEL_TAG, RUN_KEY_TAG
from shared.policy import Decision, Retrain, Skip, decide
from shared.ports import JSON, PipelineSubmission
from shared.service.context import Context
from shared.service.outcome import Outcome
from shared.service.promotion import PRODUCTION
from shared.settings import ModelConfig
from shared.snapshot import Snapshot, run_key

log = logging.getLogger(__name__)


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
    event_key = _event_key(message)
    event_seen = event_key is not None and ctx.exists(event_key)
    if (
        isinstance(message, NewDataArrived)
        and message.api in COMMITTING_BLOB_APIS
        and not event_seen
    ):
        _check_data(message, config, ctx)
    snapshot = _snapshot(config, ctx)
    existing, attempts = _latest_run(snapshot, ctx)
    decision: Decision = decide(
        message,
        snapshot=snapshot,
        event_seen=event_seen,
        existing_run=existing,
        attempts=attempts,
        now=ctx.clock.now(),
    )
    if isinstance(decision, Retrain):
        decision = _launch(decision, message, ctx)
    if event_key is not None and not event_seen:
        _mark_seen(event_key, message, ctx)
    outcome = Outcome(
        model=config.name,
        action=decision.decision,
        reason=decision.reason,
        run_key=decision.run_key,
    )
    ctx.ledger(config.name, "trigger", outcome, trigger=message.describe())
    if isinstance(decision, Retrain):
        log.info("%s: RETRAIN as run %s, on %s", config.name, decision.run_key, decision.reason)
    else:
        log.info("%s: SKIP %s: %s", config.name, message.describe(), decision.reason)
    return outcome


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _event_key(message: TriggerMessage) -> str | None:
    if isinstance(message, NewDataArrived):
        return f"events/{_digest('eventgrid:' + message.event_id)}.json"
    if isinstance(message, DriftAlerted) and message.alert_id:
        fired = message.fired_at.isoformat() if message.fired_at else ""
        state = "resolved" if message.resolved else "fired"
        alert = f"alert:{message.model}:{message.alert_id}:{fired}:{state}"
        return f"events/{_digest(alert)}.json"
    return None  # an alert without an id cannot be told apart from a new one


def _mark_seen(key: str, message: TriggerMessage, ctx: Context) -> None:
    try:
        ctx.state.create(
            key, {"seen_at": ctx.clock.now().isoformat(), "message": message.describe()}
        )
    except ConflictError:
        pass  # a concurrent delivery of the same event marked it first


def _check_data(message: NewDataArrived, config: ModelConfig, ctx: Context) -> None:
    """Quarantine a data blob that fails the arrival check; re-raise for dead-lettering."""
    try:
        content = ctx.data.read_bytes(message.blob_name)
        check_csv(
            content,
            name=message.blob_name,
            time_column=config.time_column,
            value_column=config.value_column,
        )
    except InvalidData as exc:
        record = {
            "blob": message.blob_name,
            "etag": message.etag,
            "reason": str(exc),
            "at": ctx.clock.now().isoformat(),
        }
        key = f"quarantine/{message.blob_name}.json"
        try:
            ctx.state.create(key, record)
        except ConflictError:  # an earlier version of the file was quarantined
            ctx.state.replace(key, record, etag=ctx.state.get(key)[1])
        outcome = Outcome(config.name, "skip", f"quarantined: {exc}")
        ctx.ledger(config.name, "trigger", outcome, trigger=message.describe())
        log.warning("%s: QUARANTINED %s: %s", config.name, message.blob_name, exc)
        raise
    except NotFound:
        log.info("%s: %s is gone already; deciding on what is there", config.name, message)


def _snapshot(config: ModelConfig, ctx: Context) -> Snapshot:
    """The model's data files now, minus quarantined versions (name and ETag: a fixed
    file uploaded under the same name joins again)."""
    quarantined = {
        (q["blob"], q["etag"])
        for q in (ctx.state.get(k)[0] for k in ctx.state.list_keys(f"quarantine/{config.prefix}"))
    }
    files = tuple(
        f for f in ctx.data.list_files(config.prefix) if (f.name, f.etag) not in quarantined
    )
    return Snapshot(model=config.name, prefix=config.prefix, files=files)


def _attempt(key: str, base: str) -> int:
    """1 for ``runs/<base>.json``, n for ``runs/<base>-r<n>.json``, 0 for other keys."""
    rest = key.removeprefix(f"runs/{base}").removesuffix(".json")
    if rest == "":
        return 1
    return int(rest[2:]) if rest.startswith("-r") and rest[2:].isdigit() else 0


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
    return {
        "version": alias.version,
        "run_key": champion_key,
        "model_uri": ctx.artifacts.uri(f"retrain/{champion_key}/model/") if champion_key else None,
    }


def _launch(decision: Retrain, message: TriggerMessage, ctx: Context) -> Decision:
    """Write the run record (the lock), then submit the pipeline under the run key.

    A resumed decision (the earlier submit failed or never happened) takes over the
    existing record instead; submitting the same run key twice is harmless because the
    backend's submit is idempotent on it.
    """
    key = decision.run_key
    now = ctx.clock.now().isoformat()
    champion = _champion(decision.model, ctx)
    if decision.resume:
        ctx.update_run(
            key,
            {"status": "Submitting", "resubmitted_at": now, "error": None, "champion": champion},
        )
    else:
        record = {
            "run_key": key,
            "model": decision.model,
            "status": "Submitting",
            "created_at": now,
            "updated_at": now,
            "trigger": {"kind": type(message).__name__, "reason": decision.reason},
            "snapshot": decision.snapshot.manifest(),
            "champion": champion,
        }
        try:
            ctx.state.create(f"runs/{key}.json", record)
        except ConflictError:
            return Skip(decision.model, f"run {key} was started concurrently", run_key=key)
        mark_active(key, decision.model, ctx)
    ctx.artifacts.write_json(f"retrain/{key}/snapshot.json", decision.snapshot.manifest())
    submit(key, ctx)
    return decision


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
    ``PipelineError``; the next trigger or the sweep submits it again."""
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
    submission = PipelineSubmission(
        run_key=key,
        model=config.name,
        inputs=inputs,
        tags={RUN_KEY_TAG: key, MODEL_TAG: config.name},
    )
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
