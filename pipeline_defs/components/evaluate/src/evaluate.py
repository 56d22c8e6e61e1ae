"""Evaluate step: score the candidate and a seasonal-naive baseline on the holdout.

Writes ``metrics.json`` (MASE, sMAPE, RMSE, MAE and 80 % interval coverage for both) and
``forecast.png``. MASE is scaled by the in-sample mean absolute error of the seasonal
naive forecast (lag ``season_length``; lag 1 for non-seasonal series), so MASE < 1 means
better than that naive forecast did in sample.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

INTERVAL_ALPHA = 0.2  # 80 % prediction interval


class EvaluateError(ValueError):
    """The inputs cannot be evaluated."""


def mase_scale(train: np.ndarray, season_length: int) -> float:
    """In-sample mean absolute error of the seasonal-naive (or lag-1) forecast."""
    lag = season_length if season_length > 1 and len(train) > season_length else 1
    scale = float(np.mean(np.abs(train[lag:] - train[:-lag])))
    return scale


def point_metrics(actual: np.ndarray, forecast: np.ndarray, *, scale: float) -> dict[str, float]:
    """MASE, sMAPE (percent), RMSE and MAE of one forecast."""
    error = actual - forecast
    mae = float(np.mean(np.abs(error)))
    denominator = np.abs(actual) + np.abs(forecast)
    ratios = np.divide(
        2 * np.abs(error), denominator, out=np.zeros_like(error), where=denominator != 0
    )
    return {
        "mase": mae / scale if scale > 0 else float("inf") if mae > 0 else 0.0,
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
    last = train[-lag:]
    return np.resize(last, horizon)


def naive_interval(
    train: np.ndarray, forecast: np.ndarray, season_length: int
) -> tuple[np.ndarray, np.ndarray]:
    """An 80 % interval for the seasonal-naive forecast from its in-sample residuals."""
    lag = season_length if season_length > 1 and len(train) > season_length else 1
    residuals = train[lag:] - train[:-lag]
    low, high = np.quantile(residuals, [INTERVAL_ALPHA / 2, 1 - INTERVAL_ALPHA / 2])
    steps = np.arange(len(forecast)) // lag + 1
    return forecast + low * np.sqrt(steps), forecast + high * np.sqrt(steps)


def evaluate(
    train: pd.Series, holdout: pd.Series, results: Any, *, season_length: int
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Metrics of candidate and baseline, and the forecasts for the plot."""
    horizon = len(holdout)
    actual = holdout.to_numpy(dtype=float)
    history = train.to_numpy(dtype=float)
    scale = mase_scale(history, season_length)
    prediction = results.get_forecast(horizon)
    candidate = np.asarray(prediction.predicted_mean, dtype=float)
    bounds = np.asarray(prediction.conf_int(alpha=INTERVAL_ALPHA), dtype=float)
    if candidate.shape != actual.shape or not np.all(np.isfinite(candidate)):
        raise EvaluateError(f"the model's forecast is not {horizon} finite values")
    baseline = seasonal_naive(history, horizon, season_length)
    base_low, base_high = naive_interval(history, baseline, season_length)
    metrics = {
        "horizon": horizon,
        "season_length": season_length,
        "mase_scale": scale,
        "holdout_start": holdout.index[0].isoformat(),
        "holdout_end": holdout.index[-1].isoformat(),
        "interval": 1 - INTERVAL_ALPHA,
        "candidate": point_metrics(actual, candidate, scale=scale)
        | {"coverage": coverage(actual, bounds[:, 0], bounds[:, 1])},
        "baseline": point_metrics(actual, baseline, scale=scale)
        | {"coverage": coverage(actual, base_low, base_high), "name": "seasonal_naive"},
    }
    forecasts = {
        "candidate": candidate,
        "lower": bounds[:, 0],
        "upper": bounds[:, 1],
        "baseline": baseline,
    }
    return metrics, forecasts


def plot(
    path: Path, train: pd.Series, holdout: pd.Series, forecasts: dict[str, np.ndarray]
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tail = train.iloc[-max(4 * len(holdout), 48) :]
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.plot(tail.index, tail.to_numpy(), color="0.4", label="train")
    ax.plot(holdout.index, holdout.to_numpy(), color="black", label="holdout")
    ax.plot(holdout.index, forecasts["candidate"], color="tab:blue", label="candidate")
    ax.fill_between(
        holdout.index, forecasts["lower"], forecasts["upper"], color="tab:blue", alpha=0.2
    )
    ax.plot(holdout.index, forecasts["baseline"], "--", color="tab:orange", label="seasonal naive")
    ax.legend(loc="upper left")
    ax.set_title("Holdout forecast")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def read_series(path: Path) -> pd.Series:
    try:
        frame = pd.read_csv(path, parse_dates=["timestamp"])
    except (OSError, ValueError) as exc:
        raise EvaluateError(f"{path} is unreadable: {exc}") from exc
    return pd.Series(
        frame["value"].to_numpy(dtype=float), index=pd.DatetimeIndex(frame["timestamp"])
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prepared", type=Path, required=True, help="prep step output folder")
    parser.add_argument("--model", type=Path, required=True, help="train step output folder")
    parser.add_argument("--metrics", type=Path, required=True, help="output folder")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        train = read_series(args.prepared / "train.csv")
        holdout = read_series(args.prepared / "holdout.csv")
        season_length = int(json.loads((args.prepared / "prep.json").read_text())["season_length"])
        with (args.model / "model.pkl").open("rb") as handle:
            results = pickle.load(handle)
        model_info = json.loads((args.model / "model.json").read_text())
        metrics, forecasts = evaluate(train, holdout, results, season_length=season_length)
    except (EvaluateError, OSError, KeyError, pickle.UnpicklingError) as exc:
        print(f"evaluate: {exc}", file=sys.stderr, flush=True)
        return 2
    metrics["model"] = {
        k: model_info.get(k) for k in ("order", "seasonal_order", "trend", "fallback_reason")
    }
    args.metrics.mkdir(parents=True, exist_ok=True)
    (args.metrics / "metrics.json").write_text(json.dumps(metrics, indent=2))
    plot(args.metrics / "forecast.png", train, holdout, forecasts)
    c, b = metrics["candidate"], metrics["baseline"]
    print(
        f"evaluate: candidate MASE {c['mase']:.3f} sMAPE {c['smape']:.2f}% RMSE {c['rmse']:.3f}"
        f" | seasonal naive MASE {b['mase']:.3f} sMAPE {b['smape']:.2f}% RMSE {b['rmse']:.3f}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
