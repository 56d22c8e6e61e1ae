import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.statespace.sarimax import SARIMAX

from localdev.datasets import co2_monthly
from tests.pipeline_defs.components import load_step

evaluate = load_step("evaluate", "evaluate")


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


def test_a_real_model_beats_seasonal_naive_on_co2():
    series = co2_monthly().loc["1985":"2001"]
    train, holdout = series.iloc[:-24], series.iloc[-24:]
    results = SARIMAX(train, order=(1, 1, 1), seasonal_order=(0, 1, 1, 12)).fit(disp=False)
    metrics, forecasts = evaluate.evaluate(train, holdout, results, season_length=12)
    assert metrics["candidate"]["mase"] < metrics["baseline"]["mase"]
    assert 0 <= metrics["candidate"]["coverage"] <= 1
    assert forecasts["candidate"].shape == (24,)
    assert metrics["holdout_start"] == "2000-01-01T00:00:00"


def test_non_finite_forecast_is_an_error():
    class Broken:
        def get_forecast(self, steps):
            class Prediction:
                predicted_mean = np.full(steps, np.nan)

                def conf_int(self, alpha):
                    return np.zeros((steps, 2))

            return Prediction()

    index = pd.date_range("2000-01-01", periods=30, freq="MS")
    series = pd.Series(np.arange(30.0), index=index)
    with pytest.raises(evaluate.EvaluateError, match="not 6 finite values"):
        evaluate.evaluate(series.iloc[:-6], series.iloc[-6:], Broken(), season_length=12)
