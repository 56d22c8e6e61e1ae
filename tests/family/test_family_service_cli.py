"""retrainctl's family commands over the service wired to fakes: production per series,
one series, a run's verdicts, rollback and pins."""

from __future__ import annotations

import io
import json

import pytest

from retrainctl.cli import main
from tests.family.service_world import MODEL, FamilyWorld, row


@pytest.fixture
def world() -> FamilyWorld:
    world = FamilyWorld()
    first = world.launch("2002", {"a": 1.0, "b": 2.0}, year=2002, event_id="e1")
    world.finish_family(first, [row("a", candidate=0.5), row("b", candidate=0.6)])
    second = world.launch("2003", {"a": 1.0, "b": 2.0}, year=2003, event_id="e2")
    world.finish_family(
        second, [row("a", candidate=0.4, champion=0.5, data_end="2003-12-01T00:00:00")]
    )
    world.keys = [first, second]  # type: ignore[attr-defined]
    return world


def run(world: FamilyWorld, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), service=world.service, out=out), out.getvalue()


def test_series_views(world):
    first, second = world.keys
    code, text = run(world, "series", MODEL)
    assert code == 0
    assert text.splitlines()[0] == f"{MODEL}: 2 series in production"
    [a_line] = [line for line in text.splitlines() if line.startswith("a ")]
    assert a_line.split() == ["a", "v2", "2003-12-01", second]
    code, text = run(world, "--json", "series", MODEL, "a")
    assert json.loads(text)["production"]["previous"]["run_key"] == first
    code, text = run(world, "--json", "run-series", first, "--action", "promoted")
    assert sorted(json.loads(text)["series"]) == ["a", "b"]


def test_rollback_and_pin_from_the_command_line(world):
    first, _ = world.keys
    code, text = run(
        world, "family", MODEL, "rollback", "--series", "a", "--reason", "x", "--by", "ana"
    )
    assert code == 0 and text.startswith("ROLLBACK: series a: v2 -> v1, by ana: x")
    assert run(world, "family", MODEL, "pin", "--reason", "freeze")[0] == 0
    code, text = run(world, "series", MODEL)
    assert "family pinned by" in text and "freeze" in text
    code = run(
        world,
        "family",
        MODEL,
        "rollback",
        "--series",
        "a",
        "--expected-version",
        "2",
        "--reason",
        "y",
    )[0]
    assert code == 3  # the series is at v1 now: look again
    assert run(world, "family", MODEL, "pin", "--run-key", first, "--reason", "z")[0] == 1


def test_the_model_list_shows_a_family_by_its_series(world):
    code, text = run(world, "models")
    assert code == 0
    assert text.splitlines()[0].split() == [
        MODEL,
        "family",
        "(unique_id):",
        "2",
        "series",
        "in",
        "production",
    ]


def test_a_family_command_line_that_cannot_work_says_which_option_is_missing(world, capsys):
    assert run(world, "family", MODEL, "rollback", "--reason", "x")[0] == 1
    assert capsys.readouterr().err.startswith(
        f"error: family {MODEL} rollback needs --series ID (that series, to its previous "
        "model or --version N) or --run-key KEY (every series that run promoted), not neither"
    )
    assert run(world, "family", MODEL, "pin", "--series", "a")[0] == 1
    assert f"family {MODEL} pin needs --reason" in capsys.readouterr().err
    # A model-wide rollback of a family names the family command that does it.
    assert run(world, "rollback", MODEL, "1", "--reason", "x")[0] == 1
    assert f"retrainctl family {MODEL} rollback --series ID" in capsys.readouterr().err


def test_paging_options_that_do_not_go_together_are_refused(world, capsys):
    assert run(world, "series", MODEL, "a", "--after", "a")[0] == 1
    assert "one series pages with --before" in capsys.readouterr().err
    assert run(world, "series", MODEL, "--before", "00/x")[0] == 1
    assert "--before pages one series' history: name the series" in capsys.readouterr().err


def test_one_series_and_a_runs_verdicts_read_as_text(world):
    first, second = world.keys
    code, text = run(world, "series", MODEL, "a", "--limit", "1")
    lines = text.splitlines()
    assert code == 0
    assert lines[0] == f"a of {MODEL}: production v2 (run {second}, data end 2003-12-01, by gate)"
    assert lines[1].split()[1:5] == ["promoted", "v1", "->", "v2"]
    assert lines[2].startswith("(older entries: --before ")
    run(world, "family", MODEL, "rollback", "--series", "a", "--reason", "spiky", "--by", "ana")
    lines = run(world, "series", MODEL, "a")[1].splitlines()
    assert lines[0] == f"a of {MODEL}: production v1 (run {first}, data end 2002-12-01, by ana)"
    assert [line.split()[1:5] for line in lines[1:]] == [
        ["promoted", "-", "->", "v1"],
        ["promoted", "v1", "->", "v2"],
        ["rollback", "v2", "->", "v1"],
    ]
    code, text = run(world, "run-series", first)
    assert text.splitlines()[0] == f"run {first} (v1): 2 series"
    assert [line.split()[:4] for line in text.splitlines()[2:]] == [
        ["a", "ok", "promoted", "0.500"],
        ["b", "ok", "promoted", "0.600"],
    ]
