"""The metric formulas and backtest windows both evaluation paths share: the single-series
evaluate step and the family fit step's per-series gate evidence.

One copy, in the fit step's code folder (``train/src``); the evaluate component includes it
with ``additional_includes`` in evaluate.yml, so Azure ML (and the local workspace, which
honours the key the same way) copies this folder beside evaluate.py in the evaluate job's
code snapshot. ``evaluation.metrics`` and ``evaluation.windows`` re-export these names.
Standard library, numpy and pandas only.
"""

from __future__ import annotations

from .backtest import (
    MAX_FOLDS,
    MIN_TRAIN_POINTS,
    MIN_TRAIN_SEASONS,
    BacktestPlan,
    PlanError,
    Window,
    backtest_plan,
    min_train_length,
    windows,
)
from .metrics import (
    INTERVAL_ALPHA,
    METRIC_KEYS,
    coverage,
    mase_scale,
    naive_interval,
    point_metrics,
    seasonal_naive,
)

__all__ = [
    "INTERVAL_ALPHA",
    "MAX_FOLDS",
    "METRIC_KEYS",
    "MIN_TRAIN_POINTS",
    "MIN_TRAIN_SEASONS",
    "BacktestPlan",
    "PlanError",
    "Window",
    "backtest_plan",
    "coverage",
    "mase_scale",
    "min_train_length",
    "naive_interval",
    "point_metrics",
    "seasonal_naive",
    "windows",
]
