"""Conditional-sum-of-squares fit: the search's fast approximation."""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.optimize import leastsq
from scipy.signal import lfilter
from statsmodels.tsa.statespace.tools import unconstrain_stationary_univariate

from .constants import CSS_MAX_NFEV_PER_PARAM, STATUS_FAILED, STATUS_NOT_CONVERGED, STATUS_OK
from .fits import _aicc, _Fit, _polys, _root_check, _since
from .specs import _Spec

_ONE = np.ones(1)


def _c_filter() -> Any:
    """scipy's C filter, which ``lfilter`` calls after argument checks that cost about twice
    the filtering itself on short series (1.1 against 3.1 microseconds at 80 points); None
    when this scipy lacks it or it does not answer as ``lfilter`` on a probe (then the
    public function is used)."""
    try:
        from scipy.signal._sigtools import _linear_filter

        probe = np.array([1.0, -0.5, 0.25])
        theta = np.array([1.0, 0.4])
        if np.array_equal(_linear_filter(_ONE, theta, probe, -1), lfilter(_ONE, theta, probe)):
            return _linear_filter
    except Exception:  # pragma: no cover - a scipy without it, or another signature
        pass
    return None  # pragma: no cover


_linear_filter = _c_filter()


def _inverse_ma(theta: np.ndarray, u: np.ndarray) -> np.ndarray:
    """``theta(B)^-1 u``: ``lfilter([1], theta, u)`` for float arrays with ``theta[0] = 1``,
    without lfilter's argument checks (the CSS residuals run it tens of times per fit; the
    tests compare both)."""
    if _linear_filter is not None:
        return np.asarray(_linear_filter(_ONE, theta, u, -1))
    return np.asarray(lfilter(_ONE, theta, u))


def _fit_css(
    w: np.ndarray,
    spec: _Spec,
    common: int = 0,
    log_scale: float = 0.0,
    start_from: _Fit | None = None,
) -> _Fit:
    """Fit one candidate to the differenced series ``w`` by conditional sum of squares.

    Residuals are ``e = theta(B)^-1 phi(B) (w - mean)``, conditioning on the first
    ``p + P*m`` values (R's ``method="CSS"``). The approximate AICc is the Gaussian
    ``n log(2 pi sigma^2) + n + penalty`` over the residuals from index ``common`` on, a
    sample shared by every candidate of the search (Ng & Perron 2005: information criteria
    compare models only on a common effective sample).
    """
    start = time.perf_counter()
    k = spec.n_coef
    ncond = spec.p + spec.sp * spec.m
    n_used = w.size - ncond
    n_params = k + 1  # + innovation variance
    if n_used <= n_params + 1:
        return _Fit(
            spec,
            STATUS_FAILED,
            None,
            f"too few observations after differencing and conditioning ({n_used})",
            _since(start),
            "css",
        )

    has_ma = spec.q + spec.sq > 0

    def residuals(z: np.ndarray) -> np.ndarray:
        mean, phi, theta = _polys(spec, _constrain(spec, z))
        u = np.convolve(w - mean, phi)[ncond : w.size]
        # Without MA terms the filter is the identity (it would return a copy of u).
        e = _inverse_ma(theta, u) if has_ma else u
        if not np.isfinite(e).all():
            return np.full(n_used, 1e10)
        return np.asarray(e)

    z0 = _warm_start(spec, start_from) if start_from is not None else np.zeros(k)
    if spec.constant and not (start_from is not None and start_from.spec.constant):
        z0[0] = float(np.mean(w))
    # MINPACK's lmdif (``leastsq``) counts the evaluations of its finite-difference
    # Jacobians too: CSS_MAX_NFEV_PER_PARAM (k + 1) evaluations of residuals and Jacobian.
    max_nfev = CSS_MAX_NFEV_PER_PARAM * (k + 1) * (k + 1)
    converged = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if k == 0:
                coef = z0
                sse = float(np.sum(residuals(z0) ** 2))
            else:
                # Levenberg-Marquardt with a finite-difference Jacobian, as
                # least_squares(method="lm") with the same tolerances, called directly:
                # scipy >= 1.16 routes that through Python-level differencing, which cost
                # about as much as the residuals themselves.
                x, _, info, _, ier = leastsq(
                    residuals,
                    z0,
                    full_output=True,
                    ftol=1e-8,
                    xtol=1e-8,
                    gtol=1e-8,
                    maxfev=max_nfev,
                )
                coef = _constrain(spec, x)
                fvec = np.asarray(info["fvec"], dtype=float)
                sse = float(np.dot(fvec, fvec))
                converged = ier != 5  # 5: maxfev reached; 6-8: no further reduction possible
    except Exception as exc:
        return _Fit(spec, STATUS_FAILED, None, f"CSS fit failed: {exc}", _since(start), "css")
    if not math.isfinite(sse) or sse <= 0 or sse >= 1e19:
        return _Fit(spec, STATUS_FAILED, None, "CSS fit diverged", _since(start), "css")
    arma = coef[int(spec.constant) :]
    reason = _root_check(spec, arma)
    if reason:
        return _Fit(spec, STATUS_FAILED, None, reason, _since(start), "css")
    # The criterion is scored on the residuals from ``common`` on, the same sample for every
    # candidate: otherwise a model conditioning on more values (seasonal AR) is scored on
    # fewer, harder-to-predict-free observations and looks better than it is.
    mean, phi, theta = _polys(spec, coef)
    e = _inverse_ma(theta, np.convolve(w - mean, phi)[ncond : w.size])
    e = e[max(0, common - ncond) :]
    nstar = int(e.size)
    if nstar <= n_params + 1:
        return _Fit(
            spec, STATUS_FAILED, None, "too few observations to score", _since(start), "css"
        )
    sigma2 = float(np.dot(e, e)) / nstar
    if not sigma2 > 0:
        return _Fit(spec, STATUS_FAILED, None, "zero residual variance", _since(start), "css")
    neg2ll = nstar * (math.log(2.0 * math.pi * sigma2) + 1.0 + 2.0 * log_scale)
    crit = _aicc(neg2ll, n_params, nstar)
    status, message = STATUS_OK, ""
    if not converged:
        status = STATUS_NOT_CONVERGED
        message = f"CSS optimiser stopped after {max_nfev} evaluations"
    return _Fit(
        spec,
        status,
        crit,
        message,
        _since(start),
        "css",
        params=tuple(float(v) for v in _css_to_sarimax(spec, coef)),
        coef=tuple(float(v) for v in coef),
    )


def _blocks(spec: _Spec, coef: Sequence[float]) -> list[np.ndarray]:
    """A coefficient vector split into [mean], AR, MA, seasonal AR, seasonal MA."""
    x = np.asarray(coef, dtype=float)
    out = [x[: int(spec.constant)]]
    i = int(spec.constant)
    for k in (spec.p, spec.q, spec.sp, spec.sq):
        out.append(x[i : i + k])
        i += k
    return out


def _warm_start(spec: _Spec, previous: _Fit) -> np.ndarray:
    """Unconstrained start values for ``spec`` from a neighbour's CSS coefficients.

    Shared lags keep the neighbour's values, new lags start at zero; a block whose truncated
    polynomial is no longer stationary (or invertible) starts at zero. Starting where the
    search already is keeps each fit short and away from the spurious boundary optima that
    the CSS objective has along AR/MA cancellation ridges.
    """
    old = _blocks(previous.spec, previous.coef)
    z = [old[0] if spec.constant and previous.spec.constant else np.zeros(int(spec.constant))]
    for (k, sign), block in zip(
        ((spec.p, 1.0), (spec.q, -1.0), (spec.sp, 1.0), (spec.sq, -1.0)), old[1:], strict=True
    ):
        values = np.zeros(k)
        shared = min(k, block.size)
        values[:shared] = block[:shared]
        with np.errstate(all="ignore"):
            free = unconstrain_stationary_univariate(sign * values) if k else values
        z.append(free if np.all(np.isfinite(free)) and np.all(np.abs(free) < 50) else np.zeros(k))
    return np.concatenate(z)


def _constrain(spec: _Spec, z: np.ndarray) -> np.ndarray:
    """Map unconstrained values to stationary AR and invertible MA coefficients (Monahan 1984).

    The CSS optimiser works in the unconstrained space, so it never wanders into explosive
    filters; fits that end close to the boundary are still rejected by the root check.
    """
    out = z.copy()
    i = int(spec.constant)
    for k, sign in ((spec.p, 1.0), (spec.q, -1.0), (spec.sp, 1.0), (spec.sq, -1.0)):
        if k:
            out[i : i + k] = _monahan(z[i : i + k].tolist(), -sign)
        i += k
    return out


def _monahan(z: list[float], scale: float) -> list[float]:
    """``-scale * constrain_stationary_univariate(z)`` (statsmodels), in plain floats.

    The same Durbin-Levinson recursion on the partial autocorrelations
    ``r = z / sqrt(1 + z^2)``, bit for bit, without numpy's per-call overhead: the CSS
    residuals call it for every block at every evaluation, and the blocks have at most
    ``MAX_ORDER`` values.
    """
    y: list[float] = []
    for v in z:
        r = v / math.sqrt(1.0 + v * v)
        y = [y[i] + r * y[len(y) - 1 - i] for i in range(len(y))] + [r]
    return [scale * v for v in y]


def _css_to_sarimax(spec: _Spec, coef: np.ndarray) -> np.ndarray:
    """CSS parameters (mean first) to SARIMAX's order (intercept = mean * phi(1) * Phi(1))."""
    if not spec.constant:
        return coef
    _, phi, _ = _polys(spec, coef)
    return np.concatenate(([coef[0] * float(np.sum(phi))], coef[1:]))
