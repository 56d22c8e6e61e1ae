"""Read-only views for the HTTP API and the local tools."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from shared.errors import ConflictError, InvalidInput, NotFound
from shared.parsing.common import check_run_key, parse_time
from shared.ports import JSON
from shared.service import audit
from shared.service.context import Context
from shared.service.promotion import PRODUCTION, get_pin
from shared.service.promotion import list_history as _history

# Ledger entries read at once: each is one blob read, the page's cost.
_LEDGER_READERS = 8


# A page of runs or dead letters: each is one blob read.
MAX_PAGE = 500
# What a run key adds to its model's name: the snapshot id, then the attempt.
_RUN_SUFFIX = re.compile(r"[0-9a-f]{16}(?:-r[0-9]+)?")
# Dead letters listed keep this much of their payload (the full one: get_dead_letter).
_PREVIEW = 200


def _read_all(ctx: Context, keys: list[str]) -> list[JSON | None]:
    """The documents at ``keys`` in order (None for one gone meanwhile), a few at a time."""

    def read(key: str) -> JSON | None:
        try:
            return ctx.state.get(key)[0]
        except NotFound:
            return None

    if len(keys) <= 1:
        return [read(key) for key in keys]
    with ThreadPoolExecutor(min(_LEDGER_READERS, len(keys))) as pool:
        return list(pool.map(read, keys))


def _stamp(value: Any) -> str:
    """A record's time as a fixed-width UTC name part that sorts as the time does."""
    try:
        moment = parse_time(value)
    except InvalidInput:
        moment = None
    return "00000000T000000000000Z" if moment is None else f"{moment:%Y%m%dT%H%M%S%fZ}"


def _newest(
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
    read per item returned, whatever the history's length. Index entries whose record
    is gone are dropped.
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
    for item, record in zip(missing, _read_all(ctx, [items[i] for i in missing]), strict=True):
        if record is None:
            continue
        key = f"{index}{_stamp(time_of(record))}~{item}.json"
        with contextlib.suppress(ConflictError):
            ctx.state.create(key, {"id": item, "key": items[item]})
        indexed[item] = key
        fresh[item] = record
    page = sorted(indexed.items(), key=lambda pair: pair[1], reverse=True)[:limit]
    wanted = [item for item, _ in page if item not in fresh]
    read = dict(zip(wanted, _read_all(ctx, [items[i] for i in wanted]), strict=True))
    found: list[tuple[str, JSON]] = []
    for item, key in page:
        record = fresh.get(item) or read.get(item)
        if record is None:
            ctx.state.delete(key)
            continue
        found.append((item, record))
    return found


def _known_run_key(run_key: str) -> str:
    """The run key, or NotFound when it cannot be one (it never reaches storage)."""
    try:
        return check_run_key(run_key)
    except InvalidInput as exc:
        raise NotFound(str(exc)) from None


def get_run(ctx: Context, run_key: str) -> JSON:
    return ctx.state.get(f"runs/{_known_run_key(run_key)}.json")[0]


def list_models(ctx: Context) -> list[JSON]:
    return [
        {
            "name": m.name,
            "prefix": m.prefix,
            "frequency": m.frequency,
            "horizon": m.horizon,
            "production_version": ctx.registry.get_alias(m.name, PRODUCTION).version,
            "pinned": get_pin(ctx, m.name) is not None,
            "gate_policy": m.gate_policy(ctx.gate).describe(),
        }
        for m in ctx.models.values()
    ]


def list_versions(ctx: Context, model: str) -> list[JSON]:
    if model not in ctx.models:
        raise NotFound(f"unknown model {model!r}")
    production = ctx.registry.get_alias(model, PRODUCTION).version
    return [
        {
            "version": v.version,
            "created_at": v.created_at,
            "tags": dict(v.tags),
            "artifact_uri": v.artifact_uri,
            "production": v.version == production,
            "mase": _backtest_mase(v.lineage.get("metrics")),
            "report_url": f"/api/models/{model}/versions/{v.version}/report",
        }
        for v in ctx.registry.list_versions(model)
    ]


def list_ledger(ctx: Context, model: str, *, limit: int | None = None) -> list[JSON]:
    """The model's decisions, oldest first; with ``limit``, only the newest ones.

    One listing of the names, then one read per entry returned (a few at a time), so a
    page costs its own size, whatever the history's.
    """
    if model not in ctx.models:
        raise NotFound(f"unknown model {model!r}")
    keys = ctx.state.list_keys(f"ledger/{model}/")
    if limit is not None:
        keys = keys[-limit:] if limit > 0 else []
    if len(keys) <= 1:
        return [ctx.state.get(key)[0] for key in keys]
    with ThreadPoolExecutor(min(_LEDGER_READERS, len(keys))) as pool:
        return list(pool.map(lambda key: ctx.state.get(key)[0], keys))


def _backtest_mase(metrics: Any) -> Any:
    """The candidate's backtest MASE (schema 2), or its holdout MASE (older metrics)."""
    candidate = metrics.get("candidate") if isinstance(metrics, dict) else None
    if not isinstance(candidate, dict):
        return None
    backtest = candidate.get("backtest")
    return backtest.get("mase") if isinstance(backtest, dict) else candidate.get("mase")


def list_history(ctx: Context, model: str) -> JSON:
    """The model's promotion history (alias moves, pins), oldest first, and its pin."""
    if model not in ctx.models:
        raise NotFound(f"unknown model {model!r}")
    return {
        "model": model,
        "production_version": ctx.registry.get_alias(model, PRODUCTION).version,
        "pin": get_pin(ctx, model),
        "history": _history(ctx, model),
    }


def run_report(ctx: Context, run_key: str) -> str:
    return audit.run_report(ctx, _known_run_key(run_key))


def version_report(ctx: Context, model: str, version: int) -> str:
    if model not in ctx.models:
        raise NotFound(f"unknown model {model!r}")
    return audit.version_report(ctx, model, version)


def _check_page(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be a whole number from 0 to {MAX_PAGE}, got {limit!r}")
    return limit


def list_runs(ctx: Context, model: str, *, limit: int = 50) -> list[JSON]:
    """The model's runs, newest first (by the record's ``created_at``): each run record
    with its ``run_key``. At most ``limit`` (0 to ``MAX_PAGE``); a page costs two listings
    of names and one read per run returned (the time index ``index/runs/<model>/``, see
    ``_newest``)."""
    if model not in ctx.models:
        raise NotFound(f"unknown model {model!r}")
    _check_page(limit)
    base = f"runs/{model}-"
    keys = {
        key.removeprefix("runs/").removesuffix(".json"): key
        for key in ctx.state.list_keys(base)
        if _RUN_SUFFIX.fullmatch(key.removeprefix(base).removesuffix(".json"))
    }
    page = _newest(ctx, f"index/runs/{model}/", keys, lambda r: r.get("created_at"), limit)
    return [{**record, "run_key": run_key} for run_key, record in page]


def _dead_letter_id(key: str) -> str:
    """``<source>/<digest>`` of ``deadletter/<source>/<digest>.json``."""
    return key.removeprefix("deadletter/").removesuffix(".json")


def list_dead_letters(ctx: Context, *, limit: int = 50) -> list[JSON]:
    """Inputs that could not be processed, newest first (by ``received_at``), at most
    ``limit``: each with its ``id`` (``<source>/<digest>``, for get/replay) and a preview
    of its payload instead of the payload (``get_dead_letter`` has it all)."""
    _check_page(limit)
    keys = {_dead_letter_id(key): key for key in ctx.state.list_keys("deadletter/")}
    page = _newest(ctx, "index/deadletter/", keys, lambda r: r.get("received_at"), limit)
    return [_dead_letter_summary(item, record) for item, record in page]


def _dead_letter_summary(item: str, record: JSON) -> JSON:
    summary = {k: v for k, v in record.items() if k not in ("payload", "payload_base64")}
    payload = record.get("payload")
    if payload is None and record.get("payload_base64") is not None:
        payload = "(binary, base64) " + str(record["payload_base64"])
    summary["payload_preview"] = None if payload is None else str(payload)[:_PREVIEW]
    summary["replays"] = len(record.get("replays") or [])
    return {"id": item, **summary}


def get_dead_letter(ctx: Context, dead_letter_id: str) -> JSON:
    """One dead letter in full (its payload verbatim), with its ``id``; NotFound if absent."""
    source, _, digest = dead_letter_id.partition("/")
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,128}", source) or not re.fullmatch(
        r"[0-9a-f]{8,64}", digest
    ):
        raise NotFound(f"no dead letter {dead_letter_id[:200]!r}")
    record = ctx.state.get(f"deadletter/{source}/{digest}.json")[0]
    return {"id": dead_letter_id, **record}


def model_of_blob(ctx: Context, blob: str) -> str | None:
    """The configured model whose data prefix holds ``blob`` (the longest prefix wins)."""
    owners = [m for m in ctx.models.values() if blob.startswith(m.prefix)]
    return max(owners, key=lambda m: len(m.prefix)).name if owners else None


def list_quarantine(ctx: Context) -> list[JSON]:
    """Quarantined data files, newest first (by ``at``): each record (``blob``,
    ``etag``, ``reason``, ``at``) with the ``model`` whose prefix holds it (None when no
    configured model does any more). One read per file: quarantine stays small."""
    keys = ctx.state.list_keys("quarantine/")
    records = [r for r in _read_all(ctx, keys) if r is not None]
    listed = [{**r, "model": model_of_blob(ctx, str(r.get("blob", "")))} for r in records]
    return sorted(listed, key=lambda r: _stamp(r.get("at")), reverse=True)
