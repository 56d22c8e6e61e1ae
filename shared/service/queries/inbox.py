"""What the service could not take: dead letters (inputs it could not process) and
quarantined data files."""

from __future__ import annotations

import re

from shared.errors import InvalidInput, NotFound
from shared.ports import JSON
from shared.service.context import Context
from shared.service.queries.common import check_page, newest, read_all, stamp

# Dead letters listed keep this much of their payload (the full one: get_dead_letter).
_PREVIEW = 200


def _dead_letter_id(key: str) -> str:
    """``<source>/<digest>`` of ``deadletter/<source>/<digest>.json``."""
    return key.removeprefix("deadletter/").removesuffix(".json")


def list_dead_letters(ctx: Context, *, limit: int = 50) -> list[JSON]:
    """Inputs that could not be processed, newest first (by ``received_at``), at most
    ``limit``: each with its ``id`` (``<source>/<digest>``, for get/replay) and a preview
    of its payload instead of the payload (``get_dead_letter`` has it all)."""
    check_page(limit)
    keys = {_dead_letter_id(key): key for key in ctx.state.list_keys("deadletter/")}
    page = newest(ctx, "index/deadletter/", keys, lambda r: r.get("received_at"), limit)
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


def get_quarantined(ctx: Context, blob: str) -> JSON:
    """One quarantined file's record with its model; NotFound when it is not quarantined."""
    try:
        record = ctx.state.get(f"quarantine/{blob}.json")[0]
    except (NotFound, InvalidInput, ValueError):
        raise NotFound(f"{blob[:200]!r} is not quarantined") from None
    return {**record, "model": model_of_blob(ctx, str(record.get("blob", "")))}


def list_quarantine(ctx: Context) -> list[JSON]:
    """Quarantined data files, newest first (by ``at``): each record (``blob``,
    ``etag``, ``reason``, ``at``) with the ``model`` whose prefix holds it (None when no
    configured model does any more). One read per file: quarantine stays small."""
    keys = ctx.state.list_keys("quarantine/")
    records = [r for r in read_all(ctx, keys) if r is not None]
    listed = [{**r, "model": model_of_blob(ctx, str(r.get("blob", "")))} for r in records]
    return sorted(listed, key=lambda r: stamp(r.get("at")), reverse=True)
