"""The family pipeline's ``transform`` input (issue 14, session 6): ``auto`` searches and
fits each series on the log when the order search's rule picks it, as the single-series
pipeline's ``transform`` does; every consumer of the family's fits back-transforms (the
gate's evidence, the carried-over fits, the champions and their refresh, ``rebuild``)."""

from __future__ import annotations

import importlib
import json
import pickle
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.statespace.sarimax import SARIMAX

from tests.family.steps import load_shard
from tests.family.test_family_pipeline_gate import assert_same
from tests.pipeline_defs.components import load_step

shard = load_shard()
family_records = importlib.import_module("family_records")
scoring = load_step("train", "family_scoring")
order_search = load_step("train", "order_search")
LOG = {"name": "boxcox", "lambda": 0.0, "bias_adjusted": True}


def multiplicative(n: int = 96, seed: int = 5) -> pd.Series:
    """A positive monthly series whose seasonal swing grows with its level (the log's case)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    log = np.log(50.0) + 0.02 * t + 0.3 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.03, n)
    return pd.Series(np.exp(log), index=pd.date_range("2010-01-01", periods=n, freq="MS"))


def settings(tmp_path: Path, **overrides: object) -> object:
    values = {
        "frequency": "MS",
        "season_length": 12,
        "horizon": 12,
        "time_budget": 5.0,
        "models": tmp_path / "models",
    } | overrides
    return shard.ShardSettings(**values)


def write_shard(path: Path, series: dict[str, pd.Series]) -> Path:
    frames = [
        pd.DataFrame({"unique_id": uid, "ds": s.index, "y": s.to_numpy()})
        for uid, s in series.items()
    ]
    frame = pd.concat(frames, ignore_index=True).astype({"unique_id": "string"})
    frame.to_parquet(path, index=False)
    return path


def test_the_argument_defaults_to_none_and_takes_auto():
    base = ["--frequency", "MS", "--season_length", "12", "--horizon", "6", "--models", "m"]
    assert shard.parse_args(base).transform == "none"
    assert shard.parse_args([*base, "--transform", "auto"]).transform == "auto"
    with pytest.raises(SystemExit):
        shard.parse_args([*base, "--transform", "log"])


def test_a_fit_made_with_auto_is_never_carried_over_into_a_run_without_it(tmp_path):
    series = multiplicative(40)
    none, auto = settings(tmp_path), settings(tmp_path, transform="auto")
    assert shard.data_digest("a", series, none) != shard.data_digest("a", series, auto)
    assert shard.data_digest("a", series, none) == shard.data_digest(
        "a", series, settings(tmp_path)
    )


def test_a_log_model_is_scored_in_the_series_units_as_the_evaluate_step_scores_it():
    """gate_metrics with a transform: the evaluate step's numbers for the same transformed
    candidate and champion (applied to the log of the data, forecasts back-transformed)."""
    evaluate = load_step("evaluate", "evaluate")
    log = order_search.BoxCox(0.0)
    series = multiplicative()
    series.iloc[30] = -1.0  # a value the log cannot take: missing to the filter, counted
    train, holdout = series.iloc[:-12], series.iloc[-12:]

    def fitted(part: pd.Series) -> object:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            logged = pd.Series(log.forward(part.to_numpy()), index=part.index)
            model = SARIMAX(logged, order=(1, 0, 0), seasonal_order=(1, 0, 0, 12), trend="c")
            return model.fit(disp=False)

    candidate, champion = fitted(train), fitted(series.iloc[:-24])
    params_end = series.index[-25]
    theirs = evaluate.evaluate(
        train,
        holdout,
        candidate,
        season_length=12,
        champion=champion,
        champion_params_end=params_end.isoformat(),
        candidate_transform=log,
        champion_transform=log,
    ).metrics
    ours, refreshed = scoring.gate_metrics(
        series,
        horizon=12,
        season_length=12,
        candidate=candidate,
        champion=scoring.Champion(champion.model, champion.params, params_end, {}, log),
        transform=log,
    )
    for key in ("candidate", "baseline", "champion", "backtest", "mase_scale"):
        assert_same(ours[key], theirs[key], key)
    assert ours["candidate"]["transform"]["ignored"] == 1
    assert ours["candidate"]["transform"]["lambda"] == 0.0
    assert "transform" not in ours["baseline"]
    assert refreshed is not None and refreshed.transform == log
    level = float(series.iloc[-12:].mean())
    assert abs(np.mean(ours["candidate"]["holdout_errors"])) < 0.2 * level  # not log units
    json.dumps(ours, allow_nan=False)


@pytest.mark.slow
def test_auto_fits_on_the_log_and_every_consumer_back_transforms(tmp_path):
    t = np.arange(96)
    additive = 100.0 + 3.0 * t + 10.0 * np.sin(2 * np.pi * t / 12)
    additive += np.random.default_rng(2).normal(0, 1, 96)
    series = {"up": multiplicative(), "flat": pd.Series(additive, index=multiplicative().index)}
    path = write_shard(tmp_path / "shard-00000.parquet", series)
    auto = settings(tmp_path, transform="auto")
    rows, models, _ = shard.fit_shard(path, auto)
    by_id = {r["unique_id"]: r for r in rows}
    up, flat = by_id["up"], by_id["flat"]
    assert up["status"] == flat["status"] == "ok"
    assert {k: up["model"]["transform"][k] for k in LOG} == LOG
    assert up["model"]["final_fit"]["transform"]["lambda"] == 0.0
    assert flat["model"]["transform"] is None  # the rule picks no transform for it
    record = models["up"]
    assert record["transform"]["lambda"] == 0.0
    assert record["endog"] == pytest.approx(series["up"].to_numpy().tolist())  # own units
    assert up["gate_metrics"]["candidate"]["transform"]["ignored"] == 0
    assert up["metrics"]["holdout"]["mase"] == up["gate_metrics"]["candidate"]["holdout"]["mase"]

    # rebuild gives the log model; forecast_frame brings its forecasts back to the units
    results = family_records.rebuild(record)
    assert float(results.fittedvalues.iloc[-1]) == pytest.approx(
        np.log(series["up"].iloc[-1]), abs=0.2
    )
    frame = order_search.forecast_frame(
        results, 12, order_search.BoxCox.from_record(record["transform"])
    )
    # a season after the same month last year, which grew by exp(0.02 * 12) since
    assert frame["mean"].iloc[0] == pytest.approx(series["up"].iloc[-12] * np.exp(0.24), rel=0.15)

    # the evaluation fit kept in the record scores the holdout exactly as the row did
    candidate = shard.evaluation_fit(record, series["up"], auto)
    assert candidate is not None and candidate.transform is not None
    metrics = shard.row_metrics(None, candidate, series["up"], auto)
    assert metrics["holdout_errors"] == pytest.approx(
        up["gate_metrics"]["candidate"]["holdout_errors"]
    )

    # carried over into a later run of the same data: same evidence, still back-transformed
    (tmp_path / "models").mkdir()
    shard.write_models(tmp_path / "models" / "shard-00000.pkl", models)
    results_dir = tmp_path / "results"
    results_dir.mkdir()
    (results_dir / "parallel_run_step.txt").write_text(
        "\n".join(json.dumps(r) for r in rows), encoding="utf-8"
    )
    later = settings(tmp_path / "later", transform="auto", previous=tmp_path)
    again, _, _ = shard.fit_shard(path, later, shard.Previous(tmp_path))
    carried = {r["unique_id"]: r for r in again}["up"]
    assert carried["reused"] is True
    assert carried["gate_metrics"]["candidate"]["holdout_errors"] == pytest.approx(
        up["gate_metrics"]["candidate"]["holdout_errors"]
    )


@pytest.mark.slow
def test_a_log_champion_is_applied_and_refreshed_on_the_log(tmp_path):
    champions_module = load_step("train", "family_champions")
    series = {"up": multiplicative()}
    path = write_shard(tmp_path / "shard-00000.parquet", series)
    _, models, _ = shard.fit_shard(path, settings(tmp_path, transform="auto"))
    folder = tmp_path / "champions"
    (folder / "R1").mkdir(parents=True)
    with (folder / "R1" / "shard-00000.pkl").open("wb") as handle:
        pickle.dump({"schema": family_records.MODELS_SCHEMA, "models": models}, handle)
    index = {"up": {"run_key": "R1", "version": 1, "model_file": "R1/shard-00000.pkl"}}
    (folder / "champions.json").write_text(
        json.dumps({"schema": "family-champions/1", "series": index}), encoding="utf-8"
    )
    # this run fits without the transform; the champion keeps its own
    rows, _, refreshed = shard.fit_shard(
        path, settings(tmp_path / "b"), None, champions_module.Champions(folder)
    )
    row = rows[0]
    assert row["model"]["transform"] is None
    gate = row["gate_metrics"]
    assert gate["champion"] is not None, gate["champion_error"]
    assert gate["champion"]["transform"]["lambda"] == 0.0
    assert gate["champion_model"]["transform"]["lambda"] == 0.0
    assert "transform" not in gate["candidate"]
    # the champion, fitted on this very data, forecasts the holdout in the series' units
    level = float(series["up"].iloc[-12:].mean())
    assert abs(np.mean(gate["champion"]["holdout_errors"])) < 0.2 * level
    assert refreshed["up"]["transform"]["lambda"] == 0.0
    rebuilt = family_records.rebuild(refreshed["up"])
    assert float(rebuilt.fittedvalues.iloc[-1]) == pytest.approx(
        np.log(series["up"].iloc[-1]), abs=0.2
    )
