"""The order search's fast paths (CSS fit, root check, runner), on small real series (issue 11)."""

import importlib
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy.signal import lfilter
from statsmodels.tsa.statespace.tools import constrain_stationary_univariate

from tests.pipeline_defs.components import load_step

order_search = load_step("train", "order_search")
css = importlib.import_module(f"{order_search.__name__}.css")
fits = importlib.import_module(f"{order_search.__name__}.fits")


@pytest.fixture(scope="module")
def nile() -> np.ndarray:
    return sm.datasets.nile.load_pandas().data["volume"].to_numpy(dtype=float)


@pytest.mark.parametrize("scale", [1.0, -1.0])
def test_the_plain_float_monahan_map_is_statsmodels_bit_for_bit(scale):
    rng = np.random.default_rng(11)
    for k in range(1, 6):
        for spread in (0.1, 1.0, 5.0, 50.0):
            z = rng.normal(scale=spread, size=k)
            expected = -scale * constrain_stationary_univariate(z)
            assert css._monahan(z.tolist(), scale) == expected.tolist()


def test_the_inverse_ma_filter_is_lfilters_bit_for_bit(nile):
    """The CSS residuals' direct call of scipy's C filter gives lfilter's values."""
    assert css._linear_filter is not None  # this scipy has it: the fast path is tested
    rng = np.random.default_rng(5)
    u = np.diff(nile)
    thetas = [np.ones(1)]  # no MA terms (the criterion's call): lfilter's other branch
    thetas += [np.concatenate(([1.0], rng.uniform(-0.9, 0.9, size=q) / q)) for q in range(1, 6)]
    seasonal = np.zeros(13)
    seasonal[[0, 12]] = [1.0, -0.6]
    thetas.append(np.convolve([1.0, 0.3], seasonal))  # (1 + 0.3B)(1 - 0.6B^12)
    for theta in thetas:
        assert css._inverse_ma(theta, u).tolist() == lfilter([1.0], theta, u).tolist()


def test_an_ar_fit_without_ma_terms_is_conditional_least_squares(nile):
    """Without MA terms CSS is ordinary least squares on the lags (the no-filter branch)."""
    prepared = order_search._prepare(nile)
    w = prepared.filled / prepared.scale
    spec = order_search._Spec(2, 0, 0, 0, 0, 0, 1, True)

    fit = css._fit_css(w, spec)

    assert fit.status == "ok"
    design = np.column_stack([np.ones(w.size - 2), w[1:-1], w[:-2]])
    (c, a1, a2), *_ = np.linalg.lstsq(design, w[2:], rcond=None)
    mean, ar1, ar2 = fit.coef
    assert [ar1, ar2] == pytest.approx([a1, a2], abs=1e-5)
    assert mean == pytest.approx(c / (1.0 - a1 - a2), rel=1e-5)


def test_an_ma_fit_reaches_the_least_sum_of_squares(nile):
    """ARIMA(0,1,1) on the Nile: no MA coefficient on a fine grid has smaller CSS residuals."""
    prepared = order_search._prepare(nile)
    w = np.diff(prepared.filled) / prepared.scale
    spec = order_search._Spec(0, 1, 1, 0, 0, 0, 1, False)

    fit = css._fit_css(w, spec)

    def sse(theta: float) -> float:
        e = lfilter([1.0], [1.0, theta], w)
        return float(np.dot(e, e))

    assert fit.status == "ok"
    (theta,) = fit.coef
    grid = np.linspace(-0.99, 0.99, 1981)
    assert sse(theta) <= min(sse(t) for t in grid) * (1 + 1e-9)
    assert -0.9 < theta < -0.5  # the Nile's well-known strong negative MA(1)


def test_a_cheap_batch_is_fitted_in_the_parent_without_a_pool(nile):
    w = np.diff(pd.Series(nile).to_numpy())
    specs = [order_search._Spec(p, 1, 0, 0, 0, 0, 1, False) for p in range(3)]
    runner = order_search._Runner(2, "process")
    per_task = order_search.PARALLEL_MIN_SECONDS / (2 * len(specs))
    try:
        fits = runner.map(order_search._fit_css, [(w, s) for s in specs], per_task)
    finally:
        runner.close()
    assert runner.parallel_batches == 0
    assert [f.spec for f in fits] == specs


def _numpy_min_root_modulus(coefs: list[float], sign: float, lag: int) -> float:
    poly = np.array([1.0, *(sign * c for c in coefs)])
    return float(np.min(np.abs(np.roots(poly[::-1]))) ** (1.0 / lag))


@pytest.mark.parametrize(
    ("coefs", "sign", "lag"),
    [
        ([0.5], -1.0, 1),  # AR(1): root 2
        ([-0.8], 1.0, 12),  # seasonal MA(1)
        ([0.5, 0.3], -1.0, 1),  # AR(2) with real roots
        ([1.2, -0.6], -1.0, 1),  # AR(2) with a complex pair
        ([0.0, 0.4], 1.0, 4),  # only the second lag
        ([0.9, -0.2, 0.1], -1.0, 1),  # degree 3: numpy's companion matrix
        ([0.3, 0.0], 1.0, 1),  # a trailing zero lowers the degree
    ],
)
def test_the_closed_form_root_check_agrees_with_numpy(coefs, sign, lag):
    got = fits._min_root_modulus(np.array(coefs), sign, lag)
    assert got == pytest.approx(_numpy_min_root_modulus(coefs, sign, lag), rel=1e-12)


def test_the_root_check_has_no_roots_without_terms_and_rejects_non_finite_ones():
    assert fits._min_root_modulus(np.array([]), 1.0, 1) == float("inf")
    assert fits._min_root_modulus(np.zeros(2), -1.0, 12) == float("inf")
    assert fits._min_root_modulus(np.array([np.nan, 0.2]), 1.0, 1) == 0.0
    spec = order_search._Spec(1, 0, 0, 0, 0, 0, 1, False)
    assert "AR root modulus" in fits._root_check(spec, np.array([0.995]))
    assert fits._root_check(spec, np.array([0.5])) is None


def test_nile_exact_refit_on_the_fast_root_check_keeps_its_model(nile):
    """The Nile's search still picks what R's auto.arima picks, ARIMA(1,1,1)."""
    result = order_search.search_order(nile, season_length=1, n_jobs=1)
    assert result.order == (1, 1, 1)
    assert all(c.status in {"ok", "failed", "not_converged"} for c in result.tried)


@pytest.mark.parametrize("gap", [False, True])
def test_the_exact_criterion_is_the_results_objects_with_and_without_gaps(nile, gap):
    """The refit scores the likelihood the returned results object has, gaps or not."""
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    y = nile.copy()
    if gap:
        y[30:33] = np.nan
    prepared = order_search._prepare(y)
    spec = order_search._Spec(1, 1, 1, 0, 0, 0, 1, False)

    fit = order_search._fit_exact(prepared.scaled_endog, spec, (), maxiter=100)

    assert fit.status == "ok"
    model = SARIMAX(
        prepared.scaled_endog, order=(1, 1, 1), simple_differencing=not gap, concentrate_scale=True
    )
    res = model.filter(np.asarray(fit.params), cov_type="none")
    nobs = int(res.nobs_effective)
    assert fit.criterion == pytest.approx(fits._aicc(-2.0 * res.llf, spec.n_coef + 1, nobs))


statespace = importlib.import_module(f"{order_search.__name__}.statespace")

# Specifications the family fits (drift, mean, none; seasonal; a gap), on the Nile.
MOMENT_CASES = [
    ((1, 0, 1), (0, 0, 0, 0), "c", False),
    ((0, 1, 1), (0, 0, 0, 0), "c", False),
    ((2, 1, 0), (0, 0, 0, 0), None, False),
    ((1, 2, 1), (0, 0, 0, 0), None, False),
    ((1, 0, 0), (1, 1, 1, 4), None, False),
    ((0, 1, 1), (0, 1, 1, 4), None, False),
    ((1, 1, 1), (0, 0, 0, 0), "c", True),
]


def _fitted(y: np.ndarray, order, seasonal_order, trend):
    model = sm.tsa.SARIMAX(
        y, order=order, seasonal_order=seasonal_order, trend=trend, concentrate_scale=True
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(disp=False, maxiter=50)


@pytest.mark.parametrize(("order", "seasonal_order", "trend", "gap"), MOMENT_CASES)
def test_forecast_moments_are_statsmodels_predictions_from_any_origin(
    nile, order, seasonal_order, trend, gap
):
    """The recursions from the filter's predicted state give what statsmodels' ``predict``
    (inside the sample, as the gate's folds use it) and ``get_forecast`` (past the end)
    give: same means and variances to rounding."""
    y = nile.copy()
    if gap:
        y[40] = np.nan
    results = _fitted(y, order, seasonal_order, trend)
    filtered = results.filter_results
    n = y.size
    # (36, 8) spans the gap at 40 and (40, 4) starts on it
    for origin, steps in ((30, 8), (36, 8), (40, 4), (n - 8, 8), (n - 3, 3)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            predicted = filtered.predict(start=origin, end=origin + steps, dynamic=0)
        mean, variance = statespace.forecast_moments(filtered, origin, steps)
        assert mean == pytest.approx(predicted.forecasts[0, :steps], rel=1e-10)
        assert variance == pytest.approx(predicted.forecasts_error_cov[0, 0, :steps], rel=1e-10)
    forecast = results.get_forecast(6)
    mean, variance = statespace.forecast_moments(filtered, n, 6)
    assert mean == pytest.approx(np.asarray(forecast.predicted_mean), rel=1e-10)
    assert variance == pytest.approx(np.asarray(forecast.var_pred_mean), rel=1e-10)


def test_forecast_moments_leave_time_varying_systems_and_lost_states_to_statsmodels(nile):
    """A linear trend's intercept changes every period and a low-memory filter keeps
    only the last predicted states: no moments, and the finite-forecast check asks statsmodels."""
    trending = _fitted(nile, (1, 0, 0), (0, 0, 0, 0), "ct")
    assert statespace.forecast_moments(trending.filter_results, nile.size, 4) is None
    assert order_search.exact._forecast_is_finite(trending, 4)

    model = sm.tsa.SARIMAX(nile, order=(1, 0, 0), trend="c", concentrate_scale=True)
    lean = model.filter(model.start_params, low_memory=True)
    assert statespace.forecast_moments(lean.filter_results, 1, 4) is None
    assert (
        statespace.forecast_moments(
            _fitted(nile, (1, 0, 0), (0, 0, 0, 0), "c").filter_results, nile.size + 1, 4
        )
        is None
    )
