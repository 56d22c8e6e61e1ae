"""Committed blobs whose event never came (found by the sweep, a tick or a request),
and the quarantine records of files that failed their check.
"""

from __future__ import annotations

import logging

from shared.datacheck import check_blob
from shared.errors import ConflictError, InvalidData, NotFound
from shared.policy import (
    Arrival,
    ModelState,
)
from shared.policy.batch import (
    etag_of,
    seen_versions,
)
from shared.policy.engine import Seen
from shared.ports import DataFile
from shared.service.context import Context
from shared.service.decisions import _Entry, _record, _write_ledger
from shared.service.deletions import gone
from shared.service.outcome import Outcome
from shared.service.policystate import _base_files, _run_files
from shared.settings import ModelConfig

log = logging.getLogger(__name__)


def _catch_up(
    config: ModelConfig, state: ModelState, ctx: Context, why: str
) -> tuple[list[Arrival], list[Seen]]:
    """Committed blobs under the model's prefix that were never seen (their event never
    came), checked. Seen: what the state knows (``seen_versions``) and every file of every
    run of the model (so a policy state lost or reset does not make old data new). Costs
    one listing of the prefix and one of the model's runs, plus each run's snapshot
    manifest once per instance. Returns the arrivals (deletions among them: names the
    state holds that are gone from the listing, ``deletions.gone``) and the versions
    quarantined."""
    base = _base_files(state, ctx, missing_ok=True)
    seen = seen_versions(state, base)
    seen.update(dict.fromkeys(_run_files(config, ctx), ""))
    found: list[Arrival] = []
    quarantined: list[Seen] = []
    listed = ctx.data.list_files(config.prefix)
    # names the index holds that the listing no longer has: their BlobDeleted never came
    found += gone(config, state, base, {blob.name for blob in listed})
    for blob in listed:
        if (blob.name, etag_of(blob.etag)) in seen:
            continue
        what = f"{why} found {blob.name} ({blob.size} bytes) without an event"
        event = f"sweep:{blob.name}@{etag_of(blob.etag)}"
        try:
            rows, _ = read_and_check(config, blob, ctx)
        except InvalidData as exc:
            _quarantine_record(blob, exc, ctx)
            outcome = Outcome(config.name, "skip", f"quarantined: {exc}")
            _record(config, outcome, what, [event], ctx)
            log.warning("%s: QUARANTINED %s: %s", config.name, blob.name, exc)
            quarantined.append(Seen(blob.name, blob.etag, event, quarantined=True))
            continue
        except NotFound:
            continue  # gone since the listing
        found.append(Arrival(what, event, blob.name, blob.etag, blob.size, rows))
    return found, quarantined


def read_and_check(config: ModelConfig, blob: DataFile, ctx: Context) -> tuple[int, bytes]:
    """The arrival check of a data blob (``shared/datacheck.py::check_blob``): its rows and
    the bytes read (a CSV whole; a Parquet blob's footer by ranged reads when the data
    store can read ranges, and then nothing is returned)."""
    return check_blob(
        blob.name,
        read=lambda: ctx.data.read_bytes(blob.name),
        read_range=lambda start, end: ctx.data.read_range(blob.name, start, end),
        size=blob.size,
        time_column=config.time_column,
        value_column=config.value_column,
    )


def _absorb(config: ModelConfig, found: list[Arrival], ctx: Context) -> None:
    """Record blobs found without an event: each a ledger entry (the signal that follows
    decides on them together)."""
    entries: list[_Entry] = []
    for arrival in found:
        outcome = Outcome(config.name, "coalesced", f"{arrival.reason}; decided with the rest")
        _record(config, outcome, arrival.reason, [arrival.event], ctx, into=entries)
    _write_ledger(config, entries, ctx)


def _quarantine_record(blob: DataFile, exc: Exception, ctx: Context) -> None:
    """``quarantine/<blob>.json``: the latest version of the file that failed its check."""
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
