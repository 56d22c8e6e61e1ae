"""The drift margin: a drift model may trail the best exact AICc by the margin and still win
(session 8; the family fit step uses it for season lengths 2 to 4)."""

import importlib
import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from tests.family.steps import load_shard
from tests.pipeline_defs.components import load_step

order_search = load_step("train", "order_search")
shard = load_shard()
family_fit = importlib.import_module("family_fit")


def fertility(code: str) -> np.ndarray:
    """A country's annual fertility rate (statsmodels' dataset), 1960 on, without gaps."""
    data = sm.datasets.fertility.load_pandas().data
    years = [c for c in data.columns if c.isdigit()]
    row = data.loc[data["Country Code"] == code, years].to_numpy(dtype=float).ravel()
    return row[~np.isnan(row)]


def search(y: np.ndarray, **kwargs):
    return order_search.search_order(
        y, season_length=1, n_jobs=1, executor="serial", exact_steps=0, **kwargs
    )


def test_a_drift_model_within_the_margin_is_chosen_and_the_choice_is_noted():
    """Belgium, the last 30 years: the random walk without drift has the lowest exact AICc,
    the one with drift is 1.10 higher. A margin of 2 chooses the drift, a margin of 1 does
    not; the criterion reported is the chosen model's own AICc."""
    y = fertility("BEL")[-30:]
    plain, margin_1, margin_2 = search(y), search(y, drift_margin=1.0), search(y, drift_margin=2.0)

    assert (plain.order, plain.trend) == ((0, 1, 0), None)
    assert (margin_1.order, margin_1.trend) == ((0, 1, 0), None)
    assert (margin_2.order, margin_2.trend) == ((0, 1, 0), "c")
    assert 0 < margin_2.criterion - plain.criterion < 2
    assert margin_2.criterion == pytest.approx(margin_2.results.aicc, rel=1e-6)
    [note] = [n for n in margin_2.notes if "drift margin" in n]
    assert note == (
        "ARIMA(0,1,0) with drift chosen over ARIMA(0,1,0): its AICc is 1.10 higher, within "
        "the drift margin of 2"
    )
    assert not [n for n in margin_1.notes if "drift margin" in n]


def test_with_a_margin_both_constant_choices_are_refitted_exactly():
    """When the best CSS candidates all make one constant choice, the best-ranked candidate
    making the other is refitted by exact ML too, so that the exact AICc decides."""
    for code in ("BEL", "CZE", "DNK", "ARM", "CYP"):
        result = search(fertility(code)[-30:], drift_margin=2.0)
        refitted = [c for c in result.tried if c.method == "ml" and c.status == "ok"]
        if result.order[1] + result.seasonal_order[1] <= 1:
            assert {c.trend for c in refitted} == {None, "c"}, code


def test_the_margin_leaves_as_many_attempts_for_refits_the_root_check_rejects():
    """Barbados, the last 30 years: five refits in a row are rejected (an AR root on the
    unit circle); the sixth, AR(1) with mean, is usable, with or without the margin."""
    y = fertility("BRB")[-30:]
    plain, margin = search(y), search(y, drift_margin=2.0)
    rejected = [c for c in margin.tried if c.method == "ml" and c.status == "failed"]
    assert len(rejected) >= 4
    assert (plain.order, plain.trend) == (margin.order, margin.trend) == ((1, 0, 0), "c")
    assert margin.criterion == pytest.approx(plain.criterion)


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf])
def test_a_negative_or_non_finite_margin_is_refused(bad):
    with pytest.raises(ValueError, match="drift_margin must be a finite number >= 0"):
        search(fertility("BEL")[-30:], drift_margin=bad)


def test_the_family_uses_the_margin_for_season_lengths_2_to_4_only():
    assert [family_fit.drift_margin(m) for m in (1, 2, 3, 4, 7, 12, 52)] == [
        0,
        2.0,
        2.0,
        2.0,
        0,
        0,
        0,
    ]


def test_a_family_series_is_fitted_with_the_margin_of_its_season_length(tmp_path):
    """Through the fit step's own per-series function: Belgium's last 30 years, 6 held
    out, whose training part chooses no drift without the margin and drift with it. As a
    yearly series (season length 1) the family fits it without the margin; declared with a
    season length of 4 it gets the margin (no seasonal terms are chosen either way)."""
    y = fertility("BEL")[-30:]
    series = pd.Series(y, index=pd.date_range("1982-01-01", periods=y.size, freq="YS"))

    def fitted(season_length: int) -> dict:
        settings = shard.ShardSettings(
            frequency="YS",
            season_length=season_length,
            horizon=6,
            time_budget=5.0,
            models=tmp_path,
        )
        row, _record, _fit = shard.fit_series("BEL", series, settings, shard="shard-00000")
        assert row["status"] == "ok", row["reason"]
        return row["model"]

    train = y[:-6]
    assert search(train, exact_ftol=family_fit.EXACT_FTOL).trend is None
    assert search(train, exact_ftol=family_fit.EXACT_FTOL, drift_margin=2.0).trend == "c"
    yearly = fitted(1)
    assert (yearly["order"], yearly["trend"]) == ([0, 1, 0], None)
    quarterly = fitted(4)
    assert (quarterly["order"], quarterly["trend"]) == ([0, 1, 0], "c")
    assert quarterly["seasonal_order"][:3] == [0, 0, 0]
