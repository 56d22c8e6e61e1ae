"""The parallel step's entry script fits every series of a shard and isolates failures."""

import importlib
import json
import math
import pickle

import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.statespace.sarimax import SARIMAX

from bench.many_series import real_panel
from tests.family.steps import load_shard

shard = load_shard()
family_fit = importlib.import_module("family_fit")
family_records = importlib.import_module("family_records")


def write_shard(path, frame):
    frame.astype({"unique_id": "string"}).to_parquet(path, index=False)
    return path


def settings(tmp_path, **overrides):
    values = {
        "frequency": "MS",
        "season_length": 12,
        "horizon": 12,
        "time_budget": 5.0,
        "models": tmp_path / "models",
    } | overrides
    return shard.ShardSettings(**values)


def test_holdout_metrics_are_scaled_by_the_training_seasonal_naive_error():
    train = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    metrics = shard.holdout_metrics(
        train,
        np.array([6.0, 7.0]),
        np.array([6.5, 7.0]),
        np.array([6.0, 6.0]),
        np.array([7.0, 6.5]),
        1,
    )
    assert metrics["mase_scale"] == 1.0
    assert metrics["holdout"]["mase"] == 0.25
    assert metrics["holdout"]["coverage"] == 0.5
    assert metrics["baseline"]["mae"] == pytest.approx(1.5)
    assert metrics["holdout_errors"] == [-0.5, 0.0]


def test_the_arguments_ignore_what_the_parallel_runtime_adds(tmp_path):
    parsed = shard.parse_args(
        [
            "--frequency",
            "MS",
            "--season_length",
            "12",
            "--horizon",
            "6",
            "--models",
            str(tmp_path),
            "--error_threshold",
            "5",
            "--logging_level",
            "INFO",
        ]
    )
    assert (parsed.horizon, parsed.time_budget, parsed.models) == (6, 10.0, tmp_path)


@pytest.mark.slow
def test_every_series_gets_a_row_and_a_failing_series_is_isolated(tmp_path):
    panel = real_panel(2)
    stub = pd.DataFrame(
        {"unique_id": "stub", "ds": pd.date_range("2019-01-01", periods=5, freq="MS"), "y": 1.0}
    )
    path = write_shard(tmp_path / "shard-00003.parquet", pd.concat([panel, stub]))
    rows, models, refreshed = shard.fit_shard(path, settings(tmp_path))
    by_id = {row["unique_id"]: row for row in rows}
    assert len(rows) == 3 and set(models) == set(panel["unique_id"])
    failed = by_id["stub"]
    assert failed["status"] == "failed" and "cannot hold a holdout of 12" in failed["reason"]
    assert failed["metrics"] is None and failed["model_file"] is None
    for uid in panel["unique_id"].unique():
        row = by_id[uid]
        assert row["status"] == "ok" and row["reason"] is None, row["reason"]
        assert row["shard"] == "shard-00003" and row["model_file"] == "shard-00003.pkl"
        assert math.isfinite(row["metrics"]["holdout"]["mase"])
        assert len(row["metrics"]["holdout_errors"]) == 12
        assert row["model"]["params"] and row["model"]["final_fit"]["n_obs"] == row["n_train"] + 12
        assert row["gate_metrics"]["schema"] == 2 and row["champion"] is None
        json.dumps(row, allow_nan=False)
    assert failed["gate_metrics"] is None and refreshed == {}
    shard.write_models(tmp_path / "shard-00003.pkl", models)
    saved = pickle.loads((tmp_path / "shard-00003.pkl").read_bytes())
    assert (tmp_path / "shard-00003.pkl").stat().st_size < 100_000  # records, not results
    for uid in panel["unique_id"].unique():
        rebuilt = family_records.rebuild(saved["models"][uid])
        forecast = rebuilt.get_forecast(12).predicted_mean
        assert str(forecast.index[0].date()) == "2020-01-01"
        assert list(rebuilt.model.param_names) == saved["models"][uid]["param_names"]
        assert dict(zip(rebuilt.model.param_names, rebuilt.params, strict=True)) == pytest.approx(
            by_id[uid]["model"]["params"]
        )


def test_a_series_whose_digest_is_unchanged_is_carried_over_from_the_previous_run(tmp_path):
    frame = pd.DataFrame(
        {"unique_id": "a", "ds": pd.date_range("2015-01-01", periods=48, freq="MS"), "y": 1.0}
    )
    path = write_shard(tmp_path / "shard-00001.parquet", frame)
    current = settings(tmp_path, code_version="v1")
    series = shard.read_shard(path, "MS")["a"]
    earlier = tmp_path / "earlier"
    (earlier / "results").mkdir(parents=True)
    (earlier / "models").mkdir()
    row = {
        "unique_id": "a",
        "status": "ok",
        "digest": shard.data_digest("a", series, current),
        "shard": "shard-00007",
        "model_file": "shard-00007.pkl",
        "metrics": {"holdout": {"mase": 0.5}},
    }
    (earlier / "results" / "parallel_run_step.txt").write_text(json.dumps(row) + "\n")
    train = series.iloc[:-12]
    evaluation = SARIMAX(train, order=(1, 0, 0), trend="c")
    record = {
        "stands": "for a fit",
        "evaluation": {"init": evaluation._get_init_kwds(), "params": [0.5, 0.0, 1.0]},
    }
    shard.write_models(earlier / "models" / "shard-00007.pkl", {"a": record})

    rows, models, _ = shard.fit_shard(path, current, shard.Previous(earlier))
    assert len(rows) == 1 and rows[0]["gate_metrics"]["schema"] == 2
    carried = {k: v for k, v in rows[0].items() if k not in row}
    assert set(carried) == {"reused", "gate_metrics", "gate_error", "champion", "seconds"}
    assert {k: rows[0][k] for k in row} == row | {
        "shard": "shard-00001",
        "model_file": "shard-00001.pkl",
    }
    assert rows[0]["reused"] is True and models == {"a": record}
    other_code = settings(tmp_path, code_version="v2")
    assert shard.data_digest("a", series, other_code) != row["digest"]


def test_fitting_by_position_gives_the_fits_the_dated_series_gives(tmp_path):
    """The fit step searches and refits the series on positions (statsmodels' date handling
    was a fifth of its time): the chosen model, the evaluation fit and the final fit are
    those the dated series gives, and the records keep the dates."""
    import statsmodels.api as sm

    values = sm.datasets.nile.load_pandas().data["volume"].to_numpy(dtype=float)
    series = pd.Series(values, index=pd.date_range("1871-01-01", periods=values.size, freq="YS"))
    config = settings(tmp_path, frequency="YS", season_length=1, horizon=6)

    row, record, evaluation = shard.fit_series("nile", series, config, shard="shard-00000")

    dated = family_fit.search_order(
        series.iloc[:-6],
        season_length=1,
        time_budget_s=config.time_budget,
        n_jobs=1,
        executor="serial",
        exact_steps=0,
        exact_ftol=family_fit.EXACT_FTOL,
        transform=config.transform,
        drift_margin=family_fit.drift_margin(1),
    )
    final = shard.refit_final(
        series, dated, time_budget_s=config.time_budget, ftol=family_fit.EXACT_FTOL
    )
    assert row["status"] == "ok"
    assert row["model"]["order"] == list(dated.order) and row["model"]["trend"] == dated.trend
    assert record["evaluation"]["params"] == pytest.approx(
        np.asarray(dated.results.params), rel=1e-12
    )
    assert record["params"] == pytest.approx(np.asarray(final.results.params), rel=1e-12)
    assert np.asarray(evaluation.params) == pytest.approx(
        np.asarray(dated.results.params), rel=1e-12
    )
    assert (record["start"], record["freq"]) == ("1871-01-01T00:00:00", "YS-JAN")
    assert isinstance(dated.results.model._index, pd.DatetimeIndex)  # the comparison is dated
