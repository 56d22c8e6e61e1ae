"""The API's family routes, called as the worker would against the service wired to fakes
with a trained family: production per series, one series with its history, a run's
per-series verdicts, and the operator actions (rollback, pins) with who and why."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.bootstrap import set_service
from tests.api.world import answer, call
from tests.family.service_world import MODEL, FamilyWorld, row

SERIES = {"a": 100.0, "b": 50.0}


@pytest.fixture
def world() -> Iterator[FamilyWorld]:
    world = FamilyWorld()
    first = world.launch("2002", SERIES, year=2002, event_id="e1")
    world.finish_family(first, [row("a", candidate=0.5), row("b", candidate=1.4)])
    second = world.launch("2003", SERIES, year=2003, event_id="e2")
    world.finish_family(
        second,
        [
            row("a", candidate=0.4, champion=0.5, data_end="2003-12-01T00:00:00"),
            row("b", status="failed", reason="ValueError: boom"),
        ],
    )
    world.keys = [first, second]  # type: ignore[attr-defined]
    set_service(world.service)
    yield world
    set_service(None)


def test_production_per_series_and_one_series_with_its_history(world):
    page = answer(call("list_model_series", model=MODEL, params={"limit": "10"}))
    assert [(s["unique_id"], s["version"]) for s in page["series"]] == [("a", 2)]
    assert page["versions_serving"] == {"2": 1} and page["next_after"] is None
    one = answer(call("get_model_series", model=MODEL, series="a"))
    assert one["production"]["previous"]["version"] == 1
    assert [h["to_version"] for h in one["history"]] == [1, 2]
    assert one["history_before"] is None
    # A page of one: the newest entry, and the cursor to the one before it.
    newest = answer(call("get_model_series", model=MODEL, series="a", params={"limit": "1"}))
    assert [h["to_version"] for h in newest["history"]] == [2]
    older = call(
        "get_model_series",
        model=MODEL,
        series="a",
        params={"limit": "1", "before": newest["history_before"]},
    )
    assert [h["to_version"] for h in answer(older)["history"]] == [1]
    assert answer(older)["history_before"] is None
    bad = call("get_model_series", model=MODEL, series="a", params={"before": "x"})
    assert bad.status_code == 400 and "cursor" in answer(bad)["message"]
    missing = call("get_model_series", model=MODEL, series="zz")
    assert missing.status_code == 404


def test_a_runs_record_and_per_series_verdicts(world):
    first, second = world.keys
    record = answer(call("get_run", run_key=second))
    assert record["pipeline"] == "family"
    assert record["family"]["failed_series"] == [{"unique_id": "b", "reason": "ValueError: boom"}]
    verdicts = answer(call("get_run_series", run_key=first, params={"action": "refused"}))
    assert list(verdicts["series"]) == ["b"]
    assert verdicts["series"]["b"]["gate"]["passed"] is False


def test_rollback_and_pins_through_the_api_record_who_and_why(world):
    first, _ = world.keys
    headers = {"x-ms-client-principal-name": "ana@example.com"}
    body = {"series": "a", "reason": "spiky", "expected_version": 2}
    response = call("act_on_family", "POST", body, headers=headers, model=MODEL, action="rollback")
    assert response.status_code == 200, answer(response)
    [outcome] = answer(response)["outcomes"]
    assert outcome["action"] == "rollback" and "by ana@example.com: spiky" in outcome["reason"]
    conflict = call("act_on_family", "POST", body, headers=headers, model=MODEL, action="rollback")
    assert conflict.status_code == 409

    pin = {"reason": "freeze", "requested_by": "bo"}
    assert call("act_on_family", "POST", pin, model=MODEL, action="pin").status_code == 200
    again = call("act_on_family", "POST", pin, model=MODEL, action="pin")
    assert again.status_code == 400 and "already pinned" in answer(again)["message"]
    # a is on the first run's model because an operator put it there: not the run's to undo.
    undo = {"run_key": first, "reason": "bad run", "requested_by": "bo"}
    refused = call("act_on_family", "POST", undo, model=MODEL, action="rollback")
    assert refused.status_code == 400 and "as its promotion left it" in answer(refused)["message"]
    entries = [e for e in world.service.list_ledger(MODEL) if e["kind"] == "operator"]
    assert [e["requested_by"] for e in entries] == ["ana@example.com", "bo"]


@pytest.mark.parametrize(
    ("action", "body", "message"),
    [
        ("rollback", {"reason": "r", "requested_by": "a"}, "or 'run_key' (every series that"),
        (
            "rollback",
            {
                "series": "a",
                "run_key": "stores-0123456789abcdef",
                "reason": "r",
                "requested_by": "a",
            },
            "not both",
        ),
        ("pin", {"series": "a", "reason": "r", "requested_by": "a", "sereis": 1}, "'sereis'"),
        ("pin", {"series": "a", "requested_by": "a"}, "needs 'reason'"),
        ("pin", {"series": "a", "reason": "r", "requested_by": "a", "version": 2}, "'version'"),
        ("explode", {"reason": "r", "requested_by": "a"}, "no family action 'explode'"),
    ],
)
def test_bad_family_requests_are_refused_naming_what_is_wrong(world, action, body, message):
    response = call("act_on_family", "POST", body, model=MODEL, action=action)
    assert response.status_code == 400
    assert message in answer(response)["message"]


def test_the_model_list_and_the_run_list_summarise_a_family(world):
    [model] = answer(call("list_models"))["models"]
    assert model["production_version"] is None  # families use pointers per series
    assert model["series_columns"] == ["unique_id"]
    assert (model["series_in_production"], model["family_pinned"]) == (1, False)
    runs = answer(call("list_model_runs", model=MODEL))["runs"]
    assert [r["family"]["promoted"] for r in runs] == [1, 1]
    assert runs[0]["family"]["failed"] == 1  # newest first: the second run


def test_the_dashboards_view_model_carries_the_family(world):
    from shared.service import overview

    [card] = overview.build(world.service.context)["models"]
    assert card["family"]["series_in_production"] == 1
    assert card["family"]["last_run"]["failed"] == 1


def test_a_runs_verdicts_come_in_pages(world):
    first, _ = world.keys
    page = answer(call("get_run_series", run_key=first, params={"limit": "1"}))
    assert list(page["series"]) == ["a"] and page["next_after"] == "a"
    assert page["series_count"] == 2
    rest = answer(call("get_run_series", run_key=first, params={"after": "a", "limit": "1"}))
    assert list(rest["series"]) == ["b"] and rest["next_after"] is None
    assert rest["series"]["b"]["error"] == {"mase": 1.4, "window": "backtest"}
    bad = call("get_run_series", run_key=first, params={"limit": "0"})
    assert bad.status_code == 400


@pytest.mark.parametrize("function", ["rollback_model", "promote_model"])
def test_a_family_has_no_model_version_to_move_and_the_answer_says_what_does(world, function):
    body = {"version": 1, "reason": "r", "requested_by": "ana"}
    response = call(function, "POST", body, model=MODEL)
    assert response.status_code == 400
    message = answer(response)["message"]
    assert message.startswith(f"{MODEL} is a family: each series has its own production model")
    assert f"POST /api/models/{MODEL}/family/rollback" in message
    assert f"retrainctl family {MODEL} rollback --series ID" in message
    # Nothing moved, nothing recorded.
    assert answer(call("list_models"))["models"][0]["production_version"] is None
    assert [e for e in world.service.list_ledger(MODEL) if e["kind"] == "operator"] == []


def test_pinning_a_family_model_holds_every_series_until_unpinned(world):
    pin = {"reason": "quarter end", "requested_by": "bo"}
    response = call("pin_model", "POST", pin, model=MODEL)
    assert response.status_code == 200, answer(response)
    [outcome] = answer(response)["outcomes"]
    assert outcome["reason"] == "family pinned by bo: quarter end"
    assert answer(call("list_models"))["models"][0]["family_pinned"] is True
    # A run whose series beats its champion only registers while the family is pinned.
    key = world.launch("2004", SERIES, year=2004, event_id="e3")
    end = "2004-12-01T00:00:00"
    decided = world.finish_family(key, [row("a", candidate=0.3, champion=0.4, data_end=end)])
    assert decided.action == "registered", decided
    one = answer(call("get_model_series", model=MODEL, series="a"))
    assert one["production"]["version"] == 2
    reason = answer(call("get_run_series", run_key=key))["series"]["a"]["reason"]
    assert reason.endswith("registered only: the family is pinned by bo (quarter end)")
    unpinned = call("unpin_model", "POST", {"reason": "done", "requested_by": "bo"}, model=MODEL)
    assert unpinned.status_code == 200, answer(unpinned)
    assert answer(call("list_models"))["models"][0]["family_pinned"] is False
    again = call("unpin_model", "POST", {"reason": "done", "requested_by": "bo"}, model=MODEL)
    assert again.status_code == 400 and answer(again)["message"] == f"family {MODEL} is not pinned"


def test_a_runs_verdicts_by_an_action_that_does_not_exist_are_refused(world):
    first, _ = world.keys
    bad = call("get_run_series", run_key=first, params={"action": "rejected"})
    assert bad.status_code == 400
    assert answer(bad)["message"] == (
        "no series verdict 'rejected'; action is one of promoted, registered, refused, "
        "failed, excluded, missing"
    )
    assert call("get_run_series", run_key="../../x").status_code == 404


def test_a_family_lists_no_production_version_even_with_an_alias_left_from_before(world):
    # Before families refused a model-wide promote, one could point the alias at a version.
    alias = world.registry.get_alias(MODEL, "production")
    world.registry.set_alias(MODEL, "production", 1, etag=alias.etag)
    [model] = answer(call("list_models"))["models"]
    assert model["production_version"] is None and model["series_in_production"] == 1
