"""The evaluate step: pure metric and window functions, the champion applied without refit,
and metrics.json (schema 2) written by main(). Models are built at fixed parameters
(``SARIMAX(...).filter(params)``, as the order search returns them), so nothing is fitted."""

import json
import pickle
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.statespace.sarimax import SARIMAX

from localdev.datasets import co2_monthly
from tests.pipeline_defs.components import load_step

sys.modules.setdefault("evaluation", load_step("evaluate", "evaluation"))
evaluate = load_step("evaluate", "evaluate")

SECTION_KEYS = {"holdout", "backtest", "folds", "holdout_errors"}
METRICS = {"mase", "smape", "rmse", "mae", "coverage"}


def fixed_model(series: pd.Series, params=(0.3, -0.5, -0.8)):
    """An ARIMA(1,1,1)(0,1,1)[12] at fixed parameters, concentrated scale (no fit)."""
    model = SARIMAX(series, order=(1, 1, 1), seasonal_order=(0, 1, 1, 12), concentrate_scale=True)
    return model.filter(np.asarray(params, dtype=float), cov_type="none")


@pytest.fixture(scope="module")
def co2() -> pd.Series:
    return co2_monthly().loc["1985":"2001"]


def split(series: pd.Series, horizon: int = 24) -> tuple[pd.Series, pd.Series]:
    return series.iloc[:-horizon], series.iloc[-horizon:]


# -- pure functions ---------------------------------------------------------------------


def test_point_metrics_on_known_numbers():
    actual = np.array([10.0, 20.0, 30.0])
    forecast = np.array([12.0, 18.0, 30.0])
    metrics = evaluate.point_metrics(actual, forecast, scale=2.0)
    assert metrics["mae"] == pytest.approx(4 / 3)
    assert metrics["rmse"] == pytest.approx(np.sqrt(8 / 3))
    assert metrics["mase"] == pytest.approx(2 / 3)
    assert metrics["smape"] == pytest.approx(100 * (4 / 22 + 4 / 38) / 3)


def test_mase_scale_is_the_in_sample_seasonal_naive_error():
    train = np.array([1.0, 2, 3, 4, 2, 3, 4, 5])
    assert evaluate.mase_scale(train, 4) == pytest.approx(1.0)
    assert evaluate.mase_scale(train, 1) == pytest.approx(np.mean([1, 1, 1, 2, 1, 1, 1]))


def test_seasonal_naive_repeats_the_last_season():
    assert list(evaluate.seasonal_naive(np.arange(8.0), 6, 4)) == [4, 5, 6, 7, 4, 5]
    assert list(evaluate.seasonal_naive(np.arange(3.0), 2, 1)) == [2, 2]


def test_pooled_metrics_average_the_fold_mases_and_pool_the_points():
    index = pd.date_range("2000-01-01", periods=4, freq="MS")
    folds = [
        evaluate.Window(pd.Series([0.0]), pd.Series([1.0, 3.0], index=index[:2]), 1.0),
        evaluate.Window(pd.Series([0.0]), pd.Series([2.0, 2.0], index=index[2:]), 4.0),
    ]
    forecasts = [
        evaluate.Forecast(np.array([0.0, 3.0]), np.array([-1.0, 2.0]), np.array([1.0, 4.0])),
        evaluate.Forecast(np.array([2.0, 6.0]), np.array([1.0, 5.0]), np.array([3.0, 7.0])),
    ]
    pooled = evaluate.pooled_metrics(folds, forecasts)
    assert pooled["mase"] == pytest.approx((0.5 / 1 + 2 / 4) / 2)
    assert pooled["mae"] == pytest.approx(5 / 4)
    assert pooled["rmse"] == pytest.approx(np.sqrt(17 / 4))
    assert pooled["coverage"] == pytest.approx(3 / 4)


@pytest.mark.parametrize(
    ("n", "kwargs", "horizon", "origins"),
    [
        # co2 1958-2001 with a 24-month holdout: six folds of 24 ending at the last point.
        (526, {}, 24, (382, 406, 430, 454, 478, 502)),
        # 60 points: two folds fit after the minimum of 3 seasons (36).
        (60, {}, 12, (36, 48)),
        # Too short for the minimum: one fold, the holdout.
        (34, {}, 12, (22,)),
        # An explicit horizon and number of folds.
        (526, {"folds": 3, "horizon": 6}, 6, (508, 514, 520)),
        # Non-seasonal: the minimum is 10 points.
        (40, {"season_length": 1, "model_horizon": 10}, 10, (10, 20, 30)),
    ],
)
def test_backtest_plan_defaults_and_requests(n, kwargs, horizon, origins):
    arguments = {"model_horizon": 24 if n == 526 else 12, "season_length": 12} | kwargs
    plan = evaluate.backtest_plan(n, **arguments)
    assert (plan.horizon, plan.origins, plan.folds) == (horizon, origins, len(origins))
    assert plan.origins[-1] + plan.horizon == n
    assert plan.note is None


def test_more_folds_than_fit_are_reduced_with_a_note():
    plan = evaluate.backtest_plan(60, model_horizon=12, season_length=12, folds=5)
    assert plan.origins == (36, 48)
    assert "5 backtest folds requested, 2 fit" in plan.note


def test_impossible_backtests_are_errors():
    with pytest.raises(evaluate.EvaluateError, match=">= 0"):
        evaluate.backtest_plan(100, model_horizon=12, season_length=12, folds=-1)
    with pytest.raises(evaluate.EvaluateError, match="does not fit"):
        evaluate.backtest_plan(10, model_horizon=12, season_length=12)


def test_each_fold_is_scaled_by_its_own_training_window(co2):
    plan = evaluate.backtest_plan(len(co2), model_horizon=24, season_length=12)
    folds = evaluate.windows(co2, plan, 12)
    for fold, origin in zip(folds, plan.origins, strict=True):
        assert len(fold.history) == origin and len(fold.actual) == 24
        assert fold.scale == evaluate.mase_scale(co2.to_numpy()[:origin], 12)
        assert fold.origin == co2.index[origin - 1].isoformat()


def test_seasonal_naive_per_fold_uses_only_the_data_up_to_its_origin(co2):
    train, holdout = split(co2)
    plan = evaluate.backtest_plan(len(co2), model_horizon=24, season_length=12)
    folds = evaluate.windows(co2, plan, 12)
    holdout_window = evaluate.Window(train, holdout, 1.0)
    scored = evaluate.score_naive(holdout_window, folds, 12)
    for fold, forecast, record in zip(folds, scored.folds, scored.section["folds"], strict=True):
        last_season = fold.history.to_numpy()[-12:]
        assert np.array_equal(forecast.mean, np.concatenate([last_season, last_season]))
        assert record["errors"] == pytest.approx(list(fold.actual.to_numpy() - forecast.mean))


# -- the whole evaluation -------------------------------------------------------------------


def test_first_model_schema_2_without_champion(co2):
    train, holdout = split(co2)
    result = evaluate.evaluate(train, holdout, fixed_model(train), season_length=12)
    metrics = result.metrics
    assert metrics["schema"] == 2
    assert metrics["champion"] is None and metrics["champion_error"] is None
    assert (metrics["horizon"], metrics["season_length"], metrics["interval"]) == (24, 12, 0.8)
    assert metrics["holdout_start"] == "2000-01-01T00:00:00"
    assert metrics["holdout_end"] == metrics["data_end"] == "2001-12-01T00:00:00"
    assert metrics["mase_scale"] == evaluate.mase_scale(train.to_numpy(), 12)
    backtest = metrics["backtest"]
    assert backtest["folds"] == 6 and backtest["horizon"] == 24
    assert backtest["origins"][-1] == "1999-12-01T00:00:00"
    for name in ("candidate", "baseline"):
        section = metrics[name]
        assert set(section) >= SECTION_KEYS
        assert set(section["holdout"]) == set(section["backtest"]) == METRICS
        assert [f["origin"] for f in section["folds"]] == backtest["origins"]
        assert all(len(f["errors"]) == 24 for f in section["folds"])
        assert len(section["holdout_errors"]) == 24
        assert not set(section) & METRICS  # schema 2 only: no top-level holdout copies
    assert metrics["baseline"]["name"] == "seasonal_naive"
    candidate = metrics["candidate"]
    assert candidate["holdout"]["mase"] < metrics["baseline"]["holdout"]["mase"]
    assert candidate["holdout_errors"] == pytest.approx(
        list(holdout.to_numpy() - result.candidate.holdout.mean)
    )
    # The last fold is the holdout when the backtest horizon is the model horizon.
    assert candidate["folds"][-1]["errors"] == pytest.approx(candidate["holdout_errors"])
    # Only the holdout is out-of-sample for the evaluation fit (estimated on the training
    # split); seasonal naive has no parameters, so everything is out-of-sample for it.
    assert [f["out_of_sample"] for f in candidate["folds"]] == [False] * 5 + [True]
    assert candidate["holdout_out_of_sample"] is True
    assert candidate["params_end"] == "1999-12-01T00:00:00"
    baseline = metrics["baseline"]
    assert all(f["out_of_sample"] for f in baseline["folds"]) and baseline["params_end"] is None
    assert metrics["champion_refreshed"] is None and result.refreshed is None
    json.dumps(metrics)


def test_out_of_sample_marks_follow_each_models_parameter_estimation_end(co2):
    train, holdout = split(co2)
    champion = fixed_model(train.iloc[:-36], params=(0.1, -0.3, -0.6))
    result = evaluate.evaluate(
        train,
        holdout,
        fixed_model(train),
        season_length=12,
        champion=champion,
        champion_params_end="1996-12-01T00:00:00",
        backtest_horizon=12,
    )
    origins = result.metrics["backtest"]["origins"]
    candidate, rival = result.metrics["candidate"], result.metrics["champion"]
    # A fold is out-of-sample when its first target comes after the parameters' data end.
    assert [f["out_of_sample"] for f in candidate["folds"]] == [o >= "1999-12" for o in origins]
    assert [f["out_of_sample"] for f in rival["folds"]] == [o >= "1996-12" for o in origins]
    assert sum(f["out_of_sample"] for f in candidate["folds"]) == 2
    assert rival["params_end"] == "1996-12-01T00:00:00" and rival["holdout_out_of_sample"]
    # Unknown: nothing counts as out-of-sample for the champion.
    unknown = evaluate.evaluate(
        train, holdout, fixed_model(train), season_length=12, champion=champion
    )
    assert not any(f["out_of_sample"] for f in unknown.metrics["champion"]["folds"])
    assert unknown.metrics["champion"]["holdout_out_of_sample"] is False
    assert unknown.metrics["champion"]["params_end"] is None


def test_the_champion_is_applied_with_its_stored_parameters_never_refit(co2):
    train, holdout = split(co2)
    old = train.iloc[:-36]  # the champion was fitted three years earlier, other parameters
    champion = pickle.loads(pickle.dumps(fixed_model(old, params=(0.1, -0.3, -0.6))))
    stored = champion.params.copy()
    result = evaluate.evaluate(
        train, holdout, fixed_model(train), season_length=12, champion=champion
    )
    assert result.metrics["champion"] is not None
    assert result.metrics["champion_error"] is None
    # Its parameters are unchanged, and each fold's forecast is exactly the model at those
    # parameters filtered over the data up to the origin.
    assert np.array_equal(champion.params.to_numpy(), stored.to_numpy())
    for fold, forecast in zip(result.folds, result.champion.folds, strict=True):
        applied = evaluate.apply_stored(champion, fold.history)
        assert np.array_equal(applied.params.to_numpy(), stored.to_numpy())
        expected = (
            SARIMAX(
                fold.history, order=(1, 1, 1), seasonal_order=(0, 1, 1, 12), concentrate_scale=True
            )
            .filter(stored.to_numpy(), cov_type="none")
            .get_forecast(24)
        )
        assert np.allclose(forecast.mean, expected.predicted_mean.to_numpy())
        assert applied.get_forecast(1).predicted_mean.index[0] == fold.actual.index[0]
    # Same windows for everybody.
    champion_folds = result.metrics["champion"]["folds"]
    assert [f["origin"] for f in champion_folds] == result.metrics["backtest"]["origins"]
    assert (
        result.metrics["champion"]["holdout"]["mase"]
        != result.metrics["candidate"]["holdout"]["mase"]
    )


def test_apply_stored_matches_statsmodels_apply(co2):
    train, _ = split(co2)
    results = fixed_model(train)
    history = co2.iloc[:150]
    ours = evaluate.apply_stored(results, history).get_forecast(12)
    theirs = results.apply(history, refit=False).get_forecast(12)
    assert np.allclose(ours.predicted_mean, theirs.predicted_mean)
    assert np.allclose(ours.conf_int(alpha=0.2), theirs.conf_int(alpha=0.2))


def test_a_champion_that_cannot_forecast_is_null_with_the_reason(co2):
    class Broken:
        params = np.array([1.0])

        class model:
            @staticmethod
            def clone(endog):
                raise ValueError("state space mismatch")

    train, holdout = split(co2)
    result = evaluate.evaluate(
        train, holdout, fixed_model(train), season_length=12, champion=Broken()
    )
    assert result.metrics["champion"] is None
    assert "cannot be applied" in result.metrics["champion_error"]
    assert "state space mismatch" in result.metrics["champion_error"]
    assert result.metrics["candidate"]["holdout"]["mase"] > 0


def test_non_finite_candidate_forecast_is_an_error():
    class Broken:
        params = np.array([1.0])

        class model:
            @staticmethod
            def clone(endog):
                class Applied:
                    def get_forecast(self, steps):
                        class Prediction:
                            predicted_mean = np.full(steps, np.nan)

                            def conf_int(self, alpha):
                                return np.zeros((steps, 2))

                        return Prediction()

                class Model:
                    def filter(self, params, cov_type):
                        return Applied()

                return Model()

    index = pd.date_range("2000-01-01", periods=60, freq="MS")
    series = pd.Series(np.arange(60.0), index=index)
    with pytest.raises(evaluate.EvaluateError, match="candidate: the forecast is not 12 finite"):
        evaluate.evaluate(series.iloc[:-12], series.iloc[-12:], Broken(), season_length=12)


# -- the step's files -----------------------------------------------------------------------


def write_inputs(tmp_path: Path, series: pd.Series, horizon: int = 24) -> tuple[Path, Path]:
    prepared, model = tmp_path / "prepared", tmp_path / "model"
    prepared.mkdir()
    model.mkdir()
    train, holdout = split(series, horizon)
    for name, part in (("train.csv", train), ("holdout.csv", holdout)):
        pd.DataFrame(
            {"timestamp": part.index.strftime("%Y-%m-%dT%H:%M:%S"), "value": part.to_numpy()}
        ).to_csv(prepared / name, index=False)
    (prepared / "prep.json").write_text(
        json.dumps({"frequency": "MS", "season_length": 12, "horizon": horizon})
    )
    (model / "model_eval.pkl").write_bytes(pickle.dumps(fixed_model(train)))
    (model / "model.json").write_text(
        json.dumps(
            {
                "order": [1, 1, 1],
                "seasonal_order": [0, 1, 1, 12],
                "trend": None,
                "fallback_reason": None,
                "evaluation_fit": {"train_end": train.index[-1].isoformat(), "n_obs": len(train)},
                "final_fit": {"train_end": holdout.index[-1].isoformat(), "n_obs": len(series)},
            }
        )
    )
    return prepared, model


def write_champion(folder: Path, series: pd.Series, frequency: str = "MS", results=None) -> Path:
    folder.mkdir()
    results = results if results is not None else fixed_model(series, (0.2, -0.4, -0.7))
    (folder / "model.pkl").write_bytes(pickle.dumps(results))
    (folder / "model.json").write_text(
        json.dumps({"frequency": frequency, "final_fit": {"train_end": "1997-12-01T00:00:00"}})
    )
    return folder


def run_main(tmp_path: Path, *extra: str) -> tuple[int, dict]:
    prepared, model = tmp_path / "prepared", tmp_path / "model"
    out = tmp_path / "metrics"
    code = evaluate.main(
        ["--prepared", str(prepared), "--model", str(model), "--metrics", str(out), *extra]
    )
    metrics = json.loads((out / "metrics.json").read_text()) if code == 0 else {}
    return code, metrics


def test_main_writes_metrics_and_plot_with_a_champion(tmp_path, co2):
    write_inputs(tmp_path, co2)
    champion = write_champion(tmp_path / "champion", co2.loc[:"1997"])
    code, metrics = run_main(
        tmp_path, "--champion", str(champion), "--backtest_folds", "3", "--run_key", "co2-1"
    )
    assert code == 0
    assert metrics["backtest"]["folds"] == 3 and metrics["champion"] is not None
    assert metrics["champion_model"]["order"] == [1, 1, 1]
    assert metrics["champion_model"]["train_end"] == "1997-12-01T00:00:00"
    assert metrics["model"]["final_fit"]["train_end"] == "2001-12-01T00:00:00"
    assert metrics["run_key"] == "co2-1"
    assert metrics["champion_model"]["params_end"] == "1997-12-01T00:00:00"
    assert metrics["champion"]["params_end"] == "1997-12-01T00:00:00"
    assert (tmp_path / "metrics" / "forecast.png").stat().st_size > 10_000
    title = evaluate.plot_title(metrics, "co2-1")
    assert "ARIMA(1,1,1)(0,1,1)[12]" in title and "run co2-1" in title and "champion" in title
    svg = (tmp_path / "metrics" / "forecast.svg").read_text()
    assert evaluate.VERDICT_PLACEHOLDER in svg and ">ARIMA(1,1,1)(0,1,1)[12]" in svg
    # the service's audit report fills the verdict line of exactly this file in
    from shared.service.audit import VERDICT_ID, titled_plot

    assert VERDICT_ID == evaluate.VERDICT_ID
    titled = titled_plot(svg, "verdict: PROMOTED v2 - passed")
    assert titled is not None and evaluate.VERDICT_PLACEHOLDER not in titled
    assert ">verdict: PROMOTED v2 - passed</text>" in titled


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda folder: (folder / "model.pkl").write_bytes(b"not a pickle"), "cannot be loaded"),
        (lambda folder: (folder / "model.pkl").unlink(), "no model.pkl"),
        (
            lambda folder: (folder / "model.json").write_text(json.dumps({"frequency": "W"})),
            "frequency 'W'",
        ),
        (
            lambda folder: (folder / "model.pkl").write_bytes(pickle.dumps([1, 2])),
            "not statsmodels",
        ),
    ],
)
def test_a_champion_that_cannot_be_used_gives_null_and_a_reason(tmp_path, co2, damage, reason):
    write_inputs(tmp_path, co2)
    champion = write_champion(tmp_path / "champion", co2.loc[:"1997"])
    damage(champion)
    code, metrics = run_main(tmp_path, "--champion", str(champion))
    assert code == 0
    assert metrics["champion"] is None and metrics["champion_model"] is None
    assert reason in metrics["champion_error"]
    assert metrics["candidate"]["backtest"]["mase"] > 0


def test_main_without_champion_and_with_missing_inputs(tmp_path, co2, capsys):
    write_inputs(tmp_path, co2)
    code, metrics = run_main(tmp_path)
    assert code == 0 and metrics["champion"] is None and metrics["champion_error"] is None
    (tmp_path / "model" / "model_eval.pkl").unlink()
    code, _ = run_main(tmp_path)
    assert code == 2 and "model_eval.pkl" in capsys.readouterr().err


# -- MLflow ---------------------------------------------------------------------------------


class RecordingMlflow:
    """Stands in for the mlflow module: records what the step logs."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.runs: list[str | None] = []
        self.params: dict = {}
        self.metrics: dict = {}
        self.steps: list[tuple[str, float, int]] = []
        self.tags: dict = {}
        self.artifacts: list[str] = []

    def start_run(self, run_name=None):
        import contextlib

        self.runs.append(run_name)
        if self.fail:
            raise ConnectionError("tracking server unreachable")
        return contextlib.nullcontext()

    def log_params(self, params):
        self.params.update(params)

    def log_metrics(self, metrics):
        self.metrics.update(metrics)

    def log_metric(self, key, value, step):
        self.steps.append((key, value, step))

    def set_tag(self, key, value):
        self.tags[key] = value

    def log_artifact(self, path):
        self.artifacts.append(Path(path).name)


def test_mlflow_gets_params_metrics_per_window_and_per_fold_and_the_files(tmp_path, co2):
    write_inputs(tmp_path, co2)
    champion = write_champion(tmp_path / "champion", co2.loc[:"1997"])
    code, metrics = run_main(tmp_path, "--champion", str(champion), "--backtest_folds", "4")
    assert code == 0
    client = RecordingMlflow()
    assert evaluate.log_to_mlflow(metrics, tmp_path / "metrics", client, run_key="co2-1")
    assert client.params["backtest_folds"] == 4 and client.params["champion"] is True
    assert client.metrics["candidate.holdout.mase"] == metrics["candidate"]["holdout"]["mase"]
    assert client.metrics["champion.backtest.smape"] == metrics["champion"]["backtest"]["smape"]
    assert len(client.metrics) == 3 * 2 * 5
    folds = [(k, v, s) for k, v, s in client.steps if k == "baseline.fold_mase"]
    assert [(v, s) for _, v, s in folds] == [
        (f["mase"], i) for i, f in enumerate(metrics["baseline"]["folds"])
    ]
    assert client.tags == {"retrain_run_key": "co2-1"}
    assert client.artifacts == ["metrics.json", "forecast.png"]


def test_mlflow_failures_and_absence_never_fail_the_step(tmp_path, co2, monkeypatch):
    write_inputs(tmp_path, co2)
    _, metrics = run_main(tmp_path)
    assert not evaluate.log_to_mlflow(metrics, tmp_path / "metrics", RecordingMlflow(fail=True))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert evaluate.import_mlflow() is None


def interior_model(series: pd.Series):
    """An ARIMA(0,1,1)(1,1,0)[12] at fixed parameters whose ML refit on co2 stays inside
    the invertible region (the (1,1,1)(0,1,1) one's seasonal MA goes to the unit circle)."""
    model = SARIMAX(series, order=(0, 1, 1), seasonal_order=(1, 1, 0, 12), concentrate_scale=True)
    return model.filter(np.array([-0.3, -0.5]), cov_type="none")


def test_the_champion_kept_is_re_estimated_on_all_the_data_as_a_model_folder(tmp_path, co2):
    write_inputs(tmp_path, co2)
    champion = write_champion(
        tmp_path / "champion", co2.loc[:"1997"], results=interior_model(co2.loc[:"1997"])
    )
    code, metrics = run_main(tmp_path, "--champion", str(champion), "--run_key", "co2-2")
    assert code == 0
    assert metrics["champion_refreshed"] == {
        "folder": "champion_refreshed",
        "data_end": "2001-12-01T00:00:00",
        "params_end": "2001-12-01T00:00:00",
        "method": "ml",
    }
    folder = tmp_path / "metrics" / "champion_refreshed"
    refreshed = pickle.loads((folder / "model.pkl").read_bytes())
    stored = pickle.loads((champion / "model.pkl").read_bytes())
    # The champion's specification, its parameters re-estimated on all the data (a better
    # likelihood there than the stored ones), its forecast right after the last observation.
    assert refreshed.model.order == stored.model.order
    assert refreshed.model.seasonal_order == stored.model.seasonal_order
    assert not np.allclose(refreshed.params.to_numpy(), stored.params.to_numpy())
    assert refreshed.llf >= stored.apply(co2, refit=False).llf
    assert refreshed.get_forecast(12).predicted_mean.index[0] == pd.Timestamp("2002-01-01")
    info = json.loads((folder / "model.json").read_text())
    assert info["frequency"] == "MS"
    assert (info["train_end"], info["params_end"]) == ("2001-12-01T00:00:00", "2001-12-01T00:00:00")
    assert info["refreshed"]["method"] == "ml"
    assert info["refreshed"]["previous_params_end"] == "1997-12-01T00:00:00"
    assert info["refreshed"]["run_key"] == "co2-2"
    # It serves as the next run's champion: its parameters saw all of this data.
    _, description = evaluate.load_champion(folder, "MS")
    assert description["params_end"] == "2001-12-01T00:00:00"
    code, again = run_main(tmp_path, "--champion", str(folder))
    assert code == 0 and again["champion"]["holdout_out_of_sample"] is False


def test_a_champion_that_cannot_be_re_estimated_keeps_its_parameters(co2):
    train, holdout = split(co2)
    stored = fixed_model(co2.loc[:"1997"])
    # A model without a concentrated scale is not re-estimated (as the train step's final
    # fit): its stored parameters are applied to all the data, exactly as statsmodels does.
    plain = SARIMAX(co2.loc[:"1997"], order=(1, 1, 1), seasonal_order=(0, 1, 1, 12)).filter(
        [0.2, -0.4, -0.7, 0.1]
    )
    kept = evaluate.refresh_champion(plain, co2)
    assert kept is not None and kept.method == "applied"
    assert np.array_equal(kept.results.params.to_numpy(), plain.params.to_numpy())
    expected = plain.apply(co2, refit=False).get_forecast(12).predicted_mean
    assert np.allclose(kept.results.get_forecast(12).predicted_mean, expected)
    record = evaluate.refreshed_record(
        {"final_fit": {"train_end": "1997-12-01T00:00:00"}},
        kept.results,
        co2,
        frequency="MS",
        run_key="r",
        method=kept.method,
        message=kept.message,
    )
    assert record["params_end"] == "1997-12-01T00:00:00"
    assert record["train_end"] == "2001-12-01T00:00:00"
    # A refit whose seasonal MA root reaches the unit circle is not kept either.
    boundary = evaluate.refresh_champion(stored, pd.concat([train, holdout]))
    assert boundary is not None and boundary.method == "applied"
    assert "root within 1.01 of the unit circle" in boundary.message
    assert np.array_equal(boundary.results.params.to_numpy(), stored.params.to_numpy())


def test_no_refreshed_folder_without_a_scored_champion(tmp_path, co2):
    write_inputs(tmp_path, co2)
    code, metrics = run_main(tmp_path)
    assert code == 0 and metrics["champion_refreshed"] is None
    assert not (tmp_path / "metrics" / "champion_refreshed").exists()


def test_a_local_mlflow_experiment_keeps_its_artifacts_beside_the_sqlite_store():
    location = evaluate.local_artifact_location("sqlite:////w/ws/mlflow.db", "retrain-local")
    assert location == "/w/ws/mlartifacts/retrain-local"
    assert evaluate.local_artifact_location("sqlite:///relative.db", "retrain-local") is None
    assert evaluate.local_artifact_location("azureml://eastus.api.azureml.ms/x", "e") is None
    assert evaluate.local_artifact_location("", "e") is None
