"""A refused series' refreshed champion: its specification re-estimated on all the data,
warm-started from its stored parameters, as the evaluate step refreshes a single series'
champion; its stored parameters kept when the refit is unusable, with the method recorded."""

from __future__ import annotations

import importlib
import json
import warnings

import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.statespace.sarimax import SARIMAX

from tests.family.steps import load_shard

shard = load_shard()
family_records = importlib.import_module("family_records")
# the modules shard.py imports, as the step finds them beside it
refresh = importlib.import_module("scoring.refresh")
family_scoring = importlib.import_module("family_scoring")


def monthly(values: np.ndarray) -> pd.Series:
    return pd.Series(values, index=pd.date_range("2010-01-01", periods=len(values), freq="MS"))


def seasonal(n: int = 96, seed: int = 3) -> pd.Series:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return monthly(100 + 0.5 * t + 10 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 2, n))


def fit(series: pd.Series, order=(1, 0, 0), seasonal_order=(1, 0, 0, 12), **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = SARIMAX(series, order=order, seasonal_order=seasonal_order, trend="c", **kwargs)
        return model.fit(disp=False)


def llf(model, params, series) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(model.clone(series).loglike(np.asarray(params, dtype=float)))


def test_the_champions_specification_is_re_estimated_on_all_the_data():
    series = seasonal()
    stored = fit(series.iloc[:-24], concentrate_scale=True)
    out = refresh.refresh_params(stored.model, stored.params, series)
    assert out.method == "ml" and "re-estimated on all the data" in out.message
    assert not np.allclose(out.params, stored.params)
    assert llf(stored.model, out.params, series) >= llf(stored.model, stored.params, series)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no concentrated scale", "a model without free parameters"),
        ("unit root", "has a root within 1.01 of the unit circle"),
        ("refit fails", "the refit failed"),
    ],
)
def test_an_unusable_refit_keeps_the_stored_parameters_and_says_why(case, message):
    if case == "no concentrated scale":  # as evaluate: only the order search's kind of fit
        series = seasonal()
        stored = fit(series.iloc[:-24])
        model, params = stored.model, stored.params
    elif case == "unit root":  # white noise differenced: the MA root goes to the unit circle
        series = monthly(np.random.default_rng(0).normal(10, 1, 150))
        model = SARIMAX(series.iloc[:80], order=(0, 1, 1), concentrate_scale=True)
        params = np.array([-0.5])
    else:
        series = seasonal()
        stored = fit(series.iloc[:-24], concentrate_scale=True)
        model, params = stored.model, stored.params
        series = series.copy()
        series.iloc[50] = np.inf
    out = refresh.refresh_params(model, params, series)
    assert out.method == "applied" and message in out.message
    assert out.params.tolist() == np.asarray(params, dtype=float).tolist()


def test_the_refreshed_record_and_the_rows_evidence_name_the_method_and_the_params_end():
    series = seasonal()
    stored = fit(series.iloc[:-24], concentrate_scale=True)
    params_end = series.index[-25]
    applied = family_scoring.AppliedModel(stored.model, stored.params, series)
    champion = family_scoring.Champion(stored.model, stored.params, params_end, {})
    record, section = shard.refreshed_champion(applied, series, champion)
    assert section["method"] == record["refresh"]["method"] == "ml"
    assert record["params_end"] == series.index[-1].isoformat()  # estimated on all the data
    assert record["refresh"]["previous_params_end"] == params_end.isoformat()
    assert record["params"] != stored.params.tolist() and record["endog"] == series.tolist()
    rebuilt = family_records.rebuild(record)  # the next run's champion, forecasting from the end
    assert rebuilt.nobs == len(series) and np.all(np.isfinite(rebuilt.forecast(12)))

    unit = monthly(np.random.default_rng(0).normal(10, 1, 150))
    model = SARIMAX(unit.iloc[:80], order=(0, 1, 1), concentrate_scale=True)
    kept = family_scoring.AppliedModel(model, np.array([-0.5]), unit)
    champion = family_scoring.Champion(model, np.array([-0.5]), unit.index[79], {})
    record, section = shard.refreshed_champion(kept, unit, champion)
    assert section["method"] == "applied" and record["params"] == [-0.5]
    assert record["params_end"] == unit.index[79].isoformat()  # the stored parameters' end
    json.dumps(record, allow_nan=False)


def test_a_combined_champion_is_refreshed_member_by_member():
    """One member re-estimated ("ml", up to the data's end), one kept ("applied": no
    concentrated scale): the combination is "applied", its parameters saw the data up to
    the latest member's end, and each member keeps its own specification."""
    series = seasonal()
    params_end = series.index[-25]
    ml = fit(series.iloc[:-24], concentrate_scale=True)
    kept = fit(series.iloc[:-24], order=(0, 1, 1))
    members = tuple(family_scoring.Champion(f.model, f.params, params_end, {}) for f in (ml, kept))
    champion = family_scoring.Champion(
        ml.model, ml.params, params_end, {}, members=members, weights=(0.5, 0.5)
    )
    applied = family_scoring.applied(champion, series)
    record, section = shard.refreshed_champion(applied, series, champion)
    assert record["class"] == "Combination" and record["weights"] == [0.5, 0.5]
    methods = [m["refresh"]["method"] for m in record["members"]]
    assert methods == ["ml", "applied"] and section["method"] == "applied"
    assert [m["params_end"] for m in record["members"]] == [
        series.index[-1].isoformat(),
        params_end.isoformat(),
    ]
    assert record["params_end"] == series.index[-1].isoformat()
    assert [m["init"]["order"] for m in record["members"]] == [(1, 0, 0), (0, 1, 1)]
    assert "member 1: ml" in section["message"] and "member 2: applied" in section["message"]
    assert section["previous_params_end"] == params_end.isoformat()
