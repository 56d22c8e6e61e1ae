"""The variance-stabilising transform: the log when Guerrero's rule asks for one.

**Rule** (``transform="auto"``; issue 11). A series whose spread grows with its level (the
seasonal swing of monthly tourism numbers, say) is searched and fitted on its logarithm.
Whether it does is read from Guerrero's (1993) Box-Cox ``lambda``, computed as R's
``forecast::BoxCox.lambda(method="guerrero")`` does (its default range ``[-1, 2]``): cut the
last ``k * period`` values into ``k`` blocks of one season (two values when there is no
season) and take the ``lambda`` that minimises the coefficient of variation of
``sd(block) / mean(block)^(1 - lambda)``. The log is used when ``lambda < LOG_BELOW`` (0.5:
the spread grows at least like the square root of the level), every observed value is
strictly positive, the series is not constant and there are at least ``MIN_BLOCKS`` blocks;
otherwise the series is left as it is. :class:`BoxCox` handles any ``lambda``; the rule
only ever picks 0.

How the rule was chosen (``bench/order_search.py``, docs/benchmarks.md): on the tuning set,
"log when Guerrero's lambda < 0.5" scored a lower mean MASE than "always the log" and than
"Box-Cox with Guerrero's lambda in [0, 1]"; it was then checked on the validation set.

**Forecasts** are back-transformed with the bias adjustment (Hyndman & Athanasopoulos,
*Forecasting: Principles and Practice*, 5.6): the point forecast is the forecast *mean*
``exp(w) (1 + sigma^2 / 2)`` (for Box-Cox: ``f^-1(w) (1 + sigma^2 (1 - lambda) / (2
(lambda w + 1)^2))``), not the median ``exp(w)``; interval bounds are the back-transformed
bounds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from scipy.stats import norm
from scoring.boxcox import BoxCox as _BoxCox

TRANSFORMS = ("none", "auto")
"""``search_order(transform=...)``: never transform, or the log when the rule above says so."""

MIN_BLOCKS = 3
LOG_BELOW = 0.5
LAMBDA_BOUNDS = (-1.0, 2.0)


@dataclass(frozen=True)
class BoxCox(_BoxCox):
    """The shared :class:`scoring.boxcox.BoxCox` (the formulas, the bias-adjusted inverse and
    ``from_record``, one copy with the evaluate step's); its record names the rule that chose
    it."""

    def to_record(self) -> dict[str, Any]:
        return super().to_record() | {"rule": f"log when Guerrero's lambda < {LOG_BELOW:g}"}


def guerrero_lambda(x: np.ndarray, period: int) -> float | None:
    """Guerrero's lambda in ``LAMBDA_BOUNDS`` for positive ``x`` (R's ``guerrero``); None
    when there are fewer than ``MIN_BLOCKS`` blocks of ``max(2, period)`` values."""
    size = max(2, int(period))
    blocks = x.size // size
    if blocks < MIN_BLOCKS:
        return None
    matrix = np.asarray(x[x.size - blocks * size :], dtype=float).reshape(blocks, size)
    means = matrix.mean(axis=1)
    sds = matrix.std(axis=1, ddof=1)

    def variation(lam: float) -> float:
        ratio = sds / means ** (1.0 - lam)
        centre = float(np.mean(ratio))
        return float(np.std(ratio, ddof=1)) / centre if centre > 0 else math.inf

    found = minimize_scalar(variation, bounds=LAMBDA_BOUNDS, method="bounded")
    return float(found.x)


def choose_transform(x: np.ndarray, period: int) -> tuple[BoxCox | None, str]:
    """The transform the rule picks for the gap-filled series ``x``, and why (a note)."""
    if x.size == 0 or np.any(x <= 0):
        return None, "no transform: the series has values <= 0"
    if np.ptp(x) <= 1e-10 * float(np.max(np.abs(x))):
        return None, "no transform: the series is constant"
    lam = guerrero_lambda(x, period)
    if lam is None:
        return None, f"no transform: fewer than {MIN_BLOCKS} blocks for Guerrero's method"
    if lam >= LOG_BELOW:
        return None, f"no transform: Guerrero's lambda is {lam:.3f} (>= {LOG_BELOW:g})"
    return BoxCox(0.0), f"log: Guerrero's lambda is {lam:.3f} (< {LOG_BELOW:g})"


def transformed_endog(endog: pd.Series | np.ndarray, transform: BoxCox) -> pd.Series | np.ndarray:
    """``endog`` transformed, with its index (non-positive values become missing)."""
    if isinstance(endog, pd.Series):
        return pd.Series(transform.forward(endog.to_numpy(dtype=float)), index=endog.index)
    return transform.forward(np.asarray(endog, dtype=float))


def forecast_frame(
    results: Any, steps: int, transform: BoxCox | None, *, alpha: float = 0.2
) -> pd.DataFrame:
    """Point forecasts and ``1 - alpha`` intervals in the series' own units.

    Columns ``mean``, ``lower``, ``upper``, indexed like statsmodels' forecasts. Without a
    transform this is ``results.get_forecast(steps)`` as it is; with one, the mean is the
    bias-adjusted back-transform and the bounds are the back-transformed bounds.
    """
    prediction = results.get_forecast(steps)
    mean = np.asarray(prediction.predicted_mean, dtype=float)
    variance = np.asarray(prediction.var_pred_mean, dtype=float)
    index = getattr(prediction.predicted_mean, "index", None)
    z = float(norm.ppf(1.0 - alpha / 2.0))
    half = z * np.sqrt(np.maximum(variance, 0.0))
    lower, upper = mean - half, mean + half
    if transform is not None:
        mean = transform.mean(mean, variance)
        lower, upper = transform.inverse(lower), transform.inverse(upper)
    return pd.DataFrame({"mean": mean, "lower": lower, "upper": upper}, index=index)
