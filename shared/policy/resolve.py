"""What a ``Retrain`` comes to once its snapshot is known: a new run (first attempt, or a
new attempt after a failure or with force), a resubmission of a run whose submit failed,
adopting a run already going on this snapshot, or a skip because the snapshot is covered.

The run key is a deterministic function of the model and the snapshot (``-r<n>`` for
later attempts), so every trigger that sees the same data arrives at the same key.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from shared.policy.config import TriggerPolicy
from shared.policy.engine import Resolution, Retrain, _time, classify_failure
from shared.snapshot import Snapshot, run_key

# A run record still "Submitting" this long after it was written means the instance that
# wrote it died before submitting: the next trigger (or the sweep) may submit it.
STUCK_SUBMITTING = timedelta(minutes=15)
TERMINAL = frozenset({"Completed", "Failed", "Canceled"})


def attempt_key(snapshot: Snapshot, attempt: int) -> str:
    """The run key of the n-th attempt on a snapshot (the first has no suffix)."""
    base = run_key(snapshot)
    return base if attempt <= 1 else f"{base}-r{attempt}"


def resolve(
    retrain: Retrain,
    *,
    snapshot: Snapshot,
    existing: Mapping[str, Any] | None,
    attempts: int,
    now: datetime,
    policy: TriggerPolicy,
) -> Resolution:
    """``existing``: the latest run record on this snapshot (None if none), ``attempts``
    how many there are."""
    if snapshot.empty:
        return Resolution("skip", None, f"no checked data files under {snapshot.prefix!r} yet")
    if existing is None:
        return Resolution("new", attempt_key(snapshot, 1), retrain.reason, 1)
    key = str(existing.get("run_key") or run_key(snapshot))
    status = str(existing.get("status", "unknown"))
    manual = any(r.kind in ("manual", "force") for r in retrain.requests)
    if status == "SubmitFailed" or _stuck(existing, now):
        why = "its submit failed" if status == "SubmitFailed" else "it was never submitted"
        return Resolution("resume", key, f"{retrain.reason}; resubmitting run {key}: {why}")
    if status not in TERMINAL and not existing.get("finalised"):
        return Resolution("adopt", key, f"run {key} ({status}) on this data is still going")
    if retrain.force:
        new = attempt_key(snapshot, attempts + 1)
        return Resolution(
            "new",
            new,
            f"{retrain.reason} (new attempt after {key}, step cache bypassed)",
            attempts + 1,
            {"force": True},
        )
    if status == "Completed":
        return Resolution("skip", key, f"run {key} (Completed) already covers this data snapshot")
    failure = classify_failure(status, existing.get("error"))
    error = existing.get("error") or status
    if manual:
        new = attempt_key(snapshot, attempts + 1)
        why = f"{retrain.reason}; run {key} on this data {status.lower()}, trying again"
        return Resolution("new", new, why, attempts + 1)
    if failure == "data":
        return Resolution(
            "skip",
            key,
            f"run {key} failed on its data ({error}); waiting for new data "
            "(or a request with force)",
        )
    if failure == "canceled":
        return Resolution(
            "skip", key, f"run {key} was canceled; waiting for new data or a manual request"
        )
    if attempts <= policy.max_retries:
        new = attempt_key(snapshot, attempts + 1)
        why = f"{retrain.reason}; run {key} on this data {status.lower()} ({error}), trying again"
        return Resolution("new", new, why, attempts + 1)
    return Resolution(
        "skip",
        key,
        f"run {key} ({status}) was attempt {attempts} of {policy.max_retries + 1} "
        "on this data; waiting for new data (or a request with force)",
    )


def _stuck(run: Mapping[str, Any], now: datetime) -> bool:
    if run.get("status") != "Submitting":
        return False
    created = _time(run.get("created_at"))
    return created is not None and now - created > STUCK_SUBMITTING
