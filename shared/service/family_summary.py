"""A family run's outcome in words and documents: the run record's summary (counts, the
series that need a look, the worst by error), its one-sentence description, every series'
verdict in brief for the ledger, and ``gate/verdicts.json`` (each series' verdict in full).
Pure: the finalisation (``shared.service.family_finalise``) writes what these return."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from shared.ports import JSON, ModelVersion

if TYPE_CHECKING:
    from shared.service.family_finalise import SeriesResult

VERDICTS_SCHEMA = "family-verdicts/1"
# How many series the run record and the ledger name per list (counts are always whole).
LIST_LIMIT = 50
WORST_COUNT = 5


def _mase(result: SeriesResult) -> tuple[float, str] | None:
    """The series' error for ranking: the candidate's backtest MASE from ``gate_metrics``,
    else the fit step's holdout MASE."""
    gate = result.row.get("gate_metrics")
    candidate = gate.get("candidate") if isinstance(gate, Mapping) else None
    backtest = candidate.get("backtest") if isinstance(candidate, Mapping) else None
    value = backtest.get("mase") if isinstance(backtest, Mapping) else None
    where = "backtest"
    if not isinstance(value, (int, float)):
        metrics = result.row.get("metrics")
        holdout = metrics.get("holdout") if isinstance(metrics, Mapping) else None
        value = holdout.get("mase") if isinstance(holdout, Mapping) else None
        where = "holdout"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value), where


def summarise(results: Mapping[str, SeriesResult], *, version: int | None, unreadable: int) -> JSON:
    """The run record's family summary: counts, and the series behind the ones that need
    a look (at most ``LIST_LIMIT`` each)."""

    def named(action: str) -> list[JSON]:
        found = sorted((r for r in results.values() if r.action == action), key=_order)
        return [{"unique_id": r.unique_id, "reason": r.why} for r in found[:LIST_LIMIT]]

    def count(action: str) -> int:
        return sum(1 for r in results.values() if r.action == action)

    ok = [r for r in results.values() if r.status == "ok"]
    scored = sorted(((m, r) for r in ok if (m := _mase(r)) is not None), key=lambda p: -p[0][0])
    return {
        "version": version,
        "series_total": len(results),
        "trained": len(ok),
        "reused": sum(1 for r in ok if r.row.get("reused")),
        "passed": sum(1 for r in ok if r.verdict is not None and r.verdict.passed),
        "promoted": count("promoted"),
        "registered_only": count("registered"),
        "refused": count("refused"),
        "refreshed": sum(1 for r in results.values() if r.refreshed),
        "failed": count("failed"),
        "excluded": count("excluded"),
        "missing": count("missing"),
        "unreadable_rows": unreadable,
        "failed_series": named("failed"),
        "excluded_series": named("excluded"),
        "missing_series": named("missing"),
        "refused_series": named("refused"),
        "registered_only_series": named("registered"),
        "promoted_series": named("promoted"),
        "worst": [
            {
                "unique_id": r.unique_id,
                "mase": round(m[0], 4),
                "window": m[1],
                "action": r.action,
            }
            for m, r in scored[:WORST_COUNT]
        ],
    }


def _order(result: SeriesResult) -> str:
    return result.unique_id


def describe(summary: Mapping[str, Any]) -> str:
    """The run's outcome in one sentence."""
    parts = [
        f"{summary['trained']} of {summary['series_total']} series trained"
        + (f" ({summary['reused']} carried over)" if summary.get("reused") else ""),
        f"{summary['promoted']} promoted",
        f"{summary['refused']} refused by the gate"
        + (f" ({summary['refreshed']} refreshed)" if summary.get("refreshed") else ""),
    ]
    for name, words in (
        ("registered_only", "passed but registered only"),
        ("failed", "failed"),
        ("excluded", "excluded by prep"),
        ("missing", "without a result"),
    ):
        if summary.get(name):
            parts.append(f"{summary[name]} {words}")
    worst = summary.get("worst") or []
    if worst:
        parts.append(
            f"worst {worst[0]['unique_id']} ({worst[0]['window']} MASE {worst[0]['mase']})"
        )
    return "; ".join(parts)


def brief(results: Mapping[str, SeriesResult]) -> JSON:
    """Every series' verdict in brief, for the run's one ledger entry."""
    brief: JSON = {}
    for uid in sorted(results):
        r = results[uid]
        brief[uid] = {"action": r.action, "reason": r.why}
        if r.verdict is not None and r.verdict.window:
            brief[uid]["window"] = r.verdict.window
    return brief


def verdicts_document(key: str, version: ModelVersion, results: Mapping[str, SeriesResult]) -> JSON:
    return {
        "schema": VERDICTS_SCHEMA,
        "run_key": key,
        "version": version.version,
        "series": {
            uid: {
                "status": r.status,
                "action": r.action,
                "reason": r.why,
                "gate": r.verdict.as_record() if r.verdict is not None else None,
                "champion": dict(r.champion) if r.champion else None,
                "data_end": r.data_end,
                "model_file": r.row.get("model_file"),
                "reused": bool(r.row.get("reused")),
                "error": _error(r),
            }
            for uid, r in sorted(results.items())
        },
    }


def _error(result: SeriesResult) -> JSON | None:
    """The series' error as ``worst`` ranks it (``{"mase", "window"}``), or None."""
    found = _mase(result)
    return {"mase": round(found[0], 4), "window": found[1]} if found is not None else None
