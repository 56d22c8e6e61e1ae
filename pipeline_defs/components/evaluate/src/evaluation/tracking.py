"""Experiment tracking: the evaluation's parameters, metrics and files logged with MLflow.

On Azure ML the step job's own run is active (``MLFLOW_RUN_ID``) and its artifacts go to the
job. Locally the workspace gives the steps an sqlite store (``MLFLOW_TRACKING_URI=
sqlite:///<workspace>/mlflow.db``); MLflow's default experiment would then keep artifacts in
``./mlruns`` under the step's working directory, which locally is the component's code
folder (checked with MLflow 3.17.2). So a local run goes to the experiment
``MLFLOW_EXPERIMENT_NAME`` (default :data:`LOCAL_EXPERIMENT`), created with its artifacts
in ``mlartifacts/<experiment>/`` beside the database (:func:`local_artifact_location`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from .metrics import METRIC_KEYS
from .plot import model_label

logger = logging.getLogger(__name__)

LOCAL_EXPERIMENT = "retrain-local"
LOCAL_ARTIFACTS = "mlartifacts"


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


def local_artifact_location(tracking_uri: str, experiment: str) -> str | None:
    """Where a local experiment keeps its artifacts: ``<database folder>/mlartifacts/
    <experiment>`` for an sqlite store with an absolute path (``sqlite:////abs/mlflow.db``);
    None for any other store (Azure ML, a tracking server, a relative path)."""
    prefix = "sqlite:///"
    if not tracking_uri.startswith(prefix):
        return None
    database = Path(tracking_uri[len(prefix) :])
    if not database.is_absolute():
        return None
    return str(database.parent / LOCAL_ARTIFACTS / experiment)


def use_local_experiment(mlflow: Any) -> str | None:
    """Locally (an sqlite store, no run of Azure ML attached): make the local experiment
    active, creating it with its artifacts beside the store; returns its name, or None
    when nothing was changed (MLflow's own defaults then apply)."""
    if "MLFLOW_RUN_ID" in os.environ or "MLFLOW_EXPERIMENT_ID" in os.environ:
        return None
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or LOCAL_EXPERIMENT
    location = local_artifact_location(os.environ.get("MLFLOW_TRACKING_URI", ""), name)
    if location is None:
        return None
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is None:
        try:
            mlflow.create_experiment(name, artifact_location=location)
        except Exception:  # another step created it first: use theirs
            logger.debug("MLflow: experiment %s was created meanwhile", name, exc_info=True)
    mlflow.set_experiment(name)
    return name


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
        use_local_experiment(mlflow)
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
