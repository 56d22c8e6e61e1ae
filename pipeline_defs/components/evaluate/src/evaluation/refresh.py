"""The refreshed champion: brought up to the last observation when the gate keeps it, and
written as a model folder.

The production model must be current: after a promotion it is the candidate's final fit
(its order re-estimated on all the data by the train step). When the gate refuses the
candidate, the champion stays, and it is brought up to date the same way: its
specification (order, seasonal order, trend) re-estimated on all the data by exact maximum
likelihood, warm-started from its stored parameters (method ``"ml"``). Its stored
parameters are applied unchanged instead (method ``"applied"``, the same model filtered
over all the data) when the model has fixed parameters or no concentrated scale (as the
train step's final fit does), or when the refit fails, is not finite, has an AR or MA root
within :data:`MIN_ROOT_MODULUS` of the unit circle, or does not reach the likelihood of the
stored parameters on the same data. The gate compared models (specifications); the
parameters of the one kept are estimated on all the data, as AutoARIMA refitted at each
arrival would do and as a promoted candidate's are.

A champion with a transform (its model.json's ``transform``, see ``transform.py``) is
refreshed on the transformed data with its own transform (values <= 0 skipped as missing,
as the train step's fits do), and the refreshed folder's model.json keeps the same
``transform`` record, so whoever reads the new pickle back-transforms it the same way.
"""

from __future__ import annotations

import json
import logging
import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .champion import _named_params, params_end_of
from .forecasters import apply_stored
from .transform import BoxCox, to_model_scale

# isort: split
from scoring.refresh import (  # the rule: one copy, with the family fit step's
    METHOD_APPLIED,
    METHOD_ML,
    MIN_ROOT_MODULUS,
    REFIT_MAXITER,
    refresh_params,
)

if TYPE_CHECKING:
    from .core import Evaluation

logger = logging.getLogger(__name__)

__all__ = [
    "METHOD_APPLIED",
    "METHOD_ML",
    "MIN_ROOT_MODULUS",
    "REFIT_MAXITER",
    "REFRESHED_FOLDER",
    "Refresh",
    "refit",
    "refresh_champion",
    "refreshed_record",
    "write_refreshed",
]


@dataclass(frozen=True)
class Refresh:
    """The champion brought up to the last observation: ``results`` (statsmodels results
    on all the data, on the scale of ``transform``), ``method`` (``"ml"`` re-estimated,
    ``"applied"`` stored parameters), ``message`` (why, in words) and ``transform`` (the
    champion's own, None for none)."""

    results: Any
    method: str
    message: str
    transform: BoxCox | None = None


def _finite_forecast(results: Any) -> bool:
    mean = np.asarray(results.get_forecast(1).predicted_mean, dtype=float)
    return bool(np.all(np.isfinite(mean)))


def refit(results: Any, series: pd.Series) -> Any:
    """``results``' specification re-estimated on ``series`` (``scoring.refresh.refit``:
    exact ML warm-started from its parameters), as results filtered over ``series``."""
    from scoring.refresh import refit as refit_params

    params = refit_params(results.model, np.asarray(results.params, dtype=float), series)
    return results.model.clone(series).filter(params, cov_type="none")


def refresh_champion(
    results: Any, series: pd.Series, transform: BoxCox | None = None
) -> Refresh | None:
    """The champion brought up to the last observation of ``series`` (training split and
    holdout, in the series' units): see the module docstring; with the champion's
    ``transform``, on the transformed data. None when not even its stored parameters can be
    applied to the data."""
    on_scale = to_model_scale(series, transform)
    if on_scale.ignored:
        logger.warning(
            "champion refresh: %d value(s) <= 0 cannot take its transform; skipped as missing",
            on_scale.ignored,
        )
    series = on_scale.series
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            applied = apply_stored(results, series)
            finite = _finite_forecast(applied)
    except Exception as exc:  # the champion's own failure must never fail the run
        logger.warning("the champion cannot be refreshed: %s: %s", type(exc).__name__, exc)
        return None
    if not finite:
        logger.warning("the refreshed champion's forecast is not finite; not refreshed")
        return None
    decided = refresh_params(results.model, results.params, series)
    if decided.method != METHOD_ML:
        logger.warning("champion refresh: %s", decided.message)
        return Refresh(applied, METHOD_APPLIED, decided.message, transform)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = results.model.clone(series).filter(decided.params, cov_type="none")
    where = "all the data" if transform is None else f"all the data ({transform.describe()})"
    return Refresh(
        fitted,
        METHOD_ML,
        f"specification re-estimated on {where} by exact ML, warm-started from the stored "
        "parameters",
        transform,
    )


REFRESHED_FOLDER = "champion_refreshed"


def refreshed_record(
    info: dict[str, Any],
    refreshed: Any,
    series: pd.Series,
    *,
    frequency: str,
    run_key: str | None,
    method: str = METHOD_APPLIED,
    message: str = "",
) -> dict[str, Any]:
    """model.json of the refreshed champion folder: the champion's own record (order,
    fits, frequency; without its search log) with the top level describing the new
    model.pkl (the data its state covers) and ``params_end`` the last observation its
    parameters were estimated on: the data's end when re-estimated (``method`` "ml"), the
    champion's own ``params_end`` when its parameters were applied (``"applied"``).
    ``transform`` is the champion's own record (null when it has none): the refreshed
    pickle models the same scale as the champion's."""
    record = {k: v for k, v in info.items() if k != "search"}
    data_end = series.index[-1].isoformat()
    previous_end = params_end_of(info)
    params_end = data_end if method == METHOD_ML else previous_end
    return record | {
        "frequency": info.get("frequency") or frequency,
        "train_start": series.index[0].isoformat(),
        "train_end": data_end,
        "n_obs": int(series.notna().sum()),
        "transform": info.get("transform"),
        "params_end": params_end,
        "refreshed": {
            "method": method,
            "message": message,
            "previous_train_end": info.get("train_end"),
            "previous_params_end": previous_end,
            "params_end": params_end,
            "data_end": data_end,
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
    refreshed; returns what metrics.json says about it (``champion_refreshed``: ``folder``,
    ``data_end``, ``params_end``, ``method``), or None."""
    refresh = evaluation.refresh
    if refresh is None:
        return None
    series = pd.concat([evaluation.holdout.history, evaluation.holdout.actual])
    series = to_model_scale(series, refresh.transform).series  # n_obs: what the pickle saw
    target = folder / REFRESHED_FOLDER
    target.mkdir(parents=True, exist_ok=True)
    with (target / "model.pkl").open("wb") as handle:
        pickle.dump(refresh.results, handle, protocol=pickle.HIGHEST_PROTOCOL)
    record = refreshed_record(
        info,
        refresh.results,
        series,
        frequency=frequency,
        run_key=run_key,
        method=refresh.method,
        message=refresh.message,
    )
    (target / "model.json").write_text(json.dumps(record, indent=2))
    return {
        "folder": REFRESHED_FOLDER,
        "data_end": record["train_end"],
        "params_end": record["params_end"],
        "method": refresh.method,
    }
