"""The app's service inside the worker process for the conformance test: the real
``RetrainService`` over in-memory ports (tests/fakes.py), with one model, one data file
and a pipeline whose every run has finished and written passing metrics, installed with
``set_service`` the way the local host does. The worker then loads ``function_app`` itself."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import replace
from typing import Any

from shared.bootstrap import set_service
from shared.settings import ModelConfig
from tests import fakes, samples

MODEL = ModelConfig(name="co2", prefix="co2/", frequency="MS", season_length=12, horizon=4)
DATA_BLOB = "co2/batch-1.csv"


class PassingArtifacts(fakes.FakeArtifactStore):
    """Every run's metrics.json exists and passes the gate (the pipeline itself is not
    what this test is about)."""

    def read_json(self, path: str) -> Any:
        if path.endswith("/metrics/metrics.json") and path not in self.documents:
            self.documents[path] = fakes.metrics_v2(candidate=0.5, baseline=1.0)
        return super().read_json(path)


class InstantPipeline(fakes.FakePipeline):
    """Every submitted run has finished by the time anyone asks: the service checks a run
    event against the backend before finalising, so the backend must agree with the
    RunCompleted event the test delivers."""

    def get_run(self, run_id: str) -> Any:
        run = super().get_run(run_id)
        return run if run.finished else replace(run, status="Completed")


class DecisionFile(logging.Handler):
    """Writes each decision record's structured fields as a JSON line, so the test can see
    what would reach customDimensions (the invocation id in particular)."""

    def __init__(self, path: str) -> None:
        super().__init__(logging.DEBUG)
        self.path = path

    def emit(self, record: logging.LogRecord) -> None:
        fields = ("model", "kind", "decision", "run_key", "invocation_id", "version")
        with open(self.path, "a", encoding="utf-8") as out:
            out.write(json.dumps({f: getattr(record, f, None) for f in fields}) + "\n")


def install() -> None:
    os.environ.setdefault("RETRAIN_SCHEDULE", "0 0 3 * * *")
    os.environ.setdefault("RETRAIN_SWEEP_SCHEDULE", "0 */5 * * * *")
    world = fakes.FakeWorld((MODEL,))
    world.artifacts = PassingArtifacts()
    world.service.context.artifacts = world.artifacts
    world.pipeline = InstantPipeline()
    world.service.context.pipeline = world.pipeline
    world.data.put(DATA_BLOB, samples.csv_rows(2000, 4))
    set_service(world.service)
    if os.environ.get("RETRAIN_DECISIONS_FILE"):
        decisions = logging.getLogger("shared.telemetry.decisions")
        decisions.setLevel(logging.DEBUG)
        decisions.addHandler(DecisionFile(os.environ["RETRAIN_DECISIONS_FILE"]))
