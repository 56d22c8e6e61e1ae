"""Train step: choose and fit an ARIMA/SARIMAX model for the prepared training series.

Reads ``train.csv`` and ``holdout.csv`` (``timestamp,value``, ascending, evenly spaced) and
``prep.json`` (``frequency``, ``season_length``, ``horizon``) from ``--prepared``, runs the
stepwise order search of the ``order_search`` package on the training split within
``--time_budget`` seconds, then refits the chosen order on all the data (training split +
holdout), and writes to ``--model_output``:

- ``model.pkl``: the final fit on all the data: what is registered and served; its forecast
  starts right after the last observation (a statsmodels results object, pickled; needs only
  statsmodels to load, then ``results.get_forecast(h)``);
- ``model_eval.pkl``: the evaluation fit on the training split only: what the evaluate step
  scores on the holdout and the backtest (the holdout is unseen by its parameters);
- ``model.json``: order, seasonal order, trend, frequency, the full record of the search and
  both fits under ``evaluation_fit`` and ``final_fit`` (file, training range, number of
  observations, criterion, parameters). Its top-level ``train_start``, ``train_end``,
  ``n_obs`` and ``criterion`` describe ``model.pkl`` (the final fit);
- ``forecast.json``: the final fit's forecast for the next ``horizon`` periods
  (``timestamps``, ``forecast``, in the series' units), which the service scores arriving
  actuals against with the standard library (forecast-error drift, docs/policy.md).

``--transform auto`` lets the search pick a Box-Cox transform (issue 11; the rule is in
``order_search/transform.py``: the log when Guerrero's lambda < 0.5). Both pickles then model
the *transformed* series: ``model.json``'s ``transform`` (``{"name": "boxcox", "lambda":
..., "bias_adjusted": true}``, null without one) says how to back-transform their forecasts
(``order_search.BoxCox.from_record``), and every consumer does: the evaluate step (candidate,
champion, refreshed champion), ``forecast.json`` here, and the replay benchmark.
``--transform none`` (the default, and the pipeline's: the input ``transform`` of train.yml
and pipeline.yml) keeps the pickles in the series' units: with ``auto`` the replay benchmark
missed its served-error target (docs/benchmarks.md).

Bad input exits with status 2 and one line on stderr saying what was wrong.
"""

from __future__ import annotations

import os

# One BLAS thread: the search parallelises over candidates, and the matrices are tiny.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import pickle  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import statsmodels  # noqa: E402
from order_search import (  # noqa: E402
    TRANSFORMS,
    FinalFit,
    SearchResult,
    SeriesTooShortError,
    refit_final,
    search_order,
)

REQUIRED_PREP_KEYS = ("frequency", "season_length", "horizon")


class InputError(ValueError):
    """The prepared folder is missing something or holds something unusable."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prepared", type=Path, required=True, help="prep step output folder")
    parser.add_argument(
        "--time_budget", type=float, default=60.0, help="search budget in seconds (default 60)"
    )
    parser.add_argument("--rerun_salt", default=None, help="ignored: makes a forced run's step new")
    parser.add_argument("--model_output", type=Path, required=True, help="output folder")
    parser.add_argument(
        "--transform",
        choices=TRANSFORMS,
        default="none",
        help=(
            "auto: search and fit on a Box-Cox transform when order_search's rule picks one "
            "(model.json's 'transform' then gives lambda: model.pkl and model_eval.pkl "
            "model the transformed series); none (default, the pipeline's): never"
        ),
    )
    return parser.parse_args(argv)


def read_prep_info(path: Path) -> dict[str, Any]:
    """``prep.json`` with its required keys checked and typed."""
    if not path.is_file():
        raise InputError(f"missing {path.name} in {path.parent}")
    try:
        info = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{path.name} is not valid JSON ({exc})") from exc
    if not isinstance(info, dict):
        raise InputError(f"{path.name} must hold a JSON object")
    missing = [k for k in REQUIRED_PREP_KEYS if k not in info]
    if missing:
        raise InputError(f"{path.name} lacks key(s) {', '.join(missing)}")
    for key in ("season_length", "horizon"):
        value = info[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"{path.name}: {key} must be a positive integer, got {value!r}")
    if not isinstance(info["frequency"], str):
        raise InputError(f"{path.name}: frequency must be a string, got {info['frequency']!r}")
    try:
        pd.tseries.frequencies.to_offset(info["frequency"])
    except ValueError as exc:
        raise InputError(f"{path.name}: unknown frequency {info['frequency']!r}") from exc
    return info


def read_train_series(path: Path, frequency: str) -> pd.Series:
    """``train.csv`` (or ``holdout.csv``) as a float Series on a DatetimeIndex carrying
    ``frequency``."""
    if not path.is_file():
        raise InputError(f"missing {path.name} in {path.parent}")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path.name} cannot be read as CSV ({exc})") from exc
    missing = [c for c in ("timestamp", "value") if c not in frame.columns]
    if missing:
        raise InputError(
            f"{path.name} lacks column(s) {', '.join(missing)} (has {', '.join(frame.columns)})"
        )
    if frame.empty:
        raise InputError(f"{path.name} has no rows")
    try:
        stamps = pd.to_datetime(frame["timestamp"])
    except (ValueError, TypeError) as exc:
        raise InputError(f"{path.name}: unparseable timestamp ({exc})") from exc
    values = pd.to_numeric(frame["value"], errors="coerce")
    bad = values.isna() & frame["value"].notna()
    if bad.any():
        row = int(bad.to_numpy().argmax())
        raise InputError(
            f"{path.name}: non-numeric value {frame['value'].iloc[row]!r} at row {row + 2}"
        )
    try:
        index = pd.DatetimeIndex(stamps, freq=frequency)
    except ValueError as exc:
        raise InputError(
            f"{path.name}: timestamps are not evenly spaced at frequency {frequency!r} "
            "(or not ascending)"
        ) from exc
    return pd.Series(values.to_numpy(dtype=float), index=index, name="value")


def all_data(train: pd.Series, holdout: pd.Series, frequency: str) -> pd.Series:
    """The training split followed by the holdout, checked to continue it at ``frequency``."""
    combined = pd.concat([train, holdout])
    try:
        index = pd.DatetimeIndex(combined.index, freq=frequency)
    except ValueError as exc:
        raise InputError(
            f"holdout.csv does not continue train.csv at frequency {frequency!r}"
        ) from exc
    return combined.set_axis(index)


def _params(results: Any) -> dict[str, float]:
    names = list(getattr(results.model, "param_names", []))
    values = [float(v) for v in np.asarray(results.params, dtype=float)]
    return dict(zip(names, values, strict=False)) if len(names) == len(values) else {}


def fit_record(results: Any, series: pd.Series, *, file: str) -> dict[str, Any]:
    """One fit for ``model.json``: which file holds it, its data range and its parameters."""
    return {
        "file": file,
        "n_obs": int(series.notna().sum()),
        "train_start": series.index[0].isoformat(),
        "train_end": series.index[-1].isoformat(),
        "params": _params(results),
    }


def model_record(
    result: SearchResult,
    series: pd.Series,
    info: dict[str, Any],
    time_budget: float,
    final: FinalFit | None = None,
    full: pd.Series | None = None,
) -> dict[str, Any]:
    """What ``model.json`` holds: the model, both fits and the search record.

    Without ``final`` (the search alone) the top level describes the evaluation fit.
    """
    evaluation = fit_record(result.results, series, file="model_eval.pkl") | {
        "criterion_name": result.criterion_name,
        "criterion": result.to_record()["criterion"],
    }
    top = evaluation
    final_record: dict[str, Any] | None = None
    if final is not None and full is not None:
        final_record = fit_record(final.results, full, file="model.pkl") | final.to_record()
        top = final_record
    return {
        "order": list(result.order),
        "seasonal_order": list(result.seasonal_order),
        "trend": result.trend,
        "transform": None if result.transform is None else result.transform.to_record(),
        "criterion_name": result.criterion_name,
        "criterion": top["criterion"],
        "n_obs": top["n_obs"],
        "train_start": top["train_start"],
        "train_end": top["train_end"],
        "evaluation_fit": evaluation,
        "final_fit": final_record,
        "frequency": info["frequency"],
        "season_length": int(info["season_length"]),
        "horizon": int(info["horizon"]),
        "fallback_reason": result.fallback_reason,
        "time_budget_s": time_budget,
        "statsmodels_version": statsmodels.__version__,
        "python_version": platform.python_version(),
        "search": result.to_record(),
    }


def forecast_record(final: FinalFit, horizon: int) -> dict[str, Any]:
    """The final fit's forecast for the next ``horizon`` periods in the series' units (the
    bias-adjusted back-transform when the search chose a transform), as plain JSON."""
    predicted = final.forecast(horizon)["mean"]
    return {
        "timestamps": [pd.Timestamp(t).isoformat() for t in predicted.index],
        "forecast": [float(v) for v in np.asarray(predicted, dtype=float)],
    }


def write_outputs(
    folder: Path, result: SearchResult, final: FinalFit, record: dict[str, Any]
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, results in (("model.pkl", final.results), ("model_eval.pkl", result.results)):
        with (folder / name).open("wb") as handle:
            pickle.dump(results, handle, protocol=pickle.HIGHEST_PROTOCOL)
    (folder / "model.json").write_text(json.dumps(record, indent=2))
    try:
        forecast = forecast_record(final, int(record["horizon"]))
    except Exception as exc:  # never fail training for the drift aid
        print(f"train: no forecast.json: {type(exc).__name__}: {exc}", flush=True)
    else:
        (folder / "forecast.json").write_text(json.dumps(forecast, indent=2))


def train(
    prepared: Path, time_budget: float, transform: str = "none"
) -> tuple[SearchResult, FinalFit, dict[str, Any]]:
    """Read the prepared folder, search on the training split, refit the chosen order on
    all the data, and return both fits with their JSON record."""
    if not prepared.is_dir():
        raise InputError(f"prepared folder {prepared} does not exist")
    info = read_prep_info(prepared / "prep.json")
    series = read_train_series(prepared / "train.csv", info["frequency"])
    holdout = read_train_series(prepared / "holdout.csv", info["frequency"])
    full = all_data(series, holdout, info["frequency"])
    try:
        result = search_order(
            series,
            season_length=int(info["season_length"]),
            time_budget_s=time_budget,
            progress=_candidate_logger(),
            transform=transform,
        )
    except SeriesTooShortError as exc:
        raise InputError(f"train.csv: {exc}") from exc
    final = refit_final(full, result, time_budget_s=time_budget)
    return result, final, model_record(result, series, info, time_budget, final, full)


def _candidate_logger() -> Any:
    """Each order-search candidate as a line of the step's log at DEBUG: shown when
    ``RETRAIN_STEP_LOG_LEVEL=DEBUG`` is in the step's environment, else only counted in
    the search's summary (model.json keeps every candidate either way)."""
    if os.environ.get("RETRAIN_STEP_LOG_LEVEL", "INFO").upper() != "DEBUG":
        return None
    return lambda line: print(f"train: DEBUG order_search: {line}", flush=True)


def log_to_mlflow(record: dict[str, Any], folder: Path, client: Any = None) -> bool:
    """Log the chosen model, both fits' criteria and model.json to the active MLflow run
    (the step's run on Azure ML); True when logged. Skipped with a line when MLflow is not
    installed or no ``MLFLOW_TRACKING_URI`` is set; failures never fail the step.
    ``client`` replaces the ``mlflow`` module (tests)."""
    mlflow = client
    if mlflow is None:
        if not os.environ.get("MLFLOW_TRACKING_URI"):
            print("train: MLflow: no MLFLOW_TRACKING_URI, not logging", flush=True)
            return False
        try:
            mlflow = importlib.import_module("mlflow")
        except ImportError:
            print("train: MLflow: not installed, not logging", flush=True)
            return False
    attached = "MLFLOW_RUN_ID" in os.environ
    evaluation, final = record["evaluation_fit"], record["final_fit"] or {}
    try:
        with mlflow.start_run(run_name=None if attached else "local-train"):
            mlflow.log_params(
                {
                    "model": record["search"]["model"],
                    "order": record["order"],
                    "seasonal_order": record["seasonal_order"],
                    "trend": record["trend"],
                    "time_budget_s": record["time_budget_s"],
                    "final_fit_method": final.get("method"),
                    "evaluation_train_end": evaluation["train_end"],
                    "final_train_end": final.get("train_end"),
                }
            )
            values = {
                "evaluation_fit.criterion": evaluation.get("criterion"),
                "evaluation_fit.n_obs": evaluation["n_obs"],
                "final_fit.criterion": final.get("criterion"),
                "final_fit.n_obs": final.get("n_obs"),
                "search.seconds": record["search"]["seconds"],
                "search.n_tried": record["search"]["n_tried"],
            }
            mlflow.log_metrics({k: float(v) for k, v in values.items() if v is not None})
            mlflow.log_artifact(str(folder / "model.json"))
    except Exception as exc:  # tracking must never fail the step
        print(f"train: MLflow: logging failed ({type(exc).__name__}: {exc})", flush=True)
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        result, final, record = train(args.prepared, args.time_budget, args.transform)
    except InputError as exc:
        print(f"train: error: {exc}", file=sys.stderr, flush=True)
        return 2
    write_outputs(args.model_output, result, final, record)
    evaluation, production = record["evaluation_fit"], record["final_fit"]
    fallback = f"; fallback: {result.fallback_reason}" if result.fallback_reason else ""
    print(
        f"train: chose {record['search']['model']} {result.criterion_name}="
        f"{result.criterion:.3f} from {len(result.tried)} candidates in {result.seconds:.2f}s "
        f"on {evaluation['n_obs']} points ({evaluation['train_start']} .. "
        f"{evaluation['train_end']}){fallback}; wrote {args.model_output / 'model_eval.pkl'}",
        flush=True,
    )
    print(
        f"train: final fit ({final.method}, {final.seconds:.2f}s) on {production['n_obs']} "
        f"points ({production['train_start']} .. {production['train_end']}); "
        f"wrote {args.model_output / 'model.pkl'}",
        flush=True,
    )
    if log_to_mlflow(record, args.model_output):
        print("train: logged to MLflow", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
