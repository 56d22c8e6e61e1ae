"""The trigger policy as pure functions: configuration, the state machine, resolution."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.errors import ConfigurationError
from shared.policy import (
    Arrival,
    Coalesced,
    DriftSignal,
    Due,
    Held,
    Manual,
    ModelState,
    Pause,
    Queued,
    Resume,
    Retrain,
    RunEnded,
    Skip,
    Suppressed,
    Tick,
    TriggerPolicy,
    classify_failure,
    launched,
    parse_duration,
    resolve,
    step,
)
from shared.ports import DataFile
from shared.settings import Settings
from shared.snapshot import Snapshot, overlay, parse_seen_key, seen_key

T0 = datetime(2026, 3, 1, tzinfo=UTC)
BURSTY = TriggerPolicy(quiet_period=300, max_count=5, max_wait=3600)


def arrival(n: int, rows: int = 12) -> Arrival:
    return Arrival(f"new data co2/{n}.csv", f"e{n}", f"co2/{n}.csv", f'"{n}"', 100, rows)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def run(state, signal, seconds: float = 0, policy: TriggerPolicy = BURSTY):
    return step(state, signal, now=at(seconds), policy=policy)


# ------------------------------------------------------------------ configuration


def test_policy_validates_itself_and_names_the_field():
    with pytest.raises(ConfigurationError, match="max_wait"):
        TriggerPolicy(quiet_period=600, max_wait=60)
    with pytest.raises(ConfigurationError, match="on_resume"):
        TriggerPolicy(on_resume="later")
    with pytest.raises(ConfigurationError, match="drift_signals"):
        TriggerPolicy(drift_signals=0)


def test_policy_describes_itself_in_words():
    text = BURSTY.describe()
    assert "arrivals coalesce until 5m of quiet, or 5 new blobs, at most 1h" in text
    assert "data failures wait for new data" in text
    assert "each arrival fires at once" in TriggerPolicy().describe()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("5m", 300), ("2h", 7200), ("1d", 86400), (30, 30)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


def test_settings_read_app_wide_defaults_and_per_model_overrides():
    env = {
        "RETRAIN_STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true",
        "RETRAIN_BACKEND": "azureml",
        "AZUREML_SUBSCRIPTION_ID": "s",
        "AZUREML_RESOURCE_GROUP": "g",
        "AZUREML_WORKSPACE": "w",
        "RETRAIN_POLICY_QUIET_PERIOD": "10m",
        "RETRAIN_POLICY_COOLDOWN": "1h",
        "RETRAIN_DRIFT_WEBHOOK_SECRET": "s3cret-s3cret-s3cret",
        "CO2_SECRET": "another-secret-0123",
        "RETRAIN_MODELS": '[{"name": "co2", "prefix": "co2/"}, {"name": "b", "prefix": "b/",'
        ' "policy": {"quiet_period": 0, "min_new_rows": 24, "webhook_secret_setting":'
        ' "CO2_SECRET"}}]',
    }
    co2, b = Settings.from_env(env).models
    assert (co2.policy.quiet_period, co2.policy.cooldown) == (600, 3600)
    assert co2.policy.webhook_secret == "s3cret-s3cret-s3cret"
    assert (b.policy.quiet_period, b.policy.min_new_rows, b.policy.cooldown) == (0, 24, 3600)
    assert b.policy.webhook_secret == "another-secret-0123"


def test_bad_policy_settings_are_named_at_start():
    env = {
        "RETRAIN_STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true",
        "RETRAIN_BACKEND": "azureml",
        "AZUREML_SUBSCRIPTION_ID": "s",
        "AZUREML_RESOURCE_GROUP": "g",
        "AZUREML_WORKSPACE": "w",
        "RETRAIN_POLICY_COOLDOWN": "soon",
        "RETRAIN_MODELS": '[{"name": "co2", "prefix": "co2/", "policy": {"max_count": -1,'
        ' "webhook_secret": "x", "bogus": 1}}]',
    }
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env(env)
    message = str(caught.value)
    assert "RETRAIN_POLICY_COOLDOWN" in message
    assert "RETRAIN_MODELS[0].policy.max_count" in message
    assert "do not put a secret in RETRAIN_MODELS" in message
    assert "RETRAIN_MODELS[0].policy.bogus is not a trigger policy setting" in message


# ------------------------------------------------------------------ coalescing


def test_debounce_zero_fires_at_once():
    state, decision = run(ModelState(), arrival(1), policy=TriggerPolicy())
    assert isinstance(decision, Retrain) and decision.events == ("e1",)
    assert state.active_run == ""  # claimed: one run at a time


def test_a_burst_fires_once_when_quiet():
    state = ModelState()
    for n in range(3):
        state, decision = run(state, arrival(n), seconds=60 * n)
        assert isinstance(decision, Coalesced)
    assert decision.due_at == at(120 + 300)
    state, nothing = run(state, Due(), seconds=400)
    assert nothing is None
    state, fired = run(state, Due(), seconds=421)
    assert isinstance(fired, Retrain) and fired.events == ("e0", "e1", "e2")
    assert "3 new blob(s) with 36 row(s)" in fired.reason


def test_a_burst_fires_at_the_count_or_the_maximum_wait():
    state = ModelState()
    for n in range(4):
        state, decision = run(state, arrival(n), seconds=n)
    state, fired = run(state, arrival(4), seconds=5)
    assert isinstance(fired, Retrain) and len(fired.events) == 5
    steady = TriggerPolicy(quiet_period=300, max_wait=900)
    state = ModelState()
    for n in range(10):  # one every 4 minutes: never quiet for 5
        state, decision = run(state, arrival(n), seconds=240 * n, policy=steady)
        if isinstance(decision, Retrain):
            break
    assert isinstance(decision, Retrain) and n == 4  # 960 s >= 900 s after the first


def test_tick_arrival_and_drift_together_become_one_run_with_every_reason():
    state, _ = run(ModelState(), arrival(1))
    state, tick = run(state, Tick("schedule tick at 03:00"), seconds=10)
    assert isinstance(tick, Coalesced)
    state, drift = run(state, DriftSignal("drift alert a1", event="alert:a1"), seconds=20)
    assert isinstance(drift, Coalesced) and "joins the burst" in drift.reason
    state, fired = run(state, Due(), seconds=400)
    assert isinstance(fired, Retrain)
    assert fired.events == ("e1", "alert:a1")
    assert "schedule tick at 03:00: 1 new blob(s)" in fired.reason
    assert "drift alert a1" in fired.reason and "co2/1.csv" in fired.reason


def test_schedule_skips_when_nothing_new_unless_configured():
    state = launched(ModelState(), "co2-a")
    state, _ = run(state, RunEnded("co2-a", "Completed"))
    state, skip = run(state, Tick("tick"), seconds=60)
    assert isinstance(skip, Skip) and "nothing new since run co2-a (Completed)" in skip.reason
    always = TriggerPolicy(schedule_requires_new_data=False)
    state, fired = run(state, Tick("tick"), seconds=60, policy=always)
    assert isinstance(fired, Retrain) and fired.force


# ------------------------------------------------------------------ one active run, cooldown


def test_one_active_run_queues_and_fires_what_came_meanwhile_when_it_ends():
    policy = TriggerPolicy()
    state, _ = run(ModelState(), arrival(1), policy=policy)
    state = launched(state, "co2-a")
    state, queued = run(state, arrival(2), seconds=5, policy=policy)
    assert isinstance(queued, Queued) and queued.behind == "co2-a"
    state, queued = run(state, Manual("manual by ana"), seconds=6, policy=policy)
    assert isinstance(queued, Queued)
    state, fired = run(state, RunEnded("co2-a", "Completed"), seconds=100, policy=policy)
    assert isinstance(fired, Retrain) and fired.events == ("e2",)
    assert "manual by ana" in fired.reason


def test_cooldown_holds_automatic_triggers_and_the_sweep_fires_after_it():
    policy = TriggerPolicy(cooldown=3600)
    state = launched(ModelState(), "co2-a")
    state, _ = run(state, RunEnded("co2-a", "Completed"), policy=policy)
    state, held = run(state, arrival(2), seconds=60, policy=policy)
    assert isinstance(held, Queued) and "cooldown until" in held.reason
    state, drift = run(state, DriftSignal("drift"), seconds=61, policy=policy)
    assert isinstance(drift, Suppressed) and "cooldown" in drift.reason
    state, nothing = run(state, Due(), seconds=3000, policy=policy)
    assert nothing is None
    state, fired = run(state, Due(), seconds=3601, policy=policy)
    assert isinstance(fired, Retrain) and fired.events == ("e2",)


def test_drift_hysteresis_and_never_while_a_run_is_active():
    policy = TriggerPolicy(drift_signals=2, drift_window=600)
    state, one = run(ModelState(), DriftSignal("d1"), policy=policy)
    assert isinstance(one, Suppressed) and "1 of 2" in one.reason
    state, again = run(state, DriftSignal("d2"), seconds=700, policy=policy)
    assert isinstance(again, Suppressed) and "1 of 2" in again.reason  # the first expired
    state, fired = run(state, DriftSignal("d3"), seconds=800, policy=policy)
    assert isinstance(fired, Retrain)
    state = launched(state, "co2-a")
    state, active = run(state, DriftSignal("d4"), seconds=900, policy=policy)
    assert isinstance(active, Suppressed) and "co2-a is active" in active.reason
    _, resolved = run(state, DriftSignal("d5", resolved=True), policy=policy)
    assert isinstance(resolved, Skip) and "never retrains" in resolved.reason


def test_data_sufficiency_skips_and_keeps_the_rows_for_later():
    policy = TriggerPolicy(min_new_rows=20)
    state, skip = run(ModelState(), arrival(1, rows=12), policy=policy)
    assert isinstance(skip, Skip) and "only 12 new observation(s)" in skip.reason
    assert state.active_run is None and state.pending  # kept
    state, nothing = run(state, Due(), seconds=60, policy=policy)
    assert nothing is None  # no new reason to fire
    state, fired = run(state, arrival(2, rows=12), seconds=120, policy=policy)
    assert isinstance(fired, Retrain) and fired.events == ("e1", "e2")


# ------------------------------------------------------------------ failures


def test_a_retryable_failure_is_retried_with_backoff_up_to_the_limit():
    policy = TriggerPolicy(max_retries=2, retry_backoff=600)
    state = launched(ModelState(), "co2-a")
    state, _ = run(state, RunEnded("co2-a", "Failed", "retryable", 1), policy=policy)
    assert state.retry_at == at(600)
    state, nothing = run(state, Due(), seconds=599, policy=policy)
    assert nothing is None
    state, retry = run(state, Due(), seconds=600, policy=policy)
    assert isinstance(retry, Retrain) and retry.retry and "retrying after run co2-a" in retry.reason
    state = launched(state, "co2-a-r2")
    state, _ = run(
        state, RunEnded("co2-a-r2", "Failed", "retryable", 2), seconds=700, policy=policy
    )
    assert state.retry_at == at(700 + 1200)  # doubled
    state = launched(state, "co2-a-r3")
    state, _ = run(
        state, RunEnded("co2-a-r3", "Failed", "retryable", 3), seconds=2000, policy=policy
    )
    assert state.retry_at is None  # the limit: waits for new data or force


def test_a_data_failure_waits_for_new_data():
    state = launched(ModelState(), "co2-a")
    state, _ = run(state, RunEnded("co2-a", "Failed", "data", 1))
    assert state.retry_at is None
    assert classify_failure("Failed", "prep: value 'x' is not a number") == "data"
    assert classify_failure("Failed", "train: node preempted") == "retryable"
    assert classify_failure("Canceled", None) == "canceled"


SNAP = Snapshot("co2", "co2/", (DataFile("co2/a.csv", '"1"', 10),))


@pytest.mark.parametrize(
    ("existing", "attempts", "retrain", "action", "says"),
    [
        (None, 0, Retrain("new data", ()), "new", "new data"),
        ({"status": "Completed"}, 1, Retrain("tick", ()), "skip", "already covers"),
        ({"status": "Running"}, 1, Retrain("tick", ()), "adopt", "still going"),
        ({"status": "Failed", "error": "prep: bad"}, 1, Retrain("d", ()), "skip", "its data"),
        ({"status": "Failed", "error": "oom"}, 1, Retrain("d", ()), "new", "trying again"),
        ({"status": "Failed", "error": "oom"}, 3, Retrain("d", ()), "skip", "attempt 3 of 3"),
        ({"status": "Completed"}, 1, Retrain("f", (), force=True), "new", "cache bypassed"),
        ({"status": "SubmitFailed"}, 1, Retrain("d", ()), "resume", "its submit failed"),
    ],
)
def test_resolution_against_the_snapshot(existing, attempts, retrain, action, says):
    record = None if existing is None else existing | {"run_key": "co2-x"}
    resolution = resolve(
        retrain, snapshot=SNAP, existing=record, attempts=attempts, now=T0, policy=TriggerPolicy()
    )
    assert resolution.action == action and says in resolution.reason


# ------------------------------------------------------------------ pause and resume


@pytest.mark.parametrize("rule", ["replay", "drop"])
def test_pause_holds_arrivals_and_resume_replays_or_drops_them(rule):
    policy = TriggerPolicy(on_resume=rule)
    state, paused = run(ModelState(), Pause("ana", "data migration"), policy=policy)
    assert isinstance(paused, Held)
    state, held = run(state, arrival(1), seconds=10, policy=policy)
    assert isinstance(held, Held) and "kept until resume" in held.reason
    state, tick = run(state, Tick("tick"), seconds=20, policy=policy)
    assert isinstance(tick, Skip) and "paused" in tick.reason
    state, resumed = run(state, Resume("ana", "done"), seconds=30, policy=policy)
    if rule == "replay":
        assert isinstance(resumed, Retrain) and resumed.events == ("e1",)
        assert "resumed by ana" in resumed.reason
    else:
        assert (
            isinstance(resumed, Skip) and "1 arrival(s) held while paused dropped" in resumed.reason
        )
        assert [r.fires for r in state.pending] == [False]  # the data joins the next run


# ------------------------------------------------------------------ state and snapshots


def test_state_round_trips_through_json():
    state, _ = run(ModelState(), arrival(1))
    state, _ = run(state, Pause("ana", "x"), seconds=1)
    assert ModelState.from_json(state.as_json()) == state


def test_snapshots_extend_the_previous_manifest_and_the_index_keys_round_trip():
    base = SNAP.manifest()
    newer = overlay(
        "co2", "co2/", base, [DataFile("co2/a.csv", '"2"', 11), DataFile("co2/b.csv", '"3"', 5)]
    )
    assert [(f.name, f.etag) for f in newer.files] == [("co2/a.csv", '"2"'), ("co2/b.csv", '"3"')]
    key = seen_key("co2", "co2/dir/x y.csv", '"0x8D"')
    assert key == "seen/co2/co2/dir/x y.csv/0x8D.json"
    assert parse_seen_key("co2", key) == ("co2/dir/x y.csv", "0x8D")
