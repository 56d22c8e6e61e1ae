"""The train step's Box-Cox transform, for reading a registered model folder's forecasts in the
series' units: ``order_search/transform.py`` itself (``BoxCox.from_record`` and
``forecast_frame``), imported by path under a private name so it never clashes with the
``order_search`` package ``bench/order_search.py`` loads and reloads."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

SOURCE = (
    Path(__file__).resolve().parents[2]
    / "pipeline_defs"
    / "components"
    / "train"
    / "src"
    / "order_search"
    / "transform.py"
)
_NAME = "_replay_order_search_transform"


def transform_module() -> ModuleType:
    """The train step's ``order_search/transform.py`` (it imports nothing of its package;
    its ``BoxCox`` comes from the shared ``scoring`` package)."""
    if _NAME in sys.modules:
        return sys.modules[_NAME]
    _ensure_scoring()  # transform.py takes BoxCox from the shared package beside it
    spec = importlib.util.spec_from_file_location(_NAME, SOURCE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[_NAME] = module
    spec.loader.exec_module(module)
    return module


def _ensure_scoring() -> None:
    """Make the train step's ``scoring`` package importable, from its folder beside
    ``order_search`` (as the evaluate step's ``evaluation/metrics.py`` does)."""
    if "scoring" in sys.modules or importlib.util.find_spec("scoring") is not None:
        return
    folder = SOURCE.parents[1] / "scoring"
    spec = importlib.util.spec_from_file_location(
        "scoring", folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["scoring"] = module
    spec.loader.exec_module(module)


def from_record(record: Any) -> Any:
    """``BoxCox.from_record``: None for a null/absent record, ``ValueError`` for an unknown."""
    return transform_module().BoxCox.from_record(record)


def forward(values: np.ndarray, transform: Any) -> np.ndarray:
    """``values`` on the model's scale (values <= 0 become NaN: missing to the filter)."""
    values = np.asarray(values, dtype=float)
    return values if transform is None else np.asarray(transform.forward(values), dtype=float)


def mean_forecast(results: Any, steps: int, transform: Any) -> np.ndarray:
    """The point forecast in the series' units: ``forecast_frame``'s ``mean`` (the
    bias-adjusted back-transform with a transform, ``predicted_mean`` without)."""
    frame = transform_module().forecast_frame(results, steps, transform)
    return np.asarray(frame["mean"], dtype=float)
