"""The refreshed champion: its parameters applied to all the data, written as a model folder."""

from __future__ import annotations

import json
import logging
import pickle
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .champion import _named_params, params_end_of
from .forecasters import apply_stored

if TYPE_CHECKING:
    from .core import Evaluation

logger = logging.getLogger(__name__)


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
