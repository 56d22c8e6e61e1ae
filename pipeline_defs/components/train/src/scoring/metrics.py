"""Point metrics (MASE, sMAPE, RMSE, MAE), interval coverage and the seasonal-naive forecast."""

from __future__ import annotations

import numpy as np

INTERVAL_ALPHA = 0.2  # 80 % prediction interval
METRIC_KEYS = ("mase", "smape", "rmse", "mae", "coverage")


def mase_scale(train: np.ndarray, season_length: int) -> float:
    """In-sample mean absolute error of the seasonal-naive (or lag-1) forecast."""
    lag = season_length if season_length > 1 and len(train) > season_length else 1
    return float(np.mean(np.abs(train[lag:] - train[:-lag])))


def scaled(mae: float, scale: float) -> float:
    """``mae / scale``; a zero scale gives inf (0 when the error is zero too)."""
    if scale > 0:
        return mae / scale
    return float("inf") if mae > 0 else 0.0


def point_metrics(actual: np.ndarray, forecast: np.ndarray, *, scale: float) -> dict[str, float]:
    """MASE, sMAPE (percent), RMSE and MAE of one forecast."""
    error = actual - forecast
    mae = float(np.mean(np.abs(error)))
    denominator = np.abs(actual) + np.abs(forecast)
    ratios = np.divide(
        2 * np.abs(error), denominator, out=np.zeros_like(error), where=denominator != 0
    )
    return {
        "mase": scaled(mae, scale),
        "smape": float(100 * np.mean(ratios)),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mae": mae,
    }


def coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Share of actual values inside the interval."""
    return float(np.mean((actual >= lower) & (actual <= upper)))


def seasonal_naive(train: np.ndarray, horizon: int, season_length: int) -> np.ndarray:
    """Repeat the last season (or the last value) over the horizon."""
    lag = season_length if season_length > 1 and len(train) >= season_length else 1
    return np.resize(train[-lag:], horizon)


def naive_interval(
    train: np.ndarray, forecast: np.ndarray, season_length: int
) -> tuple[np.ndarray, np.ndarray]:
    """An 80 % interval for the seasonal-naive forecast from its in-sample residuals,
    widened by the square root of the seasons ahead."""
    lag = season_length if season_length > 1 and len(train) > season_length else 1
    residuals = train[lag:] - train[:-lag]
    low, high = np.quantile(residuals, [INTERVAL_ALPHA / 2, 1 - INTERVAL_ALPHA / 2])
    steps = np.arange(len(forecast)) // lag + 1
    return forecast + low * np.sqrt(steps), forecast + high * np.sqrt(steps)
