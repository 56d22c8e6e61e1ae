"""The dashboard's data route for a family, called as the worker would: the family's
series with their verdicts in the last run (what needs a look first), the worst series by
error, the failed series with their reasons, and the version serving each series; and
``retrainctl family <model> show`` printing the same."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import azure.functions as func
import pytest

from shared.bootstrap import set_service
from shared.service.family_ops import set_family_pin
from tests.family.service_world import MODEL, FamilyWorld, row
from tests.functions.conftest import user_functions

SERIES = {"a": 100.0, "b": 50.0, "c": 20.0, "d": 10.0}


def two_runs(world: FamilyWorld) -> tuple[str, str]:
    """First run: a, b, c promoted, d failed. Second: a promoted (v2), b refused (keeps
    v1), c failed, d excluded by prep."""
    first = world.launch("2002", SERIES, year=2002, event_id="e1")
    world.finish_family(
        first,
        [
            row("a", candidate=0.5),
            row("b", candidate=0.7),
            row("c", candidate=0.6),
            row("d", status="failed", reason="LinAlgError: SVD did not converge"),
        ],
    )
    second = world.launch("2003", SERIES, year=2003, event_id="e2")
    end = "2003-12-01T00:00:00"
    world.finish_family(
        second,
        [
            row("a", candidate=0.4, champion=0.5, data_end=end),
            row("b", candidate=0.9, champion=0.7, data_end=end),
            row("c", status="failed", reason="ValueError: <b>non-finite</b> forecast"),
        ],
        excluded={"d": "the series has 20 MS points; at least 36 are needed"},
    )
    return first, second


@pytest.fixture
def world() -> Iterator[FamilyWorld]:
    world = FamilyWorld()
    world.keys = two_runs(world)  # type: ignore[attr-defined]
    set_service(world.service)
    yield world
    set_service(None)


def data() -> dict[str, Any]:
    request = func.HttpRequest("GET", "/api/dashboard/data", body=b"")
    response = user_functions()["get_dashboard_data"](request)
    assert response.status_code == 200
    return json.loads(response.get_body())  # type: ignore[no-any-return]


def test_the_dashboard_data_draws_the_family_per_series(world):
    _, second = world.keys
    [model] = data()["models"]
    family = model["family"]
    assert family["series_in_production"] == 3 and family["versions_serving"] == {"2": 1, "1": 2}
    run = family["run"]
    assert run["run_key"] == second and run["version"] == 2
    assert run["counts"]["series_total"] == 4 and run["counts"]["promoted"] == 1
    # The series table: failed first, then refused, excluded, promoted; each with its
    # verdict, reason, error and the version serving it now.
    table = {r["unique_id"]: r for r in family["series"]}
    assert [r["unique_id"] for r in family["series"]] == ["c", "b", "d", "a"]
    assert table["c"]["action"] == "failed" and "non-finite" in table["c"]["reason"]
    assert table["c"]["production_version"] == 1  # still served by the first run's fit
    assert table["b"]["action"] == "refused" and table["b"]["mase"] == 0.9
    assert table["b"]["window"] == "backtest" and table["b"]["production_version"] == 1
    assert table["d"]["action"] == "excluded" and table["d"]["production_version"] is None
    assert table["a"]["action"] == "promoted" and table["a"]["production_version"] == 2
    assert (family["series_total"], family["series_shown"]) == (4, 4)
    # The worst series by error, with the version serving each.
    assert [(w["unique_id"], w["mase"], w["production_version"]) for w in family["worst"]] == [
        ("b", 0.9, 1),
        ("a", 0.4, 2),
    ]
    assert family["failed"] == [
        {"unique_id": "c", "reason": "ValueError: <b>non-finite</b> forecast"}
    ]
    assert model["plot"] is None  # a family run writes no forecast plot
    assert model["last_run"]["decision"] == "v2: 1 promoted, 1 refused, 1 failed, 1 excluded " + (
        "of 4 series"
    )


def test_a_family_timeline_draws_no_model_wide_production(world):
    """The family's history entries name the run version each move promoted (so a model
    timeline would draw them as production segments); a family's timeline draws none and
    says its production is per series."""
    [model] = data()["models"]
    history = world.service.list_history(MODEL)["history"]
    assert [entry.get("to_version") for entry in history] == [1, 2]
    timeline = model["timeline"]
    assert timeline["production"] == [] and timeline["production_per_series"] is True
    assert len(timeline["runs"]) == 2  # the runs are drawn as for a single series


def test_a_pinned_family_and_one_without_a_run_are_drawn(world):
    set_family_pin(world.service.context, MODEL, pinned=True, by="ana", reason="freeze")
    family = data()["models"][0]["family"]
    assert family["pinned"] is True and family["pin"]["by"] == "ana"

    fresh = FamilyWorld()
    set_service(fresh.service)
    family = data()["models"][0]["family"]
    assert family["run"] is None and family["series"] == [] and family["series_in_production"] == 0


def test_the_cli_shows_the_family(world, capsys):
    from retrainctl.cli import main

    _, second = world.keys
    assert main(["family", MODEL, "show"], service=world.service) == 0
    text = capsys.readouterr().out
    assert f"last run {second} (v2): 4 series" in text
    assert "worst: b backtest MASE 0.9 (refused, production v1)" in text
    assert "failed: c: ValueError: <b>non-finite</b> forecast" in text
    assert "c                        failed" in text


def test_the_cli_still_needs_a_reason_to_act(world, capsys):
    from retrainctl.cli import main

    assert main(["family", MODEL, "pin", "--series", "a"], service=world.service) == 1
    assert f"family {MODEL} pin needs --reason" in capsys.readouterr().err


def test_the_run_record_the_run_list_and_the_cli_summarise_a_family_run(world, capsys):
    from retrainctl.cli import main
    from tests.api.world import answer, call

    _, second = world.keys
    family = answer(call("get_run", run_key=second))["family"]
    assert (family["series_total"], family["trained"], family["promoted"]) == (4, 2, 1)
    assert family["promoted_series"][0]["unique_id"] == "a"
    assert family["promoted_series"][0]["reason"].endswith("production -> v2")
    assert family["refused_series"][0]["unique_id"] == "b"
    assert family["failed_series"] == [
        {"unique_id": "c", "reason": "ValueError: <b>non-finite</b> forecast"}
    ]
    assert family["excluded_series"][0]["unique_id"] == "d"
    assert family["worst"][0] == {
        "unique_id": "b",
        "mase": 0.9,
        "window": "backtest",
        "action": "refused",
    }
    runs = answer(call("list_model_runs", model=MODEL))["runs"]
    assert runs[0]["family"] == {
        "series_total": 4,
        "trained": 2,
        "promoted": 1,
        "refused": 1,
        "registered_only": 0,
        "failed": 1,
        "excluded": 1,
        "missing": 0,
        "worst": {"unique_id": "b", "mase": 0.9, "window": "backtest", "action": "refused"},
    }
    assert main(["runs", MODEL], service=world.service) == 0
    text = capsys.readouterr().out
    assert (
        "    family: 4 series: 2 trained, 1 promoted, 1 refused, 1 failed, 1 excluded; "
        "worst b (backtest MASE 0.9)"
    ) in text
    assert "    family: 4 series: 3 trained, 3 promoted, 1 failed; worst b" in text
