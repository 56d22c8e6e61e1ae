"""What every handler works with: the ports, the configuration, and the few record
operations they share (run records, the ledger, dead letters, processed-event marks).

State kept in the StateStore (see docs/architecture.md): ``runs/<run key>.json``,
``events/<id>.json``, ``ledger/<model>/<time>-<id>.json``, ``quarantine/<blob>.json``,
``deadletter/<source>/<time>-<id>.json``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.errors import ConflictError, NotFound
from shared.ports import (
    JSON,
    ArtifactStore,
    Clock,
    DataStore,
    ModelRegistry,
    PipelineClient,
    RunInspector,
    StateStore,
)
from shared.service.outcome import Outcome
from shared.settings import GatePolicy, ModelConfig, TrustSettings

log = logging.getLogger(__name__)

MAX_DEAD_LETTER_PAYLOAD = 1024 * 1024


@dataclass
class Context:
    """The ports and configuration the handlers share. Built by ``RetrainService``."""

    models: dict[str, ModelConfig]
    gate: GatePolicy
    data_container: str
    data_datastore: str
    state: StateStore
    data: DataStore
    artifacts: ArtifactStore
    pipeline: PipelineClient
    registry: ModelRegistry
    clock: Clock
    code_version: str = "dev"
    pipeline_sha256: str = ""
    # Who may send events (checked by the parsers); None trusts any sender.
    trust: TrustSettings | None = None
    # The schedule timer's NCRONTAB expression (the dashboard shows the next tick).
    schedule: str | None = None
    # Steps and logs of runs, when the backend that runs them is not itself a
    # RunInspector (the local workspace's are read from its folder).
    inspector: RunInspector | None = None

    # ------------------------------------------------------------ state helpers

    def exists(self, key: str) -> bool:
        try:
            self.state.get(key)
        except NotFound:
            return False
        return True

    def update_run(
        self,
        key: str,
        changes: Mapping[str, Any] | Callable[[JSON], None],
        attempts: int = 5,
    ) -> JSON:
        """Apply ``changes`` (a mapping to merge, or a function that edits the record) with
        an ETag-conditional write, re-reading and retrying when someone wrote first.
        Returns the record as written."""
        for _ in range(attempts):
            record, etag = self.state.get(f"runs/{key}.json")
            if callable(changes):
                changes(record)
            else:
                record.update(changes)
            record["updated_at"] = self.clock.now().isoformat()
            try:
                self.state.replace(f"runs/{key}.json", record, etag=etag)
                return record
            except ConflictError:
                continue
        raise ConflictError(f"run record {key} kept changing; gave up after {attempts} tries")

    def remember_job(self, job_name: str, run_key: str) -> None:
        """Index the backend's job name, so a run event without our tags finds its run."""
        with contextlib.suppress(ConflictError):
            self.state.create(f"jobs/{job_name}.json", {"run_key": run_key})

    def run_key_of_job(self, job_name: str) -> str | None:
        """The run key the service submitted as job ``job_name``; None if it did not."""
        try:
            return str(self.state.get(f"jobs/{job_name}.json")[0]["run_key"])
        except NotFound:
            return None

    @staticmethod
    def log_decision(model: str, kind: str, outcome: Outcome) -> None:
        """One line per decision, as the ledger has it (telemetry's record is for queries)."""
        log.log(
            logging.WARNING if outcome.action == "failed" else logging.INFO,
            "%s %s: %s%s: %s",
            model,
            kind,
            outcome.action,
            f" (run {outcome.run_key})" if outcome.run_key else "",
            outcome.reason,
        )

    def ledger(self, model: str, kind: str, outcome: Outcome, **extra: Any) -> None:
        """Append one decision to the model's ledger (the audit trail), and log it as a
        structured record with its metrics (shared/telemetry.py)."""
        from datetime import datetime

        from shared import telemetry

        now = self.clock.now()
        key = f"ledger/{model}/{now:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:8]}.json"
        self.state.create(key, {"at": now.isoformat(), "kind": kind, **outcome.as_dict(), **extra})
        self.log_decision(model, kind, outcome)
        started = None
        if telemetry.enabled() and kind in ("run", "gate") and outcome.run_key:
            with contextlib.suppress(NotFound, KeyError, TypeError, ValueError):
                run = self.state.get(f"runs/{outcome.run_key}.json")[0]
                started = datetime.fromisoformat(run["created_at"])
        telemetry.decision(
            model=model,
            kind=kind,
            action=outcome.action,
            reason=outcome.reason,
            run_key=outcome.run_key,
            details=outcome.details,
            extra=extra,
            run_started_at=started,
            now=now,
        )

    def dead_letter(
        self,
        source: str,
        payload: str | bytes,
        error: Exception,
        *,
        retryable: bool = False,
        request: Mapping[str, Any] | None = None,
    ) -> str:
        """Keep an input that could not be processed, with the reason; returns its key.

        The payload is kept verbatim so it can be replayed exactly: as text when it is
        UTF-8 (``payload``), else base64 (``payload_base64``). One dead letter per source
        and payload (``deadletter/<source>/<sha256 of the payload>.json``, created if
        absent): a redelivery of the same input does not write another one. ``request``
        adds what else came with it (method, path, headers of a refused HTTP request).
        """
        now = self.clock.now()
        raw = payload if isinstance(payload, bytes) else payload.encode("utf-8", "surrogatepass")
        identity = hashlib.sha256(raw)
        if request:
            identity.update(json.dumps(request, sort_keys=True, default=str).encode())
        digest = identity.hexdigest()[:40]
        key = f"deadletter/{source}/{digest}.json"
        body: dict[str, Any] = {
            "received_at": now.isoformat(),
            "source": source,
            "error_type": type(error).__name__,
            "reason": str(error)[:4000],
            "retryable": retryable,
            "sha256": hashlib.sha256(raw).hexdigest(),
            "size": len(raw),
            "payload_truncated": len(raw) > MAX_DEAD_LETTER_PAYLOAD,
            **({"request": dict(request)} if request else {}),
        }
        kept = raw[:MAX_DEAD_LETTER_PAYLOAD]
        try:
            body["payload"] = (
                kept.decode("utf-8")
                if isinstance(payload, bytes)
                else payload[:MAX_DEAD_LETTER_PAYLOAD]
            )
            body["payload"].encode("utf-8")
        except UnicodeError:
            body.pop("payload", None)
            body["payload_base64"] = base64.b64encode(kept).decode("ascii")
        try:
            self.state.create(key, body)
        except ConflictError:
            log.info("%s input already dead-lettered as %s: %s", source, key, error)
            return key
        log.warning("dead-lettered %s input as %s: %s", source, key, error)
        return key


def expand_ledger(records: Iterable[JSON]) -> list[JSON]:
    """Ledger records as decisions: a record of several decisions taken together (the
    arrival path's group commit writes ``decisions``) becomes each of them, in order."""
    return [
        entry
        for record in records
        for entry in (
            record["decisions"] if isinstance(record.get("decisions"), list) else [record]
        )
    ]
