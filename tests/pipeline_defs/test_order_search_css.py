"""The order search's fast CSS fit and its runner, on small real series (issue 11, speed)."""

import importlib

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy.signal import lfilter
from statsmodels.tsa.statespace.tools import constrain_stationary_univariate

from tests.pipeline_defs.components import load_step

order_search = load_step("train", "order_search")
css = importlib.import_module(f"{order_search.__name__}.css")


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
