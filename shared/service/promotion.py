"""Promotion: a completed run's metrics go through the gate, the model version is
registered with its lineage, and the production alias moves (compare-and-swap) when the
gate passed.

Every step is safe to repeat: registration first looks for a version already registered
for the run key, promotion is a compare-and-swap on the alias ETag read before
registering.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from shared.errors import ConflictError, NotFound
from shared.gate import judge
from shared.ports import ModelVersion
from shared.service.context import Context
from shared.service.outcome import Outcome

log = logging.getLogger(__name__)

PRODUCTION = "production"


def finalise_completed(model: str, key: str, record: Mapping[str, Any], ctx: Context) -> Outcome:
    """Gate, register and (when the gate passed) promote the run's model."""
    try:
        metrics = ctx.artifacts.read_json(f"retrain/{key}/metrics/metrics.json")
    except NotFound as exc:
        ctx.update_run(key, {"status": "Failed", "error": str(exc), "finalised": True})
        outcome = Outcome(model, "failed", f"run {key} completed without metrics: {exc}", key)
        ctx.ledger(model, "run", outcome)
        return outcome
    verdict = judge(metrics, ctx.gate)
    log.info("%s: gate for run %s %s", model, key, verdict.reason)
    champion = ctx.registry.get_alias(model, PRODUCTION)
    version = registered_version(model, key, ctx) or ctx.registry.register(
        model,
        artifact_uri=ctx.artifacts.uri(f"retrain/{key}/model/"),
        tags={
            "run_key": key,
            "gate": "passed" if verdict.passed else "rejected",
            "code_version": ctx.code_version,
        },
        lineage={
            "run_key": key,
            "pipeline_run_id": record.get("pipeline_run_id"),
            "snapshot": record.get("snapshot"),
            "snapshot_manifest_uri": ctx.artifacts.uri(f"retrain/{key}/snapshot.json"),
            "trigger": record.get("trigger"),
            "metrics": metrics,
            "metrics_uri": ctx.artifacts.uri(f"retrain/{key}/metrics/"),
            "gate": verdict.as_record() | {"policy": ctx.gate.describe()},
            "pipeline_definition_sha256": ctx.pipeline_sha256,
            "code_version": ctx.code_version,
        },
    )
    ctx.update_run(key, {"model_version": version.version})
    promoted, reason = False, verdict.reason
    if verdict.passed and champion.version == version.version:
        promoted, reason = True, f"{verdict.reason}; already in production"
    elif verdict.passed:
        try:
            ctx.registry.set_alias(model, PRODUCTION, version.version, etag=champion.etag)
            promoted = True
            previous = f"v{champion.version}" if champion.version else "none"
            reason = f"{verdict.reason}; production: {previous} -> v{version.version}"
        except ConflictError:
            reason = f"{verdict.reason}; not promoted: the production alias moved meanwhile"
    action = "promoted" if promoted else "rejected"
    ctx.update_run(
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
    ctx.ledger(model, "gate", outcome)
    log.info("%s: %s v%s: %s", model, action.upper(), version.version, reason)
    return outcome


def registered_version(model: str, key: str, ctx: Context) -> ModelVersion | None:
    """The version an earlier, interrupted finalisation registered for this run."""
    found = [v for v in ctx.registry.list_versions(model) if v.tags.get("run_key") == key]
    return found[-1] if found else None
