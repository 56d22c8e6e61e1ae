"""The search: differencing, the stepwise CSS search, the exact refits, fallbacks."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .constants import (
    CRITERION_NAME,
    EXACT_FTOL,
    EXACT_MAXITER,
    EXACT_STEPS,
    MAX_D,
    MAX_EXACT_ATTEMPTS,
    MAX_MODELS,
    N_EXACT_REFITS,
    STATUS_NOT_CONVERGED,
    STATUS_OK,
    STATUS_OVER_BUDGET,
)
from .css import _fit_css
from .differencing import _difference, choose_d, choose_sd
from .exact import _fit_exact, _forecast_is_finite, _nominal_model, _results_for
from .fits import _aicc, _best, _Fit, _nobs_eff, _since
from .prepare import _is_constant, _prepare, _Prepared, _transformed
from .records import Candidate, SearchResult
from .runner import _default_jobs, _Runner
from .specs import _Bounds, _bounds, _neighbours, _Spec, _start_specs
from .transform import TRANSFORMS, BoxCox, choose_transform

logger = logging.getLogger(__name__)


class _Search:
    """One search: its clock, its record of candidates, and the phases in order."""

    def __init__(
        self,
        prepared: _Prepared,
        m: int,
        budget: float,
        runner: _Runner,
        progress: Callable[[str], None] | None,
        exact_ftol: float = EXACT_FTOL,
        drift_margin: float = 0.0,
        d: int | None = None,
    ) -> None:
        self.prepared = prepared
        self.exact_ftol = exact_ftol
        self.drift_margin = drift_margin
        self.forced_d = d
        self.m = m
        self.budget = budget
        self.runner = runner
        self.progress = progress
        self.start = time.perf_counter()
        self.tried: list[Candidate] = []
        self.notes: list[str] = list(prepared.notes)
        self.diagnostics: dict[str, Any] = {"season_length": m, "n_jobs": runner.n_jobs}
        self.budget_hit = False
        self.log_scale = math.log(prepared.scale)
        self.bounds: _Bounds | None = None

    def unscale(self, spec: _Spec, params: Sequence[float]) -> np.ndarray:
        """Parameters fitted to ``series / scale`` for the series itself: the intercept scales."""
        out = np.asarray(params, dtype=float).copy()
        if spec.constant and out.size:
            out[0] *= self.prepared.scale
        return out

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def over_budget(self) -> bool:
        return self.elapsed() > self.budget

    def record(self, fit: _Fit) -> None:
        candidate = fit.candidate()
        self.tried.append(candidate)
        line = f"[{len(self.tried):3d}] {candidate.describe()}"
        logger.debug("%s", line)
        if self.progress is not None:
            self.progress(line)

    def skip(self, specs: list[_Spec], method: str) -> None:
        for s in specs:
            self.record(
                _Fit(s, STATUS_OVER_BUDGET, None, "not fitted: time budget spent", 0.0, method)
            )

    def note_budget(self, where: str) -> None:
        if not self.budget_hit:
            self.budget_hit = True
            self.notes.append(f"time budget of {self.budget:g}s spent {where}")

    # -- phases

    def differencing(self) -> tuple[int, int, int]:
        """(d, D, m) from the KPSS and seasonal-strength tests on the gap-filled series."""
        x = self.prepared.filled
        m = self.m
        if m > 1 and x.size < 2 * m + 2:
            self.notes.append(
                f"{x.size} observations are too few for season_length={m} "
                f"(needs {2 * m + 2}); searched without seasonal terms"
            )
            m = 1
        sd, strength, note = choose_sd(x, m)
        if note:
            self.notes.append(note)
        d, stats = choose_d(_difference(x, 0, sd, m))
        if self.forced_d is not None and self.forced_d != d:
            self.notes.append(f"d={self.forced_d} as asked (the KPSS tests chose d={d})")
            d = self.forced_d
        self.diagnostics.update(
            {"seasonal_strength": strength, "kpss_statistics": stats, "d": d, "D": sd}
        )
        return d, sd, m

    def stepwise(self, w: np.ndarray, d: int, sd: int, m: int, bounds: _Bounds) -> list[_Fit]:
        """CSS stepwise search; returns the usable fits, best approximate AICc first."""
        fits: dict[_Spec, _Fit] = {}
        self.bounds = bounds
        # Every candidate is scored on the residuals after the largest conditioning window
        # the search can reach (at most half the differenced series).
        common = min(bounds.max_p + bounds.max_sp * m, w.size // 2)
        self.diagnostics["css_common_window"] = common

        def run(specs: list[_Spec], start_from: _Fit | None = None) -> None:
            done = [f.seconds for f in fits.values()]
            per_task = float(np.mean(done)) if done else 0.0
            tasks = [(w, s, common, self.log_scale, start_from) for s in specs]
            for f in self.runner.map(_fit_css, tasks, per_task):
                fits[f.spec] = f
                self.record(f)

        run(_start_specs(d, sd, m, bounds))
        while len(fits) < MAX_MODELS:
            best = _best(fits.values())
            if best is None:
                break
            batch = [s for s in _neighbours(best.spec, bounds) if s not in fits]
            batch = batch[: MAX_MODELS - len(fits)]
            if not batch:
                break
            if self.over_budget():
                self.note_budget(
                    f"after {len(fits)} candidates; the search stopped with the best so far"
                )
                self.skip(batch, "css")
                break
            run(batch, best)
            new_best = _best(fits.values())
            if new_best is None or new_best.spec == best.spec:
                break
        self.diagnostics["css_candidates"] = len(fits)
        return sorted(
            (f for f in fits.values() if f.status == STATUS_OK),
            key=lambda f: f.criterion if f.criterion is not None else math.inf,
        )

    def refit(self, ranked: list[_Fit], *, steps: int = EXACT_STEPS) -> tuple[_Fit, Any] | None:
        """Exact ML refits of the best CSS candidates; the lowest exact AICc that forecasts wins.

        The candidates are refitted in CSS order until ``N_EXACT_REFITS`` refits are usable
        or ``MAX_EXACT_ATTEMPTS`` were tried: a refit whose roots come within 1.01 of the
        unit circle is rejected (R's rule; exact ML often puts a seasonal MA root on the
        circle of short series), and, as R's ``auto.arima`` does after its approximate
        search, the next candidate in the ranking takes its place. Then :meth:`exact_steps`
        moves from the best usable refit to better neighbours by exact AICc (``steps``
        rounds; ``EXACT_STEPS`` by default). When the budget is spent, or no refit is
        usable, the best CSS estimates are used as they are.
        """
        n_refits, max_attempts = N_EXACT_REFITS, MAX_EXACT_ATTEMPTS
        if self.drift_margin > 0:
            ranked, n_refits, max_attempts = self._both_constants(ranked)
        todo = ranked[:n_refits]
        if self.over_budget():
            self.note_budget("before the exact refit; the winner keeps its CSS estimates")
            self.skip([f.spec for f in todo], "ml")
            return self._first_usable(ranked, exact=False)
        endog = self.prepared.scaled_endog
        deadline = time.monotonic() + max(0.0, self.budget - self.elapsed())

        def task(f: _Fit) -> tuple[Any, ...]:
            return (
                endog,
                f.spec,
                f.params,
                EXACT_MAXITER,
                deadline,
                self.log_scale,
                self.exact_ftol,
            )

        # The best candidate first, in the parent: its cost decides whether the rest go
        # to the pool.
        exact = [_fit_exact(*task(todo[0]))]
        self.record(exact[0])
        attempted = 1
        batch = todo[1:]
        while batch:
            if self.over_budget():
                self.note_budget("during the exact refits; the best refitted so far is used")
                self.skip([f.spec for f in batch], "ml")
                break
            for f in self.runner.map(_fit_exact, [task(f) for f in batch], exact[0].seconds):
                exact.append(f)
                self.record(f)
            attempted += len(batch)
            usable_so_far = sum(f.criterion is not None for f in exact)
            more = min(n_refits - usable_so_far, max_attempts - attempted)
            batch = ranked[attempted : attempted + max(0, more)]
        exact.extend(self.exact_steps(exact, ranked, task, steps))
        if any(f.status == STATUS_OVER_BUDGET for f in exact):
            self.note_budget("during the exact refits; a refit kept the parameters it reached")
        usable = sorted(
            (f for f in exact if f.criterion is not None),
            key=lambda f: (f.status != STATUS_OK, self._ranking_criterion(f)),
        )
        chosen = self._first_usable(usable, exact=True)
        if chosen is not None:
            self._note_drift_margin(chosen[0].spec, usable)
        if chosen is None:
            self.notes.append("no exact refit was usable; the winner keeps its CSS estimates")
            chosen = self._first_usable(ranked, exact=False)
        return chosen

    def _both_constants(self, ranked: list[_Fit]) -> tuple[list[_Fit], int, int]:
        """With a drift margin: the refits are the best ``N_EXACT_REFITS - 1`` CSS candidates
        plus, when those all make the same constant choice (and a constant is allowed), the
        best-ranked candidate making the other one, so that the exact criterion, not the CSS
        ranking, decides between drift (or mean) and none. Returns the reordered ranking,
        how many refits to make usable and how many to attempt: one usable refit fewer than
        without the margin when no candidate is added (the same cost as without it), as many
        attempts (refits rejected by the root check are replaced as often as without it)."""
        n_refits = N_EXACT_REFITS - 1
        max_attempts = MAX_EXACT_ATTEMPTS
        top = ranked[:n_refits]
        if not top or self.bounds is None or not self.bounds.allow_constant:
            return ranked, n_refits, max_attempts
        if len({f.spec.constant for f in top}) > 1:
            return ranked, n_refits, max_attempts
        constant = top[0].spec.constant
        other = next((f for f in ranked[n_refits:] if f.spec.constant != constant), None)
        if other is None:
            return ranked, n_refits, max_attempts
        rest = [f for f in ranked[n_refits:] if f is not other]
        return [*top, other, *rest], n_refits + 1, max_attempts + 1

    def _ranking_criterion(self, fit: _Fit) -> float:
        """The exact AICc the refits are ranked by: a drift model's (``d + D = 1`` with a
        constant) lowered by the drift margin (0 unless ``search_order(drift_margin=...)``)."""
        crit = fit.criterion if fit.criterion is not None else math.inf
        if self.drift_margin > 0 and fit.spec.drift:
            return crit - self.drift_margin
        return crit

    def _note_drift_margin(self, chosen: _Spec, usable: list[_Fit]) -> None:
        """Say so when the margin chose a drift model over a lower exact AICc: the chosen
        model is the margin's first in ``usable`` (not a later one ``_first_usable`` fell
        back to) and trails the lowest exact AICc by no more than the margin."""
        best = _best(usable)
        if self.drift_margin <= 0 or best is None or not usable or not chosen.drift:
            return
        first = usable[0]
        if first.spec != chosen or best.spec == chosen:
            return
        if best.criterion is None or first.criterion is None:
            return
        gap = first.criterion - best.criterion
        if 0 < gap <= self.drift_margin:
            self.notes.append(
                f"{chosen.label()} chosen over {best.spec.label()}: its AICc is "
                f"{gap:.2f} higher, within the drift margin of {self.drift_margin:g}"
            )

    def exact_steps(
        self,
        exact: list[_Fit],
        ranked: list[_Fit],
        task: Callable[[_Fit], tuple[Any, ...]],
        steps: int = EXACT_STEPS,
    ) -> list[_Fit]:
        """Stepwise moves by exact AICc from the best exact refit (at most ``steps`` rounds).

        AutoARIMA compares candidates by exact-likelihood AICc along its whole path; ours
        follows CSS-AICc, so its path can stop where the exact winner has neighbours the CSS
        search never scored (it moved elsewhere, or their CSS fit failed). Those neighbours
        of the best usable refit (the CSS search's moves; the usable CSS-scored ones are
        left to the ranking, which already passed them over) are fitted by exact ML from
        statsmodels' start values, and the best moves while the exact AICc improves.
        ``task(fit)`` is the refit's task for a fit. Needs the bounds of :meth:`stepwise`
        (nothing is done without them). The new fits join the refits; the caller picks the
        lowest exact AICc among all.

        Chosen on the tuning set (issue 11, session 5; docs/benchmarks.md): one round, only
        the unscored neighbours (every neighbour cost 2.5x the search's time for less).
        """
        if steps <= 0 or self.bounds is None:
            return []
        css = {f.spec: f for f in ranked}
        seen = {f.spec for f in exact}
        added: list[_Fit] = []
        best = _best(exact)
        for _ in range(steps):
            if best is None:
                break
            batch = [
                s for s in _neighbours(best.spec, self.bounds) if s not in seen and s not in css
            ]
            if not batch:
                break
            if self.over_budget():
                self.note_budget("during the exact stepwise moves; the best so far is used")
                self.skip(batch, "ml")
                break
            seen.update(batch)
            # No CSS estimates to start from: statsmodels' own start values.
            tasks = [task(_Fit(s, STATUS_OK, None, "", 0.0, "css")) for s in batch]
            for f in self.runner.map(_fit_exact, tasks, best.seconds):
                added.append(f)
                self.record(f)
            new_best = _best([best, *added])
            if new_best is None or new_best.spec == best.spec:
                break
            best = new_best
        return added

    def _first_usable(self, fits: list[_Fit], *, exact: bool) -> tuple[_Fit, Any] | None:
        for f in fits:
            try:
                results = _results_for(self.prepared.endog, f.spec, self.unscale(f.spec, f.params))
            except Exception as exc:
                self.notes.append(f"{f.spec.label()}: could not build results ({exc})")
                continue
            if not _forecast_is_finite(results, max(2, f.spec.m)):
                self.notes.append(f"{f.spec.label()}: rejected, its forecast is not finite")
                continue
            # The exact AICc of the returned object, on the series in its own units.
            crit = _aicc(-2.0 * float(results.llf), f.spec.n_coef + 1, _nobs_eff(results))
            message = f.message if exact else "CSS estimates"
            f = _Fit(f.spec, f.status, crit, message, f.seconds, f.method, f.params)
            return f, results
        return None

    def fallback(self, d: int, sd: int, m: int) -> tuple[_Fit, Any]:
        """Random walk with the chosen differencing, then ARIMA(0,1,0), then the mean model."""
        specs: list[_Spec] = []
        if d + sd > 0:
            specs.append(_Spec(0, d, 0, 0, sd, 0, m, d + sd <= 1))
        if (d, sd) != (1, 0):
            specs.append(_Spec(0, 1, 0, 0, 0, 0, 1, False))
        for spec in specs:
            fit = _fit_exact(
                self.prepared.scaled_endog,
                spec,
                (),
                EXACT_MAXITER,
                math.inf,
                self.log_scale,
                self.exact_ftol,
            )
            fit = _Fit(
                spec, fit.status, fit.criterion, fit.message, fit.seconds, "fallback", fit.params
            )
            self.record(fit)
            if fit.status in (STATUS_OK, STATUS_NOT_CONVERGED):
                chosen = self._first_usable([fit], exact=True)
                if chosen is not None:
                    return chosen
        return self.deterministic(_Spec(0, 0, 0, 0, 0, 0, 1, True), self.prepared.filled)

    def deterministic(self, spec: _Spec, w: np.ndarray) -> tuple[_Fit, Any]:
        """The model at fixed parameters: mean (or drift) of ``w`` and its variance.

        A zero variance (constant series, or constant after differencing) is replaced by a
        nominal ``(1e-6 * level)^2`` so that the likelihood and intervals stay finite.
        """
        start = time.perf_counter()
        level = max(1.0, float(np.max(np.abs(self.prepared.filled))))
        mean = float(np.mean(w)) if spec.constant else 0.0
        var = float(np.var(w)) if w.size > 1 else 0.0
        message = "mean and variance of the (differenced) series, not estimated"
        if var <= (1e-9 * level) ** 2:
            var = (1e-6 * level) ** 2
            message = "no variation: fixed mean/drift with a nominal variance (1e-6 * level)^2"
        results = _nominal_model(self.prepared.endog, spec, mean, var)
        crit = _aicc(-2.0 * float(results.llf), spec.n_coef + 1, _nobs_eff(results))
        fit = _Fit(spec, STATUS_OK, crit, message, _since(start), "fallback", (mean, var))
        self.record(fit)
        return fit, results


def search_order(
    y: Any,
    *,
    season_length: int,
    time_budget_s: float = 60.0,
    n_jobs: int | None = None,
    progress: Callable[[str], None] | None = None,
    executor: str = "process",
    transform: str = "none",
    exact_steps: int = EXACT_STEPS,
    exact_ftol: float = EXACT_FTOL,
    drift_margin: float = 0.0,
    d: int | None = None,
) -> SearchResult:
    """Choose and fit an ARIMA/SARIMAX model for ``y`` by a stepwise AICc search.

    Args:
        y: 1-D array-like or pandas Series. A DatetimeIndex (or PeriodIndex) is kept so that
            forecasts carry dates. NaN gaps inside the series are allowed; leading and trailing
            NaN are dropped.
        season_length: seasonal period ``m`` (12 for monthly data with a yearly cycle);
            1 for a non-seasonal search.
        time_budget_s: wall-clock budget. When it is spent the search stops, the best model so
            far is used, candidates not fitted are recorded as ``over_budget`` and a note says
            so. The start models are always fitted, however small the budget.
        n_jobs: processes fitting candidates in parallel (default: the usable cores; 1 = serial).
        progress: receives one human-readable line per candidate tried.
        executor: ``"process"`` (default; measured fastest here), ``"thread"`` or ``"serial"``.
        transform: ``"none"`` (default) or ``"auto"``: search and fit on a Box-Cox transform
            of ``y`` when the rule of :mod:`order_search.transform` picks one (then
            ``SearchResult.transform`` is set, ``results`` models the transformed series and
            :meth:`SearchResult.forecast` forecasts in the series' units).
        exact_steps: rounds of the stepwise search by exact AICc after the refits
            (``EXACT_STEPS``; 0 skips them: about a quarter less search time).
        exact_ftol: where each exact ML fit stops: the relative reduction of the mean
            negative log-likelihood per L-BFGS iteration below which it has converged
            (``EXACT_FTOL``: scipy's default, 2.2e-9). A looser value (the family fit step
            uses 2e-5) costs fewer likelihood evaluations and moves the log-likelihood by
            far less than the criterion differences the search decides on.
        drift_margin: AICc units by which a drift model (``d + D = 1`` with a constant) may
            trail the best exact refit and still be chosen (0, the default: the lowest AICc
            wins). With a margin the exact refits are one fewer and try to include a model
            of the other constant choice (drift or mean against none; see
            ``_Search._both_constants``), so searches with ``d + D = 0`` or ``2`` can end
            differently too. AICc judges one-step fit; a drift the short sample cannot
            prove still matters over a multi-step horizon. The family fit step uses 2 for
            season lengths 2 to 4 (``family_fit.drift_margin``), with ``exact_steps=0``; with
            ``exact_steps`` > 0 the exact round starts from the lowest exact AICc, not from
            the margin's choice. The returned ``criterion`` is the chosen model's true AICc.
        d: the number of ordinary differences to search with (0 to ``MAX_D``) instead of
            the KPSS tests' choice (None, the default). The tests still run: their
            statistics stay in ``diagnostics["kpss_statistics"]`` and a note says what they
            chose. The family fit step uses it for its second search of a yearly series
            (``family_fit.D_COMBINATION_MIN_KPSS``).

    Returns:
        A :class:`SearchResult`; ``results`` is a plain statsmodels ``SARIMAXResults`` for the
        series in levels (picklable, with ``forecast`` and ``get_forecast``).

    Raises:
        SeriesTooShortError: fewer than ``MIN_OBSERVATIONS`` observed values.
        ValueError: ``y`` is not one-dimensional, ``season_length`` is not a positive
            integer or ``transform`` is not one of ``TRANSFORMS``.
    """
    if isinstance(season_length, bool) or int(season_length) != season_length or season_length < 1:
        raise ValueError(f"season_length must be a positive integer; got {season_length!r}")
    if transform not in TRANSFORMS:
        raise ValueError(f"transform must be one of {', '.join(TRANSFORMS)}; got {transform!r}")
    if not (0.0 < exact_ftol < 1.0):
        raise ValueError(f"exact_ftol must be in (0, 1); got {exact_ftol!r}")
    if not (math.isfinite(drift_margin) and drift_margin >= 0):
        raise ValueError(f"drift_margin must be a finite number >= 0; got {drift_margin!r}")
    if d is not None and (isinstance(d, bool) or d not in range(MAX_D + 1)):
        raise ValueError(f"d must be None or an integer from 0 to {MAX_D}; got {d!r}")
    prepared = _prepare(y)
    chosen: BoxCox | None = None
    if transform == "auto":
        chosen, why = choose_transform(prepared.filled, int(season_length))
        if chosen is not None:
            prepared = _transformed(prepared, chosen)
        prepared.notes.append(why)
    jobs = _default_jobs() if n_jobs is None else max(1, int(n_jobs))
    runner = _Runner(jobs, executor)
    try:
        search = _Search(
            prepared,
            int(season_length),
            float(time_budget_s),
            runner,
            progress,
            float(exact_ftol),
            float(drift_margin),
            d,
        )
        search.diagnostics["transform"] = None if chosen is None else chosen.to_record()
        result = _run(search, max(0, int(exact_steps)))
        result.transform = chosen
        result.diagnostics["parallel_batches"] = runner.parallel_batches
        return result
    finally:
        runner.close()


def _run(search: _Search, exact_steps: int = EXACT_STEPS) -> SearchResult:
    x = search.prepared.filled
    if _is_constant(x):
        fit, results = search.deterministic(_Spec(0, 0, 0, 0, 0, 0, 1, True), x)
        return _result(search, fit, results, f"series is constant ({x[0]:g}): mean model")

    d, sd, m = search.differencing()
    w = _difference(x, d, sd, m)
    w_scaled = w / search.prepared.scale
    if w.size >= 2 and _is_constant(w):
        spec = _Spec(0, d, 0, 0, sd, 0, m, bool(abs(float(np.mean(w))) > 0))
        fit, results = search.deterministic(spec, w)
        why = f"series is deterministic: constant after differencing (d={d}, D={sd})"
        return _result(search, fit, results, why)

    reason: str | None = None
    chosen: tuple[_Fit, Any] | None = None
    if w.size < 4:
        reason = f"only {w.size} values after differencing (d={d}, D={sd}): too few for ARMA terms"
    else:
        ranked = search.stepwise(w_scaled, d, sd, m, _bounds(d, sd, m, x.size))
        if not ranked:
            reason = "no candidate could be fitted"
        else:
            chosen = search.refit(ranked, steps=exact_steps)
            if chosen is None:
                reason = "no fitted candidate gave a usable model"
    if chosen is None:
        chosen = search.fallback(d, sd, m)
    return _result(search, chosen[0], chosen[1], reason)


def _result(search: _Search, fit: _Fit, results: Any, fallback_reason: str | None) -> SearchResult:
    if fallback_reason:
        search.notes.append(f"fallback: {fallback_reason}")
    seconds = search.elapsed()
    crit = fit.criterion if fit.criterion is not None else math.nan
    logger.info(
        "chose %s (%s=%.3f) after %d candidates in %.2fs",
        fit.spec.label(),
        CRITERION_NAME,
        crit,
        len(search.tried),
        seconds,
    )
    search.diagnostics["estimation"] = fit.method if fit.message != "CSS estimates" else "css"
    return SearchResult(
        results=results,
        order=fit.spec.order,
        seasonal_order=fit.spec.seasonal_order,
        trend=fit.spec.trend,
        criterion_name=CRITERION_NAME,
        criterion=float(crit),
        tried=search.tried,
        fallback_reason=fallback_reason,
        notes=search.notes,
        seconds=seconds,
        n_obs=search.prepared.n_obs,
        diagnostics=search.diagnostics,
    )
