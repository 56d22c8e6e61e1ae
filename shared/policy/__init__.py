"""The trigger policy: pure, validated, per-model configuration and decisions.

- ``config``: ``TriggerPolicy`` (validated at construction, ``describe()`` in words);
- ``engine``: the per-model state machine ``step(state, signal, now, policy)`` returning a
  decision value (Retrain, Coalesced, Queued, Held, Skip, Suppressed);
- ``resolve``: what a Retrain comes to once the snapshot is known (run key, attempts,
  failed runs, force).

docs/policy.md explains every setting with an example per trigger source.
"""

from shared.policy.config import TriggerPolicy, parse_duration
from shared.policy.engine import (
    Arrival,
    Coalesced,
    Decision,
    DriftSignal,
    Due,
    Held,
    Manual,
    ModelState,
    Pause,
    Queued,
    Request,
    Resolution,
    Resume,
    Retrain,
    RunEnded,
    Signal,
    Skip,
    Suppressed,
    Tick,
    classify_failure,
    launched,
    not_launched,
    step,
)
from shared.policy.resolve import STUCK_SUBMITTING, attempt_key, resolve

__all__ = [
    "STUCK_SUBMITTING",
    "Arrival",
    "Coalesced",
    "Decision",
    "DriftSignal",
    "Due",
    "Held",
    "Manual",
    "ModelState",
    "Pause",
    "Queued",
    "Request",
    "Resolution",
    "Resume",
    "Retrain",
    "RunEnded",
    "Signal",
    "Skip",
    "Suppressed",
    "Tick",
    "TriggerPolicy",
    "attempt_key",
    "classify_failure",
    "launched",
    "not_launched",
    "parse_duration",
    "resolve",
    "step",
]
