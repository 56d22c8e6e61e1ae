"""The champion: loaded from its model folder, described, scored at its stored parameters."""

from __future__ import annotations

import json
import logging
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import ChampionError
from .sections import UNKNOWN_END, Scored, score_applied
from .transform import BoxCox, transform_of
from .windows import Window

logger = logging.getLogger(__name__)


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
    """The champion's results object (its ``model.pkl``) and a description of it, whose
    ``transform`` is its model.json's transform record (null when it has none: a model in
    the series' own units; :func:`champion_transform` reads it back).

    Raises ``ChampionError`` when it cannot be used for a series at ``frequency``, or when
    its model.json records a transform this code cannot back-transform.
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
    try:
        transform = transform_of(info)
    except ValueError as exc:
        raise ChampionError(f"the champion's model.json: {exc}") from exc
    description = describe_model(results) | {
        "frequency": champion_frequency,
        "transform": dict(info["transform"]) if transform is not None else None,
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


def champion_transform(description: dict[str, Any] | None) -> BoxCox | None:
    """The transform of a champion described by :func:`load_champion` (None: none)."""
    return BoxCox.from_record((description or {}).get("transform"))


def score_champion(
    results: Any,
    holdout: Window,
    folds: Sequence[Window],
    params_end: pd.Timestamp | None,
    transform: BoxCox | None = None,
) -> Scored:
    """The champion at its stored parameters (applied to the transformed history and
    back-transformed when it has a ``transform``); ``ChampionError`` when it cannot
    forecast."""
    try:
        return score_applied(results, holdout, folds, params_end, transform)
    except Exception as exc:  # the champion's own failure must never fail the run
        raise ChampionError(f"the champion cannot be applied: {type(exc).__name__}: {exc}") from exc
