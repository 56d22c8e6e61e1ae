"""retrainctl's run, version and recovery commands over the service wired to fakes."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from retrainctl.cli import main
from shared.errors import InvalidData, InvalidInput
from tests import samples
from tests.api.world import BAD_CSV, MODELS, InspectablePipeline, trained_world
from tests.fakes import FakeWorld

NEW_COMMANDS = (
    "runs",
    "run",
    "steps",
    "version",
    "compare",
    "deadletters",
    "quarantine",
    "release",
    "replay",
)


@pytest.fixture
def world() -> FakeWorld:
    world = FakeWorld(MODELS)
    world.pipeline = world.service.context.pipeline = InspectablePipeline()
    return trained_world(world)


def run(world: FakeWorld, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), service=world.service, out=out), out.getvalue()


def test_help_covers_every_new_command():
    result = subprocess.run(
        [sys.executable, "-m", "retrainctl", "--help"], capture_output=True, text=True, check=True
    )
    for command in NEW_COMMANDS:
        assert f"    {command}" in result.stdout, command
        assert f"retrainctl {command}" in result.stdout, command  # an example each


def test_runs_run_and_steps(world):
    code, text = run(world, "runs", "co2")
    assert code == 0
    _, newest, oldest = text.splitlines()
    assert newest.split()[1:3] == ["Completed", "v2"] and newest.split()[4] == "3/3"
    assert oldest.split()[1:3] == ["Completed", "v1"]
    key = newest.split()[0]
    code, text = run(world, "--json", "run", key)
    assert json.loads(text)["artifacts"]["metrics"].endswith(f"retrain/{key}/metrics/metrics.json")
    code, text = run(world, "steps", key, "--lines", "1")
    assert text.splitlines()[:2] == ["prep       Completed  1.5s (reused)", "    prep line 5"]
    code, text = run(world, "steps", key, "--step", "train", "--lines", "2")
    assert text.splitlines() == ["train line 4", "train line 5"]
    assert run(world, "steps", "co2-0000000000000000")[0] == 1


def test_version_and_compare(world):
    code, text = run(world, "version", "co2", "v2")
    assert code == 0 and json.loads(text)["lineage"]["champion"]["version"] == 1
    code, text = run(world, "compare", "co2", "1", "2")
    assert json.loads(text)["basis"] == "same_windows"
    assert run(world, "compare", "co2", "1", "1")[0] == 1


def test_deadletters_and_replay_recorded_with_who_and_why(world):
    event = samples.blob_created("co2/2003.csv", event_id="late")
    event["data"]["eTag"] = world.data.put("co2/2003.csv", samples.csv_rows(2003, 1))
    world.service.dead_letter("on_blob_created", json.dumps(event), InvalidInput("down"))
    code, text = run(world, "deadletters")
    letter = text.split()[1]
    assert code == 0 and letter.startswith("on_blob_created/")
    code, text = run(world, "--json", "deadletters", letter)
    assert json.loads(json.loads(text)["payload"])["id"] == "late"
    code, text = run(world, "replay", letter, "--reason", "configured now", "--by", "ana")
    assert code == 0 and text.startswith("REPLAYED: dead letter")
    entry = [e for e in world.service.list_ledger("co2") if e["action"] == "replayed"][-1]
    assert entry["requested_by"] == "ana" and "configured now" in entry["reason"]
    assert "[replayed 1x]" in run(world, "deadletters")[1]


def test_quarantine_and_release(world):
    with pytest.raises(InvalidData):
        world.service.handle(world.arrive("co2/bad.csv", BAD_CSV, event_id="bad"))
    code, text = run(world, "quarantine")
    assert code == 0 and "co2/bad.csv (co2)" in text
    assert json.loads(run(world, "--json", "quarantine", "co2/bad.csv")[1])["model"] == "co2"
    # Released unchanged: checked again, quarantined again, recorded; exit status 1.
    code, text = run(world, "release", "co2/bad.csv", "--reason", "try", "--by", "ben")
    assert code == 1 and "QUARANTINED" in text
    world.data.put("co2/bad.csv", samples.csv_rows(2003, 1))
    code, text = run(world, "release", "co2/bad.csv", "--reason", "fixed", "--by", "ben")
    assert code == 0 and text.splitlines()[-1].startswith("RETRAIN")
    released = [e for e in world.service.list_ledger("co2") if e["action"] == "released"]
    assert [e["requested_by"] for e in released] == ["ben", "ben"]
    assert run(world, "release", "co2/none.csv", "--reason", "x")[0] == 1
