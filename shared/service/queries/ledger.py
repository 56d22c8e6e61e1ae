"""A model's ledger (its decisions), paged, with the decisions still in the policy head's
journal."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from shared.errors import NotFound
from shared.ports import JSON
from shared.service.context import Context, expand_ledger
from shared.service.policystate import policy_key
from shared.service.queries.common import READERS

# Records read beyond a page's ``limit``: a record moved from the journal is named after its
# first decision and holds later ones, so a newer decision can sit in an older-named record,
# behind the records other paths (schedule, drift, runs) wrote for the model meanwhile.
LEDGER_MARGIN = 16


def list_ledger(ctx: Context, model: str, *, limit: int | None = None) -> list[JSON]:
    """The model's decisions, oldest first (by their time); with ``limit``, only the newest.

    The policy head (the decisions still in its journal), one listing of the names, then one
    read per record of the page and of ``LEDGER_MARGIN`` more (a few at a time), so a page
    costs its own size, whatever the history's. A record holding several decisions
    (``decisions``) is read as each of them (``limit`` counts decisions). A page is exact
    unless a record moved from the journal has more than ``LEDGER_MARGIN`` records from
    other paths named after it and holds a decision newer than the page's oldest.
    """
    if model not in ctx.models:
        raise NotFound(f"unknown model {model!r}")
    head = _policy_head(ctx, model)  # before the listing: an entry leaves the head only
    listed = ctx.state.list_keys(f"ledger/{model}/")  # after its record is in the ledger
    keys = listed
    if limit is not None:  # and a margin: a record from the journal may hold newer ones
        keys = keys[-(limit + LEDGER_MARGIN) :] if limit > 0 else []
    if len(keys) <= 1:
        records = [ctx.state.get(key)[0] for key in keys]
    else:
        with ThreadPoolExecutor(min(READERS, len(keys))) as pool:
            records = list(pool.map(lambda key: ctx.state.get(key)[0], keys))
    if limit is None or limit > 0:
        records += _journaled(ctx, head, listed, dict(zip(keys, records, strict=True)))
    # by decision time: a record moved from the journal sits under its first decision's key
    # and holds later ones too (stable: decisions of one time keep their order)
    entries = sorted(expand_ledger(records), key=lambda e: str(e.get("at") or ""))
    return entries[-limit:] if limit is not None and limit > 0 else entries


def _policy_head(ctx: Context, model: str) -> JSON | None:
    try:
        return ctx.state.get(policy_key(model))[0]
    except NotFound:
        return None


def _journaled(
    ctx: Context, head: JSON | None, listed: list[str], read: Mapping[str, JSON]
) -> list[JSON]:
    """The records of the model's ledger journal not yet moved into the ledger (decisions
    the arrival path wrote with the policy state, ``shared/service/decisions.py``), so a
    reader sees every decision at once. A journal entry is in the ledger when its key is
    listed or a listed record made from the journal names it (a flush writes one record
    under its first entry's key); reading the head and those records costs the journal's
    size, not the ledger's."""
    if head is None:
        return []
    journal = [j for j in head.get("journal") or () if isinstance(j, Mapping) and "key" in j]
    if not journal:
        return []
    keys = {str(j["key"]) for j in journal}
    done: set[str] = set()
    for key in listed:
        if key in keys:
            record = read[key] if key in read else ctx.state.get(key)[0]
            done |= {str(k) for k in record.get("journal") or ()} | {key}
    return [dict(j["record"]) for j in journal if str(j["key"]) not in done]
