"""The models a person writes (RETRAIN_MODELS_FILE, YAML or JSON, or the inline
RETRAIN_MODELS) and what the start says when they are wrong: every problem of every model
at once, each at its file and line."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.bootstrap import check_storage
from shared.errors import ConfigurationError
from shared.settings import (
    APP_ROOT,
    Settings,
    container_problem,
    frequency_problem,
)
from shared.settings.frequency import renamed_alias

STORAGE = {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}


def problems_of(env: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env(STORAGE | env)
    return [line.strip()[2:] for line in str(caught.value).splitlines()[1:]]


def with_file(tmp_path: Path, name: str, text: str) -> dict[str, str]:
    path = tmp_path / name
    path.write_text(text)
    return {"RETRAIN_MODELS_FILE": str(path)}


BROKEN_YAML = """\
models:
  - name: sales
    prefix: sales/
    frequency: monthly
    horizon: 0
    colour: red
    gate:
      significance: 0.9
  - name: Demand
    prefix: /demand
    season_length: two
    policy:
      cooldown: soon
    series_columns: [store, store]
"""


def test_every_problem_of_every_model_is_reported_at_its_line(tmp_path: Path):
    env = with_file(tmp_path, "models.yaml", BROKEN_YAML)
    found = problems_of(env)
    where = env["RETRAIN_MODELS_FILE"]
    expected = [
        f"{where}:4: model 'sales': field 'frequency': 'monthly' is not a pandas offset alias",
        f"{where}:5: model 'sales': field 'horizon' must be a positive whole number, got 0",
        f"{where}:6: model 'sales': field 'colour' is an unknown field",
        f"{where}:8: model 'sales': field 'gate.significance' must be a level in (0, 0.5)",
        f"{where}:9: model 'Demand': field 'name' must be lowercase letters",
        f"{where}:10: model 'Demand': field 'prefix': must look like 'name/'",
        f"{where}:11: model 'Demand': field 'season_length' must be a positive whole number",
        f"{where}:13: model 'Demand': field 'policy.cooldown': 'soon' is not a duration",
        f"{where}:14: model 'Demand': field 'series_columns' names ['store'] more than once",
    ]
    for start in expected:
        assert any(problem.startswith(start) for problem in found), (start, found)
    assert len(found) == len(expected), found


def test_json_models_file_problems_carry_lines_too(tmp_path: Path):
    text = json.dumps(
        [
            {"name": "a", "prefix": "a/", "frequency": "D", "season_length": 7},
            {"name": "b", "prefix": "b/", "frequency": "M", "backtest_folds": -1},
        ],
        indent=2,
    )
    env = with_file(tmp_path, "models.json", text)
    found = problems_of(env)
    where = env["RETRAIN_MODELS_FILE"]
    assert found == [
        f"{where}:11: model 'b': field 'frequency': 'M' is not a pandas offset alias such as "
        "'D', 'W-SUN', 'MS', 'QS', 'YS' or 'h' (pandas no longer reads it: use 'ME' "
        "instead)",
        f"{where}:12: model 'b': field 'backtest_folds' must be a whole number >= 0, got -1",
    ]


def test_an_unknown_field_does_not_hide_the_other_problems_inline():
    found = problems_of(
        {
            "RETRAIN_MODELS": json.dumps(
                [{"name": "a", "prefix": "a/", "colour": "red", "horizon": -1, "frequency": "x"}]
            )
        }
    )
    assert [problem.split(" ", 1)[0] for problem in found] == [
        "RETRAIN_MODELS[0].colour",
        "RETRAIN_MODELS[0].frequency:",
        "RETRAIN_MODELS[0].horizon",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("models:\n  - name: a\n    prefix: [a/\n", ":4:1: not valid YAML: expected ','"),
        ("- name: a\n  prefix: a/\n  name: b\n", ":3: model #1: field 'name' is written twice"),
        ("- name: a\n  prefix: a/\n- name: a\n  prefix: b/\n", ":3: model 'a': field 'name'"),
        ("- name: a\n  prefix: a/\n- name: b\n  prefix: a/b/\n", "prefixes 'a/' and 'a/b/'"),
        ("- name: a\n", ":1: model 'a' lacks the required field 'prefix'"),
        ("- just a string\n", ":1: model #1 must be a mapping of model fields"),
        ("settings: {}\n", "expected a list of models, or a mapping with one key 'models'"),
        ("[]\n", "must be a non-empty JSON list of models"),
    ],
)
def test_models_file_shapes(tmp_path: Path, text: str, expected: str):
    found = problems_of(with_file(tmp_path, "models.yaml", text))
    assert any(expected in problem for problem in found), found


def test_unreadable_json_names_line_and_column(tmp_path: Path):
    found = problems_of(with_file(tmp_path, "models.json", '[\n  {"name": "a",,}\n]'))
    assert found == [
        f"{tmp_path / 'models.json'}:2:16: not valid JSON: Expecting property name "
        "enclosed in double quotes"
    ]


def test_a_missing_file_and_two_sources_are_named():
    assert problems_of({"RETRAIN_MODELS_FILE": "/nonexistent/models.yaml"})[0].startswith(
        "RETRAIN_MODELS_FILE='/nonexistent/models.yaml' cannot be read"
    )
    both = problems_of({"RETRAIN_MODELS_FILE": "x.yaml", "RETRAIN_MODELS": "[]"})
    assert both[0].startswith("RETRAIN_MODELS and RETRAIN_MODELS_FILE are both set")
    assert problems_of({})[0].startswith("no models are configured: set RETRAIN_MODELS_FILE")


def test_the_documented_example_file_is_valid_and_relative_to_the_app():
    settings = Settings.from_env(STORAGE | {"RETRAIN_MODELS_FILE": "docs/examples/models.yaml"})
    assert settings.models_file == APP_ROOT / "docs" / "examples" / "models.yaml"
    sales, quarterly = settings.models
    assert (sales.name, sales.frequency, sales.season_length) == ("store-sales", "D", 7)
    assert sales.policy.quiet_period == 600
    assert (quarterly.frequency, dict(quarterly.gate)) == ("QS", {"min_improvement": 0.02})


def test_series_columns_name_the_series_inside_a_file(tmp_path: Path):
    env = with_file(
        tmp_path,
        "models.yaml",
        "- name: stores\n  prefix: stores/\n  series_columns: [store, product]\n",
    )
    [model] = Settings.from_env(STORAGE | env).models
    assert model.series_columns == ("store", "product")
    assert (
        Settings.from_env(STORAGE | {"RETRAIN_MODELS": '[{"name": "a", "prefix": "a/"}]'})
        .models[0]
        .series_columns
        == ()
    )
    bad = with_file(
        tmp_path,
        "bad.yaml",
        "- name: s\n  prefix: s/\n  series_columns: [timestamp]\n"
        "- name: t\n  prefix: t/\n  series_columns: store\n",
    )
    found = problems_of(bad)
    assert "field 'series_columns': 'timestamp' is the time or value column" in found[0]
    assert "field 'series_columns' must be a list of column names" in found[1]


def _pandas_reads(alias: str) -> bool:
    """pandas' own verdict, a deprecation warning counting as a refusal."""
    import warnings

    from pandas.tseries.frequencies import to_offset

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            to_offset(alias)
    except (ValueError, TypeError, Warning):
        return False
    return True


@pytest.mark.parametrize(
    "good", ["D", "2D", "W-SUN", "MS", "ME", "QS", "QS-JAN", "QE-DEC", "YS", "h", "15min", "B"]
)
def test_pandas_frequencies_are_accepted(good: str):
    assert _pandas_reads(good)
    assert frequency_problem(good) is None


def test_the_pattern_accepts_nothing_pandas_refuses():
    """Every base the pattern knows or retired, with counts and anchors: what the pattern
    accepts pandas reads without a warning (the other way round the pattern is stricter:
    combined forms such as '2D12h' are refused)."""
    bases = "ns us ms s min h D B C W ME MS SME SMS BME BMS CBME CBMS QE QS BQE BQS YE YS BYE"
    bases += " BYS bh cbh M Q Y A H T S L U N BM SM BQ BA BY AS d w b c MIN Min US NS"
    anchors = ["", "-JAN", "-DEC", "-SUN", "-MON", "-sun", "-XYZ"]
    checked = 0
    for base in bases.split():
        for anchor in anchors:
            for count in ["", "1", "2", "10"]:
                alias = f"{count}{base}{anchor}"
                if frequency_problem(alias) is None:
                    assert _pandas_reads(alias), alias
                    checked += 1
    assert checked > 100


@pytest.mark.parametrize("bad", ["monthly", "1 day", "", "MS-JAN", "W-XYZ", "Ms"])
def test_other_frequencies_are_refused(bad: str):
    assert not _pandas_reads(bad)
    problem = frequency_problem(bad)
    assert problem is not None and problem.startswith(f"{bad!r} is not a pandas offset alias")
    assert "instead" not in problem


@pytest.mark.parametrize(
    "retired",
    [
        "M",
        "Q",
        "Y",
        "A",
        "H",
        "T",
        "S",
        "L",
        "U",
        "N",
        "BM",
        "SM",
        "BQ",
        "BA",
        "BY",
        "AS",
        "BAS",
        "BH",
        "CBM",
        "Q-DEC",
        "A-DEC",
        "Y-DEC",
        "2H",
        "5T",
        "m",
        "q",
        "d",
        "w",
        "MIN",
    ],
)
def test_retired_aliases_are_refused_with_their_replacement(retired: str):
    """Without pandas (the Function App) the message names the alias that replaced a
    retired one; pandas refuses the old one and reads the new one without a warning."""
    assert not _pandas_reads(retired)
    instead = renamed_alias(retired)
    assert instead is not None and _pandas_reads(instead)
    assert frequency_problem(retired) == (
        f"{retired!r} is not a pandas offset alias such as 'D', 'W-SUN', 'MS', 'QS', 'YS' "
        f"or 'h' (pandas no longer reads it: use {instead!r} instead)"
    )


@pytest.mark.parametrize("good", ["data", "retrain-state", "a1b", "x" * 63])
def test_container_names_follow_blob_rules(good: str):
    assert container_problem("RETRAIN_DATA_CONTAINER", good) is None


@pytest.mark.parametrize("bad", ["Data", "da", "a" * 64, "-data", "data-", "da--ta", "da_ta"])
def test_bad_container_names_are_named_at_start(bad: str):
    found = problems_of(
        {"RETRAIN_MODELS": '[{"name": "a", "prefix": "a/"}]', "RETRAIN_STATE_CONTAINER": bad}
    )
    assert found == [
        f"RETRAIN_STATE_CONTAINER={bad!r} is not a Blob container name: 3-63 lowercase "
        "letters, digits and hyphens, starting and ending with a letter or digit, no two "
        "hyphens in a row"
    ]


# ------------------------------------------------------------------ storage at start


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers (a storage that hangs)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    server.close()


def settings_for_storage(connection_string: str, timeout: str = "1") -> Settings:
    return Settings.from_env(
        {
            "RETRAIN_STORAGE_CONNECTION_STRING": connection_string,
            "RETRAIN_MODELS": '[{"name": "a", "prefix": "a/"}]',
            "RETRAIN_STORAGE_TIMEOUT": timeout,
        }
    )


def storage_at(port: int) -> str:
    return (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
    )


def test_a_storage_that_hangs_fails_the_start_naming_the_setting(silent_port: int):
    with pytest.raises(ConfigurationError) as caught:
        check_storage(settings_for_storage(storage_at(silent_port)))
    message = str(caught.value)
    assert message.startswith(
        "the storage named by RETRAIN_STORAGE_CONNECTION_STRING "
        f"(http://127.0.0.1:{silent_port}/devstoreaccount1"
    )
    assert "did not answer within 1 s" in message


def test_a_storage_that_answers_passes(azurite):
    check_storage(settings_for_storage(azurite.connection_string))


def test_a_storage_that_refuses_the_key_is_named(azurite):
    wrong_key = storage_at(azurite.port)  # a key Azurite does not know
    with pytest.raises(ConfigurationError) as caught:
        check_storage(settings_for_storage(wrong_key))
    assert "RETRAIN_STORAGE_CONNECTION_STRING" in str(caught.value)
    assert "refused the service (403)" in str(caught.value)


def test_the_storage_timeout_is_a_setting():
    assert settings_for_storage("UseDevelopmentStorage=true", "0").storage_timeout == 0
    found = problems_of(
        {"RETRAIN_MODELS": '[{"name": "a", "prefix": "a/"}]', "RETRAIN_STORAGE_TIMEOUT": "soon"}
    )
    assert found == ["RETRAIN_STORAGE_TIMEOUT must be seconds in [0, 120], got 'soon'"]
