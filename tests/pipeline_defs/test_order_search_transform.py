"""The order search's variance-stabilising transform (issue 11), on small real series."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from tests.pipeline_defs.components import load_step

order_search = load_step("train", "order_search")

# Box & Jenkins' airline passengers (monthly totals, thousands, 1949-1960): the textbook
# series whose seasonal swing grows with its level.
AIRPASSENGERS = (
    112, 118, 132, 129, 121, 135, 148, 148, 136, 119, 104, 118,
    115, 126, 141, 135, 125, 149, 170, 170, 158, 133, 114, 140,
    145, 150, 178, 163, 172, 178, 199, 199, 184, 162, 146, 166,
    171, 180, 193, 181, 183, 218, 230, 242, 209, 191, 172, 194,
    196, 196, 236, 235, 229, 243, 264, 272, 237, 211, 180, 201,
    204, 188, 235, 227, 234, 264, 302, 293, 259, 229, 203, 229,
    242, 233, 267, 269, 270, 315, 364, 347, 312, 274, 237, 278,
    284, 277, 317, 313, 318, 374, 413, 405, 355, 306, 271, 306,
    315, 301, 356, 348, 355, 422, 465, 467, 404, 347, 305, 336,
    340, 318, 362, 348, 363, 435, 491, 505, 404, 359, 310, 337,
    360, 342, 406, 396, 420, 472, 548, 559, 463, 407, 362, 405,
    417, 391, 419, 461, 472, 535, 622, 606, 508, 461, 390, 432,
)  # fmt: skip


@pytest.fixture(scope="module")
def air() -> pd.Series:
    index = pd.date_range("1949-01-01", periods=len(AIRPASSENGERS), freq="MS")
    return pd.Series(np.asarray(AIRPASSENGERS, dtype=float), index=index, name="passengers")


@pytest.fixture(scope="module")
def macro() -> pd.DataFrame:
    return sm.datasets.macrodata.load_pandas().data


def test_guerrero_picks_the_log_for_airpassengers_and_nothing_for_the_nile(air):
    assert order_search.guerrero_lambda(air.to_numpy(), 12) < 0  # R: -0.29
    transform, why = order_search.choose_transform(air.to_numpy(), 12)
    assert transform == order_search.BoxCox(0.0)
    assert why.startswith("log: Guerrero's lambda is")
    nile = sm.datasets.nile.load_pandas().data["volume"].to_numpy(dtype=float)
    # The Nile's spread does not grow with its level: lambda is 1, no transform.
    transform, why = order_search.choose_transform(nile, 1)
    assert transform is None and "(>= 0.5)" in why


def test_series_the_rule_cannot_take_are_left_alone_with_a_reason(macro, air):
    inflation = macro["infl"].to_numpy(dtype=float)  # has negative quarters
    transform, why = order_search.choose_transform(inflation, 4)
    assert transform is None and "<= 0" in why
    short = air.to_numpy()[:30]  # two full years: fewer than 3 blocks of 12
    transform, why = order_search.choose_transform(short, 12)
    assert transform is None and "blocks" in why
    transform, why = order_search.choose_transform(np.full(40, 5.0), 4)
    assert transform is None and "constant" in why


def test_the_guerrero_lambda_minimises_the_coefficient_of_variation_in_r_s_range(macro):
    # As R's forecast::BoxCox.lambda(ts(realgdp, frequency=4), "guerrero"): the minimum of
    # the blocks' coefficient of variation over [-1, 2].
    gdp = macro["realgdp"].to_numpy(dtype=float)
    lam = order_search.guerrero_lambda(gdp, 4)
    assert lam is not None and -1.0 <= lam <= 2.0

    blocks = gdp[gdp.size - (gdp.size // 4) * 4 :].reshape(-1, 4)

    def variation(value: float) -> float:
        ratio = blocks.std(axis=1, ddof=1) / blocks.mean(axis=1) ** (1 - value)
        return float(np.std(ratio, ddof=1) / np.mean(ratio))

    grid = np.linspace(-1.0, 2.0, 601)
    assert variation(lam) <= min(variation(v) for v in grid) + 1e-6


@pytest.mark.parametrize("lam", [0.0, 0.3, 1.0])
def test_the_box_cox_round_trip_and_the_bias_adjustment(lam):
    transform = order_search.BoxCox(lam)
    y = np.array([0.5, 1.0, 7.0, 120.0])
    w = transform.forward(y)
    np.testing.assert_allclose(transform.inverse(w), y, rtol=1e-12)
    assert np.all(transform.mean(w, np.zeros(4)) == pytest.approx(transform.inverse(w)))
    adjusted = transform.mean(w, np.full(4, 0.04))
    if lam < 1:
        assert np.all(adjusted > transform.inverse(w))  # the mean lies above the median
    else:
        np.testing.assert_allclose(adjusted, y)  # lambda = 1 is a shift: nothing to adjust
    assert np.isnan(transform.forward(np.array([0.0, -1.0]))).all()


def test_the_log_mean_is_the_lognormal_mean_to_second_order():
    transform = order_search.BoxCox(0.0)
    w, variance = np.array([2.0]), np.array([0.01])
    exact = math.exp(2.0 + 0.01 / 2)
    assert transform.mean(w, variance)[0] == pytest.approx(exact, rel=1e-4)


@pytest.mark.slow
def test_airpassengers_is_searched_on_the_log_and_forecast_in_passengers(air):
    train, holdout = air.iloc[:-12], air.iloc[-12:]
    result = order_search.search_order(train, season_length=12, transform="auto", n_jobs=1)

    assert result.transform == order_search.BoxCox(0.0)
    record = json.loads(json.dumps(result.to_record()))
    assert record["transform"] == result.transform.to_record()
    assert record["transform"]["lambda"] == 0.0 and record["transform"]["bias_adjusted"]
    assert any(note.startswith("log: Guerrero") for note in result.notes)
    # The statsmodels object models the transformed series ...
    assert float(result.results.forecast(1).iloc[0]) < 10
    # ... and forecast() gives passengers, dated, with the interval around the mean.
    frame = result.forecast(12)
    assert list(frame.columns) == ["mean", "lower", "upper"]
    assert frame.index[0] == holdout.index[0]
    assert np.all(frame["lower"] < frame["mean"]) and np.all(frame["mean"] < frame["upper"])
    mape = float(np.mean(np.abs(frame["mean"].to_numpy() / holdout.to_numpy() - 1)))
    assert mape < 0.06
    plain = order_search.search_order(train, season_length=12, n_jobs=1)
    assert plain.transform is None
    np.testing.assert_allclose(
        plain.forecast(12)["mean"].to_numpy(), plain.results.forecast(12).to_numpy()
    )


@pytest.mark.slow
def test_the_final_fit_keeps_the_searched_lambda_and_survives_a_zero(air):
    evaluation = order_search.search_order(
        air.iloc[:-12], season_length=12, transform="auto", n_jobs=1
    )
    final = order_search.refit_final(air, evaluation)
    assert final.transform == evaluation.transform
    assert final.to_record()["transform"] == evaluation.transform.to_record()
    assert final.n_obs == len(air)
    frame = final.forecast(12)
    assert frame.index[0] == pd.Timestamp("1961-01-01")
    assert np.all(np.isfinite(frame.to_numpy())) and frame["mean"].iloc[0] > 300

    # A non-positive value in newer data cannot be transformed: it becomes a missing value.
    with_zero = air.copy()
    with_zero.iloc[-3] = 0.0
    final = order_search.refit_final(with_zero, evaluation)
    assert np.all(np.isfinite(final.forecast(12).to_numpy()))


def test_an_unknown_transform_is_rejected(air):
    with pytest.raises(ValueError, match="transform must be one of"):
        order_search.search_order(air, season_length=12, transform="sqrt")


@pytest.mark.slow
def test_the_train_step_records_the_transform_and_forecasts_in_the_series_units(tmp_path, air):
    from tests.pipeline_defs.test_train_step import train, write_prepared

    prepared = write_prepared(tmp_path / "prepared", air.iloc[:-12], holdout=air.iloc[-12:])
    out = tmp_path / "model"
    args = ["--prepared", str(prepared), "--model_output", str(out), "--time_budget", "30"]
    assert train.main([*args, "--transform", "auto"]) == 0

    record = json.loads((out / "model.json").read_text())
    assert record["transform"]["name"] == "boxcox" and record["transform"]["lambda"] == 0.0
    assert record["final_fit"]["transform"] == record["transform"]
    forecast = json.loads((out / "forecast.json").read_text())
    assert forecast["timestamps"][0] == "1961-01-01T00:00:00"
    assert 350 < forecast["forecast"][0] < 550  # passengers, not log passengers

    assert train.main(args) == 0  # the default: none, the pipeline's setting
    assert json.loads((out / "model.json").read_text())["transform"] is None
