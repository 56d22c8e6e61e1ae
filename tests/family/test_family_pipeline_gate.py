"""The family fit step's per-series gate evidence: metrics.json schema 2 per series, the
evaluate step's numbers, read by ``shared.gate.judge`` unchanged; champions applied, never
refitted."""

from __future__ import annotations

import importlib
import json
import math
import pickle
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.statespace.sarimax import SARIMAX

from bench.many_series import real_panel
from shared.gate import GatePolicy, judge
from tests.family.steps import load_shard
from tests.pipeline_defs.components import load_step

shard = load_shard()
family_records = importlib.import_module("family_records")
scoring = load_step("train", "family_scoring")
champions_module = load_step("train", "family_champions")
POLICY = GatePolicy()


def series_of(values: np.ndarray, start: str = "2010-01-01") -> pd.Series:
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="MS"))


def seasonal(n: int, seed: int = 3) -> pd.Series:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return series_of(100 + 0.5 * t + 10 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 2, n))


def fitted(series: pd.Series) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = SARIMAX(series, order=(1, 0, 0), seasonal_order=(1, 0, 0, 12), trend="c")
        return model.fit(disp=False)


def test_the_backtest_plan_is_evaluates():
    evaluate = load_step("evaluate", "evaluate")
    for n, folds, horizon in [(144, 0, 0), (68, 0, 0), (60, 3, 6), (40, 0, 0), (100, 9, 12)]:
        ours = scoring.backtest_plan(
            n, model_horizon=12, season_length=12, folds=folds, horizon=horizon
        )
        theirs = evaluate.backtest_plan(
            n, model_horizon=12, season_length=12, folds=folds, horizon=horizon
        )
        assert (ours.horizon, ours.origins, ours.note) == (
            theirs.horizon,
            theirs.origins,
            theirs.note,
        )
    with pytest.raises(scoring.ScoringError, match="does not fit"):
        scoring.backtest_plan(14, model_horizon=12, season_length=12)


def assert_same(ours, theirs, path=""):
    """Equal documents, floats to 1e-7 relative (non-finite written as null by us)."""
    if isinstance(theirs, dict):
        for key, value in theirs.items():
            assert key in ours, f"{path}.{key} missing"
            assert_same(ours[key], value, f"{path}.{key}")
    elif isinstance(theirs, list):
        assert len(ours) == len(theirs), path
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert_same(a, b, f"{path}[{i}]")
    elif isinstance(theirs, float):
        if math.isfinite(theirs):
            assert ours == pytest.approx(theirs, rel=1e-7, abs=1e-9), path
        else:
            assert ours is None, path
    else:
        assert ours == theirs, path


def test_the_sections_are_the_evaluate_steps_numbers_with_and_without_a_champion():
    evaluate = load_step("evaluate", "evaluate")
    series = seasonal(96)
    train, holdout = series.iloc[:-12], series.iloc[-12:]
    candidate, champion = fitted(train), fitted(series.iloc[:-24])
    params_end = series.index[-25]
    theirs = evaluate.evaluate(
        train,
        holdout,
        candidate,
        season_length=12,
        champion=champion,
        champion_params_end=params_end.isoformat(),
    ).metrics
    ours, refreshed = scoring.gate_metrics(
        series,
        horizon=12,
        season_length=12,
        candidate=candidate,
        champion=scoring.Champion(champion.model, champion.params, params_end, {"a": 1}),
    )
    for key in ("candidate", "baseline", "champion", "backtest", "mase_scale", "data_end"):
        assert_same(ours[key], theirs[key], key)
    assert {k for k in theirs if k not in ("model", "champion_model")} <= set(ours)
    assert ours["champion_model"] == {"a": 1} and refreshed is not None
    assert [f["out_of_sample"] for f in ours["champion"]["folds"]] == [False] * 3 + [True] * 2
    assert [f["out_of_sample"] for f in ours["candidate"]["folds"]] == [False] * 4 + [True]
    # the refreshed champion forecasts from the last observation at the stored parameters
    again = champion.model.clone(series).filter(champion.params)
    assert refreshed.filtered.filtered_state[:, -1] == pytest.approx(
        np.asarray(again.filtered_state)[:, -1]
    )
    without, _ = scoring.gate_metrics(series, horizon=12, season_length=12, candidate=candidate)
    assert without["champion"] is None and without["champion_error"] is None
    json.dumps(ours, allow_nan=False)


def test_a_champion_that_cannot_be_applied_gives_its_reason_and_the_gate_fails_closed():
    series = seasonal(96)
    candidate = fitted(series.iloc[:-12])
    broken = scoring.Champion(
        candidate.model, np.array([np.nan, 1.0, 1.0, 1.0]), series.index[40], {}
    )
    metrics, refreshed = scoring.gate_metrics(
        series, horizon=12, season_length=12, candidate=candidate, champion=broken
    )
    assert metrics["champion"] is None and refreshed is None
    assert metrics["champion_error"].startswith("the champion cannot be applied")
    verdict = judge(metrics, POLICY, champion_present=True)
    assert not verdict.passed and "champion could not be re-scored" in verdict.reason


def write_champions(folder: Path, series: dict[str, dict[str, object]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    index = {"schema": "family-champions/1", "series": series}
    (folder / "champions.json").write_text(json.dumps(index))
    return folder


def test_the_champions_index_names_what_is_wrong_per_series(tmp_path):
    series = seasonal(60)
    record = family_records.model_record(fitted(series), series)
    folder = write_champions(
        tmp_path / "champions",
        {
            "good": {"run_key": "fam-1", "version": 3, "model_file": "fam-1/shard-00001.pkl"},
            "gone": {"run_key": "fam-1", "version": 3, "model_file": "fam-1/shard-00009.pkl"},
            "absent": {"run_key": "fam-1", "version": 3, "model_file": "fam-1/shard-00001.pkl"},
        },
    )
    (folder / "fam-1").mkdir()
    shard.write_models(folder / "fam-1" / "shard-00001.pkl", {"good": record})
    champions = champions_module.Champions(folder)
    champion, error = champions.champion("good", "MS")
    assert error is None and champion.params_end == series.index[-1]
    assert champion.description["version"] == 3 and champion.description["n_obs"] == 60
    assert champions.champion("new-series", "MS") == (None, None)
    assert "shard-00009.pkl is unreadable" in champions.champion("gone", "MS")[1]
    assert "holds no fit of series 'absent'" in champions.champion("absent", "MS")[1]
    assert "frequency 'MS', this series is 'D'" in champions.champion("good", "D")[1]
    (folder / "champions.json").write_text("{}")
    assert "unusable" in champions_module.Champions(folder).champion("good", "MS")[1]


def test_a_refreshed_champion_is_read_with_the_end_of_its_parameters_data(tmp_path):
    series = seasonal(72)
    fit = fitted(series.iloc[:-12])
    refreshed = family_records.model_record(fit, series) | {
        "params_end": series.index[-13].isoformat()
    }
    folder = write_champions(
        tmp_path / "champions",
        {
            "kept": {
                "run_key": "fam-2",
                "version": 2,
                "model_file": "fam-2/shard-00001.pkl",
                "key": "refreshed",
            },
            "fit": {"run_key": "fam-2", "version": 2, "model_file": "fam-2/shard-00001.pkl"},
        },
    )
    (folder / "fam-2").mkdir()
    shard.write_models(folder / "fam-2" / "shard-00001.pkl", {}, {"kept": refreshed})
    champions = champions_module.Champions(folder)
    champion, error = champions.champion("kept", "MS")
    assert error is None
    # Its state runs to the end of the data, its parameters were estimated a year before.
    assert champion.description["n_obs"] == 72
    assert champion.params_end == series.index[-13]
    assert champion.description["params_end"] == series.index[-13].isoformat()
    assert "holds no fit of series 'fit'" in champions.champion("fit", "MS")[1]


def write_shard(path: Path, frame: pd.DataFrame) -> Path:
    frame.astype({"unique_id": "string"}).to_parquet(path, index=False)
    return path


def settings(tmp_path: Path, **overrides: object) -> object:
    values = {
        "frequency": "MS",
        "season_length": 12,
        "horizon": 12,
        "time_budget": 5.0,
        "models": tmp_path / "models",
    } | overrides
    return shard.ShardSettings(**values)


@pytest.mark.slow
def test_real_series_are_gated_first_against_naive_then_against_their_champions(tmp_path):
    panel = real_panel(4, stride=131)
    ids = sorted(panel["unique_id"].unique())
    earlier = panel[panel.groupby("unique_id").cumcount(ascending=False) >= 12]
    first_rows, first_models, _ = shard.fit_shard(
        write_shard(tmp_path / "shard-00002.parquet", earlier), settings(tmp_path)
    )
    for row in first_rows:
        assert row["status"] == "ok" and row["gate_error"] is None, row["reason"]
        metrics = json.loads(json.dumps(row["gate_metrics"], allow_nan=False))
        verdict = judge(metrics, POLICY, champion_present=False)
        assert [c.name for c in verdict.checks] == ["beats_seasonal_naive"]
        candidate, naive = (metrics[k]["backtest"]["mase"] for k in ("candidate", "baseline"))
        assert verdict.passed == (candidate < naive)
        assert verdict.window == f"on all {metrics['backtest']['folds']} backtest folds"

    # A year later: every series has its first fit as champion, except the last one.
    stored = tmp_path / "champions" / "fam-1"
    stored.mkdir(parents=True)
    shard.write_models(stored / "shard-00002.pkl", first_models)
    entry = {"run_key": "fam-1", "version": 1, "model_file": "fam-1/shard-00002.pkl"}
    folder = write_champions(tmp_path / "champions", {uid: entry for uid in ids[:-1]})
    later = settings(tmp_path / "later", champions=folder, backtest_folds=4, backtest_horizon=6)
    rows, _, refreshed = shard.fit_shard(
        write_shard(tmp_path / "shard-00002.parquet", panel),
        later,
        champions=champions_module.Champions(folder),
    )
    by_id = {row["unique_id"]: row for row in rows}
    assert set(refreshed) == set(ids[:-1])
    methods: list[str] = []
    for uid in ids[:-1]:
        row = by_id[uid]
        metrics = json.loads(json.dumps(row["gate_metrics"], allow_nan=False))
        assert row["champion"] == entry and metrics["champion_error"] is None
        assert metrics["champion_model"]["params_end"] == first_rows[0]["data_end"]
        # scored with its first fit's parameters, applied, never re-estimated ...
        first = pickle.loads(pickle.dumps(first_models[uid]))
        assert list(metrics["champion_model"]["params"].values()) == first["params"]
        # ... and refreshed for production: re-estimated on all the data ("ml"), or its
        # stored parameters kept when that refit is unusable ("applied")
        kept, said = refreshed[uid], metrics["champion_refreshed"]
        assert kept["endog"] == panel[panel["unique_id"] == uid]["y"].tolist()
        assert kept["refresh"]["method"] == said["method"]
        methods.append(said["method"])
        if said["method"] == "ml":
            assert said["params_end"] == kept["params_end"] == row["data_end"]
            assert kept["params"] != first["params"]
        else:
            assert said["params_end"] == kept["params_end"] == first_rows[0]["data_end"]
            assert kept["params"] == first["params"]
        # 4 folds of 6: the last two are after both the champion's data and the training split
        marks = [f["out_of_sample"] for f in metrics["champion"]["folds"]]
        assert marks == [False, False, True, True]
        verdict = judge(metrics, POLICY, champion_present=True)
        assert [c.name for c in verdict.checks] == ["beats_champion", "not_worse_than_champion"]
        assert verdict.window == "on 2 backtest folds out-of-sample for both"
        assert verdict.checks[1].result in ("pass", "fail")  # computed, not skipped
        mase, rival = verdict.checks[0].value, metrics["champion"]["folds"]
        assert verdict.checks[0].passed == (
            mase < np.mean([f["mase"] for f in rival if f["out_of_sample"]])
        )
    assert "ml" in methods  # real series: the re-estimation is the rule, not the exception
    newcomer = by_id[ids[-1]]
    assert newcomer["champion"] is None and newcomer["gate_metrics"]["champion"] is None
    assert judge(newcomer["gate_metrics"], POLICY, champion_present=False).checks
