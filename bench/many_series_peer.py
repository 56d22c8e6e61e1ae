"""statsforecast AutoARIMA on the same series and split as ``bench/many_series.py``'s run,
and the comparison the issue's targets read: the time ratio and the mean MASE."""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
import pandas as pd

from bench.many_series_panel import PanelShape


def mase(train: np.ndarray, actual: np.ndarray, forecast: np.ndarray, m: int) -> float:
    """Mean absolute error over ``actual``, scaled by the in-sample seasonal naive MAE of
    ``train`` at lag ``m`` (lag 1 when the training part is not longer than a season): the
    same formula for ours and AutoARIMA's forecasts (and ``bench/search_panels.py``'s)."""
    lag = m if train.size > m else 1
    scale = float(np.mean(np.abs(train[lag:] - train[:-lag])))
    return float(np.mean(np.abs(actual - forecast)) / scale)


def autoarima(prepared: pd.DataFrame, shape: PanelShape, workers: int = 2) -> dict[str, Any]:
    """statsforecast AutoARIMA (``n_jobs=workers``) on the same series and split as ours: the series
    prep kept, as it wrote them (``run_family``'s ``prepared``: regularised, gaps filled),
    the last ``shape.horizon`` points held out; seconds and MASE per series."""
    from statsforecast import StatsForecast
    from statsforecast.models import AutoARIMA

    h, m, freq = shape.horizon, shape.season_length, shape.frequency
    panel = prepared.astype({"unique_id": str}).sort_values(["unique_id", "ds"])
    in_test = panel.groupby("unique_id").cumcount(ascending=False) < h
    train, test = panel[~in_test], panel[in_test]
    warm = train[train["unique_id"] == train["unique_id"].iloc[0]]
    StatsForecast(models=[AutoARIMA(season_length=m)], freq=freq, n_jobs=1).forecast(df=warm, h=h)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        forecast = StatsForecast(
            models=[AutoARIMA(season_length=m)], freq=freq, n_jobs=workers
        ).forecast(df=train, h=h)
    seconds = time.perf_counter() - started
    forecast = forecast.reset_index() if "unique_id" not in forecast.columns else forecast
    scores = {}
    for uid, actual in test.groupby("unique_id"):
        predicted = forecast.loc[forecast["unique_id"] == uid, "AutoARIMA"].to_numpy(float)
        history = train.loc[train["unique_id"] == uid, "y"].to_numpy(float)
        scores[str(uid)] = mase(history, actual["y"].to_numpy(float), predicted, m)
    return {"seconds": round(seconds, 2), "mase": scores}


def compare(result: dict[str, Any], peer: dict[str, Any]) -> dict[str, Any]:
    """Our run (``run_family``'s result: its rows' holdout MASE, training and wall seconds)
    against :func:`autoarima`'s on the series both scored: the time ratios, mean MASE of
    each, and wins and losses by series."""
    ours = {r["unique_id"]: r["metrics"]["holdout"]["mase"] for r in result["rows"] if r["metrics"]}
    common = sorted(set(ours) & set(peer["mase"]))
    our_mean = float(np.mean([ours[u] for u in common]))
    peer_mean = float(np.mean([peer["mase"][u] for u in common]))
    return {
        "series_compared": len(common),
        "autoarima_s": peer["seconds"],
        "time_ratio": round(result["training_s"] / peer["seconds"], 3),
        "time_ratio_whole_run": round(result["wall_s"] / peer["seconds"], 3),
        "mase_ours": round(our_mean, 4),
        "mase_autoarima": round(peer_mean, 4),
        "wins": sum(ours[u] < peer["mase"][u] - 1e-9 for u in common),
        "losses": sum(ours[u] > peer["mase"][u] + 1e-9 for u in common),
    }
