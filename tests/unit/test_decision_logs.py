"""Logs a person can follow: one line per decision, in the ledger's order, under the
service's full logger names, and a warning when a model has no production version or the
gate keeps refusing."""

from __future__ import annotations

import logging

import pytest

from shared.settings import ModelConfig
from tests import samples
from tests.fakes import FakeWorld, metrics_v2

MODELS = (ModelConfig(name="co2", prefix="co2/", horizon=24),)
DECISIONS = "shared.service.context"


@pytest.fixture
def world() -> FakeWorld:
    return FakeWorld(MODELS)


def arrive(world: FakeWorld, year: int) -> str:
    [outcome] = world.service.handle(
        world.arrive(f"co2/{year}.csv", samples.csv_rows(year, 1), event_id=f"e{year}")
    )
    assert outcome.run_key is not None
    return outcome.run_key


def decision_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == DECISIONS]


def test_each_ledger_decision_is_one_log_line_in_order(world, caplog):
    caplog.set_level(logging.INFO)
    key = arrive(world, 2000)
    world.complete(key, metrics_v2(candidate=0.5, data_end="2000-12-01"))

    lines = decision_lines(caplog)
    entries = world.ledger()
    assert len(lines) == len(entries) == 2
    for line, entry in zip(lines, entries, strict=True):
        assert line == (
            f"co2 {entry['kind']}: {entry['action']} (run {entry['run_key']}): {entry['reason']}"
        )
    assert lines[0].startswith(f"co2 trigger: retrain (run {key}): ")
    assert lines[1].startswith(f"co2 gate: promoted (run {key}): ")


def test_a_model_without_a_production_version_is_warned_about(world, caplog):
    caplog.set_level(logging.INFO)
    key = arrive(world, 2000)
    outcome = world.complete(key, metrics_v2(candidate=1.5, data_end="2000-12-01"))
    assert outcome.action == "rejected"

    warnings = [
        r for r in caplog.records if r.levelno == logging.WARNING and r.name.startswith("shared.")
    ]
    assert [r.name for r in warnings] == ["shared.service.promotion"]
    assert (
        warnings[0]
        .getMessage()
        .startswith("co2 has no production version: no candidate has passed the gate yet")
    )


def test_a_gate_that_keeps_refusing_is_warned_about_on_the_third_refusal(world, caplog):
    key = arrive(world, 2000)
    world.complete(key, metrics_v2(candidate=0.5, data_end="2000-12-01"))  # v1 in production
    caplog.set_level(logging.INFO)

    def stuck_warnings() -> list[str]:
        return [
            r.getMessage()
            for r in caplog.records
            if r.levelno == logging.WARNING and "keeps refusing" in r.getMessage()
        ]

    for year in (2001, 2002, 2003):
        assert stuck_warnings() == []
        key = arrive(world, year)
        outcome = world.complete(
            key, metrics_v2(candidate=0.9, champion=0.5, data_end=f"{year}-12-01")
        )
        assert outcome.action == "rejected"
    [warning] = stuck_warnings()
    assert warning.startswith("co2 keeps refusing: the gate refused the last 3 candidates in a row")
    assert world.registry.get_alias("co2", "production").version is not None
