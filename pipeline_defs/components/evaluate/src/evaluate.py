"""Evaluate step: score the candidate, the current champion and seasonal naive on the same data.

This file is the step's command line; the work is done by the package ``evaluation`` beside
it (one job per module, see its docstring), whose public names are re-exported here.

Inputs: ``--prepared`` (prep: ``train.csv``, ``holdout.csv``, ``prep.json``), ``--model``
(train: ``model_eval.pkl``, the candidate fitted on the training split only, and
``model.json``) and, when a production model exists, ``--champion`` (its model folder:
``model.pkl`` and, if present, ``model.json``). Outputs ``metrics.json`` (schema 2),
``forecast.png`` and ``forecast.svg`` in ``--metrics``. The plot's top line is the
verdict; this step cannot know it (the promotion gate decides after it), so it writes
:data:`VERDICT_PLACEHOLDER` there, and in the SVG as the text of the element whose id is
:data:`VERDICT_ID`, which the service's audit report replaces with the gate's verdict.

Two windows, the same for the three forecasters:

- **holdout**: the last ``horizon`` observations, forecast from the training split;
- **backtest**: rolling origins. Fold ``i`` forecasts ``backtest horizon`` steps from an
  origin (the last observation it sees, recorded as ``origins[i]``); the folds are
  consecutive and do not overlap, and the last one ends at the last observation. Defaults
  (``--backtest_folds 0`` / ``--backtest_horizon 0``): the horizon is the model horizon;
  the folds are as many as fit after a minimum training length of
  ``max(3 * season_length, 10)`` observations, at most ``MAX_FOLDS`` (6), and at least one
  (then the fold is the holdout). A requested number of folds larger than what fits is
  reduced to what fits (a log line says so).

**Transforms.** A model folder whose ``model.json`` has a ``transform`` record (the train
step's ``--transform auto`` chose a Box-Cox/log transform; null or absent = none, as every
older model) holds pickles of the *transformed* series: the candidate and the champion are
each applied to the data transformed with their own record and their forecasts
back-transformed (bias-adjusted mean, back-transformed interval bounds), so every error and
metric is in the series' units (``evaluation/transform.py``). The sections of such a model
carry ``transform`` (the record and ``ignored``: values <= 0 its history had to skip as
missing; sections of untransformed forecasters have no such key); ``model.transform`` and
``champion_model.transform`` repeat the records. An unknown record fails the candidate
(exit 2) and leaves the champion unscored (``champion_error``), never read in the wrong units.

No model is refitted to be scored. The candidate's parameters (from ``model_eval.pkl``) and the
champion's stored parameters (from its ``model.pkl``) are applied to the data up to each
origin as statsmodels ``results.apply(endog, refit=False)`` does (:func:`apply_stored`): a new
state-space model of the same specification is filtered over that data at the stored
parameters, then forecasts ``horizon`` steps. (Models fitted with a concentrated scale, as
the order search's are, re-derive the innovation variance in closed form from the one-step
errors on that data; the point forecasts depend on the stored parameters only.) Seasonal
naive repeats the last season before each origin. When the champion cannot be loaded or
applied (missing or corrupt pickle, another frequency, exogenous regressors, a forecast that
is not finite), ``champion`` is null and ``champion_error`` says why; the step still succeeds.

Metrics per section: MASE, sMAPE (percent), RMSE, MAE and 80 % interval coverage, on the
holdout and pooled over the backtest folds, with the signed errors (actual - forecast) per
holdout point and per fold point. MASE scales: the holdout uses ``mase_scale``, the
in-sample seasonal-naive MAE of the training split (lag ``season_length``; lag 1 for
non-seasonal series); each fold uses the in-sample seasonal-naive MAE of its own training
window (the data up to its origin), and the pooled backtest MASE is the mean of the folds'
(equal-length) MASEs.

Out-of-sample marks: every fold of a section has ``out_of_sample``, and the section has
``holdout_out_of_sample`` and ``params_end``: true when all the window's targets come after
the last observation that forecaster's parameters were estimated on (``params_end``). For
the candidate that is the end of the training split (its evaluation fit), so of the default
folds only the last one, the holdout, is out-of-sample; for the champion it is its model
folder's ``params_end`` (a refreshed folder), else its final fit's ``train_end`` (unknown:
nothing counts as out-of-sample for it); seasonal naive has no parameters (``params_end``
null, always out-of-sample). The gate compares candidate and champion only on windows
out-of-sample for both (``shared/gate.py``).

The refreshed champion: when the champion was scored, it is also brought up to the last
observation (``evaluation/refresh.py``): its specification re-estimated on all the data
(training split + holdout) by exact ML warm-started from its stored parameters (method
``ml``), or its stored parameters applied unchanged (``applied``) when it has no free
parameters or the refit fails, is not finite, has a root within 1.01 of the unit circle or
a lower likelihood than the stored parameters. It is written as a model folder
``<metrics>/champion_refreshed/`` (``model.pkl`` + ``model.json``, the layout of the train
step's folder: top-level ``train_start``/``train_end``/``n_obs`` describe the data the
pickle's state covers, ``params_end`` the last observation its parameters were estimated
on, ``refreshed`` how). ``metrics.json`` says ``champion_refreshed``: ``{"folder",
"data_end", "params_end", "method"}`` or null. When the gate refuses the candidate, the
service registers this folder, so production forecasts from the last observation with
parameters estimated on all the data, as a promoted candidate's final fit does.
"""

from __future__ import annotations

import argparse
import json
import logging
import pickle
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
from evaluation import *  # noqa: F403  (the step's public names, importable from here)
from evaluation import (
    ChampionError,
    EvaluateError,
    Evaluation,
    champion_transform,
    evaluate,
    load_champion,
    log_to_mlflow,
    plot,
    read_model_json,
    transform_of,
    write_refreshed,
)
from evaluation import __all__ as _library_names

# -- files and the command line --------------------------------------------------------------


def read_series(path: Path, frequency: str | None = None) -> pd.Series:
    try:
        frame = pd.read_csv(path, parse_dates=["timestamp"])
    except (OSError, ValueError) as exc:
        raise EvaluateError(f"{path} is unreadable: {exc}") from exc
    try:
        index = pd.DatetimeIndex(frame["timestamp"], freq=frequency)
    except ValueError as exc:
        raise EvaluateError(f"{path.name} is not evenly spaced at {frequency!r}") from exc
    return pd.Series(frame["value"].to_numpy(dtype=float), index=index)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prepared", type=Path, required=True, help="prep step output folder")
    parser.add_argument("--model", type=Path, required=True, help="train step output folder")
    parser.add_argument(
        "--champion", type=Path, default=None, help="the production model's folder (optional)"
    )
    parser.add_argument("--backtest_folds", type=int, default=0, help="0: automatic")
    parser.add_argument("--backtest_horizon", type=int, default=0, help="0: the model horizon")
    parser.add_argument("--run_key", default=None, help="shown in the plot title (optional)")
    parser.add_argument("--rerun_salt", default=None, help="ignored: makes a forced run's step new")
    parser.add_argument("--metrics", type=Path, required=True, help="output folder")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> Evaluation:
    """Read the inputs, evaluate, and return the evaluation (metrics not yet written)."""
    try:
        prep = json.loads((args.prepared / "prep.json").read_text())
        frequency, season_length = str(prep["frequency"]), int(prep["season_length"])
        train = read_series(args.prepared / "train.csv", frequency)
        holdout = read_series(args.prepared / "holdout.csv", frequency)
        with (args.model / "model_eval.pkl").open("rb") as handle:
            candidate = pickle.load(handle)
        model_info = json.loads((args.model / "model.json").read_text())
    except (OSError, KeyError, ValueError, pickle.UnpicklingError) as exc:
        raise EvaluateError(str(exc)) from exc
    try:
        candidate_transform = transform_of(model_info)
    except ValueError as exc:
        raise EvaluateError(f"the candidate's model.json: {exc}") from exc
    champion, champion_model, champion_error = None, None, None
    if args.champion is not None:
        try:
            champion, champion_model = load_champion(args.champion, frequency)
        except ChampionError as exc:
            champion_error = str(exc)
    evaluation = evaluate(
        train,
        holdout,
        candidate,
        season_length=season_length,
        champion=champion,
        champion_error=champion_error,
        champion_params_end=(champion_model or {}).get("params_end"),
        backtest_folds=args.backtest_folds,
        backtest_horizon=args.backtest_horizon,
        candidate_transform=candidate_transform,
        champion_transform=champion_transform(champion_model),
    )
    evaluation.metrics["model"] = {
        k: model_info.get(k)
        for k in ("order", "seasonal_order", "trend", "transform", "fallback_reason")
    } | {
        fit: {k: (model_info.get(fit) or {}).get(k) for k in ("train_start", "train_end", "n_obs")}
        for fit in ("evaluation_fit", "final_fit")
    }
    evaluation.metrics["champion_model"] = (
        champion_model if evaluation.champion is not None else None
    )
    if args.run_key:
        evaluation.metrics["run_key"] = args.run_key
    if args.champion is not None:
        evaluation.champion_info = read_model_json(args.champion)
    evaluation.frequency = frequency
    return evaluation


def summary(metrics: dict[str, Any]) -> str:
    parts = []
    for name in ("candidate", "champion", "baseline"):
        sec = metrics.get(name)
        if isinstance(sec, dict):
            parts.append(
                f"{name} MASE holdout {sec['holdout']['mase']:.3f} "
                f"backtest {sec['backtest']['mase']:.3f}"
            )
    if metrics.get("champion_error"):
        parts.append(f"champion not scored: {metrics['champion_error']}")
    return "evaluate: " + " | ".join(parts)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="evaluate: %(message)s", stream=sys.stdout)
    args = parse_args(argv)
    start = time.perf_counter()
    try:
        evaluation = run(args)
    except EvaluateError as exc:
        print(f"evaluate: {exc}", file=sys.stderr, flush=True)
        return 2
    args.metrics.mkdir(parents=True, exist_ok=True)
    evaluation.metrics["champion_refreshed"] = write_refreshed(
        args.metrics,
        evaluation,
        evaluation.champion_info,
        frequency=evaluation.frequency or "",
        run_key=args.run_key,
    )
    (args.metrics / "metrics.json").write_text(json.dumps(evaluation.metrics, indent=2))
    plot(args.metrics / "forecast.png", evaluation, args.run_key)
    print(summary(evaluation.metrics), flush=True)
    if log_to_mlflow(evaluation.metrics, args.metrics, run_key=args.run_key):
        print("evaluate: logged to MLflow", flush=True)
    print(f"evaluate: done in {time.perf_counter() - start:.2f}s", flush=True)
    return 0


__all__ = [*_library_names, "main", "parse_args", "read_series", "run", "summary"]


if __name__ == "__main__":
    sys.exit(main())
