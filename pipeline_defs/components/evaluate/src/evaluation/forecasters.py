"""Forecasts from stored parameters (never a refit) and from seasonal naive, with intervals."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from .errors import EvaluateError
from .metrics import INTERVAL_ALPHA, naive_interval, seasonal_naive
from .transform import BoxCox, to_model_scale

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Forecast:
    """Point forecasts and the 80 % interval, in the series' units. ``ignored``: values <= 0
    in the history that the model's transform could not take (skipped as missing)."""

    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    ignored: int = 0


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


def forecast_applied(
    results: Any, history: pd.Series, steps: int, transform: BoxCox | None = None
) -> Forecast:
    """Forecast ``steps`` ahead from ``history`` at the parameters stored in ``results``
    (:func:`apply_stored`: never a refit), with the 80 % interval, in the series' units.

    ``transform`` (the model folder's ``model.json`` record, see ``transform.py``): the
    stored model describes the transformed series, so the parameters are applied to the
    transformed history (values <= 0 skipped as missing and counted in ``ignored``) and the
    forecast is back-transformed: the bias-adjusted mean, the back-transformed bounds."""
    on_scale = to_model_scale(history, transform)
    if on_scale.ignored:
        logger.warning(
            "%d value(s) <= 0 in the history up to %s cannot take the model's %s transform; "
            "skipped as missing",
            on_scale.ignored,
            history.index[-1],
            transform.describe() if transform is not None else "",
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        applied = apply_stored(results, on_scale.series)
        prediction = applied.get_forecast(steps)
        mean = np.asarray(prediction.predicted_mean, dtype=float)
        if transform is None:
            bounds = np.asarray(prediction.conf_int(alpha=INTERVAL_ALPHA), dtype=float)
        else:
            variance = np.asarray(prediction.var_pred_mean, dtype=float)
            half = float(norm.ppf(1.0 - INTERVAL_ALPHA / 2.0)) * np.sqrt(np.maximum(variance, 0.0))
            bounds = np.column_stack(
                [transform.inverse(mean - half), transform.inverse(mean + half)]
            )
            mean = transform.mean(mean, variance)
    if mean.shape != (steps,) or bounds.shape != (steps, 2):
        raise EvaluateError(f"the forecast has shape {mean.shape}, not {steps} values")
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(bounds))):
        raise EvaluateError(f"the forecast is not {steps} finite values")
    return Forecast(mean, bounds[:, 0], bounds[:, 1], on_scale.ignored)


def forecast_naive(history: pd.Series, steps: int, season_length: int) -> Forecast:
    """Seasonal naive from the data up to the origin, with its empirical 80 % interval."""
    values = history.to_numpy(dtype=float)
    mean = seasonal_naive(values, steps, season_length)
    lower, upper = naive_interval(values, mean, season_length)
    return Forecast(mean, lower, upper)
