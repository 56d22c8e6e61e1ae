"""The family fit step's optional ``champions`` input: each series' production model.

The service prepares the folder before submitting (``retrain/<run key>/champions/``)::

    champions.json = {"schema": "family-champions/1",
                      "series": {"<unique_id>": {"run_key": "<R>", "version": <int>,
                                                 "model_file": "<R>/shard-00005.pkl",
                                                 "key": absent | "refreshed"}}}

``model_file`` is relative to the folder and is a models file of an earlier family run
(``family-models/1``: ``{"models": {unique_id: record}, "refreshed": {unique_id: record}}``,
see ``family_records``: a SARIMAX record, or a combination record for a yearly series
forecast by the mean of two fits, whose champion is then the mean of its members');
``key: "refreshed"`` names the record under ``refreshed`` (a champion that run's gate kept,
refreshed on its data), else the one under ``models``. A
series absent from ``series`` has no champion (its gate is the first-model gate). The
champion is the record's specification and stored parameters, applied to the new data by
the scoring (never re-estimated); its parameters were estimated on the record's own data,
so ``params_end`` is that data's last timestamp.

Nothing here fails the step: a missing or unreadable index or models file, a series absent
from its models file, another frequency or model class become that series'
``champion_error`` (the gate then fails closed for it, as for a single series).
"""

from __future__ import annotations

import json
import logging
import pickle
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from family_records import COMBINATION, combination_parts
from family_scoring import Champion
from scoring.boxcox import BoxCox

logger = logging.getLogger(__name__)

CHAMPIONS_SCHEMA = "family-champions/1"
REFRESHED = "refreshed"
INDEX_FILE = "champions.json"
_CACHED_FILES = 4


class Champions:
    """The champions index of a run and its models files (a few kept loaded at a time)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.series: dict[str, dict[str, Any]] = {}
        self.error: str | None = None
        self._files: OrderedDict[str, dict[str, Any] | str] = OrderedDict()
        try:
            index = json.loads((root / INDEX_FILE).read_text(encoding="utf-8"))
            if not isinstance(index, dict) or index.get("schema") != CHAMPIONS_SCHEMA:
                raise ValueError(f"schema is not {CHAMPIONS_SCHEMA!r}")
            series = index.get("series")
            if not isinstance(series, dict):
                raise ValueError("'series' is not an object")
            self.series = {str(k): v for k, v in series.items() if isinstance(v, dict)}
        except (OSError, ValueError) as exc:
            self.error = f"{INDEX_FILE} in the champions input is unusable: {exc}"
            logger.warning("%s", self.error)
        logger.info("champions %s: %d series", root, len(self.series))

    def entry(self, uid: str) -> dict[str, Any] | None:
        """What champions.json says about ``uid`` (None: no champion)."""
        return self.series.get(uid)

    def champion(self, uid: str, frequency: str) -> tuple[Champion | None, str | None]:
        """``uid``'s champion, or (None, why not); (None, None) when it has none."""
        if self.error is not None:
            return None, self.error
        entry = self.series.get(uid)
        if entry is None:
            return None, None
        name = entry.get("model_file")
        if not isinstance(name, str) or not name:
            return None, f"champions.json gives no model_file for series {uid!r}"
        content = self._models(name)
        if isinstance(content, str):
            return None, content
        section = REFRESHED if entry.get("key") == REFRESHED else "models"
        records = content.get(section)
        record = records.get(uid) if isinstance(records, dict) else None
        if not isinstance(record, dict):
            what = "refreshed champion" if section == REFRESHED else "fit"
            return None, f"{name} holds no {what} of series {uid!r}"
        try:
            return champion_of(record, frequency, entry), None
        except Exception as exc:  # a foreign or corrupt record can raise anything
            return None, f"the champion in {name} cannot be used: {type(exc).__name__}: {exc}"

    def _models(self, name: str) -> dict[str, Any] | str:
        if name in self._files:
            self._files.move_to_end(name)
            return self._files[name]
        path = self.root / name
        loaded: dict[str, Any] | str
        try:
            with path.open("rb") as handle:
                content = pickle.load(handle)
            models = content.get("models") if isinstance(content, dict) else None
            if not isinstance(models, dict):
                raise ValueError("not a family models file")
            loaded = content
        except Exception as exc:  # a corrupt pickle can raise anything
            loaded = f"champion models file {name} is unreadable: {type(exc).__name__}: {exc}"
            logger.warning("%s", loaded)
        self._files[name] = loaded
        while len(self._files) > _CACHED_FILES:
            self._files.popitem(last=False)
        return loaded


def _same_frequency(a: Any, b: Any) -> bool:
    try:
        return bool(pd.tseries.frequencies.to_offset(a) == pd.tseries.frequencies.to_offset(b))
    except (ValueError, TypeError):
        return False


def champion_of(record: dict[str, Any], frequency: str, entry: dict[str, Any]) -> Champion:
    """The champion a models-file record describes (``family_records.model_record``'s shape, or
    ``family_records.combination_record``'s: then its members' champions, averaged by the scoring;
    its ``params_end`` is the latest of its members', so a window is out-of-sample only
    when it is for every member)."""
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    if record.get("class") == COMBINATION:
        return _combination_of(record, frequency, entry)
    if record.get("class") != "SARIMAX":
        raise ValueError(f"a {record.get('class')!r} model, not SARIMAX")
    if not _same_frequency(record.get("freq"), frequency):
        raise ValueError(
            f"the champion was fitted at frequency {record.get('freq')!r}, this series is "
            f"{frequency!r}"
        )
    endog = np.asarray(record["endog"], dtype=float)
    index = pd.date_range(record["start"], periods=len(endog), freq=record["freq"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = SARIMAX(pd.Series(endog, index=index), **record["init"])
    params = np.asarray(record["params"], dtype=float)
    if params.shape != (len(model.param_names),):
        raise ValueError(f"{params.size} parameters for a model with {len(model.param_names)}")
    # A record with a transform models the transformed series (``family_records.model_record``);
    # one this code cannot back-transform is an error, never ignored.
    transform = BoxCox.from_record(record.get("transform"))
    # A refreshed record's parameters were estimated on older data than it holds.
    params_end = pd.Timestamp(record["params_end"]) if record.get("params_end") else index[-1]
    names = list(record.get("param_names") or model.param_names)
    description = {
        "order": [int(v) for v in model.order],
        "seasonal_order": [int(v) for v in model.seasonal_order],
        "trend": model.trend,
        "frequency": record["freq"],
        "train_end": params_end.isoformat(),
        "params_end": params_end.isoformat(),
        "n_obs": len(endog),
        "params": dict(zip(names, params.tolist(), strict=False)),
        "run_key": entry.get("run_key"),
        "version": entry.get("version"),
        "model_file": entry.get("model_file"),
        "transform": None if transform is None else dict(record["transform"]),
    }
    return Champion(model, params, params_end, description, transform)


def _combination_of(record: dict[str, Any], frequency: str, entry: dict[str, Any]) -> Champion:
    members, weights = combination_parts(record)
    parts = tuple(champion_of(member, frequency, entry) for member in members)
    params_end = max(part.params_end for part in parts)
    first = parts[0]
    description = first.description | {
        "train_end": params_end.isoformat(),
        "params_end": params_end.isoformat(),
        "combination": {
            "weights": weights,
            "members": [
                {
                    key: part.description[key]
                    for key in (
                        "order",
                        "seasonal_order",
                        "trend",
                        "params_end",
                        "params",
                        "transform",
                    )
                }
                for part in parts
            ],
        },
    }
    return Champion(
        first.model,
        first.params,
        params_end,
        description,
        first.transform,
        members=parts,
        weights=tuple(weights),
    )
