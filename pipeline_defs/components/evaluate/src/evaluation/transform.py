"""Back-transforming a model folder's forecasts: its ``model.json`` ``transform`` record.

The train step may search and fit on a Box-Cox transform of the series (``--transform auto``,
issue 11; the rule is in the train component's ``order_search/transform.py``). Its pickles
then model the *transformed* series, and ``model.json``'s ``transform`` says so:
``{"name": "boxcox", "lambda": ..., "bias_adjusted": true}``; null or absent means the
pickle models the series in its own units (every model trained before the transform).

Every consumer here does what the train step's ``forecast_frame`` does: the stored
parameters are applied to the *transformed* history, and the forecast is brought back to the
series' units: the point forecast is the bias-adjusted mean (``exp(w) (1 + sigma^2 / 2)`` for
the log), the interval bounds are the back-transformed bounds.

This module repeats the few lines of ``order_search.transform.BoxCox`` it needs (forward,
inverse, mean, the record) because the evaluate component's code folder does not include the
train component's; a test checks that both give the same numbers.

**Values <= 0** cannot be transformed. In a history they become missing observations (NaN),
which the Kalman filter skips, exactly as the train step's fits treat them; they are counted
(:attr:`Transformed.ignored`), logged, and reported in the section (``transform.ignored``),
so a forecast that skipped data never passes silently. The actuals are always scored in the
series' units, so such a point still counts against the forecast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class BoxCox:
    """A Box-Cox transform with parameter ``lam`` (0 = log), and its bias-adjusted inverse
    (the formulas of ``order_search.transform.BoxCox``)."""

    lam: float

    def forward(self, y: np.ndarray) -> np.ndarray:
        """``(y^lam - 1) / lam``, ``log y`` for ``lam = 0``; non-positive values become NaN."""
        y = np.asarray(y, dtype=float)
        out = np.full(y.shape, np.nan)
        ok = np.isfinite(y) & (y > 0)
        out[ok] = np.log(y[ok]) if self.lam == 0 else (y[ok] ** self.lam - 1.0) / self.lam
        return out

    def inverse(self, w: np.ndarray) -> np.ndarray:
        """The inverse transform (the median of a back-transformed Gaussian forecast)."""
        w = np.asarray(w, dtype=float)
        if self.lam == 0:
            return np.exp(w)
        return np.maximum(self.lam * w + 1.0, 0.0) ** (1.0 / self.lam)

    def mean(self, w: np.ndarray, variance: np.ndarray) -> np.ndarray:
        """The bias-adjusted back-transform: the mean of ``f^-1(W)``, ``W ~ N(w, variance)``
        (to second order)."""
        w = np.asarray(w, dtype=float)
        variance = np.maximum(np.asarray(variance, dtype=float), 0.0)
        if self.lam == 0:
            return np.exp(w) * (1.0 + variance / 2.0)
        base = np.maximum(self.lam * w + 1.0, 1e-12)
        adjust = 1.0 + variance * (1.0 - self.lam) / (2.0 * base**2)
        return base ** (1.0 / self.lam) * adjust

    def describe(self) -> str:
        return "log" if self.lam == 0 else f"Box-Cox lambda={self.lam:.3f}"

    def to_record(self) -> dict[str, Any]:
        """The record's required part (the train step's record adds the rule that chose it)."""
        return {"name": "boxcox", "lambda": self.lam, "bias_adjusted": True}

    @classmethod
    def from_record(cls, record: Any) -> BoxCox | None:
        """None for a null or missing record; a :class:`BoxCox` for ``{"name": "boxcox",
        "lambda": <finite number>, ...}``; ``ValueError`` for anything else (a record this
        code cannot back-transform is never ignored: the forecasts would be in the wrong
        units)."""
        if record is None:
            return None
        if not isinstance(record, dict):
            raise ValueError(f"a transform record must be an object or null, got {record!r}")
        if record.get("name") != "boxcox":
            raise ValueError(f"unknown transform {record.get('name')!r} (known: 'boxcox')")
        lam = record.get("lambda")
        if isinstance(lam, bool) or not isinstance(lam, int | float) or not math.isfinite(lam):
            raise ValueError(f"the Box-Cox transform's lambda must be a finite number, got {lam!r}")
        if record.get("bias_adjusted", True) is not True:
            raise ValueError("only bias-adjusted Box-Cox back-transforms are supported")
        return cls(float(lam))


def transform_of(info: dict[str, Any]) -> BoxCox | None:
    """The transform a model folder's ``model.json`` (as a dict) records; ``ValueError``
    when it records one this code does not know."""
    return BoxCox.from_record(info.get("transform"))


@dataclass(frozen=True)
class Transformed:
    """A history on the model's scale: ``series`` (the transformed values, NaN where the
    value could not be transformed) and ``ignored`` (how many observed values were <= 0)."""

    series: pd.Series
    ignored: int


def to_model_scale(history: pd.Series, transform: BoxCox | None) -> Transformed:
    """``history`` as the model saw its data: transformed when it has a transform."""
    if transform is None:
        return Transformed(history, 0)
    values = history.to_numpy(dtype=float)
    forward = transform.forward(values)
    ignored = int(np.sum(np.isfinite(values) & ~np.isfinite(forward)))
    return Transformed(pd.Series(forward, index=history.index, name=history.name), ignored)
