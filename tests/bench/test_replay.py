"""The replay benchmark's pure parts: arrivals, independent re-scoring, served-error sums.

Models here are statsmodels SARIMAX objects *filtered* at hand-picked parameters (no fit),
an AR(1) with intercept ``c + phi * y[t-1]``, so every forecast is known in closed form.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.statespace.sarimax import SARIMAX

from bench.replay import (
    Arrival,
    ArrivalRecord,
    arrival_csv,
    dated,
    mase,
    mase_scale,
    model_name,
    parse_app_settings,
    rescore,
    seasonal_naive,
    served_forecast,
    split_arrivals,
    summarise,
    targets,
)

C, PHI = 1.0, 0.5


def ar1(series: pd.Series, c: float = C, phi: float = PHI):
    """An AR(1) results object on ``series`` at fixed parameters (no estimation)."""
    return SARIMAX(series, order=(1, 0, 0), trend="c").filter([c, phi, 1.0])


def ar1_path(last: float, steps: int, c: float = C, phi: float = PHI) -> list[float]:
    out = []
    for _ in range(steps):
        last = c + phi * last
        out.append(last)
    return out


# -- arrivals -------------------------------------------------------------------------------


def test_a_quarterly_series_arrives_as_60_percent_then_one_year_per_blob():
    arrivals = split_arrivals(30, season_length=4)

    assert arrivals == [
        Arrival(0, 0, 18),
        Arrival(1, 18, 22),
        Arrival(2, 22, 26),
        Arrival(3, 26, 30),
    ]


def test_a_series_without_season_arrives_in_blocks_and_the_last_blob_holds_the_rest():
    arrivals = split_arrivals(52, season_length=1, annual_points=5)

    assert arrivals[0] == Arrival(0, 0, 31)
    assert [a.size for a in arrivals[1:]] == [5, 5, 5, 5, 1]
    assert all(a.start == b.end for b, a in itertools.pairwise(arrivals))
    assert arrivals[-1].end == 52


def test_max_arrivals_caps_the_yearly_blobs_after_the_first():
    arrivals = split_arrivals(360, season_length=12, max_arrivals=3)

    assert [(a.start, a.end) for a in arrivals] == [(0, 216), (216, 228), (228, 240), (240, 252)]


def test_a_split_that_leaves_nothing_to_arrive_is_refused():
    with pytest.raises(ValueError, match="cannot be split"):
        split_arrivals(1, season_length=4)


def test_blobs_carry_a_regular_calendar_and_full_precision_values():
    series = dated(np.array([1.0, 2.5, 1 / 3]), season_length=4)

    assert arrival_csv(series) == (
        "timestamp,value\n1950-01-01,1\n1950-04-01,2.5\n1950-07-01,0.333333333333\n"
    )
    assert model_name("fertility_CHL") == "fertility-chl"


def test_app_settings_are_name_value_pairs():
    assert parse_app_settings(["RETRAIN_GATE_MAX_MASE=", "A=b=c"]) == {
        "RETRAIN_GATE_MAX_MASE": "",
        "A": "b=c",
    }
    with pytest.raises(SystemExit, match="NAME=VALUE"):
        parse_app_settings(["RETRAIN_GATE_MAX_MASE"])


# -- scores ---------------------------------------------------------------------------------


def test_mase_is_scaled_by_the_in_sample_seasonal_naive_error():
    history = np.array([1.0, 2.0, 4.0, 7.0, 3.0, 4.0, 6.0, 9.0])

    assert mase_scale(history, 4) == 2.0  # |3-1|, |4-2|, |6-4|, |9-7|
    assert mase_scale(history, 1) == pytest.approx(np.mean([1, 2, 3, 4, 1, 2, 3]))
    assert mase([10.0, 10.0], np.array([9.0, 12.0]), 2.0) == 0.75
    assert seasonal_naive(history, 6, 4).tolist() == [3.0, 4.0, 6.0, 9.0, 3.0, 4.0]
    assert seasonal_naive(history, 2, 1).tolist() == [9.0, 9.0]


def test_rescoring_applies_the_stored_parameters_to_the_runs_training_split_without_refit():
    # Stored models were fitted on other data; only their parameters travel.
    elsewhere = dated(np.array([50.0, 40.0, 45.0, 42.0, 44.0, 43.0]), 4)
    champion, candidate = ar1(elsewhere), ar1(elsewhere, c=2.0, phi=0.1)
    data = dated(np.array([2.0, 3.0, 2.0, 4.0, 3.0, 5.0, 2.0, 2.5]), 4)
    train, holdout = data.iloc[:6], data.iloc[6:]
    scale = 1.0

    expected_champion = mase(holdout.to_numpy(), np.array(ar1_path(5.0, 2)), scale)
    expected_candidate = mase(holdout.to_numpy(), np.array(ar1_path(5.0, 2, 2.0, 0.1)), scale)

    assert rescore(champion, train, holdout, scale) == pytest.approx(expected_champion)
    assert rescore(candidate, train, holdout, scale) == pytest.approx(expected_candidate)
    assert champion.params.tolist() == [C, PHI, 1.0]  # the stored model is left unchanged


def test_the_served_forecast_starts_at_the_models_own_end_of_data():
    # A model registered on the training split ends 2 periods before the data did; the
    # next arrival (rows 8-9) is 3 and 4 steps past its end.
    values = np.array([2.0, 3.0, 2.0, 4.0, 3.0, 5.0, 2.0, 2.5, 3.0, 3.5])
    calendar = dated(values, 4)
    lagging = ar1(calendar.iloc[:6])
    current = ar1(calendar.iloc[:8])
    arrival = Arrival(3, 8, 10)

    lagging_forecast = served_forecast(lagging, pd.DatetimeIndex(calendar.index), arrival)
    current_forecast = served_forecast(current, pd.DatetimeIndex(calendar.index), arrival)

    assert lagging_forecast.tolist() == pytest.approx(ar1_path(5.0, 4)[2:])
    assert current_forecast.tolist() == pytest.approx(ar1_path(2.5, 2))


def test_a_model_that_saw_the_arrivals_points_cannot_serve_them():
    calendar = dated(np.arange(10.0), 4)

    with pytest.raises(ValueError, match="past the arrival"):
        served_forecast(ar1(calendar.iloc[:9]), pd.DatetimeIndex(calendar.index), Arrival(3, 8, 10))


# -- accounting -----------------------------------------------------------------------------


def record(arrival: int, **fields) -> ArrivalRecord:
    fields.setdefault("run_key", f"m-{arrival}")
    fields.setdefault("status", "Completed")
    return ArrivalRecord("s", arrival, (0, 1), **fields)


def replay_of_one_series() -> list[ArrivalRecord]:
    return [
        # first blob: a model is refused, nothing in production
        record(0, version=1, production_after=None),
        # nothing served: the served mean falls back to seasonal naive (1.2)
        record(
            1,
            version=2,
            production_after=2,
            promoted=True,
            autoarima_mase=0.5,
            naive_mase=1.2,
        ),
        # promoted over v2 although it re-scores worse on the run's holdout
        record(
            2,
            version=3,
            production_before=2,
            production_after=3,
            promoted=True,
            candidate_holdout_mase=0.9,
            champion_holdout_mase=0.8,
            served_mase=0.4,
            served_behind=0,
            served_by="promoted",
            autoarima_mase=0.6,
            naive_mase=1.0,
        ),
        # refused although better than the champion kept
        record(
            3,
            version=4,
            production_before=3,
            production_after=3,
            candidate_holdout_mase=0.7,
            champion_holdout_mase=0.75,
            served_mase=0.5,
            served_behind=0,
            served_by="promoted",
            autoarima_mase=0.4,
            naive_mase=0.9,
        ),
        # a failed run; the production model stays and serves the next blob
        record(
            4,
            status="Failed",
            production_before=3,
            production_after=3,
            served_mase=0.3,
            served_behind=1,  # v3 was registered two arrivals before; v4 was refused
            served_by="older",
            autoarima_mase=0.5,
            naive_mase=0.8,
        ),
        # the trigger policy skipped: no run
        record(5, run_key=None, status=None, production_before=3, production_after=3),
    ]


def test_the_summary_counts_decisions_and_scores_the_re_scored_comparisons():
    summary = summarise(replay_of_one_series())

    assert {k: summary[k] for k in ("arrivals", "runs", "completed", "failed")} == {
        "arrivals": 6,
        "runs": 5,
        "completed": 4,
        "failed": 1,
    }
    assert summary["promotions"] == 2
    assert summary["promotions_replacing_champion"] == 1
    assert summary["refusals"] == 2  # the first model and arrival 3
    assert summary["without_production"] == 1
    assert summary["worse_promotions"] == 1
    assert summary["worse_promotions_by_5pct"] == 1  # 0.9 vs 0.8
    assert summary["worse_promotions_detail"][0]["run_key"] == "m-2"
    assert summary["refused_better"] == 1


def test_served_error_falls_back_to_naive_without_a_model_and_compares_on_the_same_arrivals():
    means = summarise(replay_of_one_series())["mean_mase"]

    assert means["served"] == pytest.approx(np.mean([1.2, 0.4, 0.5, 0.3]))
    assert means["autoarima"] == pytest.approx(np.mean([0.5, 0.6, 0.4, 0.5]))
    assert means["naive"] == pytest.approx(np.mean([1.2, 1.0, 0.9, 0.8]))
    assert means["served_model_only"] == pytest.approx(0.4)
    assert means["autoarima_same_arrivals"] == pytest.approx(0.5)


def test_served_error_is_split_by_how_current_the_serving_model_was():
    by_age = summarise(replay_of_one_series())["served_by_model_age"]

    assert by_age["current"]["arrivals"] == 2
    assert by_age["current"]["served"] == pytest.approx(0.45)
    assert by_age["current"]["autoarima"] == pytest.approx(0.5)
    assert by_age["older"] == {"arrivals": 1, "served": 0.3, "autoarima": 0.5, "naive": 0.8}


def test_served_error_is_split_by_how_the_serving_model_got_into_production():
    records = replay_of_one_series()
    records[4].served_by, records[4].served_behind = "refreshed", 0
    by = summarise(records)["served_by"]

    assert by["promoted"] == pytest.approx(
        {"arrivals": 2, "served": 0.45, "autoarima": 0.5, "naive": 0.95}
    )
    assert by["refreshed"] == {"arrivals": 1, "served": 0.3, "autoarima": 0.5, "naive": 0.8}
    assert by["older"]["arrivals"] == 0 and by["older"]["served"] is None


def test_targets_fail_on_a_worse_promotion_and_on_served_error_above_autoarima():
    result = targets(summarise(replay_of_one_series()))

    assert not result["no_worse_promotions"]["passed"]
    assert not result["served_vs_autoarima"]["passed"]  # 0.6 > 0.5


def test_targets_pass_when_no_promotion_is_worse_and_served_beats_autoarima():
    records = [
        record(0, version=1, production_after=1, promoted=True),
        record(
            1,
            version=2,
            production_before=1,
            production_after=2,
            promoted=True,
            candidate_holdout_mase=0.5,
            champion_holdout_mase=0.5,  # a tie is not worse
            served_mase=0.3,
            autoarima_mase=0.4,
            naive_mase=1.0,
        ),
    ]

    result = targets(summarise(records))

    assert result["no_worse_promotions"]["passed"]
    assert result["served_vs_autoarima"]["passed"]


def test_a_replacement_that_could_not_be_re_scored_fails_the_no_worse_target():
    records = [
        record(
            1,
            version=2,
            production_before=1,
            production_after=2,
            promoted=True,
            rescore_error="FileNotFoundError: none of model.pkl",
        )
    ]

    assert not targets(summarise(records))["no_worse_promotions"]["passed"]


# -- models fitted on the log ---------------------------------------------------------------


def log_ar1(series: pd.Series, c: float = 0.5, phi: float = 0.8, sigma2: float = 0.04):
    """An AR(1) on ``log(series)`` at fixed parameters (no estimation)."""
    return SARIMAX(np.log(series), order=(1, 0, 0), trend="c").filter([c, phi, sigma2])


def lognormal_path(last: float, steps: int, c=0.5, phi=0.8, sigma2=0.04) -> list[float]:
    """The bias-adjusted mean ``exp(w) (1 + v / 2)`` of the AR(1) on the log from ``last``."""
    out, w, variance = [], np.log(last), 0.0
    for step in range(steps):
        w = c + phi * w
        variance += sigma2 * phi ** (2 * step)
        out.append(float(np.exp(w) * (1 + variance / 2)))
    return out


def test_a_log_model_is_re_scored_and_served_in_the_series_units():
    from bench.replaylib.transform import from_record

    log = from_record({"name": "boxcox", "lambda": 0.0, "bias_adjusted": True})
    assert log is not None and log.lam == 0.0 and from_record(None) is None
    values = np.array([10.0, 12.0, 11.0, 13.0, 12.0, 14.0, 13.0, 15.0, 14.0, 16.0])
    calendar = dated(values, 4)
    train, holdout = calendar.iloc[:6], calendar.iloc[6:8]
    stored = log_ar1(dated(np.array([20.0, 18.0, 22.0, 19.0]), 4))  # parameters only travel

    expected = mase(holdout.to_numpy(), np.array(lognormal_path(14.0, 2)), 1.0)
    assert rescore(stored, train, holdout, 1.0, log) == pytest.approx(expected)

    served = served_forecast(
        log_ar1(calendar.iloc[:6]), pd.DatetimeIndex(calendar.index), Arrival(3, 8, 10), log
    )
    assert served.tolist() == pytest.approx(lognormal_path(14.0, 4)[2:])
    # the same pickle read without its record forecasts log units
    unlabelled = served_forecast(
        log_ar1(calendar.iloc[:6]), pd.DatetimeIndex(calendar.index), Arrival(3, 8, 10)
    )
    assert np.all(unlabelled < 5)


def test_an_unknown_transform_record_is_an_error_not_a_forecast_in_other_units():
    from bench.replaylib.transform import from_record

    with pytest.raises(ValueError, match="unknown transform"):
        from_record({"name": "sqrt"})


class _Blob:
    def __init__(self, name: str) -> None:
        self.name = name


class _Download:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def readall(self) -> bytes:
        return self._data


class _Container:
    """The two calls the replay makes on an artifact container, over a dict of blobs."""

    def __init__(self, blobs: dict[str, bytes]) -> None:
        self.blobs = blobs

    def list_blobs(self, name_starts_with: str) -> list[_Blob]:
        return [_Blob(n) for n in self.blobs if n.startswith(name_starts_with)]

    def download_blob(self, name: str) -> _Download:
        return _Download(self.blobs[name])


def test_the_replay_reads_each_registered_folders_transform_record():
    import json
    from types import SimpleNamespace

    from bench.replay import Replayer

    blobs = {
        "retrain/log/model/model.json": json.dumps(
            {"transform": {"name": "boxcox", "lambda": 0.0, "bias_adjusted": True}}
        ).encode(),
        "retrain/old/model/model.json": json.dumps({"order": [1, 0, 0]}).encode(),
        "retrain/odd/model/model.json": json.dumps({"transform": {"name": "sqrt"}}).encode(),
    }
    settings = SimpleNamespace(
        artifact_datastore="workspaceblobstore",
        artifact_container="artifacts",
        data_datastore="trainingdata",
        data_container="data",
    )
    containers = {"artifacts": _Container(blobs), "data": _Container({})}
    stack = SimpleNamespace(
        settings=settings, blobs=SimpleNamespace(get_container_client=containers.__getitem__)
    )
    replayer = Replayer(stack, peers=None, run_timeout=1.0)  # type: ignore[arg-type]

    def uri(folder: str) -> str:
        return f"azureml://datastores/workspaceblobstore/paths/retrain/{folder}/model/"

    assert replayer.load_transform(uri("log")).lam == 0.0
    assert replayer.load_transform(uri("old")) is None  # a folder from before the transform
    assert replayer.load_transform(uri("none-here")) is None  # no model.json at all
    with pytest.raises(ValueError, match="unknown transform"):
        replayer.load_transform(uri("odd"))
