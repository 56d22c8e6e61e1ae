"""The evaluate step with models fitted on a transformed series (issue 11's log transform):
the candidate, the champion and the refreshed champion are applied to the transformed data and
scored in the series' units; old model folders (no ``transform`` record) keep working.

Models are airpassengers' airline model ARIMA(0,1,1)(0,1,1)[12] at fixed parameters on the
log (``filter``, no fit) unless a test is marked slow."""

import json
import pickle
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.statespace.sarimax import SARIMAX

from tests.pipeline_defs.components import load_step
from tests.pipeline_defs.test_order_search_transform import AIRPASSENGERS

sys.modules.setdefault("evaluation", load_step("evaluate", "evaluation"))
evaluate = load_step("evaluate", "evaluate")
order_search = load_step("train", "order_search")

LOG = {"name": "boxcox", "lambda": 0.0, "rule": "log when Guerrero's lambda < 0.5"}


@pytest.fixture(scope="module")
def air() -> pd.Series:
    index = pd.date_range("1949-01-01", periods=len(AIRPASSENGERS), freq="MS")
    return pd.Series(np.asarray(AIRPASSENGERS, dtype=float), index=index, name="passengers")


def airline(series: pd.Series, params=(-0.4, -0.6), *, log: bool = True):
    """The airline model at fixed parameters on ``log(series)`` (or ``series``), concentrated
    scale, as the order search returns its fits."""
    endog = np.log(series) if log else series
    model = SARIMAX(endog, order=(0, 1, 1), seasonal_order=(0, 1, 1, 12), concentrate_scale=True)
    return model.filter(np.asarray(params, dtype=float), cov_type="none")


# -- the record -----------------------------------------------------------------------------


def test_the_train_steps_record_is_read_back_by_both_components():
    train_side = order_search.BoxCox(0.0).to_record()
    assert order_search.BoxCox.from_record(train_side) == order_search.BoxCox(0.0)
    assert evaluate.BoxCox.from_record(train_side) == evaluate.BoxCox(0.0)
    for reader in (order_search.BoxCox.from_record, evaluate.BoxCox.from_record):
        assert reader(None) is None
        assert reader({"name": "boxcox", "lambda": 0.5}).lam == 0.5  # bias_adjusted default
    assert evaluate.transform_of({"order": [0, 1, 1]}) is None  # a folder from before


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"name": "yeo-johnson", "lambda": 0.0}, "unknown transform"),
        ({"name": "boxcox"}, "finite number"),
        ({"name": "boxcox", "lambda": float("nan")}, "finite number"),
        ({"name": "boxcox", "lambda": True}, "finite number"),
        ({"name": "boxcox", "lambda": 0.0, "bias_adjusted": False}, "bias-adjusted"),
        ("log", "object or null"),
    ],
)
def test_a_record_that_cannot_be_back_transformed_is_refused(record, message):
    for reader in (order_search.BoxCox.from_record, evaluate.BoxCox.from_record):
        with pytest.raises(ValueError, match=message):
            reader(record)


@pytest.mark.parametrize("lam", [0.0, 0.5, -0.3])
def test_the_evaluate_components_box_cox_is_the_train_steps(lam):
    # one class, the shared package's: the search's adds only the rule to its record
    assert issubclass(order_search.BoxCox, evaluate.BoxCox)
    assert evaluate.BoxCox.__module__ == "scoring.boxcox"
    ours, theirs = evaluate.BoxCox(lam), order_search.BoxCox(lam)
    y = np.array([0.5, 1.0, 7.0, 250.0, 0.0, -3.0])
    assert np.allclose(ours.forward(y), theirs.forward(y), equal_nan=True)
    w = theirs.forward(y[:4])
    variance = np.array([0.0, 0.01, 0.2, 1.0])
    assert np.allclose(ours.inverse(w), theirs.inverse(w))
    assert np.allclose(ours.mean(w, variance), theirs.mean(w, variance))


# -- forecasts ------------------------------------------------------------------------------


def test_a_log_model_forecasts_in_the_series_units_as_the_train_step_does(air):
    train = air.iloc[:-12]
    results = airline(train)
    ours = evaluate.forecast_applied(results, train, 12, evaluate.BoxCox(0.0))
    theirs = order_search.forecast_frame(results, 12, order_search.BoxCox(0.0))
    assert ours.mean == pytest.approx(theirs["mean"].to_numpy())
    assert ours.lower == pytest.approx(theirs["lower"].to_numpy())
    assert ours.upper == pytest.approx(theirs["upper"].to_numpy())
    assert ours.ignored == 0
    # the bias-adjusted mean lies above the median exp(w), inside the 80 % interval
    median = np.exp(np.asarray(results.get_forecast(12).predicted_mean))
    assert np.all(ours.mean > median)
    assert np.all(ours.lower < ours.mean) and np.all(ours.mean < ours.upper)
    assert 500 < ours.mean[6] < 700  # passengers (July 1960: 622), not log passengers
    # without the record the same pickle forecasts log passengers: what the record prevents
    assert evaluate.forecast_applied(results, np.log(train), 12).mean[6] < 7


def test_values_the_log_cannot_take_are_skipped_counted_and_still_scored(air):
    """A value <= 0 in a log model's history becomes a missing observation (as the train
    step's fits treat it): the forecast stays finite, the count is reported in the section,
    and the zero itself, as an actual, is scored against the forecast in the series' units."""
    with_zero = air.copy()
    with_zero.iloc[-15] = 0.0  # in the last fold's history and in a backtest fold's actuals
    train, holdout = with_zero.iloc[:-12], with_zero.iloc[-12:]
    log_model = airline(air.iloc[:-36])
    result = evaluate.evaluate(
        train,
        holdout,
        log_model,
        season_length=12,
        candidate_transform=evaluate.BoxCox(0.0),
        backtest_folds=3,
        backtest_horizon=6,
    )
    section = result.metrics["candidate"]
    assert section["transform"] == {
        "name": "boxcox",
        "lambda": 0.0,
        "bias_adjusted": True,
        "ignored": 1,
    }
    json.dumps(result.metrics, allow_nan=False)  # no NaN anywhere
    first = section["folds"][0]  # its actuals hold the zero: scored, a large error
    assert first["origin"] == "1959-06-01T00:00:00" and len(first["errors"]) == 6
    assert min(first["errors"]) < -300  # 0 against a forecast of about 400 passengers
    assert np.all(np.isfinite(section["holdout_errors"]))


def test_an_old_champion_and_a_log_candidate_are_scored_on_the_same_units(air):
    train, holdout = air.iloc[:-12], air.iloc[-12:]
    log_candidate = airline(train)
    old_champion = airline(air.iloc[:-36], (-0.3, -0.5), log=False)
    result = evaluate.evaluate(
        train,
        holdout,
        log_candidate,
        season_length=12,
        champion=old_champion,
        champion_params_end=air.index[-37].isoformat(),
        candidate_transform=evaluate.BoxCox(0.0),
    )
    candidate, champion = result.metrics["candidate"], result.metrics["champion"]
    assert "transform" not in champion and "transform" not in result.metrics["baseline"]
    assert candidate["transform"]["lambda"] == 0.0
    expected = order_search.forecast_frame(log_candidate, 12, order_search.BoxCox(0.0))["mean"]
    assert candidate["holdout_errors"] == pytest.approx(list(holdout.to_numpy() - expected))
    for section in (candidate, champion):  # both near the data, in passengers
        assert max(abs(e) for e in section["holdout_errors"]) < 120
        assert section["holdout"]["mase"] < 2


# -- the step's files -----------------------------------------------------------------------


def write_series(folder: Path, train: pd.Series, holdout: pd.Series) -> None:
    folder.mkdir(parents=True)
    for name, part in (("train.csv", train), ("holdout.csv", holdout)):
        pd.DataFrame(
            {"timestamp": part.index.strftime("%Y-%m-%dT%H:%M:%S"), "value": part.to_numpy()}
        ).to_csv(folder / name, index=False)
    (folder / "prep.json").write_text(
        json.dumps({"frequency": "MS", "season_length": 12, "horizon": len(holdout)})
    )


def write_model(folder: Path, name: str, results, info: dict) -> Path:
    folder.mkdir(parents=True)
    (folder / name).write_bytes(pickle.dumps(results))
    (folder / "model.json").write_text(json.dumps(info))
    return folder


def model_info(series: pd.Series, transform: dict | None, **more) -> dict:
    end = series.index[-1].isoformat()
    return {
        "order": [0, 1, 1],
        "seasonal_order": [0, 1, 1, 12],
        "trend": None,
        "frequency": "MS",
        "transform": transform,
        "evaluation_fit": {"train_end": end, "n_obs": len(series)},
        "final_fit": {"train_end": end, "n_obs": len(series)},
    } | more


def run_main(tmp_path: Path, *extra: str) -> tuple[int, dict]:
    out = tmp_path / "metrics"
    code = evaluate.main(
        [
            "--prepared",
            str(tmp_path / "prepared"),
            "--model",
            str(tmp_path / "model"),
            "--metrics",
            str(out),
            *extra,
        ]
    )
    return code, json.loads((out / "metrics.json").read_text()) if code == 0 else {}


def test_an_unknown_transform_fails_the_candidate_and_leaves_the_champion_unscored(
    tmp_path, air, capsys
):
    train, holdout = air.iloc[:-12], air.iloc[-12:]
    write_series(tmp_path / "prepared", train, holdout)
    unknown = {"name": "sqrt", "lambda": 0.5}
    write_model(tmp_path / "model", "model_eval.pkl", airline(train), model_info(train, unknown))
    code, _ = run_main(tmp_path)
    assert code == 2
    assert "the candidate's model.json: unknown transform 'sqrt'" in capsys.readouterr().err

    (tmp_path / "model" / "model.json").write_text(json.dumps(model_info(train, LOG)))
    champion = write_model(
        tmp_path / "champion",
        "model.pkl",
        airline(air.iloc[:-36]),
        model_info(air.iloc[:-36], unknown),
    )
    code, metrics = run_main(tmp_path, "--champion", str(champion))
    assert code == 0 and metrics["champion"] is None and metrics["champion_refreshed"] is None
    assert "unknown transform 'sqrt'" in metrics["champion_error"]
    assert metrics["candidate"]["transform"]["lambda"] == 0.0


@pytest.mark.slow
def test_a_run_with_a_log_candidate_and_an_old_champion_scores_and_refreshes_in_units(
    tmp_path, air
):
    """Through main(): the log candidate's metrics in passengers; the champion folder from
    before the transform (model.json without the key) still scores, and its refreshed folder
    says ``transform: null``; that folder, used as the next champion, scores the same way."""
    train, holdout = air.iloc[:-12], air.iloc[-12:]
    write_series(tmp_path / "prepared", train, holdout)
    write_model(tmp_path / "model", "model_eval.pkl", airline(train), model_info(train, LOG))
    old = model_info(air.iloc[:-36], None)
    del old["transform"]
    champion = write_model(
        tmp_path / "champion",
        "model.pkl",
        airline(air.iloc[:-36], (-0.3, -0.5), log=False),
        old,
    )
    code, metrics = run_main(tmp_path, "--champion", str(champion), "--run_key", "air-1")
    assert code == 0
    assert metrics["model"]["transform"] == LOG
    assert metrics["champion_model"]["transform"] is None
    assert metrics["candidate"]["transform"]["lambda"] == 0.0
    assert "transform" not in metrics["champion"]
    assert metrics["candidate"]["holdout"]["mase"] < 1.5  # passengers against passengers
    assert "ARIMA(0,1,1)(0,1,1)[12] on log" in evaluate.plot_title(metrics, "air-1")
    refreshed = tmp_path / "metrics" / "champion_refreshed"
    info = json.loads((refreshed / "model.json").read_text())
    assert info["transform"] is None
    pickled = pickle.loads((refreshed / "model.pkl").read_bytes())
    assert np.asarray(pickled.model.endog).max() > 600  # fitted in passengers


@pytest.mark.slow
def test_a_log_champion_is_refreshed_on_the_log_and_keeps_its_transform(tmp_path, air):
    train, holdout = air.iloc[:-12], air.iloc[-12:]
    write_series(tmp_path / "prepared", train, holdout)
    write_model(tmp_path / "model", "model_eval.pkl", airline(train), model_info(train, LOG))
    champion = write_model(
        tmp_path / "champion",
        "model.pkl",
        airline(air.iloc[:-36], (-0.3, -0.5)),
        model_info(air.iloc[:-36], LOG),
    )
    code, metrics = run_main(tmp_path, "--champion", str(champion), "--run_key", "air-2")
    assert code == 0
    assert metrics["champion_model"]["transform"] == LOG
    assert metrics["champion"]["transform"]["lambda"] == 0.0
    assert metrics["champion"]["holdout"]["mase"] < 1.5
    assert metrics["champion_refreshed"]["data_end"] == "1960-12-01T00:00:00"
    folder = tmp_path / "metrics" / "champion_refreshed"
    info = json.loads((folder / "model.json").read_text())
    assert info["transform"] == LOG  # the same record: whoever reads it back-transforms
    refreshed = pickle.loads((folder / "model.pkl").read_bytes())
    endog = np.asarray(refreshed.model.endog).ravel()
    assert endog == pytest.approx(np.log(air.to_numpy()))  # re-estimated on the log
    if metrics["champion_refreshed"]["method"] == "ml":
        assert "(log)" in info["refreshed"]["message"]
    # Served from it: the next year in passengers.
    frame = order_search.forecast_frame(
        refreshed, 12, order_search.BoxCox.from_record(info["transform"])
    )
    assert frame.index[0] == pd.Timestamp("1961-01-01")
    assert 380 < frame["mean"].iloc[0] < 520
    # As the next run's champion it scores in passengers again.
    _, description = evaluate.load_champion(folder, "MS")
    assert evaluate.champion_transform(description) == evaluate.BoxCox(0.0)
    code, again = run_main(tmp_path, "--champion", str(folder))
    assert code == 0 and again["champion"]["holdout"]["mase"] < 1.5


def test_a_log_champion_without_free_parameters_is_refreshed_on_the_log_skipping_a_zero(air):
    """A model without a concentrated scale keeps its stored parameters (method "applied",
    no fit): they are applied to the log of all the data, the zero skipped as missing."""
    stored = SARIMAX(np.log(air.iloc[:-36]), order=(0, 1, 1), seasonal_order=(0, 1, 1, 12)).filter(
        [-0.4, -0.6, 0.0014]
    )
    with_zero = air.copy()
    with_zero.iloc[-5] = 0.0
    refresh = evaluate.refresh_champion(stored, with_zero, evaluate.BoxCox(0.0))
    assert refresh is not None and refresh.method == "applied"
    assert refresh.transform == evaluate.BoxCox(0.0)
    endog = np.asarray(refresh.results.model.endog).ravel()
    assert np.isnan(endog[-5]) and endog[-1] == pytest.approx(np.log(432.0))
    mean = evaluate.BoxCox(0.0).mean(
        np.asarray(refresh.results.get_forecast(1).predicted_mean),
        np.asarray(refresh.results.get_forecast(1).var_pred_mean),
    )
    assert 380 < mean[0] < 520  # January 1961 in passengers
