"""The differencing tests: KPSS for ``d``, seasonal strength for ``D``."""

from __future__ import annotations

import math

import numpy as np
from statsmodels.tsa.seasonal import STL

from .constants import KPSS_CRITICAL_5PCT, MAX_D, SEASONAL_STRENGTH_THRESHOLD
from .prepare import _is_constant


def kpss_statistic(x: np.ndarray) -> float:
    """KPSS level-stationarity statistic with a Bartlett kernel and ``trunc(3 sqrt(n) / 13)`` lags.

    This is the statistic R's ``forecast::ndiffs`` uses; compare it with 0.463 (5 %).
    """
    n = x.size
    e = x - x.mean()
    s = np.cumsum(e)
    eta = float(np.dot(s, s)) / n**2
    lags = min(int(3 * math.sqrt(n) / 13), n - 1)
    s2 = float(np.dot(e, e))
    for lag in range(1, lags + 1):
        s2 += 2.0 * (1.0 - lag / (lags + 1.0)) * float(np.dot(e[lag:], e[:-lag]))
    s2 /= n
    return eta / s2 if s2 > 0 else 0.0


def choose_d(x: np.ndarray, max_d: int = MAX_D) -> tuple[int, list[float]]:
    """Number of ordinary differences by repeated KPSS tests at 5 % (R's ``ndiffs``)."""
    stats: list[float] = []
    d = 0
    while d < max_d and x.size >= 4 and not _is_constant(x):
        stat = kpss_statistic(x)
        stats.append(stat)
        if stat <= KPSS_CRITICAL_5PCT:
            break
        d += 1
        x = np.diff(x)
    return d, stats


def seasonal_strength(x: np.ndarray, m: int) -> float:
    """Seasonal strength ``F_s`` of Wang, Smith & Hyndman (2006) from an STL decomposition.

    As R's ``nsdiffs(test="seas")`` computes it: the STL of R's ``mstl``, whose seasonal
    smoother spans 11 periods (its first window, 7 + 4 k) and is locally constant (R's
    ``stl`` default ``s.degree = 0``), and sample variances (``ddof=1``). A locally linear
    seasonal smoother (statsmodels' default ``seasonal_deg=1``) lets the seasonal component
    absorb noise, which inflates ``F_s`` (by 0.05 to 0.2 on short monthly series) and chose
    ``D = 1`` where R does not (issue 11).
    """
    res = STL(x, period=m, seasonal=11, seasonal_deg=0, robust=False).fit()
    remainder = np.asarray(res.resid)
    seasonal = np.asarray(res.seasonal)
    denom = float(np.var(remainder + seasonal, ddof=1))
    if denom <= 0:
        return 0.0
    return float(min(1.0, max(0.0, 1.0 - np.var(remainder, ddof=1) / denom)))


def choose_sd(x: np.ndarray, m: int) -> tuple[int, float | None, str | None]:
    """Seasonal difference (0 or 1) by the seasonal-strength heuristic; returns (D, F_s, note)."""
    if m <= 1:
        return 0, None, None
    if x.size < 2 * m + 1:
        return 0, None, f"too short for a seasonal strength test ({x.size} < {2 * m + 1}); D=0"
    if _is_constant(x):
        return 0, 0.0, None
    try:
        strength = seasonal_strength(x, m)
    except Exception as exc:  # STL rejects some short or odd inputs
        return 0, None, f"seasonal strength test failed ({exc}); D=0"
    return int(strength > SEASONAL_STRENGTH_THRESHOLD), strength, None


def _difference(x: np.ndarray, d: int, sd: int, m: int) -> np.ndarray:
    for _ in range(sd):
        x = x[m:] - x[:-m]
    for _ in range(d):
        x = np.diff(x)
    return x
