"""The exact-AICc stepwise moves after the exact refits (issue 11, session 5)."""

import numpy as np
import pytest
import statsmodels.api as sm

from tests.pipeline_defs.components import load_step

order_search = load_step("train", "order_search")


@pytest.fixture(scope="module")
def rwa() -> np.ndarray:
    """Rwanda's fertility rate, annual, 52 points: the CSS path stops before the exact
    winner."""
    data = sm.datasets.fertility.load_pandas().data
    years = [c for c in data.columns if c.isdigit()]
    row = data.loc[data["Country Code"] == "RWA", years].to_numpy(dtype=float).ravel()
    return row[~np.isnan(row)]


def searched(y: np.ndarray, m: int, budget: float = 60.0):
    """A search through the stepwise CSS phase: (search, ranked CSS fits)."""
    prepared = order_search._prepare(y)
    search = order_search._Search(prepared, m, budget, order_search._Runner(1, "serial"), None)
    d, sd, m = search.differencing()
    w = order_search.differencing._difference(prepared.filled, d, sd, m) / prepared.scale
    bounds = order_search.specs._bounds(d, sd, m, prepared.filled.size)
    return search, search.stepwise(w, d, sd, m, bounds)


@pytest.mark.slow
def test_an_exact_step_moves_to_a_neighbour_with_a_lower_exact_aicc(rwa):
    """Without the step the refits keep ARIMA(2,2,2); its neighbour ARIMA(3,2,2), which
    the CSS search never scored, has the lower exact AICc and wins with the step.
    Only unscored neighbours are stepped to, none twice."""
    without, ranked = searched(rwa, 1)
    before = without.refit(ranked, steps=0)
    with_step, ranked_again = searched(rwa, 1)
    after = with_step.refit(ranked_again, steps=1)

    assert before is not None and after is not None
    assert (before[0].spec.order, before[0].spec.constant) == ((2, 2, 2), False)
    assert (after[0].spec.order, after[0].spec.constant) == ((3, 2, 2), False)
    assert after[0].criterion < before[0].criterion
    assert after[0].criterion == pytest.approx(after[1].aicc, rel=1e-6)
    refits = [c for c in without.tried if c.method == "ml"]
    stepped = [c for c in with_step.tried if c.method == "ml"][len(refits) :]
    neighbours = order_search.specs._neighbours(before[0].spec, with_step.bounds)
    assert stepped, "the step fitted no neighbour"
    assert {(c.order, c.seasonal_order, c.trend) for c in stepped} <= {
        (s.order, s.seasonal_order, s.trend) for s in neighbours
    }
    scored = {(f.spec.order, f.spec.seasonal_order, f.spec.trend) for f in ranked_again}
    assert not {(c.order, c.seasonal_order, c.trend) for c in stepped} & scored
    key = [(c.order, c.seasonal_order, c.trend) for c in (*stepped, *refits)]
    assert len(set(key)) == len(key), "a model was fitted twice by exact ML"
    usable = [c for c in with_step.tried if c.method == "ml" and c.status == "ok"]
    best = min(usable, key=lambda c: c.criterion)
    assert (best.order, best.trend) == (after[0].spec.order, after[0].spec.trend)


@pytest.mark.slow
def test_search_order_takes_the_exact_step_by_default(rwa):
    result = order_search.search_order(rwa, season_length=1, n_jobs=1, executor="serial")
    assert order_search.EXACT_STEPS >= 1
    assert (result.order, result.trend) == ((3, 2, 2), None)
    assert result.criterion == pytest.approx(result.results.aicc, rel=1e-6)


@pytest.mark.slow
def test_a_spent_budget_skips_the_exact_step_and_says_so(rwa):
    search, ranked = searched(rwa, 1)
    endog, log_scale = search.prepared.scaled_endog, search.log_scale
    refits = (
        order_search._fit_exact(endog, f.spec, f.params, 100, np.inf, log_scale) for f in ranked
    )
    refit = next(f for f in refits if f.status == "ok")  # the best usable refit
    best = refit
    search.budget = 0.0

    def task(f):
        return (search.prepared.scaled_endog, f.spec, f.params, 100, np.inf, search.log_scale)

    assert search.exact_steps([refit], ranked, task, 1) == []
    scored = {f.spec for f in ranked}
    unscored = [s for s in order_search.specs._neighbours(best.spec, search.bounds)]
    unscored = [s for s in unscored if s not in scored]
    assert unscored, "every neighbour was scored: the step would have nothing to skip"
    skipped = search.tried[-len(unscored) :]
    assert [(c.order, c.trend) for c in skipped] == [(s.order, s.trend) for s in unscored]
    assert all(c.status == "over_budget" and c.method == "ml" for c in skipped)
    assert any("during the exact stepwise moves" in note for note in search.notes)


def test_no_step_without_the_stepwise_bounds_or_with_zero_steps(rwa):
    """A refit called on a hand-made ranking (no stepwise phase) or with steps=0 adds nothing."""
    prepared = order_search._prepare(rwa)
    search = order_search._Search(prepared, 1, 60.0, order_search._Runner(1, "serial"), None)
    assert search.exact_steps([], [], lambda f: (), 1) == []
    search.bounds = order_search.specs._bounds(0, 0, 1, rwa.size)
    assert search.exact_steps([], [], lambda f: (), 0) == []
    assert search.tried == []
