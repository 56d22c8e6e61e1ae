"""Point metrics (MASE, sMAPE, RMSE, MAE), interval coverage and the seasonal-naive forecast.

The formulas live in the shared package ``scoring`` (``components/train/src/scoring``: one
copy for this step and the family fit step's gate evidence), which evaluate.yml includes
with ``additional_includes``: in the step's code snapshot it sits beside evaluate.py. Run
from the repository instead (tests, ``bench/replay.py``, the script by hand), the package is
loaded from its source folder, :data:`SHARED_SOURCE`, the path evaluate.yml names.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SHARED_PACKAGE = "scoring"
# The additional include of evaluate.yml, relative to the component's folder.
SHARED_SOURCE = "../train/src/scoring"


def _ensure_shared() -> None:
    """Make ``scoring`` importable when this code runs from the repository, not a snapshot."""
    if SHARED_PACKAGE in sys.modules or importlib.util.find_spec(SHARED_PACKAGE) is not None:
        return
    folder = (Path(__file__).resolve().parents[2] / SHARED_SOURCE).resolve()
    spec = importlib.util.spec_from_file_location(
        SHARED_PACKAGE, folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"the shared package {SHARED_PACKAGE!r} is not at {folder}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[SHARED_PACKAGE] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[SHARED_PACKAGE]
        raise


_ensure_shared()

from scoring.metrics import (  # noqa: E402
    INTERVAL_ALPHA,
    METRIC_KEYS,
    coverage,
    mase_scale,
    naive_interval,
    point_metrics,
    scaled,
    seasonal_naive,
)

_scaled = scaled  # the name this module used before the formulas moved

__all__ = [
    "INTERVAL_ALPHA",
    "METRIC_KEYS",
    "coverage",
    "mase_scale",
    "naive_interval",
    "point_metrics",
    "seasonal_naive",
]
