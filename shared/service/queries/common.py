"""What the query modules share: reading documents a few at a time, the time index that
pages a listing whose keys do not sort by time, and the checks of a page's size and of a
run key."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from shared.errors import ConflictError, InvalidInput, NotFound
from shared.parsing.common import check_run_key, parse_time
from shared.ports import JSON
from shared.service.context import Context

# Documents read at once: each is one blob read, the page's cost.
READERS = 8

# A page of runs or dead letters: each is one blob read.
MAX_PAGE = 500


def read_all(ctx: Context, keys: list[str]) -> list[JSON | None]:
    """The documents at ``keys`` in order (None for one gone meanwhile), a few at a time."""

    def read(key: str) -> JSON | None:
        try:
            return ctx.state.get(key)[0]
        except NotFound:
            return None

    if len(keys) <= 1:
        return [read(key) for key in keys]
    with ThreadPoolExecutor(min(READERS, len(keys))) as pool:
        return list(pool.map(read, keys))


def stamp(value: Any) -> str:
    """A record's time as a fixed-width UTC name part that sorts as the time does."""
    try:
        moment = parse_time(value)
    except InvalidInput:
        moment = None
    return "00000000T000000000000Z" if moment is None else f"{moment:%Y%m%dT%H%M%S%fZ}"


def newest(
    ctx: Context,
    index: str,
    items: Mapping[str, str],
    time_of: Callable[[JSON], Any],
    limit: int,
) -> list[tuple[str, JSON]]:
    """The ``limit`` newest of ``items`` (id -> state key), newest first, through
    a time index kept under ``index`` (``<index><UTC time>~<id>.json``, one empty-ish
    document per item, whose NAME orders it).

    The records' own keys do not sort by time (a run key is a data hash), so the first
    listing that meets an item reads its record once and indexes it (create-if-absent:
    concurrent listings agree); after that a page costs two listings of names and one
    read per item returned, whatever the history's length. Index entries of records no
    longer listed are ignored, and deleted when a page meets one whose record is gone.
    """
    if limit <= 0:
        return []
    indexed: dict[str, str] = {}
    for key in ctx.state.list_keys(index):
        name = key.removeprefix(index).removesuffix(".json")
        item = name.partition("~")[2]
        if item in items:
            indexed[item] = key
    fresh: dict[str, JSON] = {}
    missing = [item for item in items if item not in indexed]
    for item, record in zip(missing, read_all(ctx, [items[i] for i in missing]), strict=True):
        if record is None:
            continue
        key = f"{index}{stamp(time_of(record))}~{item}.json"
        with contextlib.suppress(ConflictError):
            ctx.state.create(key, {"id": item, "key": items[item]})
        indexed[item] = key
        fresh[item] = record
    page = sorted(indexed.items(), key=lambda pair: pair[1], reverse=True)[:limit]
    wanted = [item for item, _ in page if item not in fresh]
    read = dict(zip(wanted, read_all(ctx, [items[i] for i in wanted]), strict=True))
    found: list[tuple[str, JSON]] = []
    for item, key in page:
        record = fresh.get(item) or read.get(item)
        if record is None:
            ctx.state.delete(key)
            continue
        found.append((item, record))
    return found


def check_page(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be a whole number from 0 to {MAX_PAGE}, got {limit!r}")
    return limit


def known_run_key(run_key: str) -> str:
    """The run key, or NotFound when it cannot be one (it never reaches storage)."""
    try:
        return check_run_key(run_key)
    except InvalidInput as exc:
        raise NotFound(str(exc)) from None


def mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
