"""Input preparation: one float series, gaps interpolated for the tests, unit scale."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .constants import MIN_OBSERVATIONS
from .records import SeriesTooShortError
from .transform import BoxCox, transformed_endog


@dataclass
class _Prepared:
    endog: pd.Series | np.ndarray  # what the exact fit sees (NaN gaps kept)
    filled: np.ndarray  # NaN gaps linearly interpolated, for tests and the CSS search
    n_obs: int
    n_missing: int
    notes: list[str]
    scale: float = 1.0  # the fits run on series / scale (ARMA coefficients do not change)

    @property
    def scaled_endog(self) -> np.ndarray:
        """The values the exact refits fit: ``endog / scale`` without its index.

        The refits return parameters only (the results object is built on ``endog``), and a
        model on a dated pandas series costs more to build than on the bare values.
        """
        return np.asarray(self.endog, dtype=float) / self.scale


def _prepare(y: Any) -> _Prepared:
    notes: list[str] = []
    if isinstance(y, pd.DataFrame):
        if y.shape[1] != 1:
            raise ValueError(f"y must be one series; got a DataFrame with {y.shape[1]} columns")
        y = y.iloc[:, 0]
    if isinstance(y, pd.Series):
        series = pd.to_numeric(y, errors="coerce").astype(float)
    else:
        arr = np.asarray(y, dtype=float)
        if arr.ndim != 1:
            arr = arr.squeeze()
        if arr.ndim != 1:
            raise ValueError(f"y must be 1-D; got shape {np.shape(y)}")
        series = pd.Series(arr)
    values = series.to_numpy(dtype=float, copy=True)
    values[~np.isfinite(values)] = np.nan
    finite = np.flatnonzero(~np.isnan(values))
    if finite.size < MIN_OBSERVATIONS:
        raise SeriesTooShortError(
            f"series has {finite.size} observed value(s) (length {values.size}); "
            f"at least {MIN_OBSERVATIONS} are needed to fit any model"
        )
    first, last = int(finite[0]), int(finite[-1])
    if first > 0 or last < values.size - 1:
        notes.append(
            f"dropped {first} leading and {values.size - 1 - last} trailing missing values"
        )
    series = pd.Series(values, index=series.index, name=series.name).iloc[first : last + 1]
    values = series.to_numpy(dtype=float)
    n_missing = int(np.isnan(values).sum())
    if n_missing:
        notes.append(
            f"{n_missing} missing value(s) inside the series: linearly interpolated for the "
            "unit-root tests and the CSS search; the exact likelihood fit treats them as "
            "missing (Kalman filter)"
        )
        filled = pd.Series(values).interpolate(method="linear").to_numpy(dtype=float)
    else:
        filled = values.copy()
    endog: pd.Series | np.ndarray = values
    if isinstance(series.index, pd.PeriodIndex):
        endog = series
    elif isinstance(series.index, pd.DatetimeIndex):
        if series.index.freq is None:
            with warnings.catch_warnings():  # pandas 3 warns that it will return an offset
                warnings.simplefilter("ignore")
                inferred = pd.infer_freq(series.index) if len(series) >= 3 else None
            if inferred is None:
                notes.append(
                    "the DatetimeIndex has no regular frequency: the model is indexed by position"
                )
            else:
                series = series.set_axis(pd.DatetimeIndex(series.index, freq=inferred))
        if series.index.freq is not None:
            endog = series
    scale = float(np.std(filled))
    if not (math.isfinite(scale) and scale > 0):
        scale = 1.0
    return _Prepared(endog, filled, len(values), n_missing, notes, scale)


def _is_constant(x: np.ndarray) -> bool:
    if x.size == 0:
        return True
    return bool(np.ptp(x) <= 1e-10 * float(np.max(np.abs(x))))


def _transformed(prepared: _Prepared, transform: BoxCox) -> _Prepared:
    """``prepared`` with its values Box-Cox transformed (and rescaled to unit variance).

    Values the transform cannot take (``<= 0``: only possible in a final refit on newer
    data) become missing, which the exact fit's Kalman filter skips; a note says how many.
    """
    endog = transformed_endog(prepared.endog, transform)
    filled = transform.forward(prepared.filled)
    notes = list(prepared.notes)
    lost = int(np.isnan(filled).sum())
    if lost:
        notes.append(f"{lost} value(s) <= 0 cannot be transformed: treated as missing")
        filled = pd.Series(filled).interpolate(limit_direction="both").to_numpy(dtype=float)
    n_missing = int(np.isnan(np.asarray(endog, dtype=float)).sum())
    scale = float(np.std(filled))
    if not (math.isfinite(scale) and scale > 0):
        scale = 1.0
    return _Prepared(endog, filled, prepared.n_obs, n_missing, notes, scale)
