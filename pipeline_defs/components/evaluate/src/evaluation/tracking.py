"""Experiment tracking: the evaluation's parameters, metrics and files logged with MLflow."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from .metrics import METRIC_KEYS
from .plot import model_label

logger = logging.getLogger(__name__)


def import_mlflow() -> Any:
    """The ``mlflow`` module when it is installed and a tracking URI is set (Azure ML sets
    ``MLFLOW_TRACKING_URI`` in step jobs, the local workspace sets an sqlite store); else
    None, with a log line. The step's results never depend on it."""
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        logger.info("MLflow: no MLFLOW_TRACKING_URI, not logging")
        return None
    try:
        import mlflow
    except ImportError:
        logger.info("MLflow: not installed, not logging")
        return None
    return mlflow


def tracking_metrics(metrics: dict[str, Any]) -> tuple[dict[str, float], list[tuple[str, float]]]:
    """MLflow metrics from metrics.json: ``<who>.<window>.<metric>`` values, and per-fold
    ``<who>.fold_mase`` values (the fold index is the MLflow step)."""
    values: dict[str, float] = {}
    folds: list[tuple[str, float]] = []
    for who in ("candidate", "champion", "baseline"):
        section = metrics.get(who)
        if not isinstance(section, dict):
            continue
        for window in ("holdout", "backtest"):
            for key in METRIC_KEYS:
                value = section[window][key]
                if np.isfinite(value):
                    values[f"{who}.{window}.{key}"] = float(value)
        folds += [(f"{who}.fold_mase", float(fold["mase"])) for fold in section["folds"]]
    return values, folds


def log_to_mlflow(
    metrics: dict[str, Any], folder: Path, client: Any = None, run_key: str | None = None
) -> bool:
    """Log the evaluation's parameters, metrics (per window and per fold), metrics.json and
    forecast.png to the active MLflow run (the step's run on Azure ML); True when logged.
    Failures are logged and swallowed: tracking is evidence, not the result. ``client``
    replaces the ``mlflow`` module (tests)."""
    mlflow = client or import_mlflow()
    if mlflow is None:
        return False
    attached = "MLFLOW_RUN_ID" in os.environ  # Azure ML: the step job's own run
    try:
        with mlflow.start_run(run_name=None if attached else f"{run_key or 'local'}-evaluate"):
            mlflow.log_params(
                {
                    "horizon": metrics["horizon"],
                    "season_length": metrics["season_length"],
                    "backtest_folds": metrics["backtest"]["folds"],
                    "backtest_horizon": metrics["backtest"]["horizon"],
                    "champion": metrics.get("champion") is not None,
                    "model": model_label(metrics.get("model") or {}),
                }
            )
            if run_key:
                mlflow.set_tag("retrain_run_key", run_key)
            if metrics.get("champion_error"):
                mlflow.set_tag("champion_error", str(metrics["champion_error"])[:500])
            values, folds = tracking_metrics(metrics)
            mlflow.log_metrics(values)
            steps: dict[str, int] = {}
            for key, value in folds:
                mlflow.log_metric(key, value, step=steps.setdefault(key, 0))
                steps[key] += 1
            for name in ("metrics.json", "forecast.png"):
                mlflow.log_artifact(str(folder / name))
    except Exception as exc:  # tracking must never fail the step
        logger.warning("MLflow: logging failed (%s: %s)", type(exc).__name__, exc)
        return False
    return True
