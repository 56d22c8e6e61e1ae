"""Forecasts from stored parameters (never a refit) and from seasonal naive, with intervals."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .errors import EvaluateError
from .metrics import INTERVAL_ALPHA, naive_interval, seasonal_naive


@dataclass(frozen=True)
class Forecast:
    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


def apply_stored(results: Any, history: pd.Series) -> Any:
    """``results``' stored parameters applied to ``history``, never re-estimated.

    This is ``results.apply(history, refit=False)`` (a clone of the model on ``history``,
    filtered at ``results.params``) without the smoothing pass ``apply`` adds when the
    stored results were smoothed, which forecasting does not use (it halves the cost).
    Results with fixed parameters go through ``apply`` itself.
    """
    if getattr(results, "_has_fixed_params", False):
        return results.apply(history, refit=False)
    return results.model.clone(history).filter(results.params, cov_type="none")


def forecast_applied(results: Any, history: pd.Series, steps: int) -> Forecast:
    """Forecast ``steps`` ahead from ``history`` at the parameters stored in ``results``
    (:func:`apply_stored`: never a refit), with the 80 % interval."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        applied = apply_stored(results, history)
        prediction = applied.get_forecast(steps)
        mean = np.asarray(prediction.predicted_mean, dtype=float)
        bounds = np.asarray(prediction.conf_int(alpha=INTERVAL_ALPHA), dtype=float)
    if mean.shape != (steps,) or bounds.shape != (steps, 2):
        raise EvaluateError(f"the forecast has shape {mean.shape}, not {steps} values")
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(bounds))):
        raise EvaluateError(f"the forecast is not {steps} finite values")
    return Forecast(mean, bounds[:, 0], bounds[:, 1])


def forecast_naive(history: pd.Series, steps: int, season_length: int) -> Forecast:
    """Seasonal naive from the data up to the origin, with its empirical 80 % interval."""
    values = history.to_numpy(dtype=float)
    mean = seasonal_naive(values, steps, season_length)
    lower, upper = naive_interval(values, mean, season_length)
    return Forecast(mean, lower, upper)
