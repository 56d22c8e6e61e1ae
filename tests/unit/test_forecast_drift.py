"""Built-in forecast-error drift: the production model's stored forecast scored against
arriving actuals with the standard library, a drift signal recorded like any other."""

from shared.policy import TriggerPolicy
from shared.policy.forecast import score_actuals
from shared.settings import ModelConfig
from tests import samples
from tests.fakes import FakeWorld, metrics_v2

FORECAST = {
    "timestamps": [f"2003-{m:02d}-01T00:00:00" for m in range(1, 13)],
    "forecast": [300.0] * 12,
    "validation_mae": 1.0,
}


def test_scoring_matches_timestamps_and_compares_with_the_validation_error():
    actuals = b"timestamp,value\n2003-01-01,301\n2003-02-01,299.5\n2003-03-01,\n2005-01-01,9\n"
    score = score_actuals(
        FORECAST, actuals, time_column="timestamp", value_column="value", multiple=2, min_points=2
    )
    assert score is not None and score.points == 2 and score.mae == 0.75
    assert not score.drifted and "within 2x" in score.describe()
    far = b"timestamp,value\n2003-01-01,310\n2003-02-01,290\n2003-03-01,305\n"
    drifted = score_actuals(
        FORECAST, far, time_column="timestamp", value_column="value", multiple=2, min_points=3
    )
    assert drifted is not None and drifted.drifted and "above 2x" in drifted.describe()
    none = b"timestamp,value\n1999-01-01,1\n"
    assert (
        score_actuals(
            FORECAST, none, time_column="timestamp", value_column="value", multiple=2, min_points=1
        )
        is None
    )


def test_actuals_far_from_the_production_forecast_are_a_recorded_drift_signal():
    model = ModelConfig(name="co2", prefix="co2/", policy=TriggerPolicy(quiet_period=600))
    world = FakeWorld((model,))
    world.service.handle(world.arrive("co2/a.csv", samples.csv_rows(2000, 3), event_id="e0"))
    world.clock.advance(minutes=11)
    from shared.messages import SweepTicked

    [fired] = world.service.handle(SweepTicked(at=world.clock.now()))
    key = str(fired.run_key)
    world.artifacts.write_json(
        f"retrain/{key}/model/forecast.json",
        {k: v for k, v in FORECAST.items() if k != "validation_mae"},
    )
    world.complete(key, metrics_v2(candidate=0.3, baseline=1.4))  # backtest MAE 0.3
    world.service.handle(world.arrive("co2/b.csv", samples.csv_rows(2003, 1), event_id="e1"))
    coalesced, drift = world.ledger()[-2:]
    assert coalesced["action"] == "coalesced"
    assert drift["trigger"].startswith("drift alert")
    assert "forecast MAE" in drift["trigger"] and "above 2x" in drift["trigger"]
    assert drift["action"] == "coalesced" and "joins the burst" in drift["reason"]
