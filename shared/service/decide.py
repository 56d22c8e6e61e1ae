"""Applying the policy to a model's state and acting on the decision: record it, or
resolve a claimed Retrain against the snapshot and launch it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

from shared.errors import ConflictError, PipelineError
from shared.policy import (
    Arrival,
    Coalesced,
    Decision,
    DriftSignal,
    Manual,
    ModelState,
    Retrain,
    Signal,
    Tick,
    launched,
    not_launched,
    resolve,
    step,
)
from shared.policy.batch import etag_of
from shared.policy.checks import apply_checks, unchecked
from shared.policy.engine import RECENT, Request, Seen, absorb
from shared.ports import DataFile
from shared.service.catchup import _absorb, _catch_up
from shared.service.context import Context
from shared.service.decisions import _Entry, _record
from shared.service.launch import _latest_run, _launch
from shared.service.outcome import Outcome
from shared.service.policystate import _base_files, _read_state, _update_state
from shared.service.precheck import LAUNCH_CHECKS, Checks, check_queued
from shared.settings import ModelConfig
from shared.snapshot import overlay

log = logging.getLogger(__name__)


def _decide(
    config: ModelConfig,
    signal: Signal,
    ctx: Context,
    *,
    trigger: str,
    events: Sequence[str | None],
) -> Outcome:
    """Apply the policy to the model's state, act on the decision, record it."""
    found: list[Arrival] = []
    quarantined: list[Seen] = []
    if isinstance(signal, Manual | Tick | DriftSignal):
        found, quarantined = _catch_up(config, _read_state(config, ctx), ctx, "the request")
    _absorb(config, found, ctx)
    state, decision = _apply(config, signal, ctx, found, quarantined)
    if decision is None:
        return Outcome(config.name, "none", "nothing to decide")
    return _act(config, state, decision, ctx, trigger=trigger, events=events)


def _apply(
    config: ModelConfig,
    signal: Signal,
    ctx: Context,
    found: Sequence[Arrival] = (),
    quarantined: Sequence[Seen] = (),
) -> tuple[ModelState, Decision | None]:
    """One policy step; ``found`` arrivals (without an event) join the state first, and
    ``quarantined`` versions found with them are remembered as seen."""
    now = ctx.clock.now()

    def change(s: ModelState) -> tuple[ModelState, Decision | None]:
        if quarantined:
            s = dataclasses.replace(s, recent=(*s.recent, *quarantined)[-RECENT:])
        return step(absorb(s, found, now=now), signal, now=now, policy=config.policy)

    return _update_state(config, change, ctx, trust_cache=False)


def _act(
    config: ModelConfig,
    state: ModelState,
    decision: Decision,
    ctx: Context,
    *,
    trigger: str,
    events: Sequence[str | None],
    into: list[_Entry] | None = None,
) -> Outcome:
    if isinstance(decision, Retrain):
        return _fire(config, state, decision, ctx, trigger=trigger, into=into)
    outcome = _outcome(config, decision)
    # the decision's own line is the ledger's (Context.log_decision)
    log.debug("%s: %s %s: %s", config.name, decision.decision.upper(), trigger, decision.reason)
    return _record(config, outcome, trigger, events, ctx, into=into)


class LaunchDeferred(Exception):
    """A launch found more queued unchecked files than it checks at once
    (``LAUNCH_CHECKS``): it checked a page, and the results are to be kept with its
    requests put back."""

    def __init__(self, checks: Checks, left: int) -> None:
        super().__init__(f"{left} queued file(s) still to check")
        self.checks, self.left = checks, left


def _check_unchecked(
    config: ModelConfig,
    requests: Sequence[Request],
    ctx: Context,
    *,
    trigger: str,
    into: list[_Entry] | None,
) -> set[tuple[str, str]]:
    """Check the files of a launching snapshot that were decided from their event alone
    (``TriggerPolicy.check_on_arrival`` false) and not checked by the sweep since
    (``shared/service/precheck.py``); returns the versions to leave out of the snapshot:
    files that failed their check (quarantined, recorded, and remembered in the state as
    seen) and files gone since. More than ``LAUNCH_CHECKS`` of them: the oldest
    ``LAUNCH_CHECKS`` are checked and ``LaunchDeferred`` is raised. A storage error is
    raised (the launch is not made; its requests wait for the next try)."""
    waiting = unchecked(requests)
    if not waiting:
        return set()
    page = waiting[:LAUNCH_CHECKS]
    checks = check_queued(config, page, ctx, trigger=trigger, why="at launch", into=into)
    if len(waiting) > len(page):
        raise LaunchDeferred(checks, len(waiting) - len(page))
    if checks.quarantined:
        seen = checks.quarantined
        _update_state(
            config,
            lambda s: (dataclasses.replace(s, recent=(*s.recent, *seen)[-RECENT:]), None),
            ctx,
        )
    return checks.left_out


def _outcome(config: ModelConfig, decision: Decision) -> Outcome:
    """The outcome of a decision that launches nothing (all but ``Retrain``)."""
    details: dict[str, Any] = {}
    if isinstance(decision, Coalesced):
        details["due_at"] = decision.due_at.isoformat()
    behind = getattr(decision, "behind", None)
    return Outcome(config.name, decision.decision, decision.reason, behind, details)


def _fire(
    config: ModelConfig,
    state: ModelState,
    decision: Retrain,
    ctx: Context,
    *,
    trigger: str,
    into: list[_Entry] | None = None,
) -> Outcome:
    """Resolve a claimed Retrain against the snapshot and launch it (or release the
    claim with the reason). The ledger entry lists every event the run covers."""
    events = list(decision.events)
    arrivals = [
        DataFile(str(r.blob), str(r.etag), r.size) for r in decision.requests if r.kind == "arrival"
    ]
    try:
        left_out = _check_unchecked(config, decision.requests, ctx, trigger=trigger, into=into)
        if left_out:
            arrivals = [a for a in arrivals if (a.name, etag_of(a.etag)) not in left_out]
        base = _base_files(state, ctx)
        snapshot = overlay(
            config.name,
            config.prefix,
            {"files": [{"name": n, "etag": e} for n, e in base.items()]},
            arrivals,
        )
        existing, attempts = _latest_run(snapshot, ctx)
        resolution = resolve(
            decision,
            snapshot=snapshot,
            existing=existing,
            attempts=attempts,
            now=ctx.clock.now(),
            policy=config.policy,
        )
    except LaunchDeferred as deferred:
        # a page of the queued files checked: kept with the requests put back; the next
        # try (the next sweep, or the next signal finding the burst due) goes on from there
        checks = deferred.checks
        _update_state(
            config,
            lambda s: (
                apply_checks(not_launched(s, restore=True), checks.results, checks.quarantined),
                None,
            ),
            ctx,
        )
        reason = (
            f"launch deferred: checked {len(checks.results)} queued file(s) "
            f"({len(checks.quarantined)} quarantined), {deferred.left} still to check"
        )
        log.info("%s: %s", config.name, reason)
        return _record(config, Outcome(config.name, "queued", reason), trigger, [], ctx, into=into)
    except Exception:
        _update_state(config, lambda s: (not_launched(s, restore=True), None), ctx)
        raise
    key = resolution.run_key
    if resolution.action == "skip" or key is None:
        # The run that covers this snapshot is the next run's base: its data was judged.
        # A snapshot emptied by deletions leaves no base: the next one starts afresh.
        _update_state(
            config,
            lambda s: (not_launched(s, restore=False, base=key, clear_base=snapshot.empty), None),
            ctx,
        )
        outcome = Outcome(config.name, "skip", resolution.reason, key)
        log.debug("%s: SKIP %s: %s", config.name, trigger, resolution.reason)
        return _record(config, outcome, trigger, events, ctx, into=into)
    _update_state(config, lambda s: (launched(s, key), None), ctx)
    if resolution.action == "adopt":
        outcome = Outcome(config.name, "skip", resolution.reason, key)
        return _record(config, outcome, trigger, events, ctx, into=into)
    # Said before the pipeline speaks (the local workspace logs its steps while submitting);
    # the ledger's line for this decision follows once the launch is recorded.
    log.info("%s: launching run %s to retrain on %s", config.name, key, resolution.reason)
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
        _record(config, outcome, trigger, events, ctx, into=into)
        raise
    except ConflictError:
        outcome = Outcome(config.name, "skip", f"run {key} was started concurrently", key)
        return _record(config, outcome, trigger, events, ctx, into=into)
    outcome = Outcome(config.name, "retrain", resolution.reason, key)
    log.debug("%s: RETRAIN as run %s, on %s", config.name, key, resolution.reason)
    return _record(config, outcome, trigger, events, ctx, into=into)
