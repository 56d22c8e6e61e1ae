"""One fitted candidate (:class:`_Fit`), ARMA polynomials, the root check and AICc."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from .constants import MIN_ROOT_MODULUS, STATUS_OK
from .records import Candidate
from .specs import _Spec


@dataclass(frozen=True)
class _Fit:
    spec: _Spec
    status: str
    criterion: float | None
    message: str
    seconds: float
    method: str
    params: tuple[float, ...] = ()  # SARIMAX parameter vector (concentrated scale)
    coef: tuple[float, ...] = ()  # CSS coefficients: mean (if any), AR, MA, SAR, SMA

    def candidate(self) -> Candidate:
        return Candidate(
            order=self.spec.order,
            seasonal_order=self.spec.seasonal_order,
            trend=self.spec.trend,
            criterion=self.criterion,
            status=self.status,
            message=self.message,
            seconds=self.seconds,
            method=self.method,
        )


def _polys(spec: _Spec, x: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Split a CSS parameter vector into (mean, AR polynomial, MA polynomial), lag-0 first."""
    i = 0
    mean = 0.0
    if spec.constant:
        mean = float(x[0])
        i = 1
    ar = x[i : i + spec.p]
    i += spec.p
    ma = x[i : i + spec.q]
    i += spec.q
    sar = x[i : i + spec.sp]
    i += spec.sp
    sma = x[i : i + spec.sq]
    phi = np.concatenate(([1.0], -ar))
    theta = np.concatenate(([1.0], ma))
    if spec.sp:
        seasonal = np.zeros(spec.sp * spec.m + 1)
        seasonal[0] = 1.0
        seasonal[spec.m :: spec.m] = -sar
        phi = np.convolve(phi, seasonal)
    if spec.sq:
        seasonal = np.zeros(spec.sq * spec.m + 1)
        seasonal[0] = 1.0
        seasonal[spec.m :: spec.m] = sma
        theta = np.convolve(theta, seasonal)
    return mean, phi, theta


def _min_root_modulus(coefs: np.ndarray, sign: float, lag: int) -> float:
    """Smallest root modulus of ``1 + sign * sum(c_i z^(i*lag))``; inf when there are no terms.

    Polynomials of degree 1 and 2 (most blocks the search fits) are solved in closed form;
    higher degrees by ``np.roots`` (companion-matrix eigenvalues), whose per-call overhead
    was a tenth of a short series' search: the check runs after every fit and at every
    iteration of the exact refits.
    """
    values = [sign * float(c) for c in coefs]
    if not all(math.isfinite(v) for v in values):
        return 0.0  # no usable polynomial: fails any root check
    while values and values[-1] == 0.0:
        values.pop()
    if not values:
        return math.inf
    if len(values) == 1:
        modulus = 1.0 / abs(values[0])
    elif len(values) == 2:
        modulus = _quadratic_min_root_modulus(values[0], values[1])
    else:
        roots = np.roots(np.array([*values[::-1], 1.0]))
        modulus = float(np.min(np.abs(roots)))
    return float(modulus ** (1.0 / lag))


def _quadratic_min_root_modulus(a1: float, a2: float) -> float:
    """Smallest root modulus of ``1 + a1 z + a2 z^2`` with ``a2 != 0``."""
    disc = a1 * a1 - 4.0 * a2
    if disc < 0.0:  # a complex pair, whose product is 1 / a2
        return 1.0 / math.sqrt(a2)
    q = -0.5 * (a1 + math.copysign(math.sqrt(disc), a1))  # stable: no cancellation
    return min(abs(q / a2), abs(1.0 / q))


def _root_check(spec: _Spec, coefs: np.ndarray) -> str | None:
    """Reject AR/MA parts with roots within MIN_ROOT_MODULUS of the unit circle (as R does)."""
    i = 0
    parts = []
    for name, k, sign, lag in (
        ("AR", spec.p, -1.0, 1),
        ("MA", spec.q, 1.0, 1),
        ("seasonal AR", spec.sp, -1.0, spec.m),
        ("seasonal MA", spec.sq, 1.0, spec.m),
    ):
        parts.append((name, coefs[i : i + k], sign, lag))
        i += k
    for name, c, sign, lag in parts:
        modulus = _min_root_modulus(c, sign, lag)
        if modulus < MIN_ROOT_MODULUS:
            return f"{name} root modulus {modulus:.4f} < {MIN_ROOT_MODULUS}"
    return None


def _aicc(neg2loglik: float, n_params: int, nobs: int) -> float:
    aic = neg2loglik + 2.0 * n_params
    if nobs - n_params - 1 <= 0:
        return math.inf
    return aic + 2.0 * n_params * (n_params + 1) / (nobs - n_params - 1)


def _since(start: float) -> float:
    return time.perf_counter() - start


def _best(fits: Any) -> _Fit | None:
    ok = [f for f in fits if f.status == STATUS_OK and f.criterion is not None]
    return min(ok, key=lambda f: f.criterion) if ok else None


def _nobs_eff(results: Any) -> int:
    return int(getattr(results, "nobs_effective", results.nobs))
