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
from bench.replaylib.transform import forward, mean_forecast


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


def rescore(
    results: Any, train: pd.Series, holdout: pd.Series, scale: float, transform: Any = None
) -> float:
    """MASE on ``holdout`` of a stored model's parameters applied to ``train`` without refit
    (statsmodels ``results.apply(train, refit=False)``), forecasting ``len(holdout)``
    steps from the end of ``train``. ``transform`` (the model folder's model.json record,
    read with ``BoxCox.from_record``): applied to the transformed ``train``, the forecast
    back-transformed (bias-adjusted mean), so the MASE is in the series' units."""
    endog = pd.Series(forward(train.to_numpy(dtype=float), transform), index=train.index)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        applied = results.apply(endog, refit=False)
        forecast = mean_forecast(applied, len(holdout), transform)
    return mase(holdout.to_numpy(dtype=float), forecast, scale)


def model_end(results: Any) -> pd.Timestamp:
    """The last date the stored model was fitted on (its index must be dated)."""
    index = getattr(results.model, "_index", None)
    if not isinstance(index, pd.DatetimeIndex) or len(index) == 0:
        raise ValueError("the stored model has no dated index; cannot place its forecast")
    return index[-1]


def served_forecast(
    results: Any, calendar: pd.DatetimeIndex, arrival: Arrival, transform: Any = None
) -> np.ndarray:
    """The forecast of the arrival's points by a stored model as registered: from its own
    end of data (``get_forecast`` over every period after it), the arrival's points kept;
    back-transformed (bias-adjusted mean) when its model.json records a ``transform``."""
    end = model_end(results)
    position = calendar.get_loc(end)
    if not isinstance(position, int):
        raise ValueError(f"the model's last date {end} is not one period of the calendar")
    if position >= arrival.start:
        raise ValueError(f"the model saw data up to {end}, past the arrival's first point")
    steps = arrival.end - 1 - position
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mean = mean_forecast(results, steps, transform)
    return mean[-arrival.size :]
