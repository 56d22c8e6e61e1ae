"""The promotion gate: one pure function, called in one place (the service).

A candidate passes only when its holdout metrics are all present and finite, its MASE is
below the configured ceiling, and it beats the seasonal-naive baseline on the same
holdout by the configured margin. Comparing against the current champion re-scored on
the same holdout is later work (docs/architecture.md); until then the champion is not
consulted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.settings import GatePolicy

REQUIRED_METRICS = ("mase", "smape", "rmse", "mae")


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class Verdict:
    passed: bool
    checks: tuple[Check, ...]

    @property
    def reason(self) -> str:
        failed = [c.detail for c in self.checks if not c.passed]
        if failed:
            return "rejected: " + "; ".join(failed)
        return "passed: " + "; ".join(c.detail for c in self.checks)

    def as_record(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "reason": self.reason,
            "checks": [c.__dict__ for c in self.checks],
        }


def _number(section: Any, key: str) -> float | None:
    if not isinstance(section, Mapping):
        return None
    value = section.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def judge(metrics: Mapping[str, Any], policy: GatePolicy) -> Verdict:
    """Decide whether the candidate described by ``metrics`` (the evaluate step's
    metrics.json) may be promoted."""
    candidate, baseline = metrics.get("candidate"), metrics.get("baseline")
    missing = [k for k in REQUIRED_METRICS if _number(candidate, k) is None]
    missing += [f"baseline {k}" for k in ("mase",) if _number(baseline, k) is None]
    if missing:
        return Verdict(
            False,
            (Check("metrics", False, f"metrics missing or not finite: {', '.join(missing)}"),),
        )
    mase = _number(candidate, "mase")
    base = _number(baseline, "mase")
    assert mase is not None and base is not None
    limit = base * (1 - policy.min_improvement)
    checks = (
        Check(
            "max_mase",
            mase < policy.max_mase,
            f"MASE {mase:.3f} {'<' if mase < policy.max_mase else '>='} {policy.max_mase:g}",
        ),
        Check(
            "beats_baseline",
            mase <= limit,
            f"MASE {mase:.3f} vs seasonal naive {base:.3f}"
            + (f" (needs <= {limit:.3f})" if policy.min_improvement else ""),
        ),
    )
    return Verdict(all(c.passed for c in checks), checks)
