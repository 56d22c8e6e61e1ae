"""A model's ``transform`` (models file / RETRAIN_MODELS): "auto" or "none", sent as the
pipelines' ``transform`` input, for a family as for a single series; not written: not sent
(the pipelines' own default, none)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.errors import ConfigurationError
from shared.settings import ModelConfig, Settings
from tests.family.service_world import FamilyWorld

STORAGE = {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}
SERIES = {"a": 100.0, "b": 50.0}
MODELS = """\
- name: stores
  prefix: stores/
  horizon: 4
  series_columns: [unique_id]
  transform: auto
- name: co2
  prefix: co2/
  transform: auto
- name: plain
  prefix: plain/
"""


def models_from(tmp_path: Path, text: str) -> dict[str, ModelConfig]:
    path = tmp_path / "models.yaml"
    path.write_text(text)
    models = Settings.from_env(STORAGE | {"RETRAIN_MODELS_FILE": str(path)}).models
    return {model.name: model for model in models}


def problems_of(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigurationError) as caught:
        models_from(tmp_path, text)
    return [line.strip()[2:] for line in str(caught.value).splitlines()[1:]]


def test_the_models_file_transform_reaches_the_family_pipeline(tmp_path):
    models = models_from(tmp_path, MODELS)
    world = FamilyWorld(models["stores"])
    world.launch("2002", SERIES, year=2002, event_id="e1")

    [submission] = world.pipeline.submissions
    assert submission.pipeline == "family"
    assert submission.inputs["transform"] == "auto"


def test_a_family_without_transform_leaves_the_pipeline_default(tmp_path):
    text = MODELS.replace("  transform: auto\n- name: co2", "- name: co2")
    world = FamilyWorld(models_from(tmp_path, text)["stores"])
    world.launch("2002", SERIES, year=2002, event_id="e1")
    [submission] = world.pipeline.submissions
    assert "transform" not in submission.inputs  # family_pipeline.yml's default: none

    stated = text.replace("horizon: 4", "horizon: 4\n  transform: none")
    explicit = FamilyWorld(models_from(tmp_path, stated)["stores"])
    explicit.launch("2002", SERIES, year=2002, event_id="e1")
    [submission] = explicit.pipeline.submissions
    assert submission.inputs["transform"] == "none"


def test_a_single_series_model_sends_its_transform_too(tmp_path):
    models = models_from(tmp_path, MODELS)
    assert models["co2"].pipeline_inputs()["transform"] == "auto"
    assert "transform" not in models["plain"].pipeline_inputs()
    assert ModelConfig(name="m", prefix="m/", transform="none").pipeline_inputs()["transform"] == (
        "none"
    )


@pytest.mark.parametrize("value", ["log", "Auto", "true", "[auto]"])
def test_a_bad_transform_is_named_with_its_line_and_the_choices(tmp_path, value):
    problems = problems_of(tmp_path, MODELS.replace("transform: auto", f"transform: {value}", 1))
    [problem] = problems
    assert problem.startswith(f"{tmp_path / 'models.yaml'}:5: model 'stores': field 'transform'")
    assert "must be 'auto'" in problem and "or 'none'" in problem


def test_a_single_series_submission_carries_the_transform(tmp_path):
    world = FamilyWorld(models_from(tmp_path, MODELS)["co2"])
    rows = "\n".join(f"2002-{m:02d}-01,{300 + m}" for m in range(1, 13))
    [outcome] = world.service.handle(
        world.arrive("co2/2002.csv", "timestamp,value\n" + rows + "\n", event_id="e1")
    )
    assert outcome.action == "retrain", outcome

    [submission] = world.pipeline.submissions
    assert submission.pipeline != "family"
    assert submission.inputs["transform"] == "auto"
