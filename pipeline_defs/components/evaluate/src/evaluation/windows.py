"""The holdout and the rolling-origin backtest folds (the plan and its windows).

The plan and the windows live in the shared package ``scoring`` (see ``metrics``, which
makes it importable); this module re-exports them, with :func:`backtest_plan` raising this
step's ``EvaluateError``.
"""

from __future__ import annotations

from . import metrics as _metrics  # noqa: F401  (first: it makes ``scoring`` importable)

# isort: split
from scoring import backtest as _shared
from scoring.backtest import (
    MAX_FOLDS,
    MIN_TRAIN_POINTS,
    MIN_TRAIN_SEASONS,
    BacktestPlan,
    PlanError,
    Window,
    min_train_length,
    windows,
)

from .errors import EvaluateError


def backtest_plan(
    n: int, *, model_horizon: int, season_length: int, folds: int = 0, horizon: int = 0
) -> BacktestPlan:
    """The folds for a series of ``n`` observations (``scoring.backtest.backtest_plan``).

    ``folds`` / ``horizon`` 0 mean automatic. Raises ``EvaluateError`` for negative values
    or when not even one fold of ``horizon`` fits after 3 observations.
    """
    try:
        return _shared.backtest_plan(
            n,
            model_horizon=model_horizon,
            season_length=season_length,
            folds=folds,
            horizon=horizon,
        )
    except PlanError as exc:
        raise EvaluateError(str(exc)) from exc


__all__ = [
    "MAX_FOLDS",
    "MIN_TRAIN_POINTS",
    "MIN_TRAIN_SEASONS",
    "BacktestPlan",
    "Window",
    "backtest_plan",
    "min_train_length",
    "windows",
]
