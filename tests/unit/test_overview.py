"""The dashboard's view-model (the package shared/service/overview/): built from the queries over a
service wired to fakes, and its pure parts (timeline placement, next tick, metrics)."""

from datetime import UTC, datetime, timedelta

import pytest

from shared.errors import InvalidData
from shared.messages import PauseRequested
from shared.ports import PipelineRun, PipelineStep, PipelineSubmission
from shared.service import overview
from shared.settings import ModelConfig
from tests import samples
from tests.fakes import FakePipeline, FakeWorld, metrics_v2

MODELS = (
    ModelConfig(name="co2", prefix="co2/", horizon=24),
    ModelConfig(name="gas", prefix="gas/", frequency="QS", season_length=4),
)
BROKEN = "timestamp,value\n2002-01-01,1.0\n2002-02-01,oops\n"


@pytest.fixture
def world() -> FakeWorld:
    """co2: v1 promoted, then v2 rejected by the gate, then a broken file; gas: paused."""
    world = FakeWorld(MODELS)
    for year, metrics in (
        (2000, metrics_v2(candidate=0.5, data_end="2000-12-01T00:00:00")),
        (2001, metrics_v2(candidate=0.9, champion=0.5, data_end="2001-12-01T00:00:00")),
    ):
        message = world.arrive(f"co2/{year}.csv", samples.csv_rows(year, 1), event_id=str(year))
        [launched] = world.service.handle(message)
        world.clock.advance(minutes=30)
        world.complete(str(launched.run_key), metrics)
        world.clock.advance(minutes=5)
    broken = world.arrive("co2/broken.csv", BROKEN, event_id="broken")
    with pytest.raises(InvalidData) as refused:
        world.service.handle(broken)
    world.service.dead_letter("on_blob_created", '{"subject": "co2/broken.csv"}', refused.value)
    world.service.handle(PauseRequested("gas", "holiday <b>freeze</b>", "ana"))
    return world


def test_cards_say_what_is_in_production_what_ran_and_what_comes_next(world: FakeWorld):
    view = overview.build(world.service.context, schedule="0 30 4 * * *")

    co2, gas = view["models"]
    assert co2["name"] == "co2" and co2["production_version"] == 1
    assert co2["last_run"]["status"] == "Completed"
    assert co2["last_run"]["decision"] == "registered v2, not promoted"
    assert co2["last_decision"]["action"] == "skip"
    assert co2["last_decision"]["reason"].startswith("quarantined: co2/broken.csv")
    assert co2["next_tick"] == "2026-01-01T04:30:00+00:00"  # the clock is at 01:10
    assert co2["paused"] is None
    assert co2["freshness"]["data_end"] == "2000-12-01T00:00:00"  # v1's, in production
    assert gas["production_version"] is None and gas["last_run"] is None
    assert gas["paused"]["reason"] == "holiday <b>freeze</b>"
    assert gas["paused"]["by"] == "ana"


def test_versions_carry_comparable_metrics_and_lineage(world: FakeWorld):
    co2 = overview.build(world.service.context)["models"][0]
    v2, v1 = co2["versions"]
    assert (v2["version"], v2["production"], v2["gate"]) == (2, False, "rejected")
    assert (v1["version"], v1["production"], v1["gate"]) == (1, True, "passed")
    rows = {(m["model"], m["window"]): m["mase"] for m in v2["metrics"]}
    assert rows[("candidate", "backtest")] == 0.9 and rows[("champion", "backtest")] == 0.5
    assert rows[("baseline", "holdout")] == 1.0
    assert v2["lineage"]["champion"].startswith("v1 (run co2-")
    assert v1["lineage"]["champion"].startswith("none")
    assert v1["lineage"]["files"] == ["co2/2000.csv"]
    assert v1["report_url"] == "models/co2/versions/1/report"


def test_the_timeline_places_runs_marks_and_the_production_pointer(world: FakeWorld):
    timeline = overview.build(world.service.context)["models"][0]["timeline"]
    first, second = sorted(timeline["runs"], key=lambda r: r["x0"])
    assert 0 < first["x0"] < first["x1"] < second["x0"] < second["x1"] <= 1
    assert {r["status"] for r in timeline["runs"]} == {"Completed"}
    lanes = [(m["lane"], m["action"]) for m in sorted(timeline["marks"], key=lambda m: m["x"])]
    assert lanes == [
        ("arrival", "retrain"),
        ("verdict", "promoted"),
        ("arrival", "retrain"),
        ("verdict", "rejected"),
        ("arrival", "skip"),
    ]
    [production] = timeline["production"]
    assert production["version"] == 1 and production["x1"] == 1
    assert first["x0"] < production["x0"] < second["x0"]


def test_dead_letters_and_quarantined_files_are_listed(world: FakeWorld):
    view = overview.build(world.service.context)
    [letter] = view["dead_letters"]
    assert letter["source"] == "on_blob_created" and letter["error_type"] == "InvalidData"
    assert "co2/broken.csv" in letter["payload_preview"]
    [quarantined] = view["quarantine"]
    assert quarantined["blob"] == "co2/broken.csv" and quarantined["model"] == "co2"
    assert "oops" in quarantined["reason"]


def test_the_plot_is_the_production_runs(world: FakeWorld):
    co2 = overview.build(world.service.context)["models"][0]
    key = co2["versions"][1]["run_key"]  # v1's, in production
    assert co2["plot"] == {"run_key": key, "url": f"runs/{key}/plot", "of": "production"}


class TimedPipeline:
    """The fake backend, telling each run's steps as a ``RunInspector`` does."""

    def __init__(self, inner: FakePipeline, steps: list[PipelineStep]) -> None:
        self.inner, self.steps = inner, steps

    def submit(self, submission: PipelineSubmission) -> PipelineRun:
        return self.inner.submit(submission)

    def get_run(self, run_id: str) -> PipelineRun:
        return self.inner.get_run(run_id)

    def find_run(self, run_key: str) -> PipelineRun | None:
        return self.inner.find_run(run_key)

    def get_steps(self, run_id: str) -> list[PipelineStep]:
        self.inner.get_run(run_id)  # NotFound for a run it does not know
        return self.steps

    def get_log_tail(self, run_id: str, step: str, *, lines: int = 100) -> list[str]:
        return []


def test_the_newest_runs_carry_their_steps_when_the_backend_tells(world: FakeWorld):
    """FakePipeline is no RunInspector: the backend cannot say, and no step is made up;
    one that tells gives each run its step bars."""
    co2 = overview.build(world.service.context)["models"][0]
    assert [r["steps"] for r in co2["runs"]] == [[], []]

    [run] = [r for r in co2["runs"][:1]]
    began = datetime.fromisoformat(run["started_at"])
    steps = [
        PipelineStep("prep", "Completed", began.isoformat(), None, 4.0, reused=True),
        PipelineStep(
            "train",
            "Completed",
            (began + timedelta(seconds=4)).isoformat(),
            (began + timedelta(seconds=60)).isoformat(),
            56.0,
        ),
    ]
    world.service.context.pipeline = TimedPipeline(world.pipeline, steps)
    co2 = overview.build(world.service.context)["models"][0]
    newest = co2["runs"][0]
    assert [(s["name"], s["seconds"], s["reused"]) for s in newest["steps"]] == [
        ("prep", 4.0, True),
        ("train", 56.0, False),
    ]
    bar = next(b for b in co2["timeline"]["runs"] if b["run_key"] == newest["run_key"])
    [train] = [s for s in bar["steps"] if s["name"] == "train"]
    assert bar["x0"] <= train["x0"] < train["x1"]


# ------------------------------------------------------------------------------ pure parts

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(minutes: float) -> str:
    return (NOW + timedelta(minutes=minutes)).isoformat()


def test_step_timings_become_bars_inside_their_run():
    run = {
        "run_key": "m-0000000000000001",
        "status": "Running",
        "created_at": at(-60),
        "steps": [
            {"name": "prep", "status": "Completed", "started_at": at(-58), "duration_s": 480},
            {"name": "train", "status": "Running", "started_at": at(-50)},
        ],
    }
    timeline = overview.timeline(runs=[run], ledger=[], history=[], now=NOW)
    [bar] = timeline["runs"]
    assert bar["x1"] == 1  # still running: it reaches now
    prep, train = bar["steps"]
    assert bar["x0"] < prep["x0"] < prep["x1"] == train["x0"] < train["x1"] == 1
    assert prep["seconds"] == 480 and train["seconds"] == 3000


def test_an_empty_history_has_an_empty_timeline_and_unreadable_times_are_left_out():
    assert overview.timeline(runs=[], ledger=[], history=[], now=NOW)["start"] is None
    timeline = overview.timeline(
        runs=[{"run_key": "m-0000000000000001", "created_at": "yesterday"}],
        ledger=[{"at": at(-5), "kind": "trigger", "action": "skip", "reason": "r"}],
        history=[{"at": None, "to_version": 3}],
        now=NOW,
    )
    assert timeline["runs"] == [] and timeline["production"] == []
    [mark] = timeline["marks"]
    assert mark["lane"] == "decision" and 0 < mark["x"] < 1


def test_a_rollback_ends_one_production_segment_and_starts_another():
    history = [
        {"at": at(-100), "to_version": 1},
        {"at": at(-50), "to_version": 2},
        {"at": at(-10), "to_version": 1},
    ]
    segments = overview.timeline(runs=[], ledger=[], history=history, now=NOW)["production"]
    assert [s["version"] for s in segments] == [1, 2, 1]
    assert segments[0]["x1"] == segments[1]["x0"] and segments[1]["x1"] == segments[2]["x0"]
    assert segments[2]["x1"] == 1


def test_next_tick_reads_six_field_ncrontab_and_refuses_nonsense():
    assert overview.next_tick_after("0 */5 * * * *", NOW) == "2026-03-01T12:05:00+00:00"
    assert overview.next_tick_after("0 0 3 * * 1", NOW) == "2026-03-02T03:00:00+00:00"
    assert overview.next_tick_after("not a schedule", NOW) is None


def test_comparable_metrics_without_metrics_is_empty():
    assert overview.comparable_metrics(None) == []
    assert overview.comparable_metrics({"candidate": "?"}) == []
