"""A family at a glance (read-only): what serves its series, and how its newest finalised
run went, per series. The dashboard draws it and ``retrainctl family <model> show``
prints it.

Reads three documents whatever the family's age: the pointer document
(``shared.service.family``), the newest finalised family run's record (from the runs the
caller already read, else one page of ``list_runs``) and that run's
``gate/verdicts.json``. The series table lists the run's series that need a look first
(failed, without a result, refused, passed but registered only, excluded by prep, then
promoted), each group by error, highest first; at most ``limit`` rows, with the totals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shared.errors import NotFound
from shared.ports import JSON
from shared.service.context import Context
from shared.service.family import read_production
from shared.service.family_ops import check_family, run_series

SERIES_SHOWN = 100
RUNS_READ = 20
# The order of the series table: what needs a look first.
LOOK_ORDER = ("failed", "missing", "refused", "registered", "excluded", "promoted")


def last_family_run(runs: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The newest run (``runs`` newest first) with a family summary (finalised)."""
    return next((r for r in runs if isinstance(r.get("family"), Mapping)), None)


def family_overview(
    ctx: Context,
    model: str,
    *,
    runs: Sequence[Mapping[str, Any]] | None = None,
    limit: int = SERIES_SHOWN,
) -> JSON:
    """The family's production (series count, versions serving, pin, last completed run)
    and its newest finalised run: the summary's counts, worst series and failed series
    with reasons, and a table of the run's series (verdict, reason, error, the version
    serving it now). ``runs``: the model's runs newest first, when the caller has them."""
    check_family(ctx, model)
    if runs is None:
        from shared.service.queries import list_runs

        runs = list_runs(ctx, model, limit=RUNS_READ)
    document, _ = read_production(ctx, model)
    pointers = document.get("series") or {}
    serving: dict[int, int] = {}
    for pointer in pointers.values():
        if isinstance(pointer, Mapping) and isinstance(pointer.get("version"), int):
            serving[pointer["version"]] = serving.get(pointer["version"], 0) + 1
    view: JSON = {
        "model": model,
        "series_in_production": len(pointers),
        "pinned": document.get("pinned"),
        "last_completed": document.get("last_completed"),
        "versions_serving": {str(v): n for v, n in sorted(serving.items(), reverse=True)},
        "run": None,
        "worst": [],
        "failed": [],
        "series": [],
        "series_total": 0,
        "series_shown": 0,
    }
    run = last_family_run(runs)
    if run is None:
        return view
    summary: Mapping[str, Any] = run["family"]
    key = str(run.get("run_key"))
    view["run"] = {
        "run_key": key,
        "status": run.get("status"),
        "created_at": run.get("created_at"),
        "version": summary.get("version"),
        "outcome": run.get("promotion") or run.get("error"),
        "counts": {
            name: summary.get(name)
            for name in (
                "series_total",
                "trained",
                "reused",
                "passed",
                "promoted",
                "refused",
                "refreshed",
                "registered_only",
                "failed",
                "excluded",
                "missing",
            )
        },
    }
    view["worst"] = [
        dict(entry) | {"production_version": _version(pointers.get(entry.get("unique_id")))}
        for entry in summary.get("worst") or []
        if isinstance(entry, Mapping)
    ]
    view["failed"] = [dict(e) for e in summary.get("failed_series") or [] if isinstance(e, Mapping)]
    view["failed_count"] = summary.get("failed")
    try:
        verdicts = run_series(ctx, key)["series"]
    except NotFound:  # a run that trained nothing keeps its summary only
        verdicts = {}
    rows = [_row(uid, entry, pointers.get(uid)) for uid, entry in verdicts.items()]
    rows.sort(key=_look_first)
    view["series"] = rows[:limit]
    view["series_total"] = len(rows)
    view["series_shown"] = len(view["series"])
    return view


def _version(pointer: Any) -> int | None:
    return pointer.get("version") if isinstance(pointer, Mapping) else None


def _row(unique_id: str, entry: Mapping[str, Any], pointer: Any) -> JSON:
    found = entry.get("error")
    error: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    return {
        "unique_id": unique_id,
        "action": entry.get("action"),
        "reason": entry.get("reason"),
        "mase": error.get("mase"),
        "window": error.get("window"),
        "reused": bool(entry.get("reused")),
        "production_version": _version(pointer),
        "production_key": pointer.get("key") if isinstance(pointer, Mapping) else None,
        "pinned": bool(isinstance(pointer, Mapping) and pointer.get("pinned")),
    }


def _look_first(row: Mapping[str, Any]) -> tuple[int, float, str]:
    action = str(row.get("action"))
    rank = LOOK_ORDER.index(action) if action in LOOK_ORDER else len(LOOK_ORDER)
    mase = row.get("mase")
    error = -float(mase) if isinstance(mase, int | float) else 0.0
    return rank, error, str(row.get("unique_id"))
