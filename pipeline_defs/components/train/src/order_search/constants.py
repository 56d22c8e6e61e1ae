"""Limits, thresholds and status names shared by the order search's modules."""

from __future__ import annotations

MIN_OBSERVATIONS = 3
"""Fewest observed (non-missing) values for which any model is fitted."""

KPSS_CRITICAL_5PCT = 0.463
SEASONAL_STRENGTH_THRESHOLD = 0.64
MIN_ROOT_MODULUS = 1.01
MAX_P, MAX_Q, MAX_SP, MAX_SQ, MAX_ORDER = 5, 5, 2, 2, 5
MAX_D, MAX_SD = 2, 1
MAX_MODELS = 94
N_EXACT_REFITS = 3
MAX_EXACT_ATTEMPTS = 6
EXACT_STEPS = 1
EXACT_MAXITER = 100
EXACT_FTOL = 1e7 * 2.220446049250313e-16
"""Where the exact refits' L-BFGS stops: the relative reduction of the mean negative
log-likelihood per iteration (scipy's ``factr`` times the machine epsilon). This is scipy's
default (``factr=1e7``), what every exact fit used before it became a parameter."""
BOUNDARY_PATIENCE = 5
CSS_MAX_NFEV_PER_PARAM = 20
PARALLEL_MIN_SECONDS = 1.0

CRITERION_NAME = "aicc"

STATUS_OK = "ok"
STATUS_FAILED = "failed"
STATUS_NOT_CONVERGED = "not_converged"
STATUS_OVER_BUDGET = "over_budget"
