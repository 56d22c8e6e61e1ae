"""Checking queued files a page at a time (``check_on_arrival: false``), so that no
invocation reads an unbounded number of them.

An arrival of such a model is decided from its event alone; its file must still be
checked before a run trains on it. Left to the launch, a burst of thousands of queued
files was read whole inside the launching invocation (its 25 s storage budget the only
limit). Now:

- **the sweep** checks up to ``PRECHECK_PAGE`` of a model's queued unchecked files per
  sweep (oldest first, ``CHECKS_AT_ONCE`` at a time) and records the results in the
  policy state: a good file's request gets its rows (the launch does not read it again),
  a bad one is quarantined (its record, a ledger entry, remembered as seen) and leaves the
  queue, a file gone leaves the queue;
- **a launch** checks what is still unchecked, at most ``LAUNCH_CHECKS`` files: with more,
  it checks the oldest ``LAUNCH_CHECKS``, records their results the same way, puts its
  requests back and does not start (answered, not failed); the next try (the next sweep,
  or the next signal that finds the burst due) goes on from there.

So an invocation reads at most ``LAUNCH_CHECKS`` queued files for a launch and
``PRECHECK_PAGE`` for the sweep's page, whatever the queue holds.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from shared.errors import InvalidData, NotFound
from shared.policy.checks import apply_checks, unchecked, version_of
from shared.policy.engine import ModelState, Request, Seen
from shared.ports import DataFile
from shared.service.catchup import _quarantine_record, read_and_check
from shared.service.context import Context
from shared.service.decisions import _Entry, _record
from shared.service.outcome import Outcome
from shared.service.policystate import _update_state
from shared.settings import ModelConfig

log = logging.getLogger(__name__)

CHECKS_AT_ONCE = 8  # queued files read and checked at the same time
PRECHECK_PAGE = 512  # queued unchecked files the sweep checks per model and sweep
LAUNCH_CHECKS = 1024  # queued unchecked files one launch checks at most


@dataclass
class Checks:
    """What checking some queued files came to: per version its rows, or None when it
    leaves the queue (quarantined or gone); the quarantined versions to remember."""

    results: dict[tuple[str, str], int | None] = field(default_factory=dict)
    quarantined: list[Seen] = field(default_factory=list)

    @property
    def left_out(self) -> set[tuple[str, str]]:
        return {v for v, rows in self.results.items() if rows is None}


def check_queued(
    config: ModelConfig,
    requests: Sequence[Request],
    ctx: Context,
    *,
    trigger: str,
    why: str,
    into: list[_Entry] | None = None,
) -> Checks:
    """Read and check the files of ``requests`` (unchecked arrivals), ``CHECKS_AT_ONCE`` at
    a time, each in a copy of this invocation's context (its storage time budget). A bad
    file is quarantined here (its record, and a ledger entry "quarantined <why>: ..."); a
    storage error is raised (nothing recorded in the state)."""

    def one(r: Request) -> int | Exception:
        try:
            rows, _ = read_and_check(config, DataFile(str(r.blob), str(r.etag), r.size), ctx)
        except (InvalidData, NotFound) as exc:
            return exc
        return rows

    checks = Checks()
    if not requests:
        return checks
    with ThreadPoolExecutor(min(CHECKS_AT_ONCE, len(requests))) as pool:
        found = list(pool.map(lambda r: contextvars.copy_context().run(one, r), requests))
    for r, result in zip(requests, found, strict=True):
        version = version_of(r)
        if isinstance(result, int):
            checks.results[version] = result
            continue
        checks.results[version] = None
        if isinstance(result, NotFound):
            log.warning("%s: %s is gone; left out of the run", config.name, r.blob)
            continue
        blob = DataFile(str(r.blob), str(r.etag), r.size)
        _quarantine_record(blob, result, ctx)
        log.warning("%s: QUARANTINED %s %s: %s", config.name, r.blob, why, result)
        checks.quarantined.append(Seen(str(r.blob), str(r.etag), r.event or "", quarantined=True))
        outcome = Outcome(config.name, "skip", f"quarantined {why}: {result}")
        _record(config, outcome, f"{trigger}: {r.reason}", [r.event], ctx, into=into)
    return checks


def precheck_queued(
    config: ModelConfig, state: ModelState, ctx: Context, *, trigger: str
) -> Outcome | None:
    """The sweep's page: check the oldest ``PRECHECK_PAGE`` queued unchecked files of
    ``state`` (as just read) and record the results in the state; None when there were
    none."""
    page = unchecked(state.pending)[:PRECHECK_PAGE]
    if not page:
        return None
    checks = check_queued(config, page, ctx, trigger=trigger, why="before launch (sweep)")
    _update_state(
        config, lambda s: (apply_checks(s, checks.results, checks.quarantined), None), ctx
    )
    left = len(unchecked(state.pending)) - len(page)
    reason = (
        f"checked {len(page)} queued file(s) before their launch "
        f"({len(checks.quarantined)} quarantined, {len(checks.left_out)} left out; "
        f"{left} still to check)"
    )
    log.info("%s: %s", config.name, reason)
    return Outcome(config.name, "none", reason)
