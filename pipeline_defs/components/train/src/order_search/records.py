"""What the search returns: the chosen model and the record of every candidate."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .constants import CRITERION_NAME
from .transform import BoxCox, forecast_frame


class SeriesTooShortError(ValueError):
    """The series has too few observed values to fit any model at all."""


@dataclass(frozen=True)
class Candidate:
    """One model the search considered, and what became of it.

    ``method`` is ``"css"`` for the fast conditional-sum-of-squares fit used during the search
    (its criterion is the CSS approximation of AICc), ``"ml"`` for an exact maximum-likelihood
    refit (exact AICc) and ``"fallback"`` for a simpler model fitted because nothing else did.
    """

    order: tuple[int, int, int]
    seasonal_order: tuple[int, int, int, int]
    trend: str | None
    criterion: float | None
    status: str
    message: str
    seconds: float
    method: str = "css"

    def describe(self) -> str:
        """One human-readable line, as given to the ``progress`` callback."""
        crit = "-" if self.criterion is None else f"{self.criterion:.3f}"
        text = (
            f"{_label(self.order, self.seasonal_order, self.trend)}: {self.status} "
            f"{CRITERION_NAME}={crit} [{self.method}, {self.seconds:.3f}s]"
        )
        return f"{text} {self.message}" if self.message else text


@dataclass
class SearchResult:
    """The chosen model, its fitted statsmodels results object and the record of the search.

    With a ``transform`` (``search_order(transform="auto")`` chose one), ``results`` models
    the *transformed* series: forecast in the series' own units with :meth:`forecast`.
    """

    results: Any
    order: tuple[int, int, int]
    seasonal_order: tuple[int, int, int, int]
    trend: str | None
    criterion_name: str
    criterion: float
    tried: list[Candidate]
    fallback_reason: str | None
    notes: list[str]
    seconds: float
    n_obs: int = 0
    diagnostics: dict[str, Any] = field(default_factory=dict)
    transform: BoxCox | None = None

    def forecast(self, steps: int, *, alpha: float = 0.2) -> pd.DataFrame:
        """``mean``, ``lower``, ``upper`` for the next ``steps`` periods, in the series' units."""
        return forecast_frame(self.results, steps, self.transform, alpha=alpha)

    def to_record(self) -> dict[str, Any]:
        """A JSON-serialisable summary including every candidate tried."""
        return {
            "transform": None if self.transform is None else self.transform.to_record(),
            "order": list(self.order),
            "seasonal_order": list(self.seasonal_order),
            "trend": self.trend,
            "model": _label(self.order, self.seasonal_order, self.trend),
            "criterion_name": self.criterion_name,
            "criterion": _finite_or_none(self.criterion),
            "fallback_reason": self.fallback_reason,
            "notes": list(self.notes),
            "seconds": round(self.seconds, 6),
            "n_obs": self.n_obs,
            "diagnostics": {k: _jsonable(v) for k, v in self.diagnostics.items()},
            "n_tried": len(self.tried),
            "tried": [
                {
                    **asdict(c),
                    "order": list(c.order),
                    "seasonal_order": list(c.seasonal_order),
                    "criterion": _finite_or_none(c.criterion),
                    "seconds": round(c.seconds, 6),
                }
                for c in self.tried
            ],
        }


def _label(order: Sequence[int], seasonal_order: Sequence[int], trend: str | None) -> str:
    p, d, q = order
    text = f"ARIMA({p},{d},{q})"
    if seasonal_order[3] > 1:
        sp, sd, sq, m = seasonal_order
        text += f"({sp},{sd},{sq})[{m}]"
    if trend == "c":
        text += " with drift" if d + seasonal_order[1] == 1 else " with mean"
    return text


def _finite_or_none(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return _finite_or_none(float(value))
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
