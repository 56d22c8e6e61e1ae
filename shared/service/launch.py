"""Launching a run: the run record (the lock), the open-run marker, the snapshot
manifest, then the pipeline submitted (``triggers.submit``).
"""

from __future__ import annotations

import contextlib
import logging

from shared.errors import ConflictError
from shared.policy import (
    Retrain,
)
from shared.ports import JSON
from shared.service.context import Context
from shared.service.promotion import PRODUCTION
from shared.settings import ModelConfig
from shared.snapshot import Snapshot, run_key

log = logging.getLogger(__name__)


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
    from shared.service.triggers import submit  # triggers imports this module

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
