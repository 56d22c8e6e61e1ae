"""Evaluate step: score the candidate, the current champion and seasonal naive on the same data.

Inputs: ``--prepared`` (prep: ``train.csv``, ``holdout.csv``, ``prep.json``), ``--model``
(train: ``model_eval.pkl``, the candidate fitted on the training split only, and
``model.json``) and, when a production model exists, ``--champion`` (its model folder:
``model.pkl`` and, if present, ``model.json``). Outputs ``metrics.json`` (schema 2),
``forecast.png`` and ``forecast.svg`` in ``--metrics``. The plot's top line is the
verdict; this step cannot know it (the promotion gate decides after it), so it writes
:data:`VERDICT_PLACEHOLDER` there, and in the SVG as the text of the element whose id is
:data:`VERDICT_ID`, which the service's audit report replaces with the gate's verdict.

Two windows, the same for the three forecasters:

- **holdout**: the last ``horizon`` observations, forecast from the training split;
- **backtest**: rolling origins. Fold ``i`` forecasts ``backtest horizon`` steps from an
  origin (the last observation it sees, recorded as ``origins[i]``); the folds are
  consecutive and do not overlap, and the last one ends at the last observation. Defaults
  (``--backtest_folds 0`` / ``--backtest_horizon 0``): the horizon is the model horizon;
  the folds are as many as fit after a minimum training length of
  ``max(3 * season_length, 10)`` observations, at most ``MAX_FOLDS`` (6), and at least one
  (then the fold is the holdout). A requested number of folds larger than what fits is
  reduced to what fits (a log line says so).

No model is refitted here. The candidate's parameters (from ``model_eval.pkl``) and the
champion's stored parameters (from its ``model.pkl``) are applied to the data up to each
origin as statsmodels ``results.apply(endog, refit=False)`` does (:func:`apply_stored`): a new
state-space model of the same specification is filtered over that data at the stored
parameters, then forecasts ``horizon`` steps. (Models fitted with a concentrated scale, as
the order search's are, re-derive the innovation variance in closed form from the one-step
errors on that data; the point forecasts depend on the stored parameters only.) Seasonal
naive repeats the last season before each origin. When the champion cannot be loaded or
applied (missing or corrupt pickle, another frequency, exogenous regressors, a forecast that
is not finite), ``champion`` is null and ``champion_error`` says why; the step still succeeds.

Metrics per section: MASE, sMAPE (percent), RMSE, MAE and 80 % interval coverage, on the
holdout and pooled over the backtest folds, with the signed errors (actual - forecast) per
holdout point and per fold point. MASE scales: the holdout uses ``mase_scale``, the
in-sample seasonal-naive MAE of the training split (lag ``season_length``; lag 1 for
non-seasonal series); each fold uses the in-sample seasonal-naive MAE of its own training
window (the data up to its origin), and the pooled backtest MASE is the mean of the folds'
(equal-length) MASEs.

Out-of-sample marks: every fold of a section has ``out_of_sample``, and the section has
``holdout_out_of_sample`` and ``params_end``: true when all the window's targets come after
the last observation that forecaster's parameters were estimated on (``params_end``). For
the candidate that is the end of the training split (its evaluation fit), so of the default
folds only the last one, the holdout, is out-of-sample; for the champion it is its model
folder's ``params_end`` (a refreshed folder), else its final fit's ``train_end`` (unknown:
nothing counts as out-of-sample for it); seasonal naive has no parameters (``params_end``
null, always out-of-sample). The gate compares candidate and champion only on windows
out-of-sample for both (``shared/gate.py``).

The refreshed champion: when the champion was scored, its stored parameters are also
applied to all the data (training split + holdout), never re-estimated, and written as a
model folder ``<metrics>/champion_refreshed/`` (``model.pkl`` + ``model.json``, the layout of
the train step's folder: top-level ``train_start``/``train_end``/``n_obs`` describe the data
the pickle's state covers, ``params_end`` and ``refreshed`` say the parameters are the
champion's). ``metrics.json`` says ``champion_refreshed``: ``{"folder", "data_end",
"params_end"}`` or null. When the gate refuses the candidate, the service registers this
folder so production forecasts from the last observation instead of from the champion's
old data end.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pickle
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger("evaluate")

SCHEMA = 2
INTERVAL_ALPHA = 0.2  # 80 % prediction interval
MAX_FOLDS = 6
MIN_TRAIN_SEASONS = 3
MIN_TRAIN_POINTS = 10
METRIC_KEYS = ("mase", "smape", "rmse", "mae", "coverage")


class EvaluateError(ValueError):
    """The inputs cannot be evaluated."""


class ChampionError(ValueError):
    """The champion cannot be scored on this data; the message says why."""


# -- metrics ------------------------------------------------------------------------------


def mase_scale(train: np.ndarray, season_length: int) -> float:
    """In-sample mean absolute error of the seasonal-naive (or lag-1) forecast."""
    lag = season_length if season_length > 1 and len(train) > season_length else 1
    scale = float(np.mean(np.abs(train[lag:] - train[:-lag])))
    return scale


def _scaled(mae: float, scale: float) -> float:
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
        "mase": _scaled(mae, scale),
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


# -- windows ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BacktestPlan:
    """Rolling origins: fold ``i`` sees the first ``origins[i]`` observations and forecasts
    the next ``horizon``."""

    horizon: int
    origins: tuple[int, ...]
    note: str | None = None

    @property
    def folds(self) -> int:
        return len(self.origins)


def min_train_length(season_length: int) -> int:
    """Fewest observations a backtest fold is forecast from: three seasons, or 10."""
    return max(MIN_TRAIN_SEASONS * season_length, MIN_TRAIN_POINTS)


def backtest_plan(
    n: int, *, model_horizon: int, season_length: int, folds: int = 0, horizon: int = 0
) -> BacktestPlan:
    """The folds for a series of ``n`` observations (see the module docstring).

    ``folds`` / ``horizon`` 0 mean automatic. Raises ``EvaluateError`` for negative values
    or when not even one fold of ``horizon`` fits after 3 observations.
    """
    if folds < 0 or horizon < 0:
        raise EvaluateError(f"backtest folds ({folds}) and horizon ({horizon}) must be >= 0")
    step = horizon or model_horizon
    if step < 1:
        raise EvaluateError(f"the backtest horizon must be >= 1, got {step}")
    fit = (n - min_train_length(season_length)) // step
    if fit < 1:
        if n - step < 3:
            raise EvaluateError(f"a backtest fold of {step} steps does not fit in {n} observations")
        fit = 1
    wanted = folds or MAX_FOLDS
    count = min(wanted, fit)
    note = None
    if folds and folds > fit:
        note = (
            f"{folds} backtest folds requested, {fit} fit in {n} observations with a "
            f"minimum training length of {min_train_length(season_length)}"
        )
    origins = tuple(n - step * (count - i) for i in range(count))
    return BacktestPlan(horizon=step, origins=origins, note=note)


@dataclass(frozen=True)
class Window:
    """Forecast ``actual`` from ``history`` (the data up to the origin)."""

    history: pd.Series
    actual: pd.Series
    scale: float

    @property
    def origin(self) -> str:
        return self.history.index[-1].isoformat()


def windows(series: pd.Series, plan: BacktestPlan, season_length: int) -> list[Window]:
    """The backtest folds of ``series``; each scaled by its own training window."""
    out = []
    for origin in plan.origins:
        history = series.iloc[:origin]
        actual = series.iloc[origin : origin + plan.horizon]
        scale = mase_scale(history.to_numpy(dtype=float), season_length)
        out.append(Window(history, actual, scale))
    return out


# -- forecasters ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Forecast:
    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


def apply_stored(results: Any, history: pd.Series) -> Any:
    """``results``' stored parameters applied to ``history``, never re-estimated.

    This is ``results.apply(history, refit=False)`` (a clone of the model on ``history``,
    filtered at ``results.params``) without the smoothing pass ``apply`` adds when the
    stored results were smoothed, which forecasting does not use (it halves the cost).
    Results with fixed parameters go through ``apply`` itself.
    """
    if getattr(results, "_has_fixed_params", False):
        return results.apply(history, refit=False)
    return results.model.clone(history).filter(results.params, cov_type="none")


def forecast_applied(results: Any, history: pd.Series, steps: int) -> Forecast:
    """Forecast ``steps`` ahead from ``history`` at the parameters stored in ``results``
    (:func:`apply_stored`: never a refit), with the 80 % interval."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        applied = apply_stored(results, history)
        prediction = applied.get_forecast(steps)
        mean = np.asarray(prediction.predicted_mean, dtype=float)
        bounds = np.asarray(prediction.conf_int(alpha=INTERVAL_ALPHA), dtype=float)
    if mean.shape != (steps,) or bounds.shape != (steps, 2):
        raise EvaluateError(f"the forecast has shape {mean.shape}, not {steps} values")
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(bounds))):
        raise EvaluateError(f"the forecast is not {steps} finite values")
    return Forecast(mean, bounds[:, 0], bounds[:, 1])


def forecast_naive(history: pd.Series, steps: int, season_length: int) -> Forecast:
    """Seasonal naive from the data up to the origin, with its empirical 80 % interval."""
    values = history.to_numpy(dtype=float)
    mean = seasonal_naive(values, steps, season_length)
    lower, upper = naive_interval(values, mean, season_length)
    return Forecast(mean, lower, upper)


# -- sections ------------------------------------------------------------------------------


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
    results: Any, holdout: Window, folds: Sequence[Window], params_end: pd.Timestamp | None
) -> Scored:
    h = forecast_applied(results, holdout.history, len(holdout.actual))
    f = [forecast_applied(results, w.history, len(w.actual)) for w in folds]
    return Scored(section(holdout, h, folds, f, params_end), h, f)


def score_naive(holdout: Window, folds: Sequence[Window], season_length: int) -> Scored:
    h = forecast_naive(holdout.history, len(holdout.actual), season_length)
    f = [forecast_naive(w.history, len(w.actual), season_length) for w in folds]
    return Scored(section(holdout, h, folds, f), h, f)


# -- the champion --------------------------------------------------------------------------


def _same_frequency(a: Any, b: Any) -> bool:
    try:
        return bool(pd.tseries.frequencies.to_offset(a) == pd.tseries.frequencies.to_offset(b))
    except (ValueError, TypeError):
        return False


def describe_model(results: Any) -> dict[str, Any]:
    """Order, seasonal order and trend of a statsmodels SARIMAX results object."""
    model = results.model
    return {
        "order": [int(v) for v in getattr(model, "order", ())],
        "seasonal_order": [int(v) for v in getattr(model, "seasonal_order", ())],
        "trend": getattr(model, "trend", None),
    }


def load_champion(folder: Path, frequency: str) -> tuple[Any, dict[str, Any]]:
    """The champion's results object (its ``model.pkl``) and a description of it.

    Raises ``ChampionError`` when it cannot be used for a series at ``frequency``.
    """
    path = folder / "model.pkl"
    if not path.is_file():
        raise ChampionError(f"no model.pkl in the champion folder {folder}")
    try:
        with path.open("rb") as handle:
            results = pickle.load(handle)
    except Exception as exc:  # a corrupt or foreign pickle can raise anything
        raise ChampionError(f"model.pkl cannot be loaded: {type(exc).__name__}: {exc}") from exc
    if not (hasattr(results, "apply") and hasattr(getattr(results, "model", None), "clone")):
        raise ChampionError(f"model.pkl holds a {type(results).__name__}, not statsmodels results")
    info: dict[str, Any] = {}
    info_path = folder / "model.json"
    if info_path.is_file():
        try:
            loaded = json.loads(info_path.read_text())
            info = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError) as exc:
            logger.warning("champion model.json is unreadable (%s); using model.pkl alone", exc)
    if getattr(results.model, "k_exog", 0):
        raise ChampionError("the champion uses exogenous regressors; this pipeline has none")
    index_freq = getattr(getattr(results.model, "_index", None), "freqstr", None)
    champion_frequency = info.get("frequency") or index_freq
    if champion_frequency is None:
        raise ChampionError("the champion's frequency is unknown (no model.json, no dated index)")
    if not _same_frequency(champion_frequency, frequency):
        raise ChampionError(
            f"the champion was fitted at frequency {champion_frequency!r}, this series is "
            f"{frequency!r}"
        )
    description = describe_model(results) | {
        "frequency": champion_frequency,
        "train_end": params_end_of(info),
        "params_end": params_end_of(info),
        "n_obs": int(getattr(results, "nobs", 0)),
        "params": _named_params(results),
    }
    return results, description


def read_model_json(folder: Path) -> dict[str, Any]:
    """A model folder's model.json, or {} when absent or unreadable."""
    path = folder / "model.json"
    try:
        loaded = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def params_end_of(info: dict[str, Any]) -> str | None:
    """The last observation a model folder's parameters were estimated on, from its
    model.json: ``params_end`` (a refreshed folder), else the final fit's ``train_end``
    (a train step folder), else the top-level ``train_end``; None when it does not say."""
    final = info.get("final_fit")
    final_end = final.get("train_end") if isinstance(final, dict) else None
    for value in (info.get("params_end"), final_end, info.get("train_end")):
        if isinstance(value, str):
            return value
    return None


def parse_end(value: Any) -> pd.Timestamp:
    """A params_end as a timestamp comparable with the series' index; ``UNKNOWN_END`` when
    missing or unparseable."""
    try:
        stamp = pd.Timestamp(value) if isinstance(value, str) else None
    except ValueError:
        stamp = None
    if stamp is None or stamp is pd.NaT:
        return UNKNOWN_END
    return stamp.tz_convert(None) if stamp.tzinfo is not None else stamp


def _named_params(results: Any) -> dict[str, float]:
    names = list(getattr(results.model, "param_names", []))
    values = [float(v) for v in np.asarray(results.params, dtype=float)]
    return dict(zip(names, values, strict=False)) if len(names) == len(values) else {}


def score_champion(
    results: Any, holdout: Window, folds: Sequence[Window], params_end: pd.Timestamp | None
) -> Scored:
    """The champion at its stored parameters; ``ChampionError`` when it cannot forecast."""
    try:
        return score_applied(results, holdout, folds, params_end)
    except Exception as exc:  # the champion's own failure must never fail the run
        raise ChampionError(f"the champion cannot be applied: {type(exc).__name__}: {exc}") from exc


# -- the whole evaluation ------------------------------------------------------------------


@dataclass
class Evaluation:
    metrics: dict[str, Any]
    candidate: Scored
    baseline: Scored
    champion: Scored | None
    holdout: Window
    folds: list[Window]
    refreshed: Any = None  # the champion's parameters applied to all the data, or None
    champion_info: dict[str, Any] = field(default_factory=dict)  # its model.json
    frequency: str | None = None


def refresh_champion(results: Any, series: pd.Series) -> Any:
    """The champion's stored parameters applied to all of ``series`` (training split and
    holdout), never re-estimated (:func:`apply_stored`): the same model whose forecast
    starts right after the last observation. None when it cannot be applied."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            refreshed = apply_stored(results, series)
            mean = np.asarray(refreshed.get_forecast(1).predicted_mean, dtype=float)
    except Exception as exc:  # the champion's own failure must never fail the run
        logger.warning("the champion cannot be refreshed: %s: %s", type(exc).__name__, exc)
        return None
    if not np.all(np.isfinite(mean)):
        logger.warning("the refreshed champion's forecast is not finite; not refreshed")
        return None
    return refreshed


def evaluate(
    train: pd.Series,
    holdout: pd.Series,
    candidate: Any,
    *,
    season_length: int,
    champion: Any = None,
    champion_error: str | None = None,
    champion_params_end: str | None = None,
    backtest_folds: int = 0,
    backtest_horizon: int = 0,
) -> Evaluation:
    """Score candidate, champion (if given) and seasonal naive on the holdout and the
    backtest of ``train`` + ``holdout``. The candidate failing raises ``EvaluateError``;
    the champion failing gives ``champion`` null and ``champion_error``.

    Out-of-sample marks: the candidate (the evaluation fit) was estimated on ``train``;
    the champion's parameters on the data up to ``champion_params_end`` (None: unknown, so
    no window counts as out-of-sample for it); seasonal naive has no parameters."""
    series = pd.concat([train, holdout])
    if series.index.freq is None and train.index.freq is not None:
        series = series.asfreq(train.index.freq)
    horizon = len(holdout)
    plan = backtest_plan(
        len(series),
        model_horizon=horizon,
        season_length=season_length,
        folds=backtest_folds,
        horizon=backtest_horizon,
    )
    if plan.note:
        logger.warning("%s", plan.note)
    scale = mase_scale(train.to_numpy(dtype=float), season_length)
    window = Window(series.iloc[: len(train)], series.iloc[len(train) :], scale)
    folds = windows(series, plan, season_length)
    try:
        scored = score_applied(candidate, window, folds, train.index[-1])
    except EvaluateError as exc:
        raise EvaluateError(f"the candidate: {exc}") from exc
    baseline = score_naive(window, folds, season_length)
    champion_scored: Scored | None = None
    refreshed = None
    if champion is not None:
        try:
            champion_scored = score_champion(
                champion, window, folds, parse_end(champion_params_end)
            )
        except ChampionError as exc:
            champion_error = str(exc)
        else:
            refreshed = refresh_champion(champion, series)
    metrics: dict[str, Any] = {
        "schema": SCHEMA,
        "horizon": horizon,
        "season_length": season_length,
        "interval": 1 - INTERVAL_ALPHA,
        "holdout_start": holdout.index[0].isoformat(),
        "holdout_end": holdout.index[-1].isoformat(),
        "data_end": series.index[-1].isoformat(),
        "mase_scale": scale,
        "backtest": {
            "folds": plan.folds,
            "horizon": plan.horizon,
            "origins": [w.origin for w in folds],
        },
        "candidate": scored.section,
        "baseline": baseline.section | {"name": "seasonal_naive"},
        "champion": champion_scored.section if champion_scored is not None else None,
        "champion_error": champion_error if champion_scored is None else None,
        "champion_refreshed": None,
    }
    return Evaluation(metrics, scored, baseline, champion_scored, window, folds, refreshed)


REFRESHED_FOLDER = "champion_refreshed"


def refreshed_record(
    info: dict[str, Any], refreshed: Any, series: pd.Series, *, frequency: str, run_key: str | None
) -> dict[str, Any]:
    """model.json of the refreshed champion folder: the champion's own record (order,
    fits, frequency; without its search log) with the top level describing the new
    model.pkl (the data its state covers) and ``params_end``/``refreshed`` saying that
    the parameters are the champion's, estimated on data up to ``params_end``."""
    record = {k: v for k, v in info.items() if k != "search"}
    params_end = params_end_of(info)
    return record | {
        "frequency": info.get("frequency") or frequency,
        "train_start": series.index[0].isoformat(),
        "train_end": series.index[-1].isoformat(),
        "n_obs": int(series.notna().sum()),
        "params_end": params_end,
        "refreshed": {
            "method": "stored parameters applied without refit (statsmodels apply, refit=False)",
            "previous_train_end": info.get("train_end"),
            "params_end": params_end,
            "data_end": series.index[-1].isoformat(),
            "params": _named_params(refreshed),
            "run_key": run_key,
        },
    }


def write_refreshed(
    folder: Path,
    evaluation: Evaluation,
    info: dict[str, Any],
    *,
    frequency: str,
    run_key: str | None,
) -> dict[str, Any] | None:
    """Write ``<metrics>/champion_refreshed/`` (model.pkl + model.json, the layout of the
    train step's model folder, so it can be a champion input itself) when the champion was
    refreshed; returns what metrics.json says about it (``champion_refreshed``), or None."""
    if evaluation.refreshed is None:
        return None
    series = pd.concat([evaluation.holdout.history, evaluation.holdout.actual])
    target = folder / REFRESHED_FOLDER
    target.mkdir(parents=True, exist_ok=True)
    with (target / "model.pkl").open("wb") as handle:
        pickle.dump(evaluation.refreshed, handle, protocol=pickle.HIGHEST_PROTOCOL)
    record = refreshed_record(
        info, evaluation.refreshed, series, frequency=frequency, run_key=run_key
    )
    (target / "model.json").write_text(json.dumps(record, indent=2))
    return {
        "folder": REFRESHED_FOLDER,
        "data_end": record["train_end"],
        "params_end": record["params_end"],
    }


# -- the plot ------------------------------------------------------------------------------


def model_label(model: dict[str, Any]) -> str:
    order, seasonal = model.get("order") or [], model.get("seasonal_order") or []
    if len(order) != 3:
        return "model"
    text = "ARIMA({},{},{})".format(*order)
    if len(seasonal) == 4 and seasonal[3] > 1:
        text += "({},{},{})[{}]".format(*seasonal)
    if model.get("trend") == "c":
        text += " + const"
    return text


# The plot's verdict line, until the service fills it in (see the module docstring).
VERDICT_ID = "retrain-verdict"
VERDICT_PLACEHOLDER = "verdict: decided by the promotion gate after this step (see the run report)"


def plot_title(metrics: dict[str, Any], run_key: str | None) -> str:
    """Model, run and metrics; the verdict is a line of its own above (VERDICT_ID)."""
    head = model_label(metrics.get("model") or {})
    if run_key:
        head += f"  ·  run {run_key}"
    parts = []
    for name, key in (("candidate", "candidate"), ("champion", "champion"), ("naive", "baseline")):
        sec = metrics.get(key)
        if isinstance(sec, dict):
            parts.append(f"{name} {sec['holdout']['mase']:.3f} / {sec['backtest']['mase']:.3f}")
        elif key == "champion" and metrics.get("champion_error"):
            parts.append("champion not scored")
    backtest = metrics["backtest"]
    return (
        f"{head}\nMASE holdout / backtest ({backtest['folds']} folds x {backtest['horizon']}): "
        + ", ".join(parts)
    )


def plot(path: Path, evaluation: Evaluation, run_key: str | None = None) -> None:
    """The forecast plot as PNG at ``path`` and as SVG beside it (``.svg``), the SVG with
    its text kept as text so the verdict line can be filled in later."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    window = evaluation.holdout
    history = window.history
    tail = history.iloc[-max(4 * len(window.actual), 48) :]
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(10, 6.5), gridspec_kw={"height_ratios": [3, 1.4]}
    )
    top.plot(tail.index, tail.to_numpy(), color="0.4", label="history")
    top.plot(window.actual.index, window.actual.to_numpy(), color="black", label="holdout")
    lines = [
        ("candidate", evaluation.candidate, "tab:blue", "-"),
        ("champion", evaluation.champion, "tab:green", "-."),
        ("seasonal naive", evaluation.baseline, "tab:orange", "--"),
    ]
    for label, scored, color, style in lines:
        if scored is None:
            continue
        fc = scored.holdout
        top.plot(window.actual.index, fc.mean, style, color=color, label=label)
        top.fill_between(window.actual.index, fc.lower, fc.upper, color=color, alpha=0.12)
    top.legend(loc="upper left", fontsize=8)
    top.set_title(plot_title(evaluation.metrics, run_key), fontsize=9)
    origins = [pd.Timestamp(w.origin) for w in evaluation.folds]
    for label, scored, color, _ in lines:
        if scored is None:
            continue
        fold_mase = [f["mase"] for f in scored.section["folds"]]
        bottom.plot(origins, fold_mase, "o-", color=color, label=label)
    bottom.set_ylabel("MASE per fold")
    bottom.set_xlabel("backtest origin")
    bottom.axhline(1.0, color="0.7", linewidth=0.8)
    fig.text(
        0.5, 0.995, VERDICT_PLACEHOLDER, ha="center", va="top", fontsize=8.5, weight="bold"
    ).set_gid(VERDICT_ID)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=100)
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "retrain"}):
        fig.savefig(path.with_suffix(".svg"), format="svg", metadata={"Date": None})
    plt.close(fig)


# -- experiment tracking ---------------------------------------------------------------------


def import_mlflow() -> Any:
    """The ``mlflow`` module when it is installed and a tracking URI is set (Azure ML sets
    ``MLFLOW_TRACKING_URI`` in step jobs, the local workspace sets an sqlite store); else
    None, with a log line. The step's results never depend on it."""
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        logger.info("MLflow: no MLFLOW_TRACKING_URI, not logging")
        return None
    try:
        import mlflow
    except ImportError:
        logger.info("MLflow: not installed, not logging")
        return None
    return mlflow


def tracking_metrics(metrics: dict[str, Any]) -> tuple[dict[str, float], list[tuple[str, float]]]:
    """MLflow metrics from metrics.json: ``<who>.<window>.<metric>`` values, and per-fold
    ``<who>.fold_mase`` values (the fold index is the MLflow step)."""
    values: dict[str, float] = {}
    folds: list[tuple[str, float]] = []
    for who in ("candidate", "champion", "baseline"):
        section = metrics.get(who)
        if not isinstance(section, dict):
            continue
        for window in ("holdout", "backtest"):
            for key in METRIC_KEYS:
                value = section[window][key]
                if np.isfinite(value):
                    values[f"{who}.{window}.{key}"] = float(value)
        folds += [(f"{who}.fold_mase", float(fold["mase"])) for fold in section["folds"]]
    return values, folds


def log_to_mlflow(
    metrics: dict[str, Any], folder: Path, client: Any = None, run_key: str | None = None
) -> bool:
    """Log the evaluation's parameters, metrics (per window and per fold), metrics.json and
    forecast.png to the active MLflow run (the step's run on Azure ML); True when logged.
    Failures are logged and swallowed: tracking is evidence, not the result. ``client``
    replaces the ``mlflow`` module (tests)."""
    mlflow = client or import_mlflow()
    if mlflow is None:
        return False
    attached = "MLFLOW_RUN_ID" in os.environ  # Azure ML: the step job's own run
    try:
        with mlflow.start_run(run_name=None if attached else f"{run_key or 'local'}-evaluate"):
            mlflow.log_params(
                {
                    "horizon": metrics["horizon"],
                    "season_length": metrics["season_length"],
                    "backtest_folds": metrics["backtest"]["folds"],
                    "backtest_horizon": metrics["backtest"]["horizon"],
                    "champion": metrics.get("champion") is not None,
                    "model": model_label(metrics.get("model") or {}),
                }
            )
            if run_key:
                mlflow.set_tag("retrain_run_key", run_key)
            if metrics.get("champion_error"):
                mlflow.set_tag("champion_error", str(metrics["champion_error"])[:500])
            values, folds = tracking_metrics(metrics)
            mlflow.log_metrics(values)
            steps: dict[str, int] = {}
            for key, value in folds:
                mlflow.log_metric(key, value, step=steps.setdefault(key, 0))
                steps[key] += 1
            for name in ("metrics.json", "forecast.png"):
                mlflow.log_artifact(str(folder / name))
    except Exception as exc:  # tracking must never fail the step
        logger.warning("MLflow: logging failed (%s: %s)", type(exc).__name__, exc)
        return False
    return True


# -- files and the command line --------------------------------------------------------------


def read_series(path: Path, frequency: str | None = None) -> pd.Series:
    try:
        frame = pd.read_csv(path, parse_dates=["timestamp"])
    except (OSError, ValueError) as exc:
        raise EvaluateError(f"{path} is unreadable: {exc}") from exc
    try:
        index = pd.DatetimeIndex(frame["timestamp"], freq=frequency)
    except ValueError as exc:
        raise EvaluateError(f"{path.name} is not evenly spaced at {frequency!r}") from exc
    return pd.Series(frame["value"].to_numpy(dtype=float), index=index)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prepared", type=Path, required=True, help="prep step output folder")
    parser.add_argument("--model", type=Path, required=True, help="train step output folder")
    parser.add_argument(
        "--champion", type=Path, default=None, help="the production model's folder (optional)"
    )
    parser.add_argument("--backtest_folds", type=int, default=0, help="0: automatic")
    parser.add_argument("--backtest_horizon", type=int, default=0, help="0: the model horizon")
    parser.add_argument("--run_key", default=None, help="shown in the plot title (optional)")
    parser.add_argument("--rerun_salt", default=None, help="ignored: makes a forced run's step new")
    parser.add_argument("--metrics", type=Path, required=True, help="output folder")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> Evaluation:
    """Read the inputs, evaluate, and return the evaluation (metrics not yet written)."""
    try:
        prep = json.loads((args.prepared / "prep.json").read_text())
        frequency, season_length = str(prep["frequency"]), int(prep["season_length"])
        train = read_series(args.prepared / "train.csv", frequency)
        holdout = read_series(args.prepared / "holdout.csv", frequency)
        with (args.model / "model_eval.pkl").open("rb") as handle:
            candidate = pickle.load(handle)
        model_info = json.loads((args.model / "model.json").read_text())
    except (OSError, KeyError, ValueError, pickle.UnpicklingError) as exc:
        raise EvaluateError(str(exc)) from exc
    champion, champion_model, champion_error = None, None, None
    if args.champion is not None:
        try:
            champion, champion_model = load_champion(args.champion, frequency)
        except ChampionError as exc:
            champion_error = str(exc)
    evaluation = evaluate(
        train,
        holdout,
        candidate,
        season_length=season_length,
        champion=champion,
        champion_error=champion_error,
        champion_params_end=(champion_model or {}).get("params_end"),
        backtest_folds=args.backtest_folds,
        backtest_horizon=args.backtest_horizon,
    )
    evaluation.metrics["model"] = {
        k: model_info.get(k) for k in ("order", "seasonal_order", "trend", "fallback_reason")
    } | {
        fit: {k: (model_info.get(fit) or {}).get(k) for k in ("train_start", "train_end", "n_obs")}
        for fit in ("evaluation_fit", "final_fit")
    }
    evaluation.metrics["champion_model"] = (
        champion_model if evaluation.champion is not None else None
    )
    if args.run_key:
        evaluation.metrics["run_key"] = args.run_key
    if args.champion is not None:
        evaluation.champion_info = read_model_json(args.champion)
    evaluation.frequency = frequency
    return evaluation


def summary(metrics: dict[str, Any]) -> str:
    parts = []
    for name in ("candidate", "champion", "baseline"):
        sec = metrics.get(name)
        if isinstance(sec, dict):
            parts.append(
                f"{name} MASE holdout {sec['holdout']['mase']:.3f} "
                f"backtest {sec['backtest']['mase']:.3f}"
            )
    if metrics.get("champion_error"):
        parts.append(f"champion not scored: {metrics['champion_error']}")
    return "evaluate: " + " | ".join(parts)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="evaluate: %(message)s", stream=sys.stdout)
    args = parse_args(argv)
    start = time.perf_counter()
    try:
        evaluation = run(args)
    except EvaluateError as exc:
        print(f"evaluate: {exc}", file=sys.stderr, flush=True)
        return 2
    args.metrics.mkdir(parents=True, exist_ok=True)
    evaluation.metrics["champion_refreshed"] = write_refreshed(
        args.metrics,
        evaluation,
        evaluation.champion_info,
        frequency=evaluation.frequency or "",
        run_key=args.run_key,
    )
    (args.metrics / "metrics.json").write_text(json.dumps(evaluation.metrics, indent=2))
    plot(args.metrics / "forecast.png", evaluation, args.run_key)
    print(summary(evaluation.metrics), flush=True)
    if log_to_mlflow(evaluation.metrics, args.metrics, run_key=args.run_key):
        print("evaluate: logged to MLflow", flush=True)
    print(f"evaluate: done in {time.perf_counter() - start:.2f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
