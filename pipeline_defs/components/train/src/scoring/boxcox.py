"""The Box-Cox transform a model folder's ``model.json`` may record, and its bias-adjusted
inverse: one copy for the train step's order search (``order_search.transform``, which adds
the rule that picks it) and the evaluate step (``evaluation.transform``, which scores such
models in the series' units). numpy only.

The record: ``{"name": "boxcox", "lambda": ..., "bias_adjusted": true}``; null or absent
means the model's pickles model the series in its own units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class BoxCox:
    """A Box-Cox transform with parameter ``lam`` (0 = log), and its bias-adjusted inverse."""

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
