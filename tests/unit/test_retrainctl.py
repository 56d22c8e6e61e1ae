"""The operator CLI over a service wired to fakes."""

import io
import json

import pytest

from retrainctl.cli import main
from shared.settings import ModelConfig
from tests import samples
from tests.fakes import FakeWorld, metrics_v2

MODELS = (ModelConfig(name="co2", prefix="co2/", horizon=24),)


@pytest.fixture
def world() -> FakeWorld:
    world = FakeWorld(MODELS)
    for year, metrics in (
        (2000, metrics_v2(candidate=0.5, data_end="2000-12-01")),
        (2001, metrics_v2(candidate=0.4, champion=0.5, data_end="2001-12-01")),
    ):
        message = world.arrive(f"co2/{year}.csv", samples.csv_rows(year, 1), event_id=str(year))
        [launched] = world.service.handle(message)
        world.complete(str(launched.run_key), metrics)
    return world


def run(world: FakeWorld, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), service=world.service, out=out), out.getvalue()


def test_rollback_pin_unpin_and_history(world):
    code, text = run(world, "rollback", "co2", "1", "--reason", "v2 drifts", "--by", "ana")
    assert code == 0 and text.startswith("ROLLED_BACK: production: v2 -> v1")
    assert run(world, "pin", "co2", "--reason", "freeze", "--by", "ben")[0] == 0
    code, text = run(world, "history", "co2")
    assert "co2: production v1, pinned by ben: freeze" in text
    assert "rolled_back       v2 -> v1    by ana: v2 drifts" in text
    assert run(world, "unpin", "co2", "--by", "ben")[0] == 0
    code, text = run(world, "--json", "history", "co2")
    assert [h["action"] for h in json.loads(text)["history"]][-3:] == [
        "rolled_back",
        "pinned",
        "unpinned",
    ]


def test_views(world):
    code, text = run(world, "models")
    assert code == 0 and "co2" in text and "production v2" in text
    code, text = run(world, "versions", "co2")
    assert "v2       passed    0.400          yes" in text
    code, text = run(world, "ledger", "co2", "--limit", "1")
    assert "gate" in text and "promoted" in text


def test_refusals_exit_non_zero_with_the_reason(world, capsys):
    assert run(world, "rollback", "co2", "2", "--reason", "r")[0] == 1
    assert "already in production" in capsys.readouterr().err
    code, _ = run(world, "promote", "co2", "1", "--reason", "r", "--expected-version", "1")
    assert code == 3 and "production of co2 is v2, not v1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        run(world, "rollback", "co2", "one", "--reason", "r")
    assert exit_.value.code == 2


def test_report_to_a_file(world, tmp_path):
    target = tmp_path / "v2.html"
    code, text = run(world, "report", "co2", "2", "-o", str(target))
    assert code == 0 and "wrote" in text
    assert "beats_champion" in target.read_text(encoding="utf-8")
    key = world.service.list_versions("co2")[0]["tags"]["run_key"]
    code, text = run(world, "report", "--run", key)
    assert code == 0 and text.startswith("<!DOCTYPE html>")
    assert run(world, "report")[0] == 1


def test_help_names_every_command(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for command in (
        "models",
        "versions",
        "history",
        "ledger",
        "rollback",
        "promote",
        "pin",
        "unpin",
        "report",
    ):
        assert command in text
