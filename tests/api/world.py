"""A service wired for the API tests: FakeWorld's ports, or Azurite-backed stores, with a
pipeline that can describe its steps (``RunInspector``), and helpers that call the
indexed functions with real ``func.HttpRequest`` objects, as the worker would."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import azure.functions as func

from shared.errors import NotFound
from shared.ports import PipelineStep
from shared.settings import ModelConfig
from tests import samples
from tests.fakes import FakePipeline, FakeWorld, metrics_v2
from tests.functions.conftest import user_functions

MODELS = (ModelConfig(name="co2", prefix="co2/", horizon=24),)
BAD_CSV = "timestamp,value\n2003-01-01,abc\n"


class InspectablePipeline(FakePipeline):
    """FakePipeline whose runs have three steps with logs (a ``RunInspector``); counts
    the step questions it was asked."""

    def __init__(self) -> None:
        super().__init__()
        self.step_questions: list[str] = []

    def get_steps(self, run_id: str) -> list[PipelineStep]:
        self.step_questions.append(run_id)
        run = self.get_run(run_id)
        done = run.finished
        return [
            PipelineStep("prep", "Completed", "2026-01-01T00:00:00+00:00", None, 1.5, True),
            PipelineStep("train", "Completed" if done else "Running", None, None, 2.0),
            PipelineStep("evaluate", run.status if done else "NotStarted"),
        ]

    def get_log_tail(self, run_id: str, step: str, *, lines: int = 100) -> list[str]:
        if step not in ("prep", "train", "evaluate"):
            raise NotFound(f"run {run_id!r} has no step {step!r}")
        return [f"{step} line {n}" for n in range(1, 6)][-lines:] if lines else []


def trained_world(world: FakeWorld) -> FakeWorld:
    """co2 with v1 and v2 (v2 in production, its run scored v1 as champion)."""
    for year, metrics in (
        (2000, metrics_v2(candidate=0.5, data_end="2000-12-01")),
        (2001, metrics_v2(candidate=0.4, champion=0.5, data_end="2001-12-01")),
    ):
        message = world.arrive(f"co2/{year}.csv", samples.csv_rows(year, 1), event_id=str(year))
        [launched] = world.service.handle(message)
        world.complete(str(launched.run_key), metrics)
        world.clock.advance(hours=1)
    return world


def call(
    function: str,
    method: str = "GET",
    body: Any = None,
    *,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    **route_params: str,
) -> func.HttpResponse:
    data = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    request = func.HttpRequest(
        method,
        "/api/x",
        body=data,
        headers=dict(headers or {}),
        params=dict(params or {}),
        route_params=route_params,
    )
    return user_functions()[function](request)


def answer(response: func.HttpResponse) -> Any:
    return json.loads(response.get_body())
