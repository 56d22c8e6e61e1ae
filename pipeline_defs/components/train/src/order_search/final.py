"""The final fit: the chosen model refitted on more data."""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .constants import CRITERION_NAME, EXACT_FTOL, EXACT_MAXITER, STATUS_FAILED, STATUS_OK
from .exact import _compact, _fit_exact, _forecast_is_finite, _results_for
from .fits import _aicc, _nobs_eff, _since
from .prepare import _prepare, _transformed
from .records import SearchResult, _finite_or_none
from .specs import _Spec
from .transform import BoxCox, forecast_frame


@dataclass
class FinalFit:
    """The chosen model refitted on a longer series (the production fit).

    ``method`` is ``"ml"`` for an exact maximum-likelihood refit (warm-started from the
    evaluation fit's parameters) or ``"applied"`` when the evaluation fit's parameters were
    applied to the longer series unchanged (models with fixed parameters, or a refit that
    failed; ``message`` says which). ``transform`` is the evaluation search's (the same
    ``lambda``, not re-estimated): ``results`` then models the transformed series, and
    :meth:`forecast` forecasts in the series' units.
    """

    results: Any
    criterion_name: str
    criterion: float | None
    method: str
    status: str
    message: str
    seconds: float
    n_obs: int
    transform: BoxCox | None = None

    def forecast(self, steps: int, *, alpha: float = 0.2) -> pd.DataFrame:
        """``mean``, ``lower``, ``upper`` for the next ``steps`` periods, in the series' units."""
        return forecast_frame(self.results, steps, self.transform, alpha=alpha)

    def to_record(self) -> dict[str, Any]:
        return {
            "transform": None if self.transform is None else self.transform.to_record(),
            "criterion_name": self.criterion_name,
            "criterion": _finite_or_none(self.criterion),
            "method": self.method,
            "status": self.status,
            "message": self.message,
            "seconds": round(self.seconds, 6),
            "n_obs": self.n_obs,
        }


def refit_final(
    y: Any,
    evaluation: SearchResult,
    *,
    time_budget_s: float = 60.0,
    maxiter: int = EXACT_MAXITER,
    ftol: float = EXACT_FTOL,
) -> FinalFit:
    """Refit the order ``evaluation`` chose on ``y`` (typically train + holdout).

    The order, seasonal order and trend stay as chosen; only the parameters are re-estimated,
    by exact ML on ``y`` divided by its standard deviation (as in the search), starting from
    the evaluation fit's parameters. Models the search built at fixed parameters (constant
    or deterministic series) and refits that fail, are not finite or break the root check
    keep the evaluation fit's parameters, applied to ``y`` (``results.apply``). A transform
    the evaluation search chose is applied to ``y`` with the same ``lambda``. ``ftol``: the
    refit's stopping rule (see ``search_order``'s ``exact_ftol``).
    """
    start = time.perf_counter()
    prepared = _prepare(y)
    transform = evaluation.transform
    if transform is not None:
        prepared = _transformed(prepared, transform)
    source = evaluation.results
    m = int(evaluation.seasonal_order[3]) if evaluation.seasonal_order[3] > 1 else 1
    p, d, q = evaluation.order
    sp, sd, sq = (int(v) for v in evaluation.seasonal_order[:3]) if m > 1 else (0, 0, 0)
    spec = _Spec(int(p), int(d), int(q), sp, sd, sq, m, evaluation.trend == "c")

    def applied(status: str, message: str) -> FinalFit:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results = _compact(source.apply(prepared.endog, refit=False))
        crit = _aicc(-2.0 * float(results.llf), spec.n_coef + 1, _nobs_eff(results))
        return FinalFit(
            results,
            CRITERION_NAME,
            crit,
            "applied",
            status,
            message,
            _since(start),
            prepared.n_obs,
            transform,
        )

    if not getattr(source.model, "concentrate_scale", False):
        return applied(STATUS_OK, "fixed-parameter model: parameters applied, not re-estimated")
    start_params = np.asarray(source.params, dtype=float).copy()
    if spec.constant and start_params.size:
        start_params[0] /= prepared.scale
    fit = _fit_exact(
        prepared.scaled_endog,
        spec,
        tuple(start_params),
        maxiter,
        time.monotonic() + time_budget_s,
        math.log(prepared.scale),
        ftol,
    )
    if fit.status == STATUS_FAILED or fit.criterion is None:
        return applied(fit.status, f"refit unusable ({fit.message}); evaluation parameters kept")
    params = np.asarray(fit.params, dtype=float).copy()
    if spec.constant and params.size:
        params[0] *= prepared.scale
    try:
        results = _results_for(prepared.endog, spec, params)
    except Exception as exc:
        return applied(STATUS_FAILED, f"refit unusable ({exc}); evaluation parameters kept")
    if not _forecast_is_finite(results, max(2, m)):
        return applied(STATUS_FAILED, "refit forecast not finite; evaluation parameters kept")
    crit = _aicc(-2.0 * float(results.llf), spec.n_coef + 1, _nobs_eff(results))
    return FinalFit(
        results,
        CRITERION_NAME,
        crit,
        "ml",
        fit.status,
        fit.message,
        _since(start),
        prepared.n_obs,
        transform,
    )
