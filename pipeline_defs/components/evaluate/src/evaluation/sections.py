"""One forecaster's SECTION of metrics.json (schema 2): holdout, pooled backtest, folds with
signed errors and out-of-sample marks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .forecasters import Forecast, forecast_applied, forecast_naive
from .metrics import coverage, point_metrics
from .transform import BoxCox
from .windows import Window


def window_metrics(window: Window, forecast: Forecast) -> dict[str, float]:
    actual = window.actual.to_numpy(dtype=float)
    return point_metrics(actual, forecast.mean, scale=window.scale) | {
        "coverage": coverage(actual, forecast.lower, forecast.upper)
    }


def pooled_metrics(folds: Sequence[Window], forecasts: Sequence[Forecast]) -> dict[str, float]:
    """Metrics over all fold points; MASE is the mean of the folds' MASEs."""
    actual = np.concatenate([w.actual.to_numpy(dtype=float) for w in folds])
    mean = np.concatenate([f.mean for f in forecasts])
    lower = np.concatenate([f.lower for f in forecasts])
    upper = np.concatenate([f.upper for f in forecasts])
    pooled = point_metrics(actual, mean, scale=1.0)
    fold_mase = [window_metrics(w, f)["mase"] for w, f in zip(folds, forecasts, strict=True)]
    pooled["mase"] = float(np.mean(fold_mase))
    return pooled | {"coverage": coverage(actual, lower, upper)}


def _errors(window: Window, forecast: Forecast) -> list[float]:
    return [float(e) for e in window.actual.to_numpy(dtype=float) - forecast.mean]


# The parameters' estimation end of a champion whose model.json does not say it: no window
# counts as out-of-sample for it.
UNKNOWN_END = pd.Timestamp.max


def out_of_sample(window: Window, params_end: pd.Timestamp | None) -> bool:
    """True when every target of ``window`` lies after ``params_end``, the last observation
    the forecaster's parameters were estimated on (None: no estimated parameters, as for
    seasonal naive, so always true; ``UNKNOWN_END``: never). The data up to the origin only
    sets the state, it may extend past ``params_end``."""
    if params_end is None:
        return True
    return bool(window.actual.index[0] > params_end)


def section(
    holdout: Window,
    holdout_forecast: Forecast,
    folds: Sequence[Window],
    fold_forecasts: list,
    params_end: pd.Timestamp | None = None,
) -> dict[str, Any]:
    """One forecaster's SECTION of metrics.json (schema 2), with ``out_of_sample`` marks
    relative to ``params_end`` (see :func:`out_of_sample`)."""
    return {
        "holdout": window_metrics(holdout, holdout_forecast),
        "backtest": pooled_metrics(folds, fold_forecasts),
        "folds": [
            {
                "origin": w.origin,
                "mase": window_metrics(w, f)["mase"],
                "errors": _errors(w, f),
                "out_of_sample": out_of_sample(w, params_end),
            }
            for w, f in zip(folds, fold_forecasts, strict=True)
        ],
        "holdout_errors": _errors(holdout, holdout_forecast),
        "holdout_out_of_sample": out_of_sample(holdout, params_end),
        "params_end": (
            params_end.isoformat() if params_end is not None and params_end != UNKNOWN_END else None
        ),
    }


@dataclass(frozen=True)
class Scored:
    """A forecaster's section and its forecasts (holdout first, then the folds)."""

    section: dict[str, Any]
    holdout: Forecast
    folds: list[Forecast]


def score_applied(
    results: Any,
    holdout: Window,
    folds: Sequence[Window],
    params_end: pd.Timestamp | None,
    transform: BoxCox | None = None,
) -> Scored:
    """A stored model's section: its parameters applied at every origin (on the transformed
    history when it has a ``transform``; forecasts back in the series' units). With a
    transform the section also says which (``transform``: the record plus ``ignored``, the
    most values <= 0 one window's history had to skip); without one it has no such key."""
    h = forecast_applied(results, holdout.history, len(holdout.actual), transform)
    f = [forecast_applied(results, w.history, len(w.actual), transform) for w in folds]
    scored = section(holdout, h, folds, f, params_end)
    if transform is not None:
        scored["transform"] = transform.to_record() | {"ignored": max(x.ignored for x in (h, *f))}
    return Scored(scored, h, f)


def score_naive(holdout: Window, folds: Sequence[Window], season_length: int) -> Scored:
    h = forecast_naive(holdout.history, len(holdout.actual), season_length)
    f = [forecast_naive(w.history, len(w.actual), season_length) for w in folds]
    return Scored(section(holdout, h, folds, f), h, f)
