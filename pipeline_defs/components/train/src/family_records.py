"""The family's models files: what a fitted series is stored as, and what rebuilds it.

``models/<shard>.pkl`` = pickle of ``{"schema": MODELS_SCHEMA, "models": {unique_id:
record}, "refreshed": {unique_id: record}}``. A record is a SARIMAX fit
(:func:`model_record`: its constructor arguments, parameters and data; :func:`rebuild`
gives the statsmodels results back with one filter pass) or, for a yearly series forecast
by the mean of two fits, a combination of two such records (:func:`combination_record`).
:func:`forecast_record` forecasts either kind. A pickled results object would hold
state-sized arrays for every observation (3 MB for one M3 monthly series against a few kB
for the record): the records keep memory per worker flat and the upload small.
"""

from __future__ import annotations

import os
import pickle
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from family_scoring import usable_weights
from order_search import forecast_frame
from scoring.boxcox import BoxCox

MODELS_SCHEMA = "family-models/1"
COMBINATION = "Combination"  # combination_record's class


def write_models(
    path: Path, models: dict[str, Any], refreshed: dict[str, Any] | None = None
) -> None:
    """The models file of a shard: the final fits and the refreshed champions by id."""
    temporary = path.with_name(f".{path.name}.tmp")
    content = {"schema": MODELS_SCHEMA, "models": models, "refreshed": refreshed or {}}
    with temporary.open("wb") as handle:
        pickle.dump(content, handle, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(temporary, path)


def combination_parts(record: dict[str, Any]) -> tuple[list[dict[str, Any]], list[float]]:
    """A combination record's member records and weights; ``ValueError`` when it has no
    members, its weights are not one number >= 0 per member summing to 1, or a member is
    not a SARIMAX record (combinations do not nest)."""
    members = record.get("members")
    weights = record.get("weights")
    if not isinstance(members, list) or not members or not isinstance(weights, list):
        raise ValueError("a combination without members or weights")
    if len(weights) != len(members) or not usable_weights(weights):
        raise ValueError(
            f"a combination of {len(members)} models with weights {weights}: "
            "one weight per model, >= 0, summing to 1"
        )
    if any(not isinstance(m, dict) or m.get("class") != "SARIMAX" for m in members):
        raise ValueError("a combination's members must be SARIMAX records")
    return members, [float(w) for w in weights]


def combination_record(
    members: list[dict[str, Any]], weights: list[float], series: pd.Series
) -> dict[str, Any]:
    """A models-file record whose forecast is the weighted mean of its ``members``' (each a
    :func:`model_record` with its ``evaluation``): see :func:`forecast_record`."""
    return {
        "class": COMBINATION,
        "weights": [float(w) for w in weights],
        "members": members,
        "start": series.index[0].isoformat(),
        "freq": series.index.freqstr,
        "n_obs": len(series),
    }


def forecast_record(record: dict[str, Any], steps: int, *, alpha: float = 0.2) -> pd.DataFrame:
    """``steps`` forecasts from the end of a models-file record's data, in the series'
    units: ``mean``, ``lower``, ``upper`` (``1 - alpha`` interval). A combination's are the
    weighted means of its members' (each :func:`rebuild` and back-transformed)."""
    if record.get("class") == COMBINATION:
        frames = [forecast_record(m, steps, alpha=alpha) for m in record["members"]]
        return weighted_mean(frames, record["weights"])
    results = rebuild(record)
    return forecast_frame(results, steps, BoxCox.from_record(record.get("transform")), alpha=alpha)


def weighted_mean(frames: list[pd.DataFrame], weights: Any) -> pd.DataFrame:
    """The members' forecast frames (``mean``, ``lower``, ``upper``) averaged with ``weights``."""
    total = frames[0] * 0.0
    for weight, frame in zip(weights, frames, strict=True):
        total = total + float(weight) * frame
    return total


def model_record(
    results: Any, series: pd.Series, transform: BoxCox | None = None
) -> dict[str, Any]:
    """What rebuilds ``results`` exactly: its SARIMAX arguments, parameters and data.

    ``endog`` is the series in its own units; ``transform`` (null, or model.json's Box-Cox
    record) says the model was fitted on the transformed series: :func:`rebuild` transforms
    ``endog`` before filtering, and every consumer back-transforms the forecasts (the
    bias-adjusted mean, ``order_search.forecast_frame``)."""
    return record_of(results.model, results.params, series, transform)


def record_of(
    model: Any, params: Any, series: pd.Series, transform: BoxCox | None = None
) -> dict[str, Any]:
    return {
        "class": type(model).__name__,
        "init": model._get_init_kwds(),
        "params": np.asarray(params, dtype=float).tolist(),
        "param_names": list(getattr(model, "param_names", [])),
        "endog": series.to_numpy(dtype=float).tolist(),
        "start": series.index[0].isoformat(),
        "freq": series.index.freqstr,
        "transform": None if transform is None else transform.to_record(),
    }


def rebuild(record: dict[str, Any]) -> Any:
    """The statsmodels results object a ``model_record`` describes (forecasts start right
    after the series' last observation, on its dates). With a ``transform`` it models the
    transformed series: back-transform its forecasts with
    ``order_search.forecast_frame(results, steps, BoxCox.from_record(record["transform"]))``."""
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    if record["class"] == COMBINATION:
        raise ValueError(
            "a combination has no single results object: rebuild each of its 'members', "
            "or forecast it with forecast_record"
        )
    if record["class"] != "SARIMAX":
        raise ValueError(f"cannot rebuild a {record['class']} model")
    index = pd.date_range(record["start"], periods=len(record["endog"]), freq=record["freq"])
    endog = pd.Series(record["endog"], index=index, dtype=float)
    transform = BoxCox.from_record(record.get("transform"))
    if transform is not None:
        endog = pd.Series(transform.forward(endog.to_numpy()), index=index)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = SARIMAX(endog, **record["init"])
        return model.filter(np.asarray(record["params"], dtype=float), cov_type="none")
