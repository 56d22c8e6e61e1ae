"""A family's history, kept so that writing it costs a few requests per move and reading
one series' page costs one request per entry shown, whatever the family's age or size.

Two kinds of documents:

- **The family's entry per move** (``history/<model>/<time>-<8 hex>.json``, the model's
  history, as ``shared.service.promotion.record_history`` writes it, same fields): one per
  compare-and-swap of the pointer document that moved series, holding every series it
  moved under ``series``. Written **after** that compare-and-swap, create-only at a name
  made of the move's time (the pointers' ``since``) and what made it (the run key, or the
  operator action), so a repeated finalisation finds its entry by name instead of
  reading the history (``record_family_entry``).
- **Each series' chain** (``family/<model>/series-history/<bucket>/<time>-<8 hex>.json``):
  one document per move and *bucket* of series (``BUCKETS`` buckets by a hash of the
  series id), holding for each series of that bucket the move made: its part of the
  entry (``series_change``), its own reason, and ``prior``, where that series' previous
  entry is. The pointer document keeps each series' newest entry under ``history``
  (``{"<series>": "<bucket>/<name>"}``, beside the pointers, so it survives a series
  left without a model). A move writes one document per bucket it touches (at most
  ``BUCKETS``, whatever the number of series moved), **before** the compare-and-swap that
  names them: a writer that loses the swap, or dies before it, leaves documents nothing
  points at (never read), and a swap never names a document that was not written. So the
  chain is never broken, and a repeated finalisation finds its moves made and its chain
  written.

One series' page (``series_page``) follows its chain from the pointer document: one read
per entry, no listing; ``before`` (a previous page's cursor) continues it.

**Documents of lost attempts** are collected by the sweep (``collect_orphans``). Before
its chain documents, a move creates a *pending marker*
(``family-history-pending/<model>/<name>.json``: the buckets it writes and one of its
series, the *probe*), and deletes it once its compare-and-swap has succeeded
(``Chain.settle``). A marker left behind belongs to an attempt that lost its swap or died
before or just after it. Once its name's time is older than ``ORPHAN_AGE`` (no move is
still in flight: a move runs inside one invocation, minutes at most), the sweep asks
whether the swap happened: all the series of one move are swapped together, so it
follows the probe's chain back from the pointer document, and the move was made iff the
chain holds its name. It can stop at the first entry whose time is ``ORPHAN_AGE`` older
than the move's: an entry swapped after this move was timed at most one invocation
before it. A move that was made keeps its documents (only the marker goes); one that was
not has its documents deleted, then its marker. At most ``SWEEP_DOCUMENTS`` documents
and ``SWEEP_MARKERS`` markers per sweep, oldest markers first; the next sweep continues.
Moves made before markers existed left none: their lost attempts' documents stay (never
read).
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from shared.errors import ConflictError, InvalidInput, NotFound
from shared.parsing import parse_time
from shared.ports import JSON
from shared.service.context import Context

log = logging.getLogger(__name__)

CHAIN_SCHEMA = "family-series-history/1"
# Series buckets of the chain documents: a move writes at most this many documents.
BUCKETS = 64
DEFAULT_PAGE = 20
MAX_PAGE = 200
# Requests to the state store at once when a move writes its chain documents.
WORKERS = 8
T = TypeVar("T")
_CURSOR = re.compile(r"[0-9a-f]{2}/\d{8}T\d{12}Z-[0-9a-f]{8}")
_NAME = re.compile(r"(\d{8}T\d{12})Z-[0-9a-f]{8}")

PENDING_SCHEMA = "family-history-pending/1"
PENDING_PREFIX = "family-history-pending/"
# A pending marker (and its chain documents) this old belongs to no move in flight: a
# move runs inside one invocation (10 minutes at most on Consumption, the finalisation
# lease is 10 minutes), and an hour leaves room for clock skew between instances.
ORPHAN_AGE = timedelta(hours=1)
# Chain documents the sweep deletes at most per sweep (a lost attempt left up to BUCKETS).
SWEEP_DOCUMENTS = 256
# Pending markers the sweep looks at per sweep, oldest first.
SWEEP_MARKERS = 64
# Entries of the probe's chain the sweep reads at most to learn whether one move was made.
WALK_LIMIT = 200


def bucket_of(unique_id: str) -> str:
    """The series' bucket, two hex digits."""
    digest = hashlib.sha256(unique_id.encode("utf-8")).digest()
    return f"{int.from_bytes(digest[:4], 'big') % BUCKETS:02x}"


def chain_key(model: str, cursor: str) -> str:
    """The state key of the chain document ``cursor`` (``<bucket>/<name>``)."""
    return f"family/{model}/series-history/{cursor}.json"


def pending_key(model: str, name: str) -> str:
    """The state key of the pending marker of the move ``name``."""
    return f"{PENDING_PREFIX}{model}/{name}.json"


def name_time(name: str) -> datetime | None:
    """The time a chain name (``<stamp>-<8 hex>``) starts with; None if it is no name."""
    match = _NAME.fullmatch(name)
    if match is None:
        return None
    return datetime.strptime(match.group(1), "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC)


def stamp(at: str) -> str:
    """``at`` as the sortable UTC time that starts history names."""
    moment = parse_time(at)
    if moment is None:
        raise InvalidInput(f"a history entry needs a time, not {at!r}")
    return f"{moment.astimezone(UTC):%Y%m%dT%H%M%S%fZ}"


def entry_name(at: str, tag: str) -> str:
    """The name (without ``.json``) of the family's entry made at ``at`` by ``tag``."""
    digest = hashlib.sha256(f"{tag}|{at}".encode()).hexdigest()[:8]
    return f"{stamp(at)}-{digest}"


def _create(ctx: Context, key: str, document: Mapping[str, Any]) -> bool:
    """Create ``key``; False when it exists (written by an earlier attempt)."""
    try:
        ctx.state.create(key, document)
    except ConflictError:
        return False
    return True


class Chain:
    """The series moves one compare-and-swap of the pointer document will make.

    Built inside the swap's change function (a fresh one per attempt): ``add`` links a
    series' move to its previous entry and names the new one in the document's
    ``history``; ``write`` (``change_production``'s ``before_write``) creates the pending
    marker and the bucket documents before the swap; ``settle``, called once the swap
    succeeded, deletes the marker."""

    def __init__(self, model: str, at: str) -> None:
        self.model = model
        self.at = at
        # Unique per attempt: a lost attempt's documents are never named by a pointer.
        self.name = f"{stamp(at)}-{uuid.uuid4().hex[:8]}"
        self.moves: dict[str, JSON] = {}

    def add(
        self,
        document: JSON,
        unique_id: str,
        change: Mapping[str, Any],
        reason: str | None = None,
    ) -> None:
        heads = document.setdefault("history", {})
        part: JSON = {"series_change": dict(change), "prior": heads.get(unique_id)}
        if reason:
            part["reason"] = reason
        self.moves[unique_id] = part
        heads[unique_id] = f"{bucket_of(unique_id)}/{self.name}"

    def write(self, ctx: Context, entry: Mapping[str, Any]) -> int:
        """Create one document per bucket holding its series' moves, ``entry`` (action,
        by, reason, versions, run key) being what the move's series share. Returns how
        many were written."""
        if not self.moves:
            return 0
        buckets: dict[str, dict[str, JSON]] = {}
        for unique_id, part in self.moves.items():
            buckets.setdefault(bucket_of(unique_id), {})[unique_id] = part
        marker = {
            "schema": PENDING_SCHEMA,
            "model": self.model,
            "at": self.at,
            "name": self.name,
            "buckets": sorted(buckets),
            "probe": min(self.moves),
        }
        _create(ctx, pending_key(self.model, self.name), marker)  # a repeat finds it
        shared = {"schema": CHAIN_SCHEMA, "at": self.at, "model": self.model, **entry}

        def one(bucket: str) -> bool:
            document = shared | {"series": buckets[bucket]}
            return _create(ctx, chain_key(self.model, f"{bucket}/{self.name}"), document)

        return sum(_each(one, sorted(buckets)))

    def settle(self, ctx: Context) -> None:
        """The swap naming this chain succeeded: its documents are no orphans. Best
        effort: the move is made, so a failed delete must not fail it (the caller would
        then skip its history and ledger records); the sweep drops a marker whose move
        was made."""
        if not self.moves:
            return
        try:
            ctx.state.delete(pending_key(self.model, self.name))
        except Exception:  # the sweep settles it (family_collect)
            log.warning(
                "pending marker %s of a move made was not deleted; the sweep will",
                pending_key(self.model, self.name),
                exc_info=True,
            )


def record_family_entry(
    ctx: Context,
    model: str,
    *,
    at: str,
    tag: str,
    entry: Mapping[str, Any],
    series: Mapping[str, Mapping[str, Any]],
) -> bool:
    """Create the family's entry for one move (``entry`` plus ``series``) in the model's
    history, at a name made of ``at`` and ``tag``; False when an earlier attempt did."""
    name = entry_name(at, tag)
    document = {"at": at, "model": model, **entry, "series": dict(series)}
    return _create(ctx, f"history/{model}/{name}.json", document)


def series_page(
    ctx: Context,
    model: str,
    unique_id: str,
    document: Mapping[str, Any],
    *,
    limit: int = DEFAULT_PAGE,
    before: str | None = None,
) -> tuple[list[JSON], str | None]:
    """The newest ``limit`` history entries of one series (from the entry ``before``, a
    previous page's cursor, when given), oldest first, and the cursor of the entry before
    them (None when the page reaches the start). ``document``: the pointer document,
    read by the caller. One read per entry, following the series' chain. Each entry's
    ``from_version`` and ``to_version`` are the series' own (``_series_versions``)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be a whole number from 1 to {MAX_PAGE}")
    if before is not None and not (
        _CURSOR.fullmatch(before) and before[:2] == bucket_of(unique_id)
    ):
        raise InvalidInput(
            f"before must be a history cursor of series {unique_id!r} (a previous page's "
            f"history_before), not {before!r}"
        )
    cursor: str | None = (
        before if before is not None else (document.get("history") or {}).get(unique_id)
    )
    entries: list[JSON] = []
    while cursor is not None and len(entries) < limit:
        try:
            found = ctx.state.get(chain_key(model, cursor))[0]
        except NotFound:
            log.warning("%s: history entry %s of series %s is gone", model, cursor, unique_id)
            cursor = None
            break
        part = (found.get("series") or {}).get(unique_id)
        if not isinstance(part, Mapping):
            raise InvalidInput(f"{cursor!r} is not a history entry of series {unique_id!r}")
        shared = {k: v for k, v in found.items() if k not in ("series", "schema")}
        change = part.get("series_change")
        entry = shared | {"unique_id": unique_id, "series_change": change}
        entry |= _series_versions(change, shared)
        if part.get("reason"):
            entry["family_reason"], entry["reason"] = found.get("reason"), part["reason"]
        entries.append(entry | {"cursor": cursor})
        cursor = part.get("prior")
    entries.reverse()
    return entries, cursor


def _series_versions(change: Any, shared: Mapping[str, Any]) -> JSON:
    """``from_version`` and ``to_version`` of one series' move (the family's entry has
    the run's version, or none for a family rollback that moved series to several): a
    pin leaves the series where it is; a rollback names where it went."""
    if not isinstance(change, Mapping):
        return {}

    def version(pointer: Any) -> Any:
        return pointer.get("version") if isinstance(pointer, Mapping) else None

    if "pinned" in change:
        return {"from_version": version(change.get("at")), "to_version": version(change.get("at"))}
    to = version(change.get("to")) if "to" in change else shared.get("to_version")
    return {"from_version": version(change.get("from")), "to_version": to}


def _each(work: Callable[[str], T], items: list[str]) -> list[T]:
    """``work`` on each item, ``WORKERS`` requests at a time, results in order."""
    if len(items) < 2:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(WORKERS, len(items))) as pool:
        return list(pool.map(work, items))
