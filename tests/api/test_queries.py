"""The listing queries the API and the dashboard read: runs per model (newest first, a
page costing its size), dead letters and quarantined files."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from shared.errors import InvalidData, InvalidInput, NotFound
from shared.messages import RetrainRequested
from shared.ports import JSON
from shared.settings import ModelConfig
from tests import samples
from tests.fakes import FakeStateStore, FakeWorld, metrics_v2

MODELS = (
    ModelConfig(name="co2", prefix="co2/", horizon=24),
    # A name that extends another model's: its runs must not be listed as co2's.
    ModelConfig(name="co2-x", prefix="co2x/", horizon=24),
)


class CountingState:
    """The fake state store, counting reads (what a page costs)."""

    def __init__(self, inner: FakeStateStore) -> None:
        self.inner = inner
        self.gets: list[str] = []

    def create(self, key: str, document: Mapping[str, Any]) -> str:
        return self.inner.create(key, document)

    def get(self, key: str) -> tuple[JSON, str]:
        self.gets.append(key)
        return self.inner.get(key)

    def replace(self, key: str, document: Mapping[str, Any], *, etag: str) -> str:
        return self.inner.replace(key, document, etag=etag)

    def list_keys(self, prefix: str) -> list[str]:
        return self.inner.list_keys(prefix)

    def delete(self, key: str) -> None:
        self.inner.delete(key)


def _run(world: FakeWorld, name: str, year: int) -> str:
    [launched] = world.service.handle(
        world.arrive(name, samples.csv_rows(year, 1), event_id=f"{name}-{year}")
    )
    assert launched.run_key is not None
    world.clock.advance(hours=1)
    return launched.run_key


@pytest.fixture
def world() -> FakeWorld:
    return FakeWorld(MODELS)


def test_runs_are_listed_newest_first_with_their_run_key(world):
    first = _run(world, "co2/2000.csv", 2000)
    world.complete(first, metrics_v2(candidate=0.5, data_end="2000-12-01"))
    other = _run(world, "co2x/2000.csv", 2000)
    second = _run(world, "co2/2001.csv", 2001)

    runs = world.service.list_runs("co2")
    assert [r["run_key"] for r in runs] == [second, first]
    assert runs[1]["status"] == "Completed" and runs[0]["status"] == "Queued"
    assert [r["run_key"] for r in world.service.list_runs("co2-x")] == [other]
    assert [r["run_key"] for r in world.service.list_runs("co2", limit=1)] == [second]
    assert world.service.list_runs("co2", limit=0) == []


def test_an_attempt_is_listed_as_its_own_run(world):
    first = _run(world, "co2/2000.csv", 2000)
    world.complete(first, metrics_v2(candidate=0.5, data_end="2000-12-01"))
    [forced] = world.service.handle(RetrainRequested("co2", "ana", "again", force=True))
    assert forced.run_key == f"{first}-r2"
    assert [r["run_key"] for r in world.service.list_runs("co2")] == [f"{first}-r2", first]


def test_a_page_of_runs_costs_its_size_once_indexed(world):
    keys = []
    for year in range(2000, 2006):
        keys.append(_run(world, f"co2/{year}.csv", year))
        world.complete(keys[-1], metrics_v2(candidate=0.5, data_end=f"{year}-12-01"))
    counting = CountingState(world.state)
    world.service.context.state = counting
    world.service.list_runs("co2", limit=2)  # the first listing indexes what it meets
    assert sorted(set(counting.gets)) == sorted(f"runs/{k}.json" for k in keys)
    counting.gets.clear()
    assert [r["run_key"] for r in world.service.list_runs("co2", limit=2)] == keys[:-3:-1]
    assert counting.gets == [f"runs/{keys[-1]}.json", f"runs/{keys[-2]}.json"]


def test_runs_of_unknown_models_and_bad_limits_are_refused(world):
    with pytest.raises(NotFound):
        world.service.list_runs("nope")
    with pytest.raises(InvalidInput, match="limit"):
        world.service.list_runs("co2", limit=-1)


def test_dead_letters_are_listed_newest_first_with_a_preview(world):
    world.service.dead_letter("on_blob_created", '{"id": "a"}', InvalidInput("bad a"))
    world.clock.advance(minutes=5)
    world.service.dead_letter("on_run_completed", "x" * 1000, InvalidInput("bad b"))
    world.clock.advance(minutes=5)
    world.service.dead_letter("on_blob_created", b"\xff\xfe", InvalidInput("bad c"))

    listed = world.service.list_dead_letters()
    assert [d["reason"] for d in listed] == ["bad c", "bad b", "bad a"]
    assert listed[1]["payload_preview"] == "x" * 200 and "payload" not in listed[1]
    assert listed[0]["payload_preview"].startswith("(binary, base64)")
    assert [d["reason"] for d in world.service.list_dead_letters(limit=1)] == ["bad c"]
    full = world.service.get_dead_letter(listed[1]["id"])
    assert full["payload"] == "x" * 1000 and full["source"] == "on_run_completed"
    with pytest.raises(NotFound):
        world.service.get_dead_letter("on_run_completed/../../runs")


def test_quarantined_files_are_listed_with_their_model(world):
    assert world.service.list_quarantine() == []
    bad = world.arrive("co2/b.csv", "timestamp,value\n2003-01-01,abc\n", event_id="e2")
    with pytest.raises(InvalidData):
        world.service.handle(bad)
    [entry] = world.service.list_quarantine()
    assert entry["blob"] == "co2/b.csv" and entry["model"] == "co2"
    assert "abc" in entry["reason"]


def test_the_ledger_reads_decisions_taken_together_as_each_of_them(world):
    from shared.service import queries

    ctx = world.service.context
    ctx.state.create("ledger/co2/20240101T000000000000Z-a.json", {"action": "retrain", "n": 0})
    decisions = [{"action": "skip", "n": 1}, {"action": "retrain", "n": 2}]
    batch = {"action": "batch", "kind": "trigger", "decisions": decisions}
    ctx.state.create("ledger/co2/20240101T000001000000Z-b.json", batch)
    every = [e["n"] for e in queries.list_ledger(ctx, "co2")]
    assert every[-3:] == [0, 1, 2]
    assert [e["n"] for e in queries.list_ledger(ctx, "co2", limit=1)] == [2]
