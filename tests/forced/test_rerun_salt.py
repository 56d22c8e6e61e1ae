"""A forced run is a real new attempt on Azure ML too: the optional literal input
``rerun_salt`` is bound by every step of pipeline.yml and ignored by the scripts; the
service sends it (the run key) only for forced runs, so a forced run's steps have inputs no
earlier run had, and a resubmission of the same forced run has the same ones."""

from __future__ import annotations

import sys

import pytest
import yaml

from shared.errors import PipelineError
from shared.messages import RetrainRequested, SweepTicked
from shared.ports import PipelineRun, PipelineSubmission
from shared.settings import ModelConfig
from tests import samples
from tests.fakes import FakeWorld
from tests.pipeline_defs.components import ROOT, load_step

PIPELINE = ROOT / "pipeline.yml"
STEPS = ("prep", "train", "evaluate")
SALT = "co2-0123456789abcdef-r2"


def test_every_step_binds_the_salt_as_an_optional_string_it_passes_only_when_given():
    from azure.ai.ml import load_job

    job = load_job(source=PIPELINE)
    for name in STEPS:
        step = job.jobs[name]
        spec = step.component.inputs["rerun_salt"]
        assert (spec.type, spec.optional) == ("string", True), name
        assert str(step.inputs["rerun_salt"]._data) == "${{parent.inputs.rerun_salt}}", name
        assert "$[[--rerun_salt ${{inputs.rerun_salt}}]]" in step.component.command, name
    # Left out (every run that is not forced): valid, and no pipeline input is sent.
    assert job._validate().passed
    assert "rerun_salt" not in job._to_rest_object().properties.inputs


def test_the_pipeline_given_a_salt_still_validates_and_sends_it_as_a_literal():
    from azure.ai.ml import load_job

    given = load_job(source=PIPELINE, params_override=[{"inputs.rerun_salt": SALT}])
    assert given._validate().passed
    sent = given._to_rest_object().properties
    assert sent.inputs["rerun_salt"].as_dict() == {"value": SALT, "jobInputType": "literal"}
    for name in STEPS:
        binding = sent.jobs[name]["inputs"]["rerun_salt"]["value"]
        assert binding == "${{parent.inputs.rerun_salt}}"


def test_each_component_yaml_loads_on_its_own_with_the_optional_salt():
    from azure.ai.ml import load_component

    for name in STEPS:
        path = ROOT / "components" / name / f"{name}.yml"
        component = load_component(source=path)
        assert component.inputs["rerun_salt"].optional is True, name
        assert yaml.safe_load(path.read_text())["inputs"]["rerun_salt"]["type"] == "string"


def test_publish_declares_the_salt_as_an_optional_input_of_the_pipeline_component():
    from deploy.apply import build_pipeline_component
    from deploy.plan import build_plan

    plan = build_plan(endpoint="retrain-pipeline", deployment="retrain", compute="cpu-cluster")
    component = build_pipeline_component(plan)
    declared = component._to_rest_object().properties.component_spec["inputs"]
    assert declared["rerun_salt"] == {"type": "string", "optional": True}


@pytest.mark.parametrize(
    ("step", "module", "argv"),
    [
        ("prep", "prep", ["--raw_data", "d", "--manifest", "m.json", "--prepared", "p"]),
        ("train", "train", ["--prepared", "p", "--model_output", "m"]),
        ("evaluate", "evaluate", ["--prepared", "p", "--model", "m", "--metrics", "o"]),
    ],
)
def test_each_script_accepts_the_salt_and_reads_the_same_arguments_with_or_without_it(
    step, module, argv
):
    if step == "train":  # train.py imports its package beside it, as the step runs it
        sys.modules.setdefault("order_search", load_step("train", "order_search"))
    parse_args = load_step(step, module).parse_args
    plain = vars(parse_args(argv))
    salted = vars(parse_args([*argv, "--rerun_salt", SALT]))
    assert salted.pop("rerun_salt") == SALT
    assert plain.pop("rerun_salt") is None
    assert salted == plain


# ------------------------------------------------------------------------------ the service


@pytest.fixture
def world() -> FakeWorld:
    return FakeWorld((ModelConfig(name="co2", prefix="co2/", horizon=24),))


def test_only_a_forced_run_sends_a_salt_and_it_is_its_run_key(world):
    [first] = world.service.handle(world.arrive("co2/a.csv", samples.csv_rows(2000, 3)))
    world.complete(first.run_key, {}, status="Failed")
    [manual] = world.service.handle(RetrainRequested("co2", "ana", "once more"))
    assert manual.run_key == f"{first.run_key}-r2"
    world.complete(manual.run_key, {}, status="Failed")
    [forced] = world.service.handle(RetrainRequested("co2", "ana", "fixed", force=True))
    assert forced.run_key == f"{first.run_key}-r3"

    normal, again, salted = world.pipeline.submissions
    assert "rerun_salt" not in normal.inputs and "rerun_salt" not in again.inputs
    assert salted.inputs["rerun_salt"] == forced.run_key
    assert salted.tags["retrain_force_rerun"] == "true"


def test_a_forced_run_submitted_again_sends_the_same_salt(world):
    calls: list[PipelineSubmission] = []
    submit = world.pipeline.submit

    def recording(submission: PipelineSubmission) -> PipelineRun:
        calls.append(submission)
        return submit(submission)

    world.pipeline.submit = recording  # type: ignore[method-assign]
    [first] = world.service.handle(world.arrive("co2/a.csv", samples.csv_rows(2000, 3)))
    world.complete(first.run_key, {}, status="Failed")
    world.pipeline.fail_next = ConnectionError("endpoint unreachable")
    with pytest.raises(PipelineError, match="could not submit"):
        world.service.handle(RetrainRequested("co2", "ana", "fixed", force=True))
    forced = f"{first.run_key}-r2"
    assert world.service.get_run(forced)["status"] == "SubmitFailed"

    world.service.handle(SweepTicked(at=world.clock.now()))  # submits the failed run again

    assert world.service.get_run(forced)["status"] == "Queued"
    salts = [c.inputs.get("rerun_salt") for c in calls if c.run_key == forced]
    assert salts == [forced, forced]
