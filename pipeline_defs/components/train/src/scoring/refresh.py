"""The refreshed champion's parameters: brought up to the last observation when the gate
keeps the champion.

The rule is the evaluate step's (``evaluation/refresh.py``): the champion's specification
(order, seasonal order, trend) is re-estimated on all the data by exact maximum likelihood,
warm-started from its stored parameters (method ``"ml"``). Its stored parameters are kept
instead (method ``"applied"``: the same model filtered over all the data) when the model has
fixed parameters or no concentrated scale (as the order search's fits have), or when the
refit fails, is not finite, has an AR or MA root within :data:`MIN_ROOT_MODULUS` of the unit
circle, or does not reach the likelihood of the stored parameters on the same data.

Works on any statsmodels state-space model of the champion's specification (its own data is
not used: the model is cloned onto the series); statsmodels itself is not imported here.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

MIN_ROOT_MODULUS = 1.01  # as the order search's root check
REFIT_MAXITER = 100  # as the order search's exact fits
METHOD_ML = "ml"
METHOD_APPLIED = "applied"


@dataclass(frozen=True)
class Refit:
    """The refreshed parameters, ``method`` (``"ml"`` re-estimated, ``"applied"`` the
    stored ones) and ``message`` (why, in words)."""

    params: np.ndarray
    method: str
    message: str


def refresh_params(model: Any, params: Any, series: pd.Series) -> Refit:
    """The champion's parameters for all of ``series`` (see the module docstring); never
    raises for a failing refit (the stored parameters are kept, and ``message`` says why)."""
    stored = np.asarray(params, dtype=float)
    if (
        getattr(model, "_has_fixed_params", False)
        or not getattr(model, "concentrate_scale", False)
        or not stored.size
    ):
        return Refit(
            stored, METHOD_APPLIED, "a model without free parameters: stored parameters applied"
        )
    problem: str | None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            target = model.clone(series)
            applied_llf = float(target.loglike(stored))
            refitted = refit(model, stored, series)
            fitted = target.filter(refitted, cov_type="none")
            problem = None
            if not (
                np.all(np.isfinite(refitted))
                and math.isfinite(float(fitted.llf))
                and _finite_forecast(fitted)
            ):
                problem = "the refit is not finite"
            elif min_root_modulus(fitted) < MIN_ROOT_MODULUS:
                problem = f"the refit has a root within {MIN_ROOT_MODULUS} of the unit circle"
            elif not float(fitted.llf) >= applied_llf:
                problem = "the refit's likelihood is below the stored parameters'"
    except Exception as exc:  # statsmodels can raise anything on a degenerate model
        problem = f"the refit failed: {type(exc).__name__}: {exc}"
    if problem is not None:
        return Refit(stored, METHOD_APPLIED, f"{problem}; stored parameters applied")
    return Refit(
        refitted,
        METHOD_ML,
        "specification re-estimated on all the data by exact ML, warm-started from the "
        "stored parameters",
    )


def refit(model: Any, params: np.ndarray, series: pd.Series) -> np.ndarray:
    """``model``'s specification re-estimated on ``series`` by exact ML (L-BFGS, at most
    :data:`REFIT_MAXITER` iterations), warm-started from ``params``; like the order search,
    on the series divided by its standard deviation (the intercept scaled with it)."""
    values = series.to_numpy(dtype=float)
    scale = float(np.nanstd(values)) or 1.0
    names = list(model.param_names)
    start = np.asarray(params, dtype=float).copy()
    constant = bool(names) and names[0] == "intercept"
    if constant:
        start[0] /= scale
    scaled = model.clone(series / scale)
    estimated = np.asarray(
        scaled.fit(
            start_params=start,
            method="lbfgs",
            maxiter=REFIT_MAXITER,
            disp=False,
            cov_type="none",
            return_params=True,
        ),
        dtype=float,
    )
    if constant:
        estimated[0] *= scale
    return estimated


def min_root_modulus(results: Any) -> float:
    """The smallest modulus of the fitted AR and MA roots (inf without any)."""
    roots = [np.abs(np.asarray(r)) for r in (results.arroots, results.maroots) if len(r)]
    return float(min((r.min() for r in roots), default=math.inf))


def _finite_forecast(results: Any) -> bool:
    mean = np.asarray(results.get_forecast(1).predicted_mean, dtype=float)
    return bool(np.all(np.isfinite(mean)))
