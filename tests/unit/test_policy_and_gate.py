import math

import pytest

from shared.errors import ConfigurationError
from shared.gate import GatePolicy, judge
from shared.ports import DataFile
from shared.snapshot import Snapshot, run_key
from tests.fakes import metrics_v2

SNAPSHOT = Snapshot(
    "co2", "co2/", (DataFile("co2/a.csv", '"1"', 10), DataFile("co2/b.csv", '"2"', 9))
)


def test_run_key_depends_on_names_and_etags_only():
    same = Snapshot("co2", "co2/", tuple(reversed(SNAPSHOT.files)))
    changed = Snapshot("co2", "co2/", (SNAPSHOT.files[0], DataFile("co2/b.csv", '"3"', 9)))
    assert run_key(same) == run_key(SNAPSHOT)
    assert run_key(changed) != run_key(SNAPSHOT)
    assert run_key(SNAPSHOT).startswith("co2-") and len(run_key(SNAPSHOT)) == 20


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
