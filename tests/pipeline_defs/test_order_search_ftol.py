"""The exact fits' stopping rule as a parameter (``exact_ftol``; issue 14, session 6): the
family fit step compares candidates and fits production models at a looser tolerance than
the single-series default, which stays exactly scipy's."""

import numpy as np
import pytest

from tests.pipeline_defs.components import load_step

order_search = load_step("train", "order_search")
exact = order_search.exact
EPS = float(np.finfo(float).eps)


def test_the_default_passes_no_stopping_option_so_single_series_fits_are_unchanged():
    assert abs(order_search.EXACT_FTOL - 1e7 * EPS) < 1e-20  # scipy's factr=1e7
    assert exact._stopping(order_search.EXACT_FTOL) == {}
    assert exact._stopping(2e-5) == {"factr": pytest.approx(2e-5 / EPS)}


@pytest.mark.parametrize("ftol", [0.0, -1e-5, 1.0, float("nan")])
def test_search_order_rejects_an_exact_ftol_outside_zero_to_one(ftol):
    with pytest.raises(ValueError, match="exact_ftol"):
        order_search.search_order(np.arange(30.0), season_length=1, exact_ftol=ftol)


@pytest.fixture(scope="module")
def seasonal() -> np.ndarray:
    """A monthly seasonal ARMA series, 120 points (seeded)."""
    rng = np.random.default_rng(6)
    e = rng.normal(size=140)
    y = np.zeros(140)
    for t in range(13, 140):
        y[t] = 0.6 * y[t - 1] + e[t] + 0.4 * e[t - 12]
    season = 3.0 * np.sin(2 * np.pi * np.arange(140) / 12)
    return (50.0 + y + season)[20:]


@pytest.mark.slow
def test_a_looser_exact_fit_lands_within_a_hair_of_the_default_optimum(seasonal):
    spec = order_search._Spec(1, 0, 0, 0, 1, 1, 12, True)
    endog = seasonal / seasonal.std()
    default = order_search._fit_exact(endog, spec, (), 100)
    loose = order_search._fit_exact(endog, spec, (), 100, ftol=2e-5)
    assert default.status == loose.status == "ok"
    assert loose.criterion == pytest.approx(default.criterion, abs=0.05)
    assert np.allclose(loose.params, default.params, atol=0.05)


@pytest.mark.slow
def test_search_and_final_refit_at_a_looser_ftol_choose_and_refit_alike(seasonal):
    train = seasonal[:-12]
    kwargs = {"season_length": 12, "n_jobs": 1, "executor": "serial", "exact_steps": 0}
    default = order_search.search_order(train, **kwargs)
    loose = order_search.search_order(train, exact_ftol=2e-5, **kwargs)
    assert (loose.order, loose.seasonal_order, loose.trend) == (
        default.order,
        default.seasonal_order,
        default.trend,
    )
    assert loose.criterion == pytest.approx(default.criterion, abs=0.05)
    final = order_search.refit_final(seasonal, loose, ftol=2e-5)
    assert final.method == "ml"
    reference = order_search.refit_final(seasonal, default)
    assert final.criterion == pytest.approx(reference.criterion, abs=0.05)
    forecast, expected = final.forecast(12)["mean"], reference.forecast(12)["mean"]
    assert np.allclose(forecast, expected, rtol=0.01)
