"""Fast, robust ARIMA/SARIMAX order search with statsmodels.

The search follows Hyndman & Khandakar (2008), the algorithm behind R's ``auto.arima``:

1. **Differencing.** The seasonal difference ``D`` (0 or 1) comes from the *seasonal strength*
   heuristic of Wang, Smith & Hyndman (2006) (``nsdiffs(test="seas")`` in R): an STL
   decomposition gives ``F_s = max(0, 1 - Var(remainder) / Var(seasonal + remainder))`` and
   ``D = 1`` when ``F_s > 0.64``, computed exactly as R and statsforecast do (STL with a
   locally constant seasonal smoother over 11 periods, sample variances; see
   :func:`seasonal_strength`). statsmodels has no OCSB test; this heuristic is R's documented
   alternative. The ordinary difference ``d`` (0..2) comes from repeated KPSS level-stationarity
   tests at 5 % on the seasonally differenced series (``ndiffs(test="kpss")``).
2. **Stepwise search.** auto.arima's start models ((2,d,2)(1,D,1), the null model with and
   without constant, AR(1)(1), MA(1)(1)), then moves to the best neighbour (p, q, P, Q each
   +-1, p and q together, P and Q together, constant on or off) while the criterion improves,
   within p, q <= 5, P, Q <= 2, p+q+P+Q <= 5 and at most 94 models. All neighbours of the
   current best form one batch (a steepest-descent variant of R's first-improvement loop),
   warm-started from the current best's coefficients. A constant is allowed when
   ``d + D <= 1`` (the mean when ``d + D = 0``, the drift when ``d + D = 1``).
3. **Criterion: AICc.** During the search each candidate is fitted by conditional sum of
   squares (CSS, as ``auto.arima(approximation=TRUE)`` does; Levenberg-Marquardt by MINPACK's
   ``lmdif``) with a vectorised filter, which costs about a millisecond; AR and MA parts are
   kept stationary and invertible by Monahan's transformation, and fits whose roots end
   within 1.01 of the unit circle are rejected, as in R. Every candidate's approximate AICc
   is scored on the same residual sample (after the largest conditioning window the search
   can reach), so seasonal AR terms, which condition on more values, are not favoured.
4. **Exact refit.** The best CSS candidates are refitted by exact Gaussian maximum
   likelihood (statsmodels ``SARIMAX``, Kalman filter, concentrated scale, starting from the
   CSS estimates) until ``N_EXACT_REFITS`` refits are usable (at most
   ``MAX_EXACT_ATTEMPTS`` tried: a refit rejected by the root check is replaced by the next
   candidate, as in R). Then one stepwise round by exact AICc (``EXACT_STEPS``): the
   neighbours of the best usable refit that the CSS search never scored (its path went
   elsewhere, or their CSS fit failed) are fitted by exact ML too, since AutoARIMA compares
   by exact AICc along its whole path and the CSS path can stop short of the exact winner;
   the usable fit with the lowest exact AICc among all wins. A refit whose
   iterates stay within 1.01 of the unit circle for ``BOUNDARY_PATIENCE`` iterations is
   stopped there, since it would be rejected anyway. The returned
   ``results`` object is a plain statsmodels ``SARIMAXResults`` for the series in levels and
   in its own units, so ``results.get_forecast(h)`` forecasts the original series. (All
   fitting runs on the series divided by its standard deviation, which makes the search
   independent of the units; the intercept is scaled back before the results are built.)

**Drift margin** (``search_order(drift_margin=...)``, 0 by default, the family fit step's 2
for season lengths 2 to 4). AICc scores one-step fit; over a multi-step horizon a drift the
short sample cannot prove still counts. With a margin, a drift model (``d + D = 1`` with a
constant) trailing the best exact AICc by less than the margin wins (a note says so), and
the exact refits are the best ``N_EXACT_REFITS - 1`` CSS candidates plus, when those make one
constant choice, the best-ranked candidate making the other: the exact criterion, not the
CSS ranking (whose shared residual window penalises an extra parameter more on short
series), decides between drift and none. docs/many-series.md, "Drift on short-cycle series".

**A given d** (``search_order(d=...)``, None by default): the search runs with that many
ordinary differences instead of the KPSS tests' choice; the tests still run (their
statistics stay in ``diagnostics``, a note says what they chose). The family fit step
searches a yearly series near the second test's threshold with ``d = 1`` and ``d = 2`` and
averages the two fits' forecasts (docs/many-series.md, "Yearly series: the d = 1 / d = 2
combination").

**Parallelism.** Batches are fitted in the parent, helped by forked worker processes when a
batch is expensive (estimated from the measured cost of earlier fits: at least
``PARALLEL_MIN_SECONDS``). Measured on the 2-vCPU development machine: threads were slowest
(the CSS fits hold the GIL); for short series one process is fastest (a CSS fit costs ~1 ms,
less than forking and inter-process traffic, so the pool is never started); for the long
seasonal series of the benchmark, the exact refits on two processes cut the search time by
up to a third (elnino: 2.0-2.4 s serial, 1.6 s with processes, 2.1-2.2 s with threads; co2:
0.83-0.85 s serial, 0.68-0.87 s with processes; best of 5 in each of two rounds on that
shared machine, whose timings vary by 20 % from run to run). ``PARALLEL_MIN_SECONDS`` is
1 s (it was 0.25 s until issue 11's third round): the M3 tuning set's batches cost 0.05 to
0.6 s, and on the shared machine (load average 8 to 17) a pool started for them made the
search about 5 % slower in geometric mean than one process (best of 2, single series from
0.67x to 1.74x on that noisy machine): forking (40 to 100 ms for the pool's start and
shutdown there), copy-on-write faults and inter-process traffic cost more than a second,
busy, core gave back.

**Time budget.** It is checked before each batch and inside the exact refits (an optimiser
callback); what was not fitted is recorded as ``over_budget``, an interrupted refit keeps the
parameters it reached, and a note says where the budget ran out. The start models and the
results object are always built, so the search may overrun the budget by one batch or one
optimiser iteration.

Degenerate inputs never crash the search: constant series, series too short for seasonal
terms, NaN gaps (interpolated for the tests and the CSS search, left to the Kalman filter in
the exact fit) and fits that fail or do not converge are all recorded; when nothing fits, a
simpler model (random walk, then the mean) is returned with ``fallback_reason`` set. Only an
input with fewer than ``MIN_OBSERVATIONS`` observed values raises
:class:`SeriesTooShortError`.

**Modules.** ``constants`` (limits and status names), ``records`` (:class:`SearchResult`,
:class:`Candidate`), ``prepare`` (input cleaning and scaling), ``differencing`` (KPSS,
seasonal strength), ``specs`` (model specifications, start models, neighbours), ``fits``
(one fitted candidate, root check, AICc), ``css`` (the fast CSS fit), ``exact`` (exact ML
refits and results objects), ``runner`` (parallel batches), ``transform`` (the Box-Cox rule
and the bias-adjusted back-transform), ``statespace`` (forecast moments from a filter's
output), ``search`` (:func:`search_order`) and ``final``
(:func:`refit_final`). Candidates are logged at DEBUG by the ``search``
module's logger (``order_search.search``).
"""

from .constants import (
    BOUNDARY_PATIENCE,
    CRITERION_NAME,
    CSS_MAX_NFEV_PER_PARAM,
    EXACT_FTOL,
    EXACT_MAXITER,
    EXACT_STEPS,
    KPSS_CRITICAL_5PCT,
    MAX_D,
    MAX_EXACT_ATTEMPTS,
    MAX_MODELS,
    MAX_ORDER,
    MAX_P,
    MAX_Q,
    MAX_SD,
    MAX_SP,
    MAX_SQ,
    MIN_OBSERVATIONS,
    MIN_ROOT_MODULUS,
    N_EXACT_REFITS,
    PARALLEL_MIN_SECONDS,
    SEASONAL_STRENGTH_THRESHOLD,
    STATUS_FAILED,
    STATUS_NOT_CONVERGED,
    STATUS_OK,
    STATUS_OVER_BUDGET,
)
from .css import _fit_css
from .differencing import choose_d, choose_sd, kpss_statistic, seasonal_strength
from .exact import _fit_exact
from .final import FinalFit, refit_final
from .fits import _Fit
from .prepare import _prepare
from .records import Candidate, SearchResult, SeriesTooShortError, _label
from .runner import _Runner
from .search import _Search, search_order
from .specs import _Spec
from .statespace import forecast_moments
from .transform import TRANSFORMS, BoxCox, choose_transform, forecast_frame, guerrero_lambda

__all__ = [
    "BOUNDARY_PATIENCE",
    "CRITERION_NAME",
    "CSS_MAX_NFEV_PER_PARAM",
    "EXACT_FTOL",
    "EXACT_MAXITER",
    "EXACT_STEPS",
    "KPSS_CRITICAL_5PCT",
    "MAX_D",
    "MAX_EXACT_ATTEMPTS",
    "MAX_MODELS",
    "MAX_ORDER",
    "MAX_P",
    "MAX_Q",
    "MAX_SD",
    "MAX_SP",
    "MAX_SQ",
    "MIN_OBSERVATIONS",
    "MIN_ROOT_MODULUS",
    "N_EXACT_REFITS",
    "PARALLEL_MIN_SECONDS",
    "SEASONAL_STRENGTH_THRESHOLD",
    "STATUS_FAILED",
    "STATUS_NOT_CONVERGED",
    "STATUS_OK",
    "STATUS_OVER_BUDGET",
    "TRANSFORMS",
    "BoxCox",
    "Candidate",
    "FinalFit",
    "SearchResult",
    "SeriesTooShortError",
    "_Fit",
    "_Runner",
    "_Search",
    "_Spec",
    "_fit_css",
    "_fit_exact",
    "_label",
    "_prepare",
    "choose_d",
    "choose_sd",
    "choose_transform",
    "forecast_frame",
    "forecast_moments",
    "guerrero_lambda",
    "kpss_statistic",
    "refit_final",
    "search_order",
    "seasonal_strength",
]
