"""The Azure-free service layer: what happens to each message.

``RetrainService.handle`` routes every message (see ``_routes``):

- a trigger (new data, schedule tick, drift alert, manual request) takes a snapshot of the
  model's data, asks the trigger policy, records the decision in the ledger and, on
  Retrain, writes the run record (create-if-absent: the run key is the lock) and submits
  the training pipeline;
- a finished pipeline run is read back: its metrics go through the promotion gate, the
  model version is registered with its lineage, and it is promoted (compare-and-swap on
  the production alias) when the gate passes.

State kept in the StateStore (see docs/architecture.md): ``runs/<run key>.json``,
``events/<id>.json``, ``ledger/<model>/<time>-<id>.json``, ``quarantine/<blob>.json``,
``deadletter/<source>/<time>-<id>.json``.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from shared.datacheck import check_csv
from shared.errors import ConflictError, InvalidData, InvalidInput, NotFound, PipelineError
from shared.gate import judge
from shared.messages import (
    COMMITTING_BLOB_APIS,
    DriftAlerted,
    Message,
    NewDataArrived,
    PipelineRunCompleted,
    RetrainRequested,
    ScheduleTicked,
    TriggerMessage,
)
from shared.parsing import MODEL_TAG, RUN_KEY_TAG, parse_time
from shared.policy import Decision, Retrain, Skip, decide
from shared.ports import (
    JSON,
    RUN_TERMINAL_STATES,
    ArtifactStore,
    Clock,
    DataStore,
    ModelRegistry,
    ModelVersion,
    PipelineClient,
    PipelineSubmission,
    StateStore,
)
from shared.settings import GatePolicy, ModelConfig
from shared.snapshot import Snapshot, run_key

log = logging.getLogger(__name__)

PRODUCTION = "production"
MAX_DEAD_LETTER_PAYLOAD = 1024 * 1024
# A finalisation claim older than this is taken to belong to an instance that died.
FINALISE_LEASE = timedelta(minutes=10)


def _status_unless_finished(status: str) -> Callable[[JSON], None]:
    def change(record: JSON) -> None:
        if not record.get("finalised") and record.get("status") not in RUN_TERMINAL_STATES:
            record["status"] = status

    return change


@dataclass(frozen=True)
class Outcome:
    """What the service did with one message, for logs, HTTP answers and tests."""

    model: str | None
    action: str  # retrain | skip | promoted | rejected | failed | status | ignored
    reason: str
    run_key: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "action": self.action,
            "reason": self.reason,
            "run_key": self.run_key,
            **({"details": dict(self.details)} if self.details else {}),
        }


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _attempt(key: str, base: str) -> int:
    """1 for ``runs/<base>.json``, n for ``runs/<base>-r<n>.json``, 0 for other keys."""
    rest = key.removeprefix(f"runs/{base}").removesuffix(".json")
    if rest == "":
        return 1
    return int(rest[2:]) if rest.startswith("-r") and rest[2:].isdigit() else 0


class RetrainService:
    """Turns messages into decisions, runs and promotions. Built by ``shared.bootstrap``."""

    def __init__(
        self,
        *,
        models: Sequence[ModelConfig],
        gate: GatePolicy,
        data_container: str,
        data_datastore: str,
        state: StateStore,
        data: DataStore,
        artifacts: ArtifactStore,
        pipeline: PipelineClient,
        registry: ModelRegistry,
        clock: Clock,
        code_version: str = "dev",
        pipeline_sha256: str = "",
    ) -> None:
        self.models = {m.name: m for m in models}
        self.gate = gate
        self.data_container = data_container
        self._data_datastore = data_datastore
        self.state = state
        self.data = data
        self.artifacts = artifacts
        self.pipeline = pipeline
        self.registry = registry
        self.clock = clock
        self._code_version = code_version
        self._pipeline_sha256 = pipeline_sha256
        self._routes: dict[type, Callable[[Any], list[Outcome]]] = {
            NewDataArrived: lambda m: [self.on_trigger(m)],
            DriftAlerted: lambda m: [self.on_trigger(m)],
            RetrainRequested: lambda m: [self.on_trigger(m)],
            ScheduleTicked: self.on_schedule,
            PipelineRunCompleted: lambda m: [self.on_run_event(m)],
        }

    # ---------------------------------------------------------------- routing

    def handle(self, message: Message) -> list[Outcome]:
        """Process one message; one outcome per model it concerned."""
        return self._routes[type(message)](message)

    # ---------------------------------------------------------------- triggers

    def on_schedule(self, tick: ScheduleTicked) -> list[Outcome]:
        """A schedule tick asks every model; each retrains only if its data changed. A
        failure for one model is dead-lettered and does not stop the others (a timer
        invocation is not retried)."""
        outcomes = []
        for name in sorted(self.models):
            try:
                outcomes.append(self.on_trigger(tick, model=name))
            except Exception as exc:
                self.dead_letter("on_schedule", f"{tick.describe()} for model {name}", exc)
                outcomes.append(Outcome(name, "failed", f"{type(exc).__name__}: {exc}"))
        return outcomes

    def on_trigger(self, message: TriggerMessage, *, model: str | None = None) -> Outcome:
        name = model or getattr(message, "model", None)
        config = self.models.get(str(name))
        if config is None:
            raise InvalidInput(f"unknown model {name!r}")
        event_key = self._event_key(message)
        event_seen = event_key is not None and self._exists(event_key)
        if (
            isinstance(message, NewDataArrived)
            and not event_seen
            and message.api in COMMITTING_BLOB_APIS
        ):
            self._check_data(message, config)
        snapshot = self._snapshot(config)
        existing, attempts = self._latest_run(snapshot)
        decision: Decision = decide(
            message,
            snapshot=snapshot,
            event_seen=event_seen,
            existing_run=existing,
            attempts=attempts,
            now=self.clock.now(),
        )
        if isinstance(decision, Retrain):
            decision = self._launch(decision, message)
        if event_key is not None and not event_seen:
            self._mark_seen(event_key, message)
        outcome = Outcome(
            model=config.name,
            action=decision.decision,
            reason=decision.reason,
            run_key=decision.run_key,
        )
        self._ledger(config.name, "trigger", outcome, trigger=message.describe())
        if isinstance(decision, Retrain):
            log.info("%s: RETRAIN as run %s, on %s", config.name, decision.run_key, decision.reason)
        else:
            log.info("%s: SKIP %s: %s", config.name, message.describe(), decision.reason)
        return outcome

    def _event_key(self, message: TriggerMessage) -> str | None:
        if isinstance(message, NewDataArrived):
            return f"events/{_digest('eventgrid:' + message.event_id)}.json"
        if isinstance(message, DriftAlerted) and message.alert_id:
            fired = message.fired_at.isoformat() if message.fired_at else ""
            state = "resolved" if message.resolved else "fired"
            alert = f"alert:{message.model}:{message.alert_id}:{fired}:{state}"
            return f"events/{_digest(alert)}.json"
        return None  # an alert without an id cannot be told apart from a new one

    def _exists(self, key: str) -> bool:
        try:
            self.state.get(key)
        except NotFound:
            return False
        return True

    def _mark_seen(self, key: str, message: TriggerMessage) -> None:
        try:
            self.state.create(
                key, {"seen_at": self.clock.now().isoformat(), "message": message.describe()}
            )
        except ConflictError:
            pass  # a concurrent delivery of the same event marked it first

    def _check_data(self, message: NewDataArrived, config: ModelConfig) -> None:
        """Quarantine a data blob that fails the arrival check; re-raise for dead-lettering."""
        try:
            content = self.data.read_bytes(message.blob_name)
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
                "at": self.clock.now().isoformat(),
            }
            key = f"quarantine/{message.blob_name}.json"
            try:
                self.state.create(key, record)
            except ConflictError:  # an earlier version of the file was quarantined
                self.state.replace(key, record, etag=self.state.get(key)[1])
            outcome = Outcome(config.name, "skip", f"quarantined: {exc}")
            self._ledger(config.name, "trigger", outcome, trigger=message.describe())
            log.warning("%s: QUARANTINED %s: %s", config.name, message.blob_name, exc)
            raise
        except NotFound:
            log.info("%s: %s is gone already; deciding on what is there", config.name, message)

    def _snapshot(self, config: ModelConfig) -> Snapshot:
        """The model's data files now, minus quarantined versions (name and ETag: a fixed
        file uploaded under the same name joins again)."""
        quarantined = {
            (q["blob"], q["etag"])
            for q in (
                self.state.get(k)[0] for k in self.state.list_keys(f"quarantine/{config.prefix}")
            )
        }
        files = tuple(
            f for f in self.data.list_files(config.prefix) if (f.name, f.etag) not in quarantined
        )
        return Snapshot(model=config.name, prefix=config.prefix, files=files)

    def _latest_run(self, snapshot: Snapshot) -> tuple[JSON | None, int]:
        """The newest run record of this snapshot (attempts ``-r2``, ``-r3``...) and how
        many attempts there are."""
        if snapshot.empty:
            return None, 0
        base = run_key(snapshot)
        keys = [k for k in self.state.list_keys(f"runs/{base}") if _attempt(k, base) > 0]
        if not keys:
            return None, 0
        latest = max(keys, key=lambda k: _attempt(k, base))
        return self.state.get(latest)[0], len(keys)

    def _launch(self, decision: Retrain, message: TriggerMessage) -> Decision:
        """Write the run record (the lock), then submit the pipeline under the run key.

        A resumed decision (the earlier submit failed or never happened) takes over the
        existing record instead; submitting the same run key twice is harmless because the
        backend's submit is idempotent on it.
        """
        key, config = decision.run_key, self.models[decision.model]
        now = self.clock.now().isoformat()
        if decision.resume:
            self._update_run(key, {"status": "Submitting", "resubmitted_at": now, "error": None})
        else:
            record = {
                "run_key": key,
                "model": decision.model,
                "status": "Submitting",
                "created_at": now,
                "updated_at": now,
                "trigger": {"kind": type(message).__name__, "reason": decision.reason},
                "snapshot": decision.snapshot.manifest(),
            }
            try:
                self.state.create(f"runs/{key}.json", record)
            except ConflictError:
                return Skip(decision.model, f"run {key} was started concurrently", run_key=key)
        manifest_path = f"retrain/{key}/snapshot.json"
        self.artifacts.write_json(manifest_path, decision.snapshot.manifest())
        inputs: dict[str, str | int | float] = {
            "data": f"azureml://datastores/{self._data_datastore}/paths/{config.prefix}",
            "manifest": self.artifacts.uri(manifest_path),
            **config.pipeline_inputs(),
        }
        submission = PipelineSubmission(
            run_key=key,
            model=decision.model,
            inputs=inputs,
            tags={RUN_KEY_TAG: key, MODEL_TAG: decision.model},
        )
        try:
            run = self.pipeline.submit(submission)
        except Exception as exc:
            self._update_run(key, {"status": "SubmitFailed", "error": str(exc)})
            raise PipelineError(f"could not submit the pipeline for run {key}: {exc}") from exc

        def submitted(record: JSON) -> None:
            # The run may have finished (and been finalised) before this write lands.
            record["pipeline_run_id"] = run.run_id
            if record.get("status") in ("Submitting", "SubmitFailed"):
                record["status"] = run.status

        self._update_run(key, submitted)
        return decision

    # ---------------------------------------------------------------- run results

    def on_run_event(self, message: PipelineRunCompleted) -> Outcome:
        """Read a finished run's metrics, gate, register and promote.

        Finalisation is claimed with an ETag-conditional write (``finalising_at``) so two
        deliveries cannot both do it; a claim older than ``FINALISE_LEASE`` (its holder
        died) may be taken over, and every step is safe to repeat: registration finds the
        version an earlier attempt registered for the run key, promotion is a
        compare-and-swap. If finalising fails, the claim is released and the error
        re-raised, so the platform's retry finishes the job.
        """
        if message.run_key is None:
            reason = f"run {message.run_id} has no {RUN_KEY_TAG} tag: not a retraining run"
            log.info("ignored: %s", reason)
            return Outcome(None, "ignored", reason)
        key = message.run_key
        for _ in range(5):
            try:
                record, etag = self.state.get(f"runs/{key}.json")
            except NotFound:
                raise InvalidInput(f"run event for unknown run key {key!r}") from None
            model = str(record["model"])
            expected = record.get("pipeline_run_id")
            if expected and message.run_id != expected:
                reason = f"event for run {message.run_id}, but run key {key} is run {expected}"
                return Outcome(model, "ignored", reason, run_key=key)
            if record.get("finalised"):
                return Outcome(model, "skip", f"run {key} was already finalised", run_key=key)
            if message.status not in RUN_TERMINAL_STATES:
                self._update_run(key, _status_unless_finished(message.status))
                return Outcome(model, "status", f"run {key} is {message.status}", run_key=key)
            if self._claimed(record):
                return Outcome(model, "skip", f"run {key} is being finalised already", key)
            claim = dict(record, status=message.status, finalising_at=self.clock.now().isoformat())
            try:
                self.state.replace(f"runs/{key}.json", claim, etag=etag)
                break
            except ConflictError:
                continue  # the record changed (e.g. a status update): look again
        else:
            raise ConflictError(f"run record {key} kept changing; the event will be retried")
        try:
            if message.status != "Completed":
                return self._finalise_failed(model, key, message)
            return self._finalise_completed(model, key, claim)
        except Exception:
            self._update_run(key, {"finalising_at": None})
            raise

    def _claimed(self, record: Mapping[str, Any]) -> bool:
        claimed_at = parse_time(record.get("finalising_at"))
        return claimed_at is not None and self.clock.now() - claimed_at < FINALISE_LEASE

    def _finalise_failed(self, model: str, key: str, message: PipelineRunCompleted) -> Outcome:
        try:
            error = self.pipeline.get_run(message.run_id).error or message.status
        except NotFound:
            error = message.status
        self._update_run(key, {"status": message.status, "error": error, "finalised": True})
        outcome = Outcome(model, "failed", f"run {key} {message.status}: {error}", run_key=key)
        self._ledger(model, "run", outcome)
        log.warning("%s: run %s %s: %s", model, key, message.status, error)
        return outcome

    def _finalise_completed(self, model: str, key: str, record: Mapping[str, Any]) -> Outcome:
        try:
            metrics = self.artifacts.read_json(f"retrain/{key}/metrics/metrics.json")
        except NotFound as exc:
            self._update_run(key, {"status": "Failed", "error": str(exc), "finalised": True})
            outcome = Outcome(model, "failed", f"run {key} completed without metrics: {exc}", key)
            self._ledger(model, "run", outcome)
            return outcome
        verdict = judge(metrics, self.gate)
        log.info("%s: gate for run %s %s", model, key, verdict.reason)
        champion = self.registry.get_alias(model, PRODUCTION)
        version = self._registered_version(model, key) or self.registry.register(
            model,
            artifact_uri=self.artifacts.uri(f"retrain/{key}/model/"),
            tags={
                "run_key": key,
                "gate": "passed" if verdict.passed else "rejected",
                "code_version": self._code_version,
            },
            lineage={
                "run_key": key,
                "pipeline_run_id": record.get("pipeline_run_id"),
                "snapshot": record.get("snapshot"),
                "snapshot_manifest_uri": self.artifacts.uri(f"retrain/{key}/snapshot.json"),
                "trigger": record.get("trigger"),
                "metrics": metrics,
                "metrics_uri": self.artifacts.uri(f"retrain/{key}/metrics/"),
                "gate": verdict.as_record() | {"policy": self.gate.describe()},
                "pipeline_definition_sha256": self._pipeline_sha256,
                "code_version": self._code_version,
            },
        )
        self._update_run(key, {"model_version": version.version})
        promoted, reason = False, verdict.reason
        if verdict.passed and champion.version == version.version:
            promoted, reason = True, f"{verdict.reason}; already in production"
        elif verdict.passed:
            try:
                self.registry.set_alias(model, PRODUCTION, version.version, etag=champion.etag)
                promoted = True
                previous = f"v{champion.version}" if champion.version else "none"
                reason = f"{verdict.reason}; production: {previous} -> v{version.version}"
            except ConflictError:
                reason = f"{verdict.reason}; not promoted: the production alias moved meanwhile"
        action = "promoted" if promoted else "rejected"
        self._update_run(
            key,
            {
                "status": "Completed",
                "metrics": metrics,
                "gate": verdict.as_record(),
                "promoted": promoted,
                "previous_champion": champion.version,
                "finalised": True,
            },
        )
        mase = (metrics.get("candidate") or {}).get("mase")
        details = {"version": version.version, "mase": mase}
        outcome = Outcome(model, action, reason, run_key=key, details=details)
        self._ledger(model, "gate", outcome)
        log.info("%s: %s v%s: %s", model, action.upper(), version.version, reason)
        return outcome

    def _registered_version(self, model: str, key: str) -> ModelVersion | None:
        """The version an earlier, interrupted finalisation registered for this run."""
        found = [v for v in self.registry.list_versions(model) if v.tags.get("run_key") == key]
        return found[-1] if found else None

    # ---------------------------------------------------------------- records

    def _update_run(
        self,
        key: str,
        changes: Mapping[str, Any] | Callable[[JSON], None],
        attempts: int = 5,
    ) -> None:
        """Apply ``changes`` (a mapping to merge, or a function that edits the record) with
        an ETag-conditional write, re-reading and retrying when someone wrote first."""
        for _ in range(attempts):
            record, etag = self.state.get(f"runs/{key}.json")
            if callable(changes):
                changes(record)
            else:
                record.update(changes)
            record["updated_at"] = self.clock.now().isoformat()
            try:
                self.state.replace(f"runs/{key}.json", record, etag=etag)
                return
            except ConflictError:
                continue
        raise ConflictError(f"run record {key} kept changing; gave up after {attempts} tries")

    def _ledger(self, model: str, kind: str, outcome: Outcome, **extra: Any) -> None:
        now = self.clock.now()
        key = f"ledger/{model}/{now:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:8]}.json"
        self.state.create(key, {"at": now.isoformat(), "kind": kind, **outcome.as_dict(), **extra})

    def dead_letter(
        self, source: str, payload: str | bytes, error: Exception, *, retryable: bool = False
    ) -> str:
        """Keep an input that could not be processed, with the reason; returns its key."""
        now = self.clock.now()
        text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
        key = f"deadletter/{source}/{now:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:8]}.json"
        self.state.create(
            key,
            {
                "received_at": now.isoformat(),
                "source": source,
                "error_type": type(error).__name__,
                "reason": str(error),
                "retryable": retryable,
                "payload": text[:MAX_DEAD_LETTER_PAYLOAD],
                "payload_truncated": len(text) > MAX_DEAD_LETTER_PAYLOAD,
            },
        )
        log.warning("dead-lettered %s input as %s: %s", source, key, error)
        return key

    # ---------------------------------------------------------------- queries

    def get_run(self, run_key: str) -> JSON:
        return self.state.get(f"runs/{run_key}.json")[0]

    def list_models(self) -> list[JSON]:
        return [
            {
                "name": m.name,
                "prefix": m.prefix,
                "frequency": m.frequency,
                "horizon": m.horizon,
                "production_version": self.registry.get_alias(m.name, PRODUCTION).version,
            }
            for m in self.models.values()
        ]

    def list_versions(self, model: str) -> list[JSON]:
        if model not in self.models:
            raise NotFound(f"unknown model {model!r}")
        production = self.registry.get_alias(model, PRODUCTION).version
        return [
            {
                "version": v.version,
                "created_at": v.created_at,
                "tags": dict(v.tags),
                "artifact_uri": v.artifact_uri,
                "production": v.version == production,
                "mase": (v.lineage.get("metrics") or {}).get("candidate", {}).get("mase"),
            }
            for v in self.registry.list_versions(model)
        ]

    def list_ledger(self, model: str, *, limit: int | None = None) -> list[JSON]:
        """The model's decisions, oldest first; with ``limit``, only the newest ones."""
        keys = self.state.list_keys(f"ledger/{model}/")
        if limit is not None:
            keys = keys[-limit:] if limit > 0 else []
        return [self.state.get(key)[0] for key in keys]
