"""Telemetry (shared/telemetry.py): each ledger decision is one structured record, ready to
land as customDimensions; the four metrics are counted with an OpenTelemetry SDK meter
and an in-memory reader; without a connection string nothing is exported and the console
is unchanged; importing the Function App loads no telemetry library."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from shared import telemetry
from shared.messages import RetrainRequested
from shared.settings import ModelConfig, Settings
from tests import samples
from tests.fakes import FakeWorld, metrics_v2
from tests.infra.bicep import ROOT

MODELS = (ModelConfig(name="co2", prefix="co2/", horizon=4),)
DECISIONS = "shared.telemetry.decisions"


@pytest.fixture
def reader() -> Iterator[InMemoryMetricReader]:
    reader = InMemoryMetricReader()
    telemetry.enable(MeterProvider(metric_readers=[reader]).get_meter("test"))
    try:
        yield reader
    finally:
        telemetry.disable()


def points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                found.setdefault(metric.name, []).extend(metric.data.data_points)
    return found


def run_twice(world: FakeWorld) -> tuple[str, str]:
    """One run promoted, then one refused by the gate."""
    world.data.put("co2/2000.csv", samples.csv_rows(2000, 3))
    [first] = world.service.handle(RetrainRequested("co2", "ana", "first"))
    world.complete(str(first.run_key), metrics_v2(candidate=0.5))
    [second] = world.service.handle(RetrainRequested("co2", "ana", "again", force=True))
    world.complete(str(second.run_key), metrics_v2(candidate=0.9, champion=0.5))
    return str(first.run_key), str(second.run_key)


def test_every_decision_is_a_record_with_the_fields_for_custom_dimensions(
    reader: InMemoryMetricReader, caplog: pytest.LogCaptureFixture
) -> None:
    world = FakeWorld(MODELS)
    with caplog.at_level(logging.INFO, logger=DECISIONS):
        first, second = run_twice(world)
    records = [r for r in caplog.records if r.name == DECISIONS]
    runs = [r for r in records if r.run_key]  # type: ignore[attr-defined]
    assert [(r.kind, r.decision, r.run_key) for r in runs] == [  # type: ignore[attr-defined]
        ("trigger", "retrain", first),
        ("gate", "promoted", first),
        ("trigger", "retrain", second),
        ("gate", "rejected", second),
    ]
    assert all(r.levelno == logging.INFO and r.model == "co2" for r in records)  # type: ignore[attr-defined]
    promoted = runs[1]
    assert promoted.version == "1"  # type: ignore[attr-defined]
    assert runs[0].trigger.startswith("manual request by ana")  # type: ignore[attr-defined]
    assert runs[0].invocation_id == ""  # type: ignore[attr-defined]  # no worker here
    assert promoted.getMessage().startswith(f"decision co2 gate: promoted (run {first}): ")
    ledger = world.ledger()
    assert [(e["kind"], e["action"]) for e in ledger] == [
        (r.kind, r.decision)  # type: ignore[attr-defined]
        for r in records
    ]


def test_runs_gate_verdicts_and_durations_are_counted(reader: InMemoryMetricReader) -> None:
    run_twice(FakeWorld(MODELS))
    telemetry.dead_lettered("on_blob_created", retryable=False)
    metrics = points(reader)
    [started] = metrics["retrain.runs.started"]
    assert (started.value, dict(started.attributes)) == (2, {"model": "co2"})
    verdicts = {p.attributes["verdict"]: p.value for p in metrics["retrain.gate.verdicts"]}
    assert verdicts == {"pass": 1, "refuse": 1}
    [durations] = metrics["retrain.run.duration"]
    assert durations.count == 2 and durations.min > 0
    assert dict(durations.attributes) == {"model": "co2", "status": "completed"}
    [dead] = metrics["retrain.events.dead_lettered"]
    assert dict(dead.attributes) == {"source": "on_blob_created", "retryable": "false"}


def test_without_a_connection_string_nothing_is_exported_and_the_console_is_unchanged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert telemetry.configure(None) is False and not telemetry.enabled()
    telemetry.dead_lettered("on_sweep", retryable=True)  # a no-op, no error
    world = FakeWorld(MODELS)
    with caplog.at_level(logging.INFO):
        run_twice(world)
    assert not [r for r in caplog.records if r.name == DECISIONS]  # DEBUG only
    with caplog.at_level(logging.DEBUG, logger=DECISIONS):
        world.service.handle(RetrainRequested("co2", "bo", "once more", force=True))
    [record] = [r for r in caplog.records if r.name == DECISIONS]
    assert record.levelno == logging.DEBUG
    assert record.getMessage().startswith("decision co2 trigger: retrain (run co2-")


def test_the_connection_string_is_read_with_the_other_settings() -> None:
    env = {"RETRAIN_MODELS": '[{"name": "co2", "prefix": "co2/"}]', "AzureWebJobsStorage": ""}
    env["RETRAIN_STORAGE_CONNECTION_STRING"] = "UseDevelopmentStorage=true"
    assert Settings.from_env(env).telemetry_connection_string is None
    env["APPLICATIONINSIGHTS_CONNECTION_STRING"] = "InstrumentationKey=00000000-0000-0000-0000"
    assert (
        Settings.from_env(env).telemetry_connection_string
        == env["APPLICATIONINSIGHTS_CONNECTION_STRING"]
    )


def test_importing_the_function_app_loads_no_telemetry_library() -> None:
    code = (
        "import sys, function_app; "
        "print(sorted(m for m in sys.modules if m.startswith(('opentelemetry', 'azure.monitor'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
