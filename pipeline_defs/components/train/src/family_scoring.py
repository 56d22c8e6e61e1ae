"""Per-series gate evidence for the family pipeline: the evaluate step's metrics.json
(schema 2) for one series, computed inside the parallel fit step.

``gate_metrics`` returns, for one series, exactly the document ``shared/gate.py::judge``
reads (the single-series evaluate step's ``metrics.json``, schema 2): the candidate (its
evaluation fit, estimated on the training split), the champion when the series has one
(its stored parameters applied to the new data, never re-estimated) and seasonal naive,
each scored on the holdout and on a rolling-origin backtest, with per-fold MASE, per-point
signed errors (actual - forecast) and ``out_of_sample`` marks.

The definitions are the evaluate step's, and so is the code: the metric formulas, the
seasonal-naive forecast and the backtest plan are the shared package ``scoring`` beside this
module, which evaluate.yml includes in the evaluate step's code (``additional_includes``);
``tests/family/test_family_pipeline_gate.py`` checks that both steps give the same numbers:

- holdout: the last ``horizon`` points, forecast from the training split; MASE scaled by
  ``mase_scale``, the in-sample seasonal-naive MAE of the training split (lag
  ``season_length``; lag 1 when the split holds one season or less);
- backtest: fold ``i`` forecasts ``backtest horizon`` steps from ``origins[i]``; folds are
  consecutive, do not overlap, and the last ends at the last observation; each fold's MASE
  is scaled by the seasonal-naive MAE of its own training window (the data up to its
  origin); the pooled backtest MASE is the mean of the folds' MASEs, the other pooled
  metrics are over all fold points;
- out-of-sample: a window is out-of-sample for a forecaster when all its targets come after
  ``params_end``, the last observation its parameters were estimated on (the candidate:
  the end of the training split; the champion: the end of the data its stored fit covers;
  seasonal naive: always).

What differs is only how a forecast from an origin is computed, not its value: evaluate
builds a new statsmodels model on the data up to each origin and filters it
(``results.apply(refit=False)``); here each forecaster's state-space model is filtered ONCE
over the whole series at its stored parameters (:class:`AppliedModel`) and each window is a
dynamic prediction from its origin, which gives the same point forecasts (the Kalman filter
up to the origin is the same computation) at a fraction of the cost. For models fitted with
a concentrated scale (the order search's), the innovation variance evaluate re-derives from
the data up to each origin is re-derived here from the same one-step errors
(:meth:`AppliedModel.scale_until`), so the intervals, hence coverage, agree too.

Defaults for families: ``backtest_folds`` 0 = as many folds as fit after three seasons, at
most :data:`AUTO_FOLDS`; ``backtest_horizon`` 0 = the model horizon.

Non-finite values are written as null (the rows are strict JSON); the gate treats null
like a non-finite value (fails closed).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd
from order_search import forecast_moments
from scoring import (
    INTERVAL_ALPHA,
    MAX_FOLDS,
    BacktestPlan,
    PlanError,
    coverage,
    mase_scale,
    naive_interval,
    point_metrics,
    seasonal_naive,
)
from scoring import backtest_plan as shared_backtest_plan
from scoring.boxcox import BoxCox

SCHEMA = 2
AUTO_FOLDS = MAX_FOLDS  # at ~2 ms per fold and forecaster, folds are cheap
_Z = NormalDist().inv_cdf(1 - INTERVAL_ALPHA / 2)


class ScoringError(ValueError):
    """The series cannot be scored (no backtest fits, the forecast is not finite...)."""


@dataclass(frozen=True)
class Forecast:
    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


def forecast_naive(history: np.ndarray, steps: int, season_length: int) -> Forecast:
    """Seasonal naive from ``history``: the last season (or value) repeated, with the
    empirical 80 % interval of its in-sample residuals widened by sqrt(seasons ahead)."""
    mean = seasonal_naive(history, steps, season_length)
    lower, upper = naive_interval(history, mean, season_length)
    return Forecast(mean, lower, upper)


# -- windows -------------------------------------------------------------------------------


def backtest_plan(
    n: int, *, model_horizon: int, season_length: int, folds: int = 0, horizon: int = 0
) -> BacktestPlan:
    """evaluate's plan (``scoring.backtest_plan``): ``folds``/``horizon`` 0 = automatic (at
    most :data:`AUTO_FOLDS`, the model horizon); ``ScoringError`` when none fits."""
    try:
        return shared_backtest_plan(
            n,
            model_horizon=model_horizon,
            season_length=season_length,
            folds=folds,
            horizon=horizon,
        )
    except PlanError as exc:
        raise ScoringError(str(exc)) from exc


@dataclass(frozen=True)
class Window:
    """Forecast ``steps`` values from ``origin`` (the number of observations seen)."""

    origin: int
    steps: int
    scale: float


# -- forecasters ---------------------------------------------------------------------------


class AppliedModel:
    """A state-space model's stored parameters applied to a whole series, never
    re-estimated: one Kalman filter pass; :meth:`forecast` from any origin inside it.

    ``model`` is any statsmodels SARIMAX model of the right specification (its own data is
    not used: the model is cloned onto ``series``). With a ``transform`` (the model was
    fitted on the Box-Cox transformed series, ``model_record``'s ``transform``) it is
    cloned onto the transformed series (``endog``; values <= 0 become missing, counted by
    :meth:`ignored_until`) and :meth:`forecast` back-transforms, as the evaluate step does:
    the bias-adjusted mean, the back-transformed interval bounds."""

    def __init__(
        self,
        model: Any,
        params: np.ndarray,
        series: pd.Series,
        transform: BoxCox | None = None,
    ) -> None:
        if getattr(model, "k_exog", 0):
            raise ScoringError("the model uses exogenous regressors; families have none")
        self.transform = transform
        self.endog = series
        self._skipped: np.ndarray | None = None
        if transform is not None:
            values = series.to_numpy(dtype=float)
            forward = transform.forward(values)
            self._skipped = np.cumsum(np.isfinite(values) & ~np.isfinite(forward))
            self.endog = pd.Series(forward, index=series.index, name=series.name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model = model.clone(self.endog)
            self.model.update(np.asarray(params, dtype=float))
            self.filtered = self.model.ssm.filter()
        self.params = np.asarray(params, dtype=float)
        self.concentrated = bool(self.model.ssm.filter_concentrated)
        self._scale_obs: np.ndarray | None = None

    def scale_until(self, origin: int) -> float:
        """The concentrated innovation variance a filter over the first ``origin``
        observations would estimate (statsmodels' formula: mean of v_t^2 / F_t after the
        burn-in and diffuse periods), so intervals match a model built on that data."""
        f = self.filtered
        if self._scale_obs is None:
            unscaled = f.forecasts_error_cov[0, 0, :] / f.scale
            with np.errstate(divide="ignore", invalid="ignore"):
                self._scale_obs = f.forecasts_error[0, :] ** 2 / unscaled
        start = max(int(f.loglikelihood_burn), int(f.nobs_diffuse))
        if origin <= start:
            raise ScoringError(f"origin {origin} is inside the filter's burn-in ({start})")
        return float(np.mean(self._scale_obs[start:origin]))

    def ignored_until(self, origin: int) -> int:
        """How many observed values before ``origin`` the transform could not take (<= 0,
        missing to the filter); 0 without a transform."""
        if self._skipped is None or origin <= 0:
            return 0
        return int(self._skipped[min(origin, self._skipped.size) - 1])

    def transform_note(self, origins: Sequence[int]) -> dict[str, Any] | None:
        """A section's ``transform`` (the evaluate step's: the record and ``ignored``, the
        most values <= 0 any window's history skipped), or None without a transform."""
        if self.transform is None:
            return None
        ignored = max((self.ignored_until(o) for o in origins), default=0)
        return self.transform.to_record() | {"ignored": ignored}

    def ends_finite(self) -> bool:
        """Whether the filtered state at the last observation (what a forecast from the
        end starts from) is finite."""
        state = np.asarray(self.filtered.filtered_state[:, -1], dtype=float)
        return bool(np.all(np.isfinite(state)))

    def forecast(self, origin: int, steps: int) -> Forecast:
        """``steps`` values from the data up to ``origin`` (exclusive), with the 80 %
        interval; ``ScoringError`` when they are not finite."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            moments = forecast_moments(self.filtered, origin, steps)
            if moments is None:
                predicted = self.filtered.predict(start=origin, end=origin + steps, dynamic=0)
                moments = (
                    np.asarray(predicted.forecasts[0, :steps], dtype=float),
                    np.asarray(predicted.forecasts_error_cov[0, 0, :steps], dtype=float),
                )
        mean, variance = moments
        if self.concentrated:
            variance = variance / self.filtered.scale * self.scale_until(origin)
        if mean.shape != (steps,) or not np.all(np.isfinite(mean)):
            raise ScoringError(f"the forecast from origin {origin} is not {steps} finite values")
        width = _Z * np.sqrt(np.maximum(variance, 0.0))
        lower, upper = mean - width, mean + width
        if self.transform is not None:
            mean = self.transform.mean(mean, variance)
            lower, upper = self.transform.inverse(lower), self.transform.inverse(upper)
            if not np.all(np.isfinite(mean)):
                raise ScoringError(
                    f"the back-transformed forecast from origin {origin} is not finite"
                )
        return Forecast(mean, lower, upper)


@dataclass(frozen=True)
class Combination:
    """Fits whose forecasts are averaged: ``members`` (each with ``model``, ``params`` and
    ``transform``, as an evaluation fit or a :class:`Champion` has) and their ``weights``
    (summing to 1). The family fit step combines the ``d = 1`` and ``d = 2`` searches of a
    yearly series near the second KPSS test's threshold (``family_fit.D_COMBINATION_MIN_KPSS``)."""

    members: tuple[Any, ...]
    weights: tuple[float, ...]


def usable_weights(weights: Sequence[Any]) -> bool:
    """Whether ``weights`` are numbers >= 0 summing to 1 (a combination's)."""
    try:
        values = [float(w) for w in weights]
    except (TypeError, ValueError):
        return False
    return bool(values) and all(v >= 0 for v in values) and math.isclose(sum(values), 1.0)


class CombinedModel:
    """:class:`AppliedModel` s whose forecasts are averaged with ``weights``: the point
    forecast and each interval bound are the weighted means of the members' (bounds
    averaged as quantiles, which keeps an interval at least as wide as the members'
    narrowest; Lichtendahl, Grushka-Cockayne and Winkler, 2013)."""

    def __init__(self, members: Sequence[AppliedModel], weights: Sequence[float]) -> None:
        self.members = list(members)
        if not usable_weights(weights) or len(weights) != len(self.members):
            raise ScoringError(
                f"a combination of {len(self.members)} models with weights {list(weights)}: "
                "one weight per model, >= 0, summing to 1"
            )
        self.weights = [float(w) for w in weights]

    def transform_note(self, origins: Sequence[int]) -> dict[str, Any] | None:
        """None when no member has a transform, else ``{"members": [note or None, ...]}``."""
        notes = [m.transform_note(origins) for m in self.members]
        return None if all(n is None for n in notes) else {"members": notes}

    def ends_finite(self) -> bool:
        return all(m.ends_finite() for m in self.members)

    def forecast(self, origin: int, steps: int) -> Forecast:
        parts = [m.forecast(origin, steps) for m in self.members]

        def mean_of(field: str) -> np.ndarray:
            return np.sum(
                [w * getattr(p, field) for w, p in zip(self.weights, parts, strict=True)], axis=0
            )

        return Forecast(mean_of("mean"), mean_of("lower"), mean_of("upper"))


def applied(
    fit: Any, series: pd.Series, transform: BoxCox | None = None
) -> AppliedModel | CombinedModel:
    """``fit`` (``model`` and ``params``, or a :class:`Combination`, or a :class:`Champion`
    with ``members``) applied to ``series``: an :class:`AppliedModel` or a
    :class:`CombinedModel`. ``transform`` is a single fit's (a combination's members and a
    champion carry their own)."""
    members = getattr(fit, "members", ())
    if members:
        return CombinedModel(
            [AppliedModel(m.model, m.params, series, m.transform) for m in members], fit.weights
        )
    return AppliedModel(fit.model, fit.params, series, transform)


# -- sections ------------------------------------------------------------------------------


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _clean(metrics: dict[str, float]) -> dict[str, float | None]:
    return {k: _finite(v) for k, v in metrics.items()}


def _window_metrics(actual: np.ndarray, forecast: Forecast, scale: float) -> dict[str, float]:
    return point_metrics(actual, forecast.mean, scale=scale) | {
        "coverage": coverage(actual, forecast.lower, forecast.upper)
    }


def section(
    values: np.ndarray,
    index: pd.DatetimeIndex,
    holdout: Window,
    folds: Sequence[Window],
    forecast: Any,
    params_end: pd.Timestamp | None,
    transform: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One forecaster's SECTION of metrics.json (schema 2). ``forecast(window)`` gives its
    :class:`Forecast`; ``params_end`` None = no estimated parameters (always out-of-sample);
    ``transform``: the section's ``transform`` key for a transformed model (as evaluate
    writes it; absent otherwise)."""

    def actual(w: Window) -> np.ndarray:
        return values[w.origin : w.origin + w.steps]

    def outside(w: Window) -> bool:
        return params_end is None or bool(index[w.origin] > params_end)

    h_forecast = forecast(holdout)
    fold_forecasts = [forecast(w) for w in folds]
    per_fold = [
        _window_metrics(actual(w), f, w.scale) for w, f in zip(folds, fold_forecasts, strict=True)
    ]
    pooled_actual = np.concatenate([actual(w) for w in folds])
    pooled = point_metrics(
        pooled_actual, np.concatenate([f.mean for f in fold_forecasts]), scale=1.0
    )
    pooled["mase"] = float(np.mean([m["mase"] for m in per_fold]))
    pooled["coverage"] = coverage(
        pooled_actual,
        np.concatenate([f.lower for f in fold_forecasts]),
        np.concatenate([f.upper for f in fold_forecasts]),
    )
    out = {
        "holdout": _clean(_window_metrics(actual(holdout), h_forecast, holdout.scale)),
        "backtest": _clean(pooled),
        "folds": [
            {
                "origin": index[w.origin - 1].isoformat(),
                "mase": _finite(m["mase"]),
                "errors": [_finite(float(e)) for e in actual(w) - f.mean],
                "out_of_sample": outside(w),
            }
            for w, f, m in zip(folds, fold_forecasts, per_fold, strict=True)
        ],
        "holdout_errors": [_finite(float(e)) for e in actual(holdout) - h_forecast.mean],
        "holdout_out_of_sample": outside(holdout),
        "params_end": params_end.isoformat() if params_end is not None else None,
    }
    if transform is not None:
        out["transform"] = transform
    return out


@dataclass(frozen=True)
class Champion:
    """A series' production model: its specification and stored parameters (``model``,
    ``params``), the last observation they were estimated on, and what to echo about it."""

    model: Any
    params: np.ndarray
    params_end: pd.Timestamp
    description: dict[str, Any]
    transform: BoxCox | None = None
    members: tuple[Champion, ...] = ()
    """A combination's member champions (``model``/``params`` are then the first's)."""
    weights: tuple[float, ...] = ()


def gate_metrics(
    series: pd.Series,
    *,
    horizon: int,
    season_length: int,
    candidate: Any,
    champion: Champion | None = None,
    champion_error: str | None = None,
    backtest_folds: int = 0,
    backtest_horizon: int = 0,
    transform: BoxCox | None = None,
) -> tuple[dict[str, Any], AppliedModel | CombinedModel | None]:
    """The metrics.json (schema 2) of one series, and the champion applied to all of it
    (None without a scored champion: the refreshed champion, forecasting from the last
    observation).

    ``series``: training split then holdout (the last ``horizon`` points), on a regular
    DatetimeIndex. ``candidate``: the evaluation fit (statsmodels results estimated on the
    training split; with ``transform``, of the transformed series: it is applied to the
    transformed data and its forecasts back-transformed), or a :class:`Combination` of
    such fits. The champion carries its own transform (or members). A champion that
    cannot be applied gives ``champion`` null and ``champion_error``; the candidate failing
    raises ``ScoringError``."""
    values = series.to_numpy(dtype=float)
    index = pd.DatetimeIndex(series.index)
    n = len(values)
    n_train = n - horizon
    if n_train < 2:
        raise ScoringError(f"{n} points cannot hold a training split and a holdout of {horizon}")
    plan = backtest_plan(
        n,
        model_horizon=horizon,
        season_length=season_length,
        folds=backtest_folds,
        horizon=backtest_horizon,
    )
    scale = mase_scale(values[:n_train], season_length)
    holdout = Window(n_train, horizon, scale)
    folds = [Window(o, plan.horizon, mase_scale(values[:o], season_length)) for o in plan.origins]

    def naive(w: Window) -> Forecast:
        return forecast_naive(values[: w.origin], w.steps, season_length)

    try:
        scored_model = applied(candidate, series, transform)
        scored = section(
            values,
            index,
            holdout,
            folds,
            _applied(scored_model),
            index[n_train - 1],
            scored_model.transform_note([holdout.origin, *(w.origin for w in folds)]),
        )
    except ScoringError as exc:
        raise ScoringError(f"the candidate: {exc}") from exc
    except Exception as exc:  # statsmodels can raise anything on a degenerate model
        raise ScoringError(f"the candidate: {type(exc).__name__}: {exc}") from exc
    baseline = section(values, index, holdout, folds, naive, None)
    champion_section: dict[str, Any] | None = None
    refreshed: AppliedModel | CombinedModel | None = None
    if champion is not None:
        try:
            refreshed = applied(champion, series, champion.transform)
            champion_section = section(
                values,
                index,
                holdout,
                folds,
                _applied(refreshed),
                champion.params_end,
                refreshed.transform_note([holdout.origin, *(w.origin for w in folds)]),
            )
            if not refreshed.ends_finite():
                raise ScoringError("its state at the last observation is not finite")
        except Exception as exc:  # the champion's own failure must never fail the series
            champion_error = f"the champion cannot be applied: {type(exc).__name__}: {exc}"
            champion_section, refreshed = None, None
    metrics: dict[str, Any] = {
        "schema": SCHEMA,
        "horizon": horizon,
        "season_length": season_length,
        "interval": 1 - INTERVAL_ALPHA,
        "holdout_start": index[n_train].isoformat(),
        "holdout_end": index[-1].isoformat(),
        "data_end": index[-1].isoformat(),
        "mase_scale": _finite(scale),
        "backtest": {
            "folds": len(folds),
            "horizon": plan.horizon,
            "origins": [index[w.origin - 1].isoformat() for w in folds],
        },
        "candidate": scored,
        "baseline": baseline | {"name": "seasonal_naive"},
        "champion": champion_section,
        "champion_error": champion_error if champion_section is None else None,
        "champion_refreshed": None,
        "champion_model": champion.description
        if champion_section is not None and champion
        else None,
    }
    if plan.note:
        metrics["backtest"]["note"] = plan.note
    return metrics, refreshed


def _applied(model: AppliedModel | CombinedModel) -> Any:
    def forecast(w: Window) -> Forecast:
        return model.forecast(w.origin, w.steps)

    return forecast
