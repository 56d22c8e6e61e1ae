"""The promotion gate: one pure function, ``judge``, called in one place
(``shared.service.promotion``). Nothing else decides whether a candidate may replace the
production model.

It reads the evaluate step's metrics.json (schema 2, see docs/architecture.md) and compares
only on data that neither model's parameters were estimated on (:func:`comparison`): the
rolling-origin backtest folds marked ``out_of_sample`` for both (their MASE averaged), or,
when none is (the default backtest: its folds end at the last observation, so all but the
last lie inside the candidate's training split, and the last is the holdout), the holdout.
"Backtest MASE" in the verdicts is the MASE on that window; the sentences say which.

- **First model** (the run had no champion): the candidate's backtest MASE, pooled over
  all folds, must be below the seasonal-naive baseline's by
  ``first_model_min_improvement`` (see :func:`_all_folds` for why all folds).
- **With a champion** (the production model when the run started, re-scored by the
  evaluate step on the same data with its stored parameters): the candidate's MASE must be
  below the champion's by ``min_improvement``, AND a one-sided paired test on the same
  window must not say the candidate is worse at level ``significance``. The test needs at
  least two forecast origins: on a single one (the holdout) it is not applicable and says
  so (result "skip"); with two or more it fails closed when it cannot be computed. If the
  champion could not be re-scored, the gate fails closed.
- **Optional ceiling**: ``max_mase`` (None by default). MASE is scaled by the in-sample
  naive error, so in a hard year a good model scores above 1: a fixed ceiling is only
  applied when a model's settings ask for one.

Ties, missing or non-finite metrics and metrics of an older schema fail closed: the
verdict says which check failed and why. Every check carries its value, threshold, result
and a sentence; ``GatePolicy.describe()`` says the policy in words. Both go in the run
record, the ledger and the registered version's lineage.

The significance tests need the Student-t distribution; it is computed here in pure
Python (regularised incomplete beta by continued fraction) so the Function App does not
need scipy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

from shared.errors import ConfigurationError

METRICS_SCHEMA = 2
REQUIRED_METRICS = ("mase", "smape", "rmse", "mae")
TESTS = ("dm", "paired")
LOSSES = ("squared", "absolute")

Result = Literal["pass", "fail", "skip"]


# --------------------------------------------------------------------------- policy


@dataclass(frozen=True)
class GatePolicy:
    """When a candidate may replace the production model (defaults: app settings
    ``RETRAIN_GATE_*``; a model's ``gate`` object in ``RETRAIN_MODELS`` overrides them).

    ``min_improvement`` (default 0.0): with a champion, the candidate's backtest MASE must
    be below ``champion MASE * (1 - min_improvement)``. 0.0 means strictly better: the
    champion is re-scored on the same folds with the same information, so any real
    improvement is worth taking, and a margin would keep stale models longer (the
    production model is refit on all data at each promotion, so it also stays current).
    Raise it (e.g. 0.02) to damp churn between near-equal models.

    ``first_model_min_improvement`` (default 0.0): the first model's backtest MASE must be
    below ``seasonal naive MASE * (1 - first_model_min_improvement)``: strictly better
    than the baseline any team would use without a model.

    ``significance`` (default 0.05; None or 0 disables): the level of the one-sided paired
    test "the candidate is worse than the champion". 5 % is the conventional level; it
    only refuses a candidate whose loss is larger with evidence, so it rarely blocks a
    real improvement. It needs two or more out-of-sample forecast origins (a backtest
    horizon shorter than the model horizon); on the holdout alone it is not applicable.

    ``test`` (default "dm"): "dm" is Diebold-Mariano on the per-point loss differentials
    pooled over the compared backtest folds, with the Harvey-Leybourne-Newbold small-sample
    correction and Student-t reference (it uses every point, so it has power with few
    folds); "paired" is a paired t-test over the per-fold MASE values (needs >= 2 folds).

    ``loss`` (default "squared"): the per-point loss of the "dm" test. The MASE check
    already compares absolute errors; squared loss makes the test a second opinion that
    refuses a candidate that wins on average but misses badly more often.

    ``max_mase`` (default None): an absolute ceiling on the candidate's backtest MASE,
    only when a model's settings ask for one.
    """

    min_improvement: float = 0.0
    first_model_min_improvement: float = 0.0
    significance: float | None = 0.05
    test: str = "dm"
    loss: str = "squared"
    max_mase: float | None = None

    def __post_init__(self) -> None:
        problems = policy_problems({f.name: getattr(self, f.name) for f in fields(self)})
        if problems:
            raise ConfigurationError("invalid gate policy: " + "; ".join(problems))

    @property
    def tests_significance(self) -> bool:
        return bool(self.significance)

    def with_overrides(self, overrides: Mapping[str, Any]) -> GatePolicy:
        """This policy with a model's own settings (a validated ``gate`` object)."""
        return replace(self, **dict(overrides)) if overrides else self

    def describe(self) -> str:
        """The policy in words, for logs, verdicts and audit reports."""
        first = _margin_words(self.first_model_min_improvement)
        champion = _margin_words(self.min_improvement)
        if self.tests_significance:
            test = (
                f"and a one-sided {_TEST_WORDS[self.test].format(loss=self.loss)} "
                f"must not find the candidate worse at the {self.significance:g} level"
            )
        else:
            test = "(no significance test)"
        ceiling = (
            f"; in every case backtest MASE must be below {self.max_mase:g}"
            if self.max_mase is not None
            else "; no absolute MASE ceiling"
        )
        return (
            f"first model: backtest MASE {first} than seasonal naive's; with a champion: "
            f"backtest MASE {champion} than the champion's re-scored on the same data, "
            f"{test}{ceiling}; candidate and champion compared only where neither model's "
            "parameters saw the data (the backtest folds out-of-sample for both, else the "
            "holdout), a first model on all folds; ties, missing metrics and an unscored "
            "champion fail closed"
        )


_TEST_WORDS = {
    "dm": "Diebold-Mariano test ({loss} loss, HLN small-sample correction)",
    "paired": "paired t-test over per-fold MASE",
}


def _margin_words(margin: float) -> str:
    return "strictly lower" if margin == 0 else f"at least {margin:.1%} lower"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def policy_problems(
    values: Mapping[str, Any], name: Callable[[str], str] = lambda field: field
) -> list[str]:
    """What is wrong with these gate settings (already typed), each naming the setting
    as ``name(field)`` does (e.g. ``RETRAIN_GATE_SIGNIFICANCE`` or
    ``RETRAIN_MODELS[0].gate.significance``). Unknown fields are problems too."""
    problems: list[str] = []
    known = {f.name for f in fields(GatePolicy)}
    for key in sorted(set(values) - known):
        problems.append(f"{name(key)} is not a gate setting; known: {', '.join(sorted(known))}")
    for key in ("min_improvement", "first_model_min_improvement"):
        if key in values:
            value = values[key]
            if not _is_number(value) or not 0 <= value < 1:
                problems.append(f"{name(key)} must be a fraction in [0, 1), got {value!r}")
    if "significance" in values:
        value = values["significance"]
        if value is not None and (not _is_number(value) or not 0 <= value < 0.5):
            problems.append(
                f"{name('significance')} must be a level in (0, 0.5), or 0/empty to disable "
                f"the test, got {value!r}"
            )
    if "test" in values and values["test"] not in TESTS:
        problems.append(f"{name('test')} must be one of {', '.join(TESTS)}, got {values['test']!r}")
    if "loss" in values and values["loss"] not in LOSSES:
        problems.append(
            f"{name('loss')} must be one of {', '.join(LOSSES)}, got {values['loss']!r}"
        )
    if "max_mase" in values:
        value = values["max_mase"]
        if value is not None and (not _is_number(value) or not value > 0):
            problems.append(
                f"{name('max_mase')} must be a positive number, or empty/null for no "
                f"ceiling, got {value!r}"
            )
    return problems


# --------------------------------------------------------------------------- verdict


@dataclass(frozen=True)
class Check:
    """One gate check: what was measured, against what, and the outcome in a sentence."""

    name: str
    value: float | None
    threshold: float | None
    result: Result
    sentence: str

    @property
    def passed(self) -> bool:
        return self.result != "fail"

    def as_record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "threshold": self.threshold,
            "result": self.result,
            "sentence": self.sentence,
        }


@dataclass(frozen=True)
class Verdict:
    """The gate's decision: passed only if no check failed (and there is at least one)."""

    checks: tuple[Check, ...]
    policy: str
    window: str | None = None  # where candidate and rival were compared (None: not reached)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def reason(self) -> str:
        failed = [c.sentence for c in self.checks if not c.passed]
        if failed:
            return "rejected: " + "; ".join(failed)
        return "passed: " + "; ".join(c.sentence for c in self.checks if c.result == "pass")

    def as_record(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "reason": self.reason,
            "policy": self.policy,
            "window": self.window,
            "checks": [c.as_record() for c in self.checks],
        }


def _number(section: Any, *path: str) -> float | None:
    value = section
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    if not _is_number(value):
        return None
    return float(value) if math.isfinite(value) else None


def _fail(name: str, sentence: str, policy: GatePolicy) -> Verdict:
    return Verdict((Check(name, None, None, "fail", sentence),), policy.describe())


@dataclass(frozen=True)
class Comparison:
    """The window the gate compares on: the backtest folds out-of-sample for both models
    (matched by origin), or the holdout when no fold is."""

    words: str  # e.g. "on the holdout" / "on 2 backtest folds out-of-sample for both"
    mase: float
    rival_mase: float
    pairs: tuple[tuple[Mapping[str, Any], Mapping[str, Any]], ...]  # (candidate, rival) folds

    @property
    def origins(self) -> int:
        """Forecast origins in the window (the holdout is one)."""
        return len(self.pairs) or 1


def comparison(candidate: Any, rival: Any, rival_name: str) -> Comparison | str:
    """Where candidate and ``rival`` are compared, or why they cannot be (a sentence).

    A fold counts when it is marked ``out_of_sample`` in both sections: its targets come
    after the data each model's parameters were estimated on. The MASE of the window is the
    mean of those folds' MASEs. When no fold counts (the default backtest: every fold but
    the last lies inside the candidate's training split, and the last one is the holdout,
    which the champion's parameters may partly have seen), the window is the holdout: never
    seen by the candidate's evaluation fit; if the champion's parameters saw part of it,
    that only favours the champion, so a candidate that wins there has earned it."""
    pairs = _fair_pairs(candidate, rival)
    if pairs:
        mases = [(_number(a, "mase"), _number(b, "mase")) for a, b in pairs]
        bad = [str(a.get("origin")) for (a, _), m in zip(pairs, mases, strict=True) if None in m]
        if bad:
            return f"fold MASE missing or not finite at origin(s) {', '.join(bad)}"
        mine = [m for m, _ in mases if m is not None]
        theirs = [t for _, t in mases if t is not None]
        folds = f"{len(pairs)} backtest fold{'s' if len(pairs) > 1 else ''}"
        return Comparison(
            f"on {folds} out-of-sample for both",
            sum(mine) / len(mine),
            sum(theirs) / len(theirs),
            tuple(pairs),
        )
    mase, rival_mase = _number(candidate, "holdout", "mase"), _number(rival, "holdout", "mase")
    missing = [
        who for who, value in (("candidate", mase), (rival_name, rival_mase)) if value is None
    ]
    if missing or mase is None or rival_mase is None:
        return f"holdout mase missing or not finite for {' and '.join(missing)}"
    return Comparison("on the holdout", mase, rival_mase, ())


def _all_folds(metrics: Mapping[str, Any]) -> Comparison:
    """The first model's window: the whole backtest (pooled MASE over all folds).

    Unlike a comparison of two models, where the candidate's in-sample folds decide between
    near-equal forecasters, the question here is whether a model beats having none; the
    folds inside the training split flatter the candidate a little (its few parameters saw
    them, its forecasts are still several steps ahead), but six origins instead of one
    make the decision far less noisy, and refusing leaves no model at all."""
    backtest = metrics.get("backtest")
    folds = backtest.get("folds") if isinstance(backtest, Mapping) else None
    words = f"on all {folds} backtest folds" if isinstance(folds, int) else "on the backtest"
    mase = _number(metrics.get("candidate"), "backtest", "mase")
    naive = _number(metrics.get("baseline"), "backtest", "mase")
    assert mase is not None and naive is not None  # checked by judge
    return Comparison(words, mase, naive, ())


def _fair_pairs(candidate: Any, rival: Any) -> list[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    """(candidate fold, rival fold) for the origins marked out-of-sample in both."""

    def marked(section: Any) -> dict[str, Mapping[str, Any]]:
        folds = section.get("folds") if isinstance(section, Mapping) else None
        if not isinstance(folds, list):
            return {}
        return {
            str(f.get("origin")): f
            for f in folds
            if isinstance(f, Mapping) and f.get("out_of_sample") is True
        }

    mine, theirs = marked(candidate), marked(rival)
    return [(mine[o], theirs[o]) for o in sorted(set(mine) & set(theirs))]


def judge(
    metrics: Mapping[str, Any],
    policy: GatePolicy,
    *,
    champion_present: bool,
) -> Verdict:
    """Decide whether the candidate described by ``metrics`` (the evaluate step's
    metrics.json, schema 2) may be promoted.

    ``champion_present``: the run started with a production model to beat (the run
    record's ``champion``). Then metrics without a champion section fail closed.
    The comparison window is :func:`comparison`'s: only data neither model's parameters
    were estimated on.
    """
    schema = metrics.get("schema") if isinstance(metrics, Mapping) else None
    if schema != METRICS_SCHEMA:
        return _fail(
            "metrics_schema",
            f"metrics schema {schema!r} is not {METRICS_SCHEMA}: they were written by an older "
            "evaluate step without the backtest and the re-scored champion, so the gate "
            "cannot judge them (retrain with the current pipeline)",
            policy,
        )
    candidate = metrics.get("candidate")
    missing = [
        f"candidate {window} {k}"
        for window in ("backtest", "holdout")
        for k in REQUIRED_METRICS
        if _number(candidate, window, k) is None
    ]
    rival_name = "champion" if champion_present else "seasonal naive"
    rival = metrics.get("champion") if champion_present else metrics.get("baseline")
    if champion_present and rival is None:
        error = metrics.get("champion_error") or "the evaluate step gave no reason"
        return _fail("champion_scored", f"champion could not be re-scored: {error}", policy)
    if _number(rival, "backtest", "mase") is None:
        missing.append(f"{rival_name} backtest mase")
    if missing:
        return _fail(
            "metrics_present", f"metrics missing or not finite: {', '.join(missing)}", policy
        )
    window = comparison(candidate, rival, rival_name) if champion_present else _all_folds(metrics)
    if isinstance(window, str):
        return _fail("metrics_present", f"metrics missing or not finite: {window}", policy)
    checks: list[Check] = []
    if champion_present:
        margin = policy.min_improvement
        checks.append(_beats("beats_champion", window, margin, "champion"))
        checks.append(_significance(window, policy))
    else:
        checks.append(
            _beats(
                "beats_seasonal_naive",
                window,
                policy.first_model_min_improvement,
                "seasonal naive",
            )
        )
    if policy.max_mase is not None:
        mase = window.mase
        below = mase < policy.max_mase
        checks.append(
            Check(
                "max_mase",
                mase,
                policy.max_mase,
                "pass" if below else "fail",
                f"backtest MASE {mase:.3f} {'<' if below else '>='} ceiling "
                f"{policy.max_mase:g} {window.words}",
            )
        )
    return Verdict(tuple(checks), policy.describe(), window.words)


def _beats(name: str, window: Comparison, margin: float, rival_name: str) -> Check:
    mase, rival = window.mase, window.rival_mase
    limit = rival * (1 - margin)
    passed = mase < limit
    needs = f"needs < {limit:.3f}" if margin else "needs strictly lower"
    verb = "ties" if mase == rival else "beats" if mase < rival else "is worse than"
    return Check(
        name,
        mase,
        limit,
        "pass" if passed else "fail",
        f"backtest MASE {mase:.3f} {verb} {rival_name} {rival:.3f} ({needs}) {window.words}",
    )


def _significance(window: Comparison, policy: GatePolicy) -> Check:
    name = "not_worse_than_champion"
    if not policy.tests_significance:
        return Check(name, None, None, "skip", "paired test disabled by the gate settings")
    alpha = float(policy.significance or 0)
    if window.origins < 2:
        return Check(
            name,
            None,
            alpha,
            "skip",
            f"paired test not applicable {window.words}: one forecast origin (its errors are "
            "steps 1..h of one forecast, serially dependent, so no variance can be estimated); "
            "the MASE comparison decides (a backtest horizon shorter than the model horizon "
            "gives several out-of-sample folds)",
        )
    try:
        candidate = [a for a, _ in window.pairs]
        champion = [b for _, b in window.pairs]
        if policy.test == "dm":
            pairs = _paired_errors(candidate, champion)
            test = diebold_mariano(
                [a for a, _ in pairs],
                [b for _, b in pairs],
                horizon=max(len(_errors(f)) for f in candidate),
                loss=policy.loss,
            )
        else:
            test = paired_t(_fold_mases(candidate), _fold_mases(champion))
    except TestUnavailable as exc:
        return Check(name, None, alpha, "fail", f"paired test not possible: {exc}")
    worse = test.p_value < alpha
    return Check(
        name,
        test.p_value,
        alpha,
        "fail" if worse else "pass",
        f"{test.name} {window.words}: statistic {test.statistic:.3f}, one-sided p = "
        f"{test.p_value:.3f} that the candidate is worse {'<' if worse else '>='} {alpha:g}"
        + (" (candidate significantly worse)" if worse else ""),
    )


# --------------------------------------------------------------------------- tests


class TestUnavailable(ValueError):
    """The test cannot be computed from these errors (too few, missing, mismatched)."""

    __test__ = False  # not a pytest test class


@dataclass(frozen=True)
class TestResult:
    name: str
    statistic: float
    p_value: float  # one-sided: P(statistic this large | equal accuracy)

    __test__ = False


def _errors(fold: Mapping[str, Any]) -> list[float]:
    errors = fold.get("errors")
    if not isinstance(errors, list) or not errors:
        raise TestUnavailable(f"fold {fold.get('origin')!r} has no errors")
    values = [float(e) if _is_number(e) else math.nan for e in errors]
    if not all(math.isfinite(v) for v in values):
        raise TestUnavailable(f"fold {fold.get('origin')!r} has missing or non-finite errors")
    return values


def _paired_errors(
    candidate: Sequence[Mapping[str, Any]], champion: Sequence[Mapping[str, Any]]
) -> list[tuple[float, float]]:
    """(candidate error, champion error) per point, pooled over folds matched by origin."""
    mine = {str(f.get("origin")): _errors(f) for f in candidate}
    theirs = {str(f.get("origin")): _errors(f) for f in champion}
    if set(mine) != set(theirs):
        raise TestUnavailable("candidate and champion were backtested on different origins")
    pairs: list[tuple[float, float]] = []
    for origin in sorted(mine):
        if len(mine[origin]) != len(theirs[origin]):
            raise TestUnavailable(f"fold {origin} has different lengths for the two models")
        pairs.extend(zip(mine[origin], theirs[origin], strict=True))
    return pairs


def _fold_mases(folds: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    result = {}
    for fold in folds:
        value = _number(fold, "mase")
        if value is None:
            raise TestUnavailable(f"fold {fold.get('origin')!r} has no finite MASE")
        result[str(fold.get("origin"))] = value
    return result


def diebold_mariano(
    candidate_errors: Sequence[float],
    champion_errors: Sequence[float],
    *,
    horizon: int,
    loss: str = "squared",
) -> TestResult:
    """Diebold-Mariano with the Harvey-Leybourne-Newbold (1997) correction.

    d_t = L(candidate error) - L(champion error); positive means the candidate did worse.
    The long-run variance of d uses autocovariances up to lag ``horizon - 1`` (h-step
    forecasts are correlated up to that lag; the errors of one backtest fold are steps
    1..h from one origin), falling back to Bartlett weights if the rectangular sum is not
    positive. The statistic is scaled by sqrt((n + 1 - 2h + h(h-1)/n) / n) and compared
    with Student-t, n - 1 degrees of freedom. Returns the one-sided p-value of "the
    candidate is worse".
    """
    if len(candidate_errors) != len(champion_errors):
        raise TestUnavailable("the two error series differ in length")
    square = loss == "squared"
    d = [
        (a * a - b * b) if square else (abs(a) - abs(b))
        for a, b in zip(candidate_errors, champion_errors, strict=True)
    ]
    n, h = len(d), max(1, horizon)
    if n < 3:
        raise TestUnavailable(f"{n} paired errors; the test needs at least 3")
    correction = (n + 1 - 2 * h + h * (h - 1) / n) / n
    if correction <= 0:
        raise TestUnavailable(
            f"{n} paired errors at horizon {h} are too few for the small-sample correction "
            "(use at least 2 backtest folds)"
        )
    mean = sum(d) / n
    lags = min(h - 1, n - 1)
    gamma = [
        sum((d[t] - mean) * (d[t - k] - mean) for t in range(k, n)) / n for k in range(lags + 1)
    ]
    variance = gamma[0] + 2 * sum(gamma[1:])
    if variance <= 0:
        variance = gamma[0] + 2 * sum((1 - k / (lags + 1)) * gamma[k] for k in range(1, lags + 1))
    return _t_result("Diebold-Mariano (HLN)", mean, variance / n, n, math.sqrt(correction))


def paired_t(candidate: Mapping[str, float], champion: Mapping[str, float]) -> TestResult:
    """Paired t-test over per-fold MASE (matched by fold origin), one-sided p-value of
    "the candidate is worse", n - 1 degrees of freedom."""
    if set(candidate) != set(champion):
        raise TestUnavailable("candidate and champion were backtested on different origins")
    d = [candidate[k] - champion[k] for k in sorted(candidate)]
    n = len(d)
    if n < 2:
        raise TestUnavailable(f"{n} backtest fold(s); a paired t-test needs at least 2")
    mean = sum(d) / n
    variance = sum((x - mean) ** 2 for x in d) / (n - 1)
    return _t_result("paired t over folds", mean, variance / n, n, 1.0)


def _t_result(name: str, mean: float, variance_of_mean: float, n: int, scale: float) -> TestResult:
    if variance_of_mean <= 0:
        # Identical or constant differences: the sign decides with certainty.
        statistic = math.copysign(math.inf, mean) if mean else 0.0
        p_value = 0.0 if mean > 0 else 1.0 if mean < 0 else 0.5
        return TestResult(name, statistic, p_value)
    statistic = scale * mean / math.sqrt(variance_of_mean)
    return TestResult(name, statistic, 1.0 - student_t_cdf(statistic, n - 1))


# --------------------------------------------------------------------------- Student t


def student_t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom (pure Python)."""
    if df <= 0:
        raise ValueError("degrees of freedom must be positive")
    if math.isnan(t):
        return math.nan
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    tail = 0.5 * regularized_incomplete_beta(df / (df + t * t), df / 2, 0.5)
    return 1.0 - tail if t > 0 else tail


def regularized_incomplete_beta(x: float, a: float, b: float) -> float:
    """I_x(a, b) by the continued fraction (modified Lentz), using the symmetry
    I_x(a, b) = 1 - I_{1-x}(b, a) where it converges faster."""
    if not 0 <= x <= 1:
        raise ValueError("x must be in [0, 1]")
    if x in (0, 1):
        return float(x)
    front = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1) / (a + b + 2):
        return front * _beta_fraction(x, a, b) / a
    return 1.0 - front * _beta_fraction(1 - x, b, a) / b


def _beta_fraction(x: float, a: float, b: float) -> float:
    tiny, epsilon = 1e-300, 1e-15
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 500):
        m2 = 2 * m
        for numerator in (
            m * (b - m) * x / ((a + m2 - 1) * (a + m2)),
            -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= d * c
        if abs(d * c - 1.0) < epsilon:
            break
    return result
