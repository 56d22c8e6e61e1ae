"""A family's production, per series and per family: what serves each series, its
history, rollback and pins (operator actions), and the queries behind the API.

Operator actions are synchronous (HTTP API, ``retrainctl``), like ``shared.service.operator``:
what cannot be done raises ``InvalidInput``, ``NotFound`` or ``ConflictError`` (the pointer
moved from what the operator saw), and nothing is recorded. Each action is one
compare-and-swap of the family's pointer document (``shared.service.family``), one history
entry (``history/<model>/``, with the series it moved under ``series``; and each series'
own, ``shared.service.family_history``) and one ledger entry (kind ``operator``).

- Rollback of a series: to its pointer's ``previous`` (what it served before the last
  move), or to a given family version in which the series was trained.
- Rollback of a family run (undo its promotions): every series the gate moved to that
  run's version and that still points there goes back to what it served before (a series
  that had nothing before is left without a production model, said in the answer);
  series moved since, or put on that run by an operator, are left alone.
- Pins: a pinned series, or a pinned family, is not moved by the gate (operator
  rollbacks still may, and keep the pin).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from shared.errors import ConflictError, InvalidInput, NotFound, UnknownModel
from shared.ports import JSON
from shared.service.context import Context
from shared.service.family import change_production, pointer_brief, read_production, run_root
from shared.service.family_finalise import SERIES_ACTIONS, VERDICTS_FILE
from shared.service.family_history import (
    DEFAULT_PAGE,
    Chain,
    record_family_entry,
    series_page,
)
from shared.service.outcome import Outcome
from shared.service.promotion import GATE_ACTOR
from shared.service.queries.common import known_run_key

log = logging.getLogger(__name__)

MAX_SERIES_PAGE = 1000


def check_family(ctx: Context, model: str) -> None:
    """``UnknownModel`` for an unknown model, ``InvalidInput`` for one that is a single
    series."""
    config = ctx.models.get(model)
    if config is None:
        raise UnknownModel(f"unknown model {model!r}; configured models: {', '.join(ctx.models)}")
    if not config.series_columns:
        raise InvalidInput(f"{model} is one series, not a family (it has no series_columns)")


def _v(pointer: Any) -> str:
    return f"v{pointer.get('version')}" if isinstance(pointer, Mapping) else "none"


# ------------------------------------------------------------------------------ queries


def family_production(
    ctx: Context, model: str, *, after: str | None = None, limit: int = 100
) -> JSON:
    """The family's production pointers, a page of series in id order (those after
    ``after``), with the family's pin and last completed run."""
    check_family(ctx, model)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit <= MAX_SERIES_PAGE:
        raise InvalidInput(f"limit must be a whole number from 1 to {MAX_SERIES_PAGE}")
    document, _ = read_production(ctx, model)
    series = document.get("series") or {}
    ids = sorted(uid for uid in series if after is None or uid > after)
    page = ids[:limit]
    versions: dict[int, int] = {}
    for pointer in series.values():
        if isinstance(pointer, Mapping) and isinstance(pointer.get("version"), int):
            versions[pointer["version"]] = versions.get(pointer["version"], 0) + 1
    return {
        "model": model,
        "series_count": len(series),
        "pinned": document.get("pinned"),
        "last_completed": document.get("last_completed"),
        "versions_serving": {str(v): n for v, n in sorted(versions.items())},
        "series": [{"unique_id": uid, **series[uid]} for uid in page],
        "next_after": page[-1] if len(ids) > limit else None,
    }


def get_series(
    ctx: Context,
    model: str,
    unique_id: str,
    *,
    limit: int = DEFAULT_PAGE,
    before: str | None = None,
) -> JSON:
    """One series: its production pointer (``NotFound`` when it has none and no history)
    and a page of its history (the newest ``limit`` moves, rollbacks and pins, oldest
    first; ``history_before`` is the cursor for the page before, None at the start;
    ``history_older`` says where moves older than the series' own history are, when it
    does not start with the series' first model, else None). Reads
    the pointer document and follows the series' own history chain, one read per entry
    shown: nothing else of the family's history."""
    check_family(ctx, model)
    document, _ = read_production(ctx, model)
    pointer = (document.get("series") or {}).get(unique_id)
    history, earlier = series_page(ctx, model, unique_id, document, limit=limit, before=before)
    if pointer is None and not history and before is None:
        raise NotFound(f"family {model} has no series {unique_id!r} in production")
    return {
        "model": model,
        "unique_id": unique_id,
        "production": pointer,
        "family_pinned": document.get("pinned"),
        "history": history,
        "history_before": earlier,
        "history_older": _older(model, pointer, history) if earlier is None else None,
    }


def _older(model: str, pointer: Any, history: list[JSON]) -> str | None:
    """Where the series' moves older than its chain are, when the chain (which starts
    with the first move made after per-series history existed) does not begin with the
    series' first model: a pointer with no entry, or a first entry moving or pinning a
    model the series already had."""
    if history:
        change = history[0].get("series_change") or {}
        had_model = change.get("from") is not None or change.get("at") is not None
    else:
        had_model = pointer is not None
    if not had_model:
        return None
    first = f"before {history[0].get('at')} " if history else ""
    return (
        f"moves of this series {first}were made before each series had its own history: "
        f"only the model's history has them (GET /api/models/{model}/history, "
        f"retrainctl history {model})"
    )


# What a family run did with a series (``family-verdicts/1``'s ``action``).


def run_series(
    ctx: Context,
    run_key: str,
    *,
    action: str | None = None,
    after: str | None = None,
    limit: int | None = None,
) -> JSON:
    """The per-series verdicts of a family run (its ``gate/verdicts.json``), optionally
    only the series with ``action`` (promoted, registered, refused, failed, excluded,
    missing); a page of ``limit`` series in id order after ``after`` (``next_after``
    continues it; None: all of them, for the service's own readers)."""
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit <= MAX_SERIES_PAGE
    ):
        raise InvalidInput(f"limit must be a whole number from 1 to {MAX_SERIES_PAGE}")
    if action is not None and action not in SERIES_ACTIONS:
        raise InvalidInput(
            f"no series verdict {action[:40]!r}; action is one of {', '.join(SERIES_ACTIONS)}"
        )
    known_run_key(run_key)
    try:
        verdicts = ctx.artifacts.read_json(run_root(run_key) + VERDICTS_FILE)
    except NotFound:
        raise NotFound(
            f"run {run_key} has no per-series verdicts (not a finalised family run)"
        ) from None
    series = verdicts.get("series") or {}
    matching = sorted(
        uid for uid, v in series.items() if action is None or v.get("action") == action
    )
    ids = [uid for uid in matching if after is None or uid > after]
    page = ids if limit is None else ids[:limit]
    return {
        "run_key": run_key,
        "version": verdicts.get("version"),
        "series_count": len(matching),
        "series": {uid: series[uid] for uid in page},
        "next_after": page[-1] if len(ids) > len(page) else None,
    }


# ------------------------------------------------------------------------------ operators


def _entry(
    action: str, by: str, reason: str, *, to_version: Any = None, run_key: str | None = None
) -> JSON:
    """An operator action's history entry (the family's and each series')."""
    return {
        "action": action,
        "by": by,
        "reason": reason,
        "from_version": None,
        "to_version": to_version,
        "run_key": run_key,
        "family": True,
    }


def _act(
    ctx: Context,
    model: str,
    change: Callable[[JSON, dict[str, Any]], None],
    describe: Callable[[Mapping[str, Any], JSON], JSON],
) -> tuple[JSON, dict[str, Any], JSON]:
    """Carry out an operator action: ``change(document, moved)`` edits the pointer
    document and notes each series it changes in ``moved``; ``describe(moved, document)``
    says what happened (the history entry). One compare-and-swap, each series' history
    written before it (``shared.service.family_history``); returns the document written,
    ``moved`` and the entry."""
    now = ctx.clock.now().isoformat()
    done: dict[str, Any] = {}

    def apply(document: JSON) -> bool:
        moved: dict[str, Any] = {}
        change(document, moved)
        chain = Chain(model, now)
        for uid, what in moved.items():
            chain.add(document, uid, what)
        done.update(moved=moved, chain=chain)
        return True

    def before_write(document: JSON) -> None:
        done["entry"] = describe(done["moved"], document)
        done["chain"].write(ctx, done["entry"])

    document, _ = change_production(ctx, model, apply, before_write=before_write)
    done["chain"].settle(ctx)  # the swap named this chain: its pending marker goes
    return document, done["moved"], done["entry"]


def _record(
    ctx: Context, model: str, entry: Mapping[str, Any], *, by: str, series: Mapping[str, Any]
) -> Outcome:
    """The family's history entry and the ledger's for an operator action."""
    action, reason, run_key = str(entry["action"]), str(entry["reason"]), entry.get("run_key")
    record_family_entry(
        ctx,
        model,
        at=ctx.clock.now().isoformat(),
        tag=f"{action}:{by}:{run_key}",
        entry=entry,
        series=series,
    )
    outcome = Outcome(model, action, reason, run_key=run_key, details={"series": len(series)})
    ctx.ledger(model, "operator", outcome, series=dict(series), requested_by=by)
    log.info("%s: %s: %s", model, action.upper(), reason)
    return outcome


def _trained_in(ctx: Context, model: str, version: int, unique_id: str) -> JSON:
    """The pointer for ``unique_id`` as trained by family version ``version``."""
    found = ctx.registry.get_version(model, version)  # NotFound: 404
    key = found.tags.get("run_key") or found.lineage.get("run_key")
    if not found.lineage.get("family") or not key:
        raise InvalidInput(f"{model} v{version} is not a family version")
    entry = (run_series(ctx, str(key))["series"]).get(unique_id)
    if not isinstance(entry, Mapping) or entry.get("status") != "ok" or not entry.get("model_file"):
        raise InvalidInput(f"series {unique_id!r} was not trained in {model} v{version}")
    return {
        "version": version,
        "run_key": str(key),
        "model_file": entry.get("model_file"),
        "data_end": entry.get("data_end"),
    }


def rollback_series(
    ctx: Context,
    model: str,
    unique_id: str,
    *,
    by: str,
    reason: str,
    to_version: int | None = None,
    expected_version: int | None = None,
) -> Outcome:
    """Point ``unique_id`` back at its previous model, or at family version ``to_version``
    (compare-and-swap; ``expected_version``: what the operator saw)."""
    check_family(ctx, model)
    if not reason.strip():
        raise InvalidInput("a rollback needs a reason")
    target = _trained_in(ctx, model, to_version, unique_id) if to_version is not None else None
    now = ctx.clock.now().isoformat()

    def change(document: JSON, moved: dict[str, Any]) -> None:
        series = document.setdefault("series", {})
        pointer = series.get(unique_id)
        if not isinstance(pointer, Mapping):
            raise NotFound(f"series {unique_id!r} of {model} has no production model")
        if expected_version is not None and pointer.get("version") != expected_version:
            raise ConflictError(
                f"series {unique_id!r} is at {_v(pointer)}, not v{expected_version} as expected"
            )
        goal = target or pointer.get("previous")
        if not isinstance(goal, Mapping):
            raise InvalidInput(f"series {unique_id!r} has no earlier model to roll back to")
        if goal.get("version") == pointer.get("version"):
            raise InvalidInput(f"series {unique_id!r} is at {_v(pointer)} already")
        series[unique_id] = dict(goal) | {
            "since": now,
            "by": by,
            "pinned": pointer.get("pinned"),
            "previous": pointer_brief(pointer),
        }
        moved[unique_id] = {"from": pointer_brief(pointer), "to": dict(goal)}

    def describe(moved: Mapping[str, Any], document: JSON) -> JSON:
        what = moved[unique_id]
        words = f"series {unique_id}: {_v(what['from'])} -> {_v(what['to'])}, by {by}: {reason}"
        return _entry("rollback", by, words, to_version=what["to"]["version"])

    _, moved, entry = _act(ctx, model, change, describe)
    return _record(ctx, model, entry, by=by, series=moved)


def rollback_family(ctx: Context, model: str, run_key: str, *, by: str, reason: str) -> Outcome:
    """Undo family run ``run_key``'s promotions: every series the gate moved to its
    version and still pointing there goes back to what it served before."""
    check_family(ctx, model)
    if not reason.strip():
        raise InvalidInput("a rollback needs a reason")
    now = ctx.clock.now().isoformat()

    def change(document: JSON, moved: dict[str, Any]) -> None:
        series = document.setdefault("series", {})
        for uid in sorted(series):
            pointer = series[uid]
            if (
                not isinstance(pointer, Mapping)
                or pointer.get("run_key") != run_key
                or pointer.get("by") != GATE_ACTOR  # an operator put it there: theirs
            ):
                continue
            goal = pointer.get("previous")
            if isinstance(goal, Mapping):
                series[uid] = dict(goal) | {
                    "since": now,
                    "by": by,
                    "pinned": pointer.get("pinned"),
                    "previous": pointer_brief(pointer),
                }
            else:
                del series[uid]
            moved[uid] = {"from": pointer_brief(pointer), "to": pointer_brief(goal)}
        if not moved:
            raise InvalidInput(
                f"no series of {model} is served by run {run_key} as its promotion left it"
            )

    def describe(moved: Mapping[str, Any], document: JSON) -> JSON:
        unset = sorted(uid for uid, m in moved.items() if m["to"] is None)
        words = f"run {run_key} rolled back for {len(moved)} series by {by}: {reason}"
        if unset:
            words += (
                f"; {len(unset)} had no earlier model and now have none ({', '.join(unset[:5])})"
            )
        return _entry("rollback", by, words, run_key=run_key)

    _, moved, entry = _act(ctx, model, change, describe)
    return _record(ctx, model, entry, by=by, series=moved)


def set_series_pin(
    ctx: Context, model: str, unique_id: str, *, pinned: bool, by: str, reason: str
) -> Outcome:
    """Pin (or unpin) one series where it is: the gate then leaves its pointer alone."""
    check_family(ctx, model)
    if not reason.strip():
        raise InvalidInput("a pin needs a reason")
    pin = {"by": by, "reason": reason, "at": ctx.clock.now().isoformat()} if pinned else None
    action = "pinned" if pinned else "unpinned"

    def change(document: JSON, moved: dict[str, Any]) -> None:
        pointer = (document.get("series") or {}).get(unique_id)
        if not isinstance(pointer, dict):
            raise NotFound(f"series {unique_id!r} of {model} has no production model")
        if bool(pointer.get("pinned")) == pinned:
            raise InvalidInput(f"series {unique_id!r} is {'already' if pinned else 'not'} pinned")
        pointer["pinned"] = pin
        moved[unique_id] = {"pinned": pin, "at": pointer_brief(pointer)}

    def describe(moved: Mapping[str, Any], document: JSON) -> JSON:
        pointer = document["series"][unique_id]
        words = f"series {unique_id} {action} at {_v(pointer)} by {by}: {reason}"
        return _entry(action, by, words, to_version=pointer.get("version"))

    _, moved, entry = _act(ctx, model, change, describe)
    return _record(ctx, model, entry, by=by, series=moved)


def set_family_pin(ctx: Context, model: str, *, pinned: bool, by: str, reason: str) -> Outcome:
    """Pin (or unpin) the whole family: no series moves by the gate while pinned."""
    check_family(ctx, model)
    if not reason.strip():
        raise InvalidInput("a pin needs a reason")
    pin = {"by": by, "reason": reason, "at": ctx.clock.now().isoformat()} if pinned else None

    def change(document: JSON) -> bool:
        if bool(document.get("pinned")) == pinned:
            raise InvalidInput(f"family {model} is {'already' if pinned else 'not'} pinned")
        document["pinned"] = pin
        return True

    change_production(ctx, model, change)
    action = "pinned" if pinned else "unpinned"
    entry = _entry(action, by, f"family {action} by {by}: {reason}")
    return _record(ctx, model, entry, by=by, series={})
