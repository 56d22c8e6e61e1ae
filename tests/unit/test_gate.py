"""The promotion gate as a pure function of (metrics, policy, champion present)."""

import json
import math

import pytest
from scipy import stats

from shared.errors import ConfigurationError
from shared.gate import (
    GatePolicy,
    TestUnavailable,
    diebold_mariano,
    judge,
    paired_t,
    regularized_incomplete_beta,
    student_t_cdf,
)
from shared.settings import ModelConfig, Settings
from tests.fakes import metrics_v2

# Candidate errors with a lower mean absolute error than the champion's but much larger
# squared errors: it wins on MASE and loses the squared-loss Diebold-Mariano test.
SPIKY = [[0.0, 1.9] * 4 for _ in range(6)]
FLAT = [[1.0, -1.0] * 4 for _ in range(6)]


def checks(verdict):
    return {c.name: c for c in verdict.checks}


def out_of_sample(metrics, *, candidate=(), champion=(), baseline=None):
    """Mark folds (by index) out-of-sample in each section, as the evaluate step does;
    seasonal naive is out-of-sample everywhere unless told otherwise."""
    marks = {"candidate": set(candidate), "champion": set(champion), "baseline": baseline}
    for who, which in marks.items():
        section = metrics.get(who)
        if section is None:
            continue
        for i, fold in enumerate(section["folds"]):
            fold["out_of_sample"] = True if which is None else i in which
    return metrics


def varied(metrics, who, mases):
    """Give ``who``'s folds these MASE values (the section's own stay as they are)."""
    for fold, value in zip(metrics[who]["folds"], mases, strict=True):
        fold["mase"] = value
    return metrics


# ------------------------------------------------------------------ first model


def test_first_model_must_beat_seasonal_naive_on_the_backtest():
    verdict = judge(metrics_v2(candidate=0.8, baseline=1.0), GatePolicy(), champion_present=False)
    assert verdict.passed
    [check] = verdict.checks
    assert (check.name, check.value, check.threshold, check.result) == (
        "beats_seasonal_naive",
        0.8,
        1.0,
        "pass",
    )
    assert verdict.reason == (
        "passed: backtest MASE 0.800 beats seasonal naive 1.000 (needs strictly lower) "
        "on all 3 backtest folds"
    )
    assert verdict.window == "on all 3 backtest folds"


def test_first_model_is_judged_on_all_folds_not_only_the_out_of_sample_ones():
    # Whether a model beats having none: six origins are less noisy than the holdout alone.
    metrics = out_of_sample(metrics_v2(candidate=0.8, baseline=1.0, folds=4), candidate=(3,))
    metrics["candidate"]["holdout"]["mase"] = 1.2
    verdict = judge(metrics, GatePolicy(), champion_present=False)
    assert verdict.passed and checks(verdict)["beats_seasonal_naive"].value == 0.8


def test_first_model_worse_than_naive_is_rejected():
    verdict = judge(metrics_v2(candidate=1.2, baseline=1.0), GatePolicy(), champion_present=False)
    assert not verdict.passed
    assert "is worse than seasonal naive 1.000" in verdict.reason


def test_first_model_margin():
    policy = GatePolicy(first_model_min_improvement=0.1)
    assert not judge(metrics_v2(candidate=0.95), policy, champion_present=False).passed
    verdict = judge(metrics_v2(candidate=0.85), policy, champion_present=False)
    assert verdict.passed and "needs < 0.900" in verdict.reason


def test_no_ceiling_by_default_a_hard_year_can_promote():
    verdict = judge(metrics_v2(candidate=1.4, baseline=1.6), GatePolicy(), champion_present=False)
    assert verdict.passed
    assert "no absolute MASE ceiling" in verdict.policy


# ------------------------------------------------------------------ with a champion


def test_better_than_the_champion_passes_with_the_test():
    metrics = out_of_sample(
        metrics_v2(candidate=0.9, champion=1.0), candidate=(1, 2), champion=(1, 2)
    )
    verdict = judge(metrics, GatePolicy(), champion_present=True)
    assert verdict.passed
    found = checks(verdict)
    assert found["beats_champion"].result == "pass"
    test = found["not_worse_than_champion"]
    assert test.result == "pass" and test.threshold == 0.05 and test.value > 0.5
    assert verdict.window == "on 2 backtest folds out-of-sample for both"


def test_only_folds_out_of_sample_for_both_are_compared():
    # Fold 0 is in-sample for both, fold 1 only for the champion (its parameters saw it),
    # folds 2-3 for neither: only those two count, whatever happened on the others.
    metrics = metrics_v2(candidate=0.9, champion=1.0, folds=4)
    out_of_sample(metrics, candidate=(1, 2, 3), champion=(2, 3))
    varied(metrics, "candidate", [0.1, 0.1, 1.0, 1.2])
    varied(metrics, "champion", [2.0, 2.0, 0.9, 1.1])
    verdict = judge(metrics, GatePolicy(significance=None), champion_present=True)
    assert not verdict.passed
    check = checks(verdict)["beats_champion"]
    assert (check.value, check.threshold) == (pytest.approx(1.1), pytest.approx(1.0))


def test_without_out_of_sample_folds_the_holdout_decides_and_the_test_is_not_applicable():
    # The default backtest: every fold but the holdout in-sample for the candidate, and the
    # holdout partly seen by the champion's parameters. The backtest's folds favour the
    # candidate; the holdout decides.
    metrics = out_of_sample(metrics_v2(candidate=0.5, champion=1.0, folds=3), candidate=(2,))
    metrics["candidate"]["holdout"]["mase"] = 1.05
    verdict = judge(metrics, GatePolicy(), champion_present=True)
    assert not verdict.passed
    assert "backtest MASE 1.050 is worse than champion 1.000" in verdict.reason
    assert verdict.window == "on the holdout"
    test = checks(verdict)["not_worse_than_champion"]
    assert test.result == "skip" and "one forecast origin" in test.sentence
    metrics["candidate"]["holdout"]["mase"] = 0.95
    assert judge(metrics, GatePolicy(), champion_present=True).passed


def test_the_champion_is_the_rival_not_seasonal_naive():
    # Beats naive by far, but not the champion.
    metrics = metrics_v2(candidate=0.7, baseline=2.0, champion=0.6)
    verdict = judge(metrics, GatePolicy(), champion_present=True)
    assert not verdict.passed
    assert "backtest MASE 0.700 is worse than champion 0.600" in verdict.reason


def test_worse_than_the_champion_is_rejected():
    verdict = judge(metrics_v2(candidate=1.1, champion=1.0), GatePolicy(), champion_present=True)
    assert not verdict.passed
    assert checks(verdict)["beats_champion"].result == "fail"


def test_a_tie_fails_closed():
    verdict = judge(metrics_v2(candidate=1.0, champion=1.0), GatePolicy(), champion_present=True)
    assert not verdict.passed
    assert "ties champion 1.000" in verdict.reason


def test_margin_over_the_champion():
    policy = GatePolicy(min_improvement=0.05)
    assert not judge(metrics_v2(candidate=0.97, champion=1.0), policy, champion_present=True).passed
    verdict = judge(metrics_v2(candidate=0.94, champion=1.0), policy, champion_present=True)
    assert verdict.passed
    assert checks(verdict)["beats_champion"].threshold == pytest.approx(0.95)


def test_significance_on_refuses_a_candidate_the_test_finds_worse():
    metrics = metrics_v2(
        candidate=0.95,
        champion=1.0,
        folds=6,
        horizon=8,
        candidate_errors=SPIKY,
        champion_errors=FLAT,
    )
    out_of_sample(metrics, candidate=range(6), champion=range(6))
    verdict = judge(metrics, GatePolicy(significance=0.05), champion_present=True)
    assert not verdict.passed
    test = checks(verdict)["not_worse_than_champion"]
    assert test.result == "fail" and test.value < 0.05
    assert "candidate significantly worse" in verdict.reason


def test_significance_off_lets_the_margin_decide():
    metrics = metrics_v2(
        candidate=0.95,
        champion=1.0,
        folds=6,
        horizon=8,
        candidate_errors=SPIKY,
        champion_errors=FLAT,
    )
    for off in (None, 0.0):
        verdict = judge(metrics, GatePolicy(significance=off), champion_present=True)
        assert verdict.passed
        assert checks(verdict)["not_worse_than_champion"].result == "skip"
        assert "no significance test" in verdict.policy


def test_paired_t_over_folds_is_available():
    policy = GatePolicy(test="paired")
    metrics = out_of_sample(
        metrics_v2(candidate=0.9, champion=1.0), candidate=(1, 2), champion=(1, 2)
    )
    varied(metrics, "candidate", [0.9, 0.85, 0.95])
    verdict = judge(metrics, policy, champion_present=True)
    assert verdict.passed
    assert "paired t over folds" in verdict.reason
    assert "paired t-test over per-fold MASE" in verdict.policy


def test_champion_not_rescored_fails_closed():
    metrics = metrics_v2(candidate=0.5) | {"champion_error": "order (9,9,9) cannot be applied"}
    verdict = judge(metrics, GatePolicy(), champion_present=True)
    assert not verdict.passed
    assert verdict.reason == (
        "rejected: champion could not be re-scored: order (9,9,9) cannot be applied"
    )


def test_too_few_points_for_the_test_fail_closed():
    # Two origins of one step: 2 paired errors are too few for the test, so it cannot
    # say "not worse": closed, unless it is switched off.
    errors = {"candidate_errors": [[0.4], [0.5]], "champion_errors": [[0.6], [0.7]]}
    metrics = metrics_v2(candidate=0.9, champion=1.0, folds=2, horizon=1, **errors)
    out_of_sample(metrics, candidate=(0, 1), champion=(0, 1))
    verdict = judge(metrics, GatePolicy(), champion_present=True)
    assert not verdict.passed
    assert "paired test not possible" in verdict.reason
    assert judge(metrics, GatePolicy(significance=None), champion_present=True).passed


def test_optional_ceiling_from_a_models_settings():
    policy = GatePolicy(max_mase=1.0)
    verdict = judge(metrics_v2(candidate=1.2, baseline=1.5), policy, champion_present=False)
    assert not verdict.passed
    assert (
        checks(verdict)["max_mase"].sentence
        == "backtest MASE 1.200 >= ceiling 1 on all 3 backtest folds"
    )


# ------------------------------------------------------------------ fail closed


@pytest.mark.parametrize("bad", [math.nan, math.inf, None, "0.3", True])
def test_missing_or_non_finite_metrics_fail_closed(bad):
    metrics = metrics_v2(candidate=0.5)
    metrics["candidate"]["backtest"]["rmse"] = bad
    verdict = judge(metrics, GatePolicy(), champion_present=False)
    assert not verdict.passed
    assert "candidate backtest rmse" in verdict.reason


def test_missing_sections_fail_closed():
    metrics = metrics_v2(candidate=0.5)
    del metrics["baseline"]
    verdict = judge(metrics, GatePolicy(), champion_present=False)
    assert verdict.reason == "rejected: metrics missing or not finite: seasonal naive backtest mase"
    metrics = out_of_sample(
        metrics_v2(candidate=0.5, champion=1.0), candidate=(1, 2), champion=(1, 2)
    )
    metrics["candidate"]["folds"][1]["errors"][2] = None
    verdict = judge(metrics, GatePolicy(), champion_present=True)
    assert not verdict.passed and "non-finite errors" in verdict.reason
    metrics["champion"]["folds"][2]["mase"] = math.nan
    verdict = judge(metrics, GatePolicy(), champion_present=True)
    assert verdict.reason == (
        "rejected: metrics missing or not finite: fold MASE missing or not finite at origin(s) "
        "2001-03-01T00:00:00"
    )
    metrics = metrics_v2(candidate=0.5, champion=1.0)
    del metrics["champion"]["holdout"]["mase"]
    verdict = judge(metrics, GatePolicy(), champion_present=True)
    assert "holdout mase missing or not finite for champion" in verdict.reason


def test_old_metrics_schema_fails_closed_with_a_reason():
    old = {"candidate": {"mase": 0.3, "smape": 1, "rmse": 1, "mae": 1}, "baseline": {"mase": 1}}
    verdict = judge(old, GatePolicy(), champion_present=False)
    assert not verdict.passed
    assert "metrics schema None is not 2" in verdict.reason


def test_verdict_record_is_json():
    verdict = judge(metrics_v2(candidate=0.9, champion=1.0), GatePolicy(), champion_present=True)
    record = json.loads(json.dumps(verdict.as_record()))
    assert record["passed"] is True
    assert [c["name"] for c in record["checks"]] == ["beats_champion", "not_worse_than_champion"]
    assert set(record["checks"][0]) == {"name", "value", "threshold", "result", "sentence"}
    assert record["window"] == "on the holdout"  # no fold out-of-sample for both


# ------------------------------------------------------------------ policy and settings


def test_policy_validates_itself_naming_the_field():
    with pytest.raises(ConfigurationError, match="min_improvement must be a fraction"):
        GatePolicy(min_improvement=1.5)
    with pytest.raises(ConfigurationError, match="test must be one of dm, paired"):
        GatePolicy(test="anova")
    with pytest.raises(ConfigurationError, match="max_mase must be a positive number"):
        GatePolicy(max_mase=0)


def settings(**env: str) -> Settings:
    models = env.pop("models", json.dumps([{"name": "co2", "prefix": "co2/"}]))
    return Settings.from_env({"AzureWebJobsStorage": "x", "RETRAIN_MODELS": models} | env)


def test_app_wide_gate_settings():
    policy = settings(
        RETRAIN_GATE_MIN_IMPROVEMENT="0.02",
        RETRAIN_GATE_SIGNIFICANCE="off",
        RETRAIN_GATE_TEST="paired",
        RETRAIN_GATE_MAX_MASE="",
    ).gate
    assert policy == GatePolicy(min_improvement=0.02, significance=None, test="paired")
    assert settings().gate == GatePolicy()


def test_per_model_gate_settings_override_the_app_wide_ones():
    models = json.dumps(
        [
            {"name": "co2", "prefix": "co2/", "gate": {"min_improvement": 0.02, "max_mase": 2}},
            {"name": "gas", "prefix": "gas/"},
        ]
    )
    loaded = settings(models=models, RETRAIN_GATE_SIGNIFICANCE="0.1")
    co2, gas = (m.gate_policy(loaded.gate) for m in loaded.models)
    assert co2 == GatePolicy(min_improvement=0.02, max_mase=2, significance=0.1)
    assert gas == GatePolicy(significance=0.1)
    metrics = metrics_v2(candidate=0.99, champion=1.0)
    assert judge(metrics, gas, champion_present=True).passed
    assert not judge(metrics, co2, champion_present=True).passed


def test_bad_gate_settings_are_all_named_at_start():
    models = json.dumps(
        [{"name": "co2", "prefix": "co2/", "gate": {"significance": 2, "colour": "red"}}]
    )
    with pytest.raises(ConfigurationError) as error:
        settings(models=models, RETRAIN_GATE_MIN_IMPROVEMENT="lots", RETRAIN_GATE_LOSS="huber")
    text = str(error.value)
    for expected in (
        "RETRAIN_GATE_MIN_IMPROVEMENT must be a number, got 'lots'",
        "RETRAIN_GATE_LOSS must be one of squared, absolute",
        "RETRAIN_MODELS[0].gate.significance must be a level in (0, 0.5)",
        "RETRAIN_MODELS[0].gate.colour is not a gate setting",
    ):
        assert expected in text


def test_model_config_gate_is_not_a_pipeline_input():
    model = ModelConfig(name="co2", prefix="co2/", gate={"min_improvement": 0.1})
    assert "gate" not in model.pipeline_inputs()


# ------------------------------------------------------------------ the statistics


@pytest.mark.parametrize("df", [1, 2, 3, 4.5, 7, 12, 30, 120, 1000])
def test_student_t_cdf_matches_scipy(df):
    for t in (-40, -6.5, -3, -2.1, -1, -0.4, 0, 0.05, 0.7, 1.3, 2, 2.8, 4, 9, 60):
        assert student_t_cdf(t, df) == pytest.approx(stats.t.cdf(t, df), abs=1e-12)


@pytest.mark.parametrize(("a", "b"), [(0.5, 0.5), (1, 3), (2.5, 0.5), (10, 20), (60, 0.5)])
def test_incomplete_beta_matches_scipy(a, b):
    for x in (0.0, 0.001, 0.1, 0.35, 0.5, 0.8, 0.999, 1.0):
        assert regularized_incomplete_beta(x, a, b) == pytest.approx(
            stats.beta.cdf(x, a, b), abs=1e-12
        )


def test_diebold_mariano_at_horizon_one_is_the_one_sample_t_test():
    # With h = 1 the HLN-corrected statistic reduces to the one-sample t statistic of d.
    candidate = [1.2, -0.4, 0.9, 1.5, -1.1, 0.3, 0.8, -0.7, 1.9, 0.2]
    champion = [1.0, -0.5, 0.7, 0.9, -1.0, 0.4, 0.5, -0.6, 1.1, 0.3]
    result = diebold_mariano(candidate, champion, horizon=1, loss="squared")
    d = [a * a - b * b for a, b in zip(candidate, champion, strict=True)]
    reference = stats.ttest_1samp(d, 0.0, alternative="greater")
    assert result.statistic == pytest.approx(reference.statistic)
    assert result.p_value == pytest.approx(reference.pvalue)


def test_paired_t_matches_scipy():
    candidate = {"a": 0.9, "b": 1.3, "c": 0.7, "d": 1.1}
    champion = {"a": 1.0, "b": 1.0, "c": 0.8, "d": 0.9}
    result = paired_t(candidate, champion)
    reference = stats.ttest_rel(
        list(candidate.values()), list(champion.values()), alternative="greater"
    )
    assert result.statistic == pytest.approx(reference.statistic)
    assert result.p_value == pytest.approx(reference.pvalue)


def test_tests_refuse_what_they_cannot_compute():
    with pytest.raises(TestUnavailable, match="at least 2 backtest folds"):
        diebold_mariano([1.0] * 4, [0.5] * 4, horizon=4)
    with pytest.raises(TestUnavailable, match="needs at least 2"):
        paired_t({"a": 1.0}, {"a": 2.0})
    identical = diebold_mariano([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], horizon=1)
    assert identical.p_value == 0.5
