"""A family's history, kept so that reading it costs what is shown.

Two kinds of documents, both written **create-only under names derived from what they
record** (never a fresh random id), so a writer killed part-way and run again writes what
is missing and nothing twice: a name already taken means "written before" (the
``ConflictError`` of ``StateStore.create``), not "try another name".

- **The family's entry per move** (``history/<model>/<time>-<8 hex>.json``, the model's
  history, as ``shared.service.promotion.record_history`` writes it, same fields): one per
  compare-and-swap of the pointer document that moved series, holding every series it
  moved under ``series``. ``<time>`` is the move's time (the pointers' ``since``), the hex
  a digest of what moved it (the run key, or the operator action), so a repeated
  finalisation finds its entry by name instead of reading the history.
- **One small document per series and move** (``family/<model>/series/<series>/<time>-<8
  hex>.json``): the same entry with that series' part only (``series_change``). One
  series' history is a listing of its own prefix (one request per 5,000 entries) and one
  read per entry shown: its cost does not depend on how many runs the family had or how
  many series they moved. ``<series>`` is the id with every character outside
  ``[A-Za-z0-9._-]`` (and a leading ``.``) written ``~XX`` per UTF-8 byte, so any id is one
  path segment and two ids never share a prefix.

Entries are listed in name order, which is time order.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from typing import Any, TypeVar

from shared.errors import ConflictError, InvalidInput, NotFound
from shared.parsing import parse_time
from shared.ports import JSON
from shared.service.context import Context

log = logging.getLogger(__name__)

SERIES_ENTRY_SCHEMA = "family-series-history/1"
DEFAULT_PAGE = 20
MAX_PAGE = 200
# Requests to the state store at once when writing or reading many entries.
WORKERS = 8
T = TypeVar("T")
_PLAIN = re.compile(r"[A-Za-z0-9._-]")
_NAME = re.compile(r"^\d{8}T\d{12}Z-[0-9a-f]{8}$")


def encode_series(unique_id: str) -> str:
    """``unique_id`` as one key segment (injective: ``~`` itself is always encoded)."""
    out = []
    for index, char in enumerate(unique_id):
        if _PLAIN.fullmatch(char) and not (index == 0 and char == "."):
            out.append(char)
        else:
            out.extend(f"~{byte:02X}" for byte in char.encode("utf-8"))
    return "".join(out) or "~"


def series_prefix(model: str, unique_id: str) -> str:
    return f"family/{model}/series/{encode_series(unique_id)}/"


def entry_name(at: str, tag: str) -> str:
    """The name (without ``.json``) of the entry made at ``at`` by ``tag``."""
    moment = parse_time(at)
    if moment is None:
        raise InvalidInput(f"a history entry needs a time, not {at!r}")
    digest = hashlib.sha256(f"{tag}|{at}".encode()).hexdigest()[:8]
    return f"{moment.astimezone(UTC):%Y%m%dT%H%M%S%fZ}-{digest}"


def _create(ctx: Context, key: str, document: Mapping[str, Any]) -> bool:
    """Create ``key``; False when it exists (written by an earlier attempt)."""
    try:
        ctx.state.create(key, document)
    except ConflictError:
        return False
    return True


def record_move(
    ctx: Context,
    model: str,
    *,
    at: str,
    tag: str,
    entry: Mapping[str, Any],
    series: Mapping[str, Mapping[str, Any]],
    reasons: Mapping[str, str] | None = None,
) -> int:
    """Write the family's entry for one move (``entry`` plus ``series``, under the model's
    history) and one entry per series it moved (``reasons``: a series' own reason in place
    of the family's), each create-only at a name made of ``at`` and ``tag``. Returns how
    many documents were written (0: an earlier attempt wrote them all)."""
    name = entry_name(at, tag)
    shared = {"at": at, "model": model, **entry}
    written = int(_create(ctx, f"history/{model}/{name}.json", shared | {"series": dict(series)}))

    def own(unique_id: str) -> bool:
        document = {
            "schema": SERIES_ENTRY_SCHEMA,
            **shared,
            "unique_id": unique_id,
            "series_change": dict(series[unique_id]),
        }
        if reasons and reasons.get(unique_id):
            document["family_reason"], document["reason"] = shared.get("reason"), reasons[unique_id]
        return _create(ctx, f"{series_prefix(model, unique_id)}{name}.json", document)

    written += sum(_each(own, sorted(series)))
    if written:
        log.info("%s: history of %d series recorded (%s)", model, len(series), name)
    return written


def series_page(
    ctx: Context,
    model: str,
    unique_id: str,
    *,
    limit: int = DEFAULT_PAGE,
    before: str | None = None,
) -> tuple[list[JSON], str | None]:
    """The newest ``limit`` history entries of one series (those before the entry named
    ``before``, when given), oldest first, and the cursor for the page before them (None
    when there is none). One listing of the series' own entries and one read per entry."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be a whole number from 1 to {MAX_PAGE}")
    if before is not None and not _NAME.match(before):
        raise InvalidInput(f"before must be a history cursor (a previous page's), not {before!r}")
    prefix = series_prefix(model, unique_id)
    names = [key[len(prefix) :].removesuffix(".json") for key in ctx.state.list_keys(prefix)]
    if before is not None:
        names = [name for name in names if name < before]
    page = names[-limit:]

    def read(name: str) -> JSON | None:
        try:
            return ctx.state.get(f"{prefix}{name}.json")[0] | {"cursor": name}
        except NotFound:  # deleted by hand between the listing and the read
            return None

    entries = [entry for entry in _each(read, page) if entry is not None]
    return entries, (page[0] if len(names) > len(page) else None)


def _each(work: Callable[[str], T], items: list[str]) -> list[T]:
    """``work`` on each item, ``WORKERS`` requests at a time (each is one round trip to
    the store; a family run writes one per series it moved), results in order."""
    if len(items) < 2:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(WORKERS, len(items))) as pool:
        return list(pool.map(work, items))


def reindex(ctx: Context, model: str) -> JSON:
    """Give every series its own entries for the family's history written before the
    per-series index existed (entries of ``history/<model>/`` with a ``series`` map and no
    per-series copies): each copied under the family entry's own name, create-only, so
    running it again (or after new moves) writes nothing twice. Reads the whole history
    once: an operator's one-off (``retrainctl family MODEL reindex``), never on a hot path.
    """
    prefix = f"history/{model}/"
    written = entries = 0
    for key in ctx.state.list_keys(prefix):
        try:
            entry = ctx.state.get(key)[0]
        except NotFound:
            continue
        moved = entry.get("series")
        if not entry.get("family") or not isinstance(moved, Mapping) or not moved:
            continue
        entries += 1
        name = key[len(prefix) :].removesuffix(".json")
        shared = {k: v for k, v in entry.items() if k != "series"}

        def own(
            unique_id: str, name: str = name, shared: JSON = shared, moved: Any = moved
        ) -> bool:
            document = {
                "schema": SERIES_ENTRY_SCHEMA,
                **shared,
                "unique_id": unique_id,
                "series_change": dict(moved[unique_id]),
            }
            return _create(ctx, f"{series_prefix(model, unique_id)}{name}.json", document)

        written += sum(_each(own, sorted(moved)))
    log.info(
        "%s: %d per-series history entries written from %d family entries", model, written, entries
    )
    return {"model": model, "family_entries": entries, "series_entries_written": written}
