"""The holdout and the rolling-origin backtest folds (the plan and its windows).

Fold ``i`` is forecast from the first ``origins[i]`` observations; folds are consecutive,
do not overlap, and the last ends at the last observation. Each fold's MASE is scaled by
the seasonal-naive MAE of its own training window (the data up to its origin).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .metrics import mase_scale

MAX_FOLDS = 6
MIN_TRAIN_SEASONS = 3
MIN_TRAIN_POINTS = 10


class PlanError(ValueError):
    """No backtest can be planned (negative settings, or not one fold fits)."""


@dataclass(frozen=True)
class BacktestPlan:
    """Rolling origins: fold ``i`` sees the first ``origins[i]`` observations and forecasts
    the next ``horizon``."""

    horizon: int
    origins: tuple[int, ...]
    note: str | None = None

    @property
    def folds(self) -> int:
        return len(self.origins)


def min_train_length(season_length: int) -> int:
    """Fewest observations a backtest fold is forecast from: three seasons, or 10."""
    return max(MIN_TRAIN_SEASONS * season_length, MIN_TRAIN_POINTS)


def backtest_plan(
    n: int, *, model_horizon: int, season_length: int, folds: int = 0, horizon: int = 0
) -> BacktestPlan:
    """The folds for a series of ``n`` observations.

    ``folds`` / ``horizon`` 0 mean automatic (as many folds as fit after
    :func:`min_train_length` observations, at most :data:`MAX_FOLDS`; the model horizon).
    A request for more folds than fit is reduced (``note`` says so). Raises ``PlanError``
    for negative values or when not even one fold of ``horizon`` fits after 3 observations.
    """
    if folds < 0 or horizon < 0:
        raise PlanError(f"backtest folds ({folds}) and horizon ({horizon}) must be >= 0")
    step = horizon or model_horizon
    if step < 1:
        raise PlanError(f"the backtest horizon must be >= 1, got {step}")
    fit = (n - min_train_length(season_length)) // step
    if fit < 1:
        if n - step < 3:
            raise PlanError(f"a backtest fold of {step} steps does not fit in {n} observations")
        fit = 1
    count = min(folds or MAX_FOLDS, fit)
    note = None
    if folds and folds > fit:
        note = (
            f"{folds} backtest folds requested, {fit} fit in {n} observations with a "
            f"minimum training length of {min_train_length(season_length)}"
        )
    origins = tuple(n - step * (count - i) for i in range(count))
    return BacktestPlan(horizon=step, origins=origins, note=note)


@dataclass(frozen=True)
class Window:
    """Forecast ``actual`` from ``history`` (the data up to the origin)."""

    history: pd.Series
    actual: pd.Series
    scale: float

    @property
    def origin(self) -> str:
        return self.history.index[-1].isoformat()


def windows(series: pd.Series, plan: BacktestPlan, season_length: int) -> list[Window]:
    """The backtest folds of ``series``; each scaled by its own training window."""
    out = []
    for origin in plan.origins:
        history = series.iloc[:origin]
        actual = series.iloc[origin : origin + plan.horizon]
        scale = mase_scale(history.to_numpy(dtype=float), season_length)
        out.append(Window(history, actual, scale))
    return out
