"""The app's service inside the worker process for the conformance test: the real
``RetrainService`` over in-memory ports (tests/fakes.py), with one model, one data file
and a pipeline whose every run writes passing metrics, installed with ``set_service`` the
way the local host does. The worker then loads ``function_app`` itself."""

from __future__ import annotations

import os
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


def install() -> None:
    os.environ.setdefault("RETRAIN_SCHEDULE", "0 0 3 * * *")
    os.environ.setdefault("RETRAIN_SWEEP_SCHEDULE", "0 */5 * * * *")
    world = fakes.FakeWorld((MODEL,))
    world.artifacts = PassingArtifacts()
    world.service.context.artifacts = world.artifacts
    world.data.put(DATA_BLOB, samples.csv_rows(2000, 4))
    set_service(world.service)
