"""Exact maximum-likelihood fit (statsmodels SARIMAX) and the results objects it builds."""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from statsmodels.tsa.statespace.sarimax import SARIMAX

from .constants import (
    BOUNDARY_PATIENCE,
    EXACT_FTOL,
    STATUS_FAILED,
    STATUS_NOT_CONVERGED,
    STATUS_OK,
    STATUS_OVER_BUDGET,
)
from .fits import _aicc, _Fit, _root_check, _since
from .specs import _Spec
from .statespace import forecast_moments

_EPSILON = float(np.finfo(float).eps)


def _sarimax(endog: Any, spec: _Spec, *, simple_differencing: bool) -> SARIMAX:
    return SARIMAX(
        endog,
        order=spec.order,
        seasonal_order=spec.seasonal_order,
        trend=spec.trend,
        simple_differencing=simple_differencing,
        concentrate_scale=True,
    )


class _AtBoundary(Exception):
    """Raised from the optimiser's callback when the iterates stay at the unit-root boundary.

    Exact ML on short series often drives an MA root onto the unit circle; such a fit is
    rejected by the root check in the end, and the remaining iterations (up to
    ``EXACT_MAXITER``, each costing a few likelihood evaluations) were most of the search's
    time on short annual series. After ``BOUNDARY_PATIENCE`` consecutive iterates within
    ``MIN_ROOT_MODULUS`` of the circle the fit is stopped and recorded as failed.
    """


class _OutOfTime(Exception):
    """Raised from the optimiser's callback when the search's deadline has passed."""

    def __init__(self, unconstrained: np.ndarray) -> None:
        super().__init__("deadline passed")
        self.unconstrained = unconstrained


def _fit_exact(
    endog: Any,
    spec: _Spec,
    start_params: Sequence[float],
    maxiter: int,
    deadline: float = math.inf,
    log_scale: float = 0.0,
    ftol: float = EXACT_FTOL,
) -> _Fit:
    """Refit one candidate by exact Gaussian ML; returns its parameters and exact AICc.

    ``deadline`` is a ``time.monotonic()`` value (system-wide on Linux, so valid in forked
    workers): past it the optimiser is stopped and the fit keeps the parameters it had
    reached, with status ``over_budget``. ``log_scale`` is ``log(s)`` when ``endog`` was
    divided by ``s``: the criterion is reported for the series in its own units. ``ftol``:
    L-BFGS stops when an iteration lowers the mean negative log-likelihood by less than this
    fraction (``EXACT_FTOL``, scipy's default, unless the caller chooses a looser one).
    """
    start = time.perf_counter()
    has_gaps = bool(np.isnan(np.asarray(endog, dtype=float)).any())
    messages: list[str] = []
    stopped = False
    streak = 0

    def check_deadline(xk: np.ndarray) -> None:
        nonlocal streak
        if time.monotonic() > deadline:
            raise _OutOfTime(np.array(xk, dtype=float))
        params = np.asarray(model.transform_params(np.asarray(xk, dtype=float)), dtype=float)
        reason = _root_check(spec, params[int(spec.constant) :])
        streak = streak + 1 if reason else 0
        if reason and streak >= BOUNDARY_PATIENCE:
            raise _AtBoundary(reason)

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = _sarimax(endog, spec, simple_differencing=not has_gaps)
            if model.k_params == 0:  # e.g. a random walk: only the concentrated scale
                params = np.array([])
            else:
                try:
                    params = model.fit(
                        start_params=np.asarray(start_params, dtype=float)
                        if start_params
                        else None,
                        method="lbfgs",
                        maxiter=maxiter,
                        disp=False,
                        cov_type="none",
                        low_memory=True,
                        callback=check_deadline,
                        return_params=True,
                        **_stopping(ftol),
                    )
                except _OutOfTime as out:
                    params = model.transform_params(out.unconstrained)
                    stopped = True
                except _AtBoundary as boundary:
                    why = (
                        f"{boundary} for {BOUNDARY_PATIENCE} optimiser iterations in a row: "
                        "stopped, the fit would be rejected"
                    )
                    return _Fit(spec, STATUS_FAILED, None, why, _since(start), "ml")
            llf, nobs = _loglike(model, np.asarray(params, dtype=float))
        messages = _warning_messages(caught)
    except Exception as exc:
        return _Fit(spec, STATUS_FAILED, None, f"exact fit failed: {exc}", _since(start), "ml")
    params = np.asarray(params, dtype=float)
    if not np.all(np.isfinite(params)) or not math.isfinite(llf):
        return _Fit(spec, STATUS_FAILED, None, "non-finite likelihood", _since(start), "ml")
    reason = _root_check(spec, params[int(spec.constant) :])
    if reason:
        return _Fit(spec, STATUS_FAILED, None, reason, _since(start), "ml")
    crit = _aicc(-2.0 * llf + 2.0 * nobs * log_scale, spec.n_coef + 1, nobs)
    converged = not any("ConvergenceWarning" in m for m in messages)
    status = STATUS_OK if converged else STATUS_NOT_CONVERGED
    if stopped:
        status = STATUS_OVER_BUDGET
        messages.insert(0, "optimizer stopped at the time budget; parameters reached so far")
    elif not converged:
        messages.insert(0, f"optimizer did not converge in {maxiter} iterations")
    return _Fit(
        spec,
        status,
        crit,
        "; ".join(messages),
        _since(start),
        "ml",
        params=tuple(float(v) for v in params),
    )


def _stopping(ftol: float) -> dict[str, float]:
    """The optimiser's stopping options for ``ftol``: none at the default (scipy's own
    ``factr``, so the default fit is exactly what it was before ``ftol`` existed)."""
    return {} if ftol == EXACT_FTOL else {"factr": ftol / _EPSILON}


def _loglike(model: SARIMAX, params: np.ndarray) -> tuple[float, int]:
    """Log-likelihood at ``params`` and the number of observations it is scored on.

    ``loglike`` runs the filter alone; ``filter`` also builds a results object, which cost
    as much as the refit's last iterations on short series. The periods the likelihood skips
    (``loglikelihood_burn``: the diffuse differencing states when gaps keep the model in
    levels) are known from the model. (The refit used to score ``filter(low_memory=True)``,
    whose concentrated scale differs from the filter's with gaps: -120.82 against
    -120.98 on the Nile with a gap; the optimiser and the returned results use the latter.)
    """
    return float(model.loglike(params)), int(model.nobs - model.loglikelihood_burn)


def _warning_messages(caught: list[warnings.WarningMessage]) -> list[str]:
    seen: list[str] = []
    for item in caught:
        text = f"{item.category.__name__}: {str(item.message).splitlines()[0][:160]}"
        if text not in seen:
            seen.append(text)
    return seen


def _results_for(endog: Any, spec: _Spec, params: Sequence[float] | np.ndarray) -> Any:
    """The statsmodels results object for the model in levels at the given parameters."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = _sarimax(endog, spec, simple_differencing=False)
        results = model.filter(np.asarray(params, dtype=float), cov_type="none")
    return _compact(results)


def _compact(results: Any) -> Any:
    """Drop the state-space model's cached Cython filter objects from a results object.

    statsmodels rebuilds them on demand (forecasting, ``append``), but pickling them makes
    ``model.pkl`` about four times larger (35 MB instead of 9 MB for a 38-state model on 176
    points). The object stays a plain ``SARIMAXResultsWrapper``.
    """
    models = {id(m): m for m in (results.model.ssm, results.filter_results.model)}
    for ssm in models.values():
        for attr in ("_kalman_filters", "_kalman_smoothers", "_simulators", "_statespaces"):
            if isinstance(getattr(ssm, attr, None), dict):
                setattr(ssm, attr, {})
    return results


def _forecast_is_finite(results: Any, steps: int) -> bool:
    """Whether the ``steps`` forecasts past the end of ``results`` have finite means and
    finite, non-negative variances (from the filter's output when the system is
    time-invariant, else statsmodels' ``get_forecast``)."""
    filtered = results.filter_results
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        moments = None
        if not getattr(results.model, "k_exog", 0):  # regressors: their future is not known
            moments = forecast_moments(filtered, int(filtered.nobs), steps)
        if moments is None:
            fc = results.get_forecast(steps)
            moments = (
                np.asarray(fc.predicted_mean, dtype=float),
                np.asarray(fc.var_pred_mean, dtype=float),
            )
    mean, var = moments
    return bool(np.all(np.isfinite(mean)) and np.all(np.isfinite(var)) and np.all(var >= 0))


def _nominal_model(endog: Any, spec: _Spec, constant: float, variance: float) -> Any:
    """Results at fixed parameters (no estimation), for degenerate series."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = SARIMAX(
            endog, order=spec.order, seasonal_order=spec.seasonal_order, trend=spec.trend
        )
        params = [constant, variance] if spec.constant else [variance]
        return _compact(model.filter(np.asarray(params, dtype=float), cov_type="none"))
