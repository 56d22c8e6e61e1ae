"""Counts and mean served MASE per series and in total; the issue's two targets."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from bench.replaylib.records import ArrivalRecord


def _mean(values: Iterable[float | None]) -> float | None:
    kept = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(kept)) if kept else None


# How the model serving an arrival got into production (ArrivalRecord.served_by).
SERVED_BY = ("promoted", "refreshed", "older")


def summarise(records: Sequence[ArrivalRecord]) -> dict[str, Any]:
    """Counts and mean served MASE over ``records`` (one series, or all of them)."""
    scored = [r for r in records if r.scored]
    with_model = [r for r in scored if r.served_mase is not None]
    worse = [r for r in records if r.worse_promotion]
    return {
        "arrivals": len(records),
        "runs": sum(r.ran for r in records),
        "completed": sum(r.completed for r in records),
        "failed": sum(r.ran and not r.completed for r in records),
        "promotions": sum(r.promoted for r in records),
        "promotions_replacing_champion": sum(r.replaced_champion for r in records),
        "refusals": sum(r.refused for r in records),
        "without_production": sum(r.production_after is None for r in records),
        "worse_promotions": len(worse),
        "worse_promotions_by_5pct": sum(
            (r.candidate_holdout_mase or 0.0) > 1.05 * (r.champion_holdout_mase or 0.0)
            for r in worse
        ),
        "worse_promotions_detail": [
            {
                "series": r.series,
                "arrival": r.arrival,
                "run_key": r.run_key,
                "candidate": r.candidate_holdout_mase,
                "champion": r.champion_holdout_mase,
            }
            for r in worse
        ],
        "rescored_replacements": sum(r.replaced_champion and r.rescored for r in records),
        "refused_better": sum(r.refused_better for r in records),
        "scored_arrivals": len(scored),
        "served_arrivals_with_model": len(with_model),
        "served_by_model_age": {
            label: {
                "arrivals": len(group),
                "served": _mean(r.served_mase for r in group),
                "autoarima": _mean(r.autoarima_mase for r in group),
                "naive": _mean(r.naive_mase for r in group),
            }
            for label, group in (
                ("current", [r for r in with_model if r.served_behind == 0]),
                ("older", [r for r in with_model if (r.served_behind or 0) > 0]),
            )
        },
        "served_by": {
            how: {
                "arrivals": len(group),
                "served": _mean(r.served_mase for r in group),
                "autoarima": _mean(r.autoarima_mase for r in group),
                "naive": _mean(r.naive_mase for r in group),
            }
            for how in SERVED_BY
            for group in ([r for r in with_model if r.served_by == how],)
        },
        "mean_mase": {
            "served": _mean(r.served_with_fallback for r in scored),
            "autoarima": _mean(r.autoarima_mase for r in scored),
            "naive": _mean(r.naive_mase for r in scored),
            "served_model_only": _mean(r.served_mase for r in with_model),
            "autoarima_same_arrivals": _mean(r.autoarima_mase for r in with_model),
            "naive_same_arrivals": _mean(r.naive_mase for r in with_model),
        },
    }


def targets(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The issue's two targets with PASS/FAIL (FAIL when nothing could be measured)."""
    served = summary["mean_mase"]["served"]
    auto = summary["mean_mase"]["autoarima"]
    rescored = summary["rescored_replacements"]
    replaced = summary["promotions_replacing_champion"]
    return {
        "no_worse_promotions": {
            "text": "0 promotions worse than the replaced champion on the run's holdout",
            "value": summary["worse_promotions"],
            "passed": summary["worse_promotions"] == 0 and rescored == replaced,
        },
        "served_vs_autoarima": {
            "text": "served mean MASE <= AutoARIMA refitted at every arrival",
            "value": [served, auto],
            "passed": served is not None and auto is not None and served <= auto,
        },
    }
