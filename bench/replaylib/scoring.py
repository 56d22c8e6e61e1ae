"""The benchmark's own scores: MASE, seasonal naive, a stored model re-scored without refit,
and the served forecast of a registered model from its own end of data."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from bench.replaylib.arrivals import Arrival


def mase_scale(history: np.ndarray, season_length: int) -> float:
    """In-sample mean absolute error of the seasonal naive forecast (lag ``season_length``,
    lag 1 without a season) on ``history``."""
    lag = season_length if season_length > 1 else 1
    values = np.asarray(history, dtype=float)
    if values.size <= lag:
        raise ValueError(f"{values.size} points cannot scale a lag-{lag} MASE")
    return float(np.mean(np.abs(values[lag:] - values[:-lag])))


def mase(actual: Sequence[float] | np.ndarray, forecast: np.ndarray, scale: float) -> float:
    actual_values = np.asarray(actual, dtype=float)
    forecast_values = np.asarray(forecast, dtype=float)
    if actual_values.shape != forecast_values.shape:
        raise ValueError(f"{forecast_values.shape} forecasts for {actual_values.shape} actuals")
    if not scale > 0:
        return math.nan
    return float(np.mean(np.abs(actual_values - forecast_values)) / scale)


def seasonal_naive(history: np.ndarray, steps: int, season_length: int) -> np.ndarray:
    """Repeat the last season of ``history`` (the last value without a season)."""
    values = np.asarray(history, dtype=float)
    lag = min(season_length if season_length > 1 else 1, values.size)
    last = values[-lag:]
    return np.resize(last, steps) if steps else np.empty(0)


def rescore(results: Any, train: pd.Series, holdout: pd.Series, scale: float) -> float:
    """MASE on ``holdout`` of a stored model's parameters applied to ``train`` without refit
    (statsmodels ``results.apply(train, refit=False)``), forecasting ``len(holdout)``
    steps from the end of ``train``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        applied = results.apply(train, refit=False)
        forecast = np.asarray(applied.get_forecast(len(holdout)).predicted_mean, dtype=float)
    return mase(holdout.to_numpy(dtype=float), forecast, scale)


def model_end(results: Any) -> pd.Timestamp:
    """The last date the stored model was fitted on (its index must be dated)."""
    index = getattr(results.model, "_index", None)
    if not isinstance(index, pd.DatetimeIndex) or len(index) == 0:
        raise ValueError("the stored model has no dated index; cannot place its forecast")
    return index[-1]


def served_forecast(results: Any, calendar: pd.DatetimeIndex, arrival: Arrival) -> np.ndarray:
    """The forecast of the arrival's points by a stored model as registered: from its own
    end of data (``get_forecast`` over every period after it), the arrival's points kept."""
    end = model_end(results)
    position = calendar.get_loc(end)
    if not isinstance(position, int):
        raise ValueError(f"the model's last date {end} is not one period of the calendar")
    if position >= arrival.start:
        raise ValueError(f"the model saw data up to {end}, past the arrival's first point")
    steps = arrival.end - 1 - position
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mean = np.asarray(results.get_forecast(steps).predicted_mean, dtype=float)
    return mean[-arrival.size :]
