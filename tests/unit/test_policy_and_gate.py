import math
from datetime import UTC, datetime

import pytest

from shared.errors import ConfigurationError
from shared.gate import GatePolicy, judge
from shared.messages import DriftAlerted, NewDataArrived, RetrainRequested, ScheduleTicked
from shared.policy import Retrain, Skip, decide
from shared.ports import DataFile
from shared.snapshot import Snapshot, run_key
from tests.fakes import metrics_v2

SNAPSHOT = Snapshot(
    "co2", "co2/", (DataFile("co2/a.csv", '"1"', 10), DataFile("co2/b.csv", '"2"', 9))
)
EMPTY = Snapshot("co2", "co2/", ())


def new_data(api: str = "PutBlob") -> NewDataArrived:
    return NewDataArrived("co2", "co2/b.csv", '"2"', 9, api, "u", "evt-1", None)


def test_run_key_depends_on_names_and_etags_only():
    same = Snapshot("co2", "co2/", tuple(reversed(SNAPSHOT.files)))
    changed = Snapshot("co2", "co2/", (SNAPSHOT.files[0], DataFile("co2/b.csv", '"3"', 9)))
    assert run_key(same) == run_key(SNAPSHOT)
    assert run_key(changed) != run_key(SNAPSHOT)
    assert run_key(SNAPSHOT).startswith("co2-") and len(run_key(SNAPSHOT)) == 20


def test_new_data_on_a_fresh_snapshot_retrains():
    decision = decide(new_data(), snapshot=SNAPSHOT, event_seen=False, existing_run=None)
    assert isinstance(decision, Retrain)
    assert decision.run_key == run_key(SNAPSHOT)
    assert "co2/b.csv" in decision.reason


@pytest.mark.parametrize(
    ("message", "kwargs", "reason"),
    [
        (new_data("CreateFile"), {}, "does not commit data"),
        (new_data(), {"event_seen": True}, "duplicate delivery of event evt-1"),
        (
            DriftAlerted("co2", "generic", "a1", "x", None, resolved=True),
            {},
            "was resolved",
        ),
        (RetrainRequested("co2", "me", "why"), {"snapshot": EMPTY}, "no data files"),
        (
            ScheduleTicked(datetime(2026, 1, 1, tzinfo=UTC)),
            {"existing_run": {"status": "Completed"}},
            "nothing new since run",
        ),
        (
            DriftAlerted("co2", "generic", "a1", "x", None),
            {"existing_run": {"status": "Running"}},
            "(Running) already covers this data snapshot",
        ),
    ],
)
def test_skips_say_why(message, kwargs, reason):
    arguments = {"snapshot": SNAPSHOT, "event_seen": False, "existing_run": None} | kwargs
    decision = decide(message, **arguments)
    assert isinstance(decision, Skip)
    assert reason in decision.reason


def test_gate_passes_a_first_model_better_than_naive():
    verdict = judge(metrics_v2(candidate=0.4, baseline=1.2), GatePolicy(), champion_present=False)
    assert verdict.passed
    assert verdict.reason.startswith("passed: backtest MASE 0.400 beats seasonal naive 1.200")


def test_gate_rejects_above_a_configured_ceiling_and_names_the_figures():
    metrics = metrics_v2(candidate=1.3, baseline=1.2)
    verdict = judge(metrics, GatePolicy(max_mase=1.0), champion_present=False)
    assert not verdict.passed
    assert "backtest MASE 1.300 >= ceiling 1" in verdict.reason
    assert "is worse than seasonal naive 1.200" in verdict.reason


def test_gate_margin_over_baseline():
    policy = GatePolicy(first_model_min_improvement=0.5)
    assert not judge(metrics_v2(candidate=0.4, baseline=0.7), policy, champion_present=False).passed
    assert judge(metrics_v2(candidate=0.4, baseline=0.9), policy, champion_present=False).passed


@pytest.mark.parametrize("bad", [math.nan, math.inf, None, "0.3", True])
def test_gate_rejects_missing_or_non_finite_metrics(bad):
    metrics = metrics_v2(candidate=0.4)
    metrics["candidate"]["backtest"]["rmse"] = bad
    verdict = judge(metrics, GatePolicy(), champion_present=False)
    assert not verdict.passed
    assert "rmse" in verdict.reason


def test_gate_policy_validates_itself():
    with pytest.raises(ConfigurationError, match="max_mase"):
        GatePolicy(max_mase=0)
    with pytest.raises(ConfigurationError, match="min_improvement"):
        GatePolicy(min_improvement=1.5)
    assert "no absolute MASE ceiling" in GatePolicy().describe()
