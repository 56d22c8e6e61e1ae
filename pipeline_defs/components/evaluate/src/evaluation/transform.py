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

``BoxCox`` is the shared package's (``scoring.boxcox``, included into this step's code
snapshot with ``additional_includes``), the same class the train step's search uses.

**Values <= 0** cannot be transformed. In a history they become missing observations (NaN),
which the Kalman filter skips, exactly as the train step's fits treat them; they are counted
(:attr:`Transformed.ignored`), logged, and reported in the section (``transform.ignored``),
so a forecast that skipped data never passes silently. The actuals are always scored in the
series' units, so such a point still counts against the forecast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from . import metrics as _shared  # noqa: F401  (makes the shared package importable)

# isort: split
from scoring.boxcox import BoxCox


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
