"""The pipeline definition loads with the Azure ML SDK, offline, as `az ml job create`
would read it; and its shape matches what the service and the local workspace assume."""

import pytest
import yaml

from tests.pipeline_defs.components import ROOT

PIPELINE = ROOT / "pipeline.yml"


@pytest.fixture(scope="module")
def job():
    from azure.ai.ml import load_job

    return load_job(source=PIPELINE)


def test_pipeline_loads_with_azure_ai_ml(job):
    from azure.ai.ml.entities import PipelineJob

    assert isinstance(job, PipelineJob)
    assert set(job.jobs) == {"prep", "train", "evaluate"}
    assert job.settings.default_compute == "cpu-cluster"


def test_components_are_command_components_with_their_own_code(job):
    for name, step in job.jobs.items():
        component = step.component
        assert component.type == "command", name
        assert component.code is not None, name
        assert "python" in component.command, name


def test_step_wiring(job):
    train_inputs = job.jobs["train"].inputs
    assert str(train_inputs["prepared"]._data) == "${{parent.jobs.prep.outputs.prepared}}"
    evaluate_inputs = job.jobs["evaluate"].inputs
    assert str(evaluate_inputs["model"]._data) == "${{parent.jobs.train.outputs.model}}"


def test_outputs_are_keyed_by_job_name_in_the_workspace_datastore():
    definition = yaml.safe_load(PIPELINE.read_text())
    for name in ("prepared", "model", "metrics"):
        path = definition["outputs"][name]["path"]
        assert (
            path == f"azureml://datastores/workspaceblobstore/paths/retrain/${{{{name}}}}/{name}/"
        )


OPTIONAL_INPUTS = {"champion", "run_key"}  # bound by evaluate, given only when known
DEFAULTED_INPUTS = {"backtest_folds", "backtest_horizon"}  # literals with a default of 0
SETTING_INPUTS = {"transform"}  # literals the service does not send: the pipeline's default


def test_the_service_supplies_every_required_pipeline_input():
    from shared.settings import ModelConfig

    definition = yaml.safe_load(PIPELINE.read_text())
    supplied = {"data", "manifest", *ModelConfig(name="m", prefix="m/").pipeline_inputs()}
    declared = set(definition["inputs"])
    assert supplied <= declared | OPTIONAL_INPUTS
    assert declared - supplied <= DEFAULTED_INPUTS | SETTING_INPUTS
    assert {definition["inputs"][name] for name in DEFAULTED_INPUTS} == {0}


def test_champion_and_run_key_are_optional_bindings_of_evaluate(job):
    from azure.ai.ml import load_job

    evaluate_step = job.jobs["evaluate"]
    component_inputs = evaluate_step.component.inputs
    for name in OPTIONAL_INPUTS:
        assert component_inputs[name].optional is True, name
        assert str(evaluate_step.inputs[name]._data) == f"${{{{parent.inputs.{name}}}}}"
    assert component_inputs["champion"].type == "uri_folder"
    assert "$[[--champion ${{inputs.champion}}]]" in evaluate_step.component.command
    assert "$[[--run_key ${{inputs.run_key}}]]" in evaluate_step.component.command
    for name in DEFAULTED_INPUTS:
        assert evaluate_step.inputs[name]._data == f"${{{{parent.inputs.{name}}}}}"

    # Left out: valid, and sent as the SDK sends a DSL pipeline whose optional input is None
    # (no pipeline input, the step keeps its binding).
    assert job._validate().passed
    rest = job._to_rest_object().properties
    assert "champion" not in rest.inputs and "run_key" not in rest.inputs
    assert rest.jobs["evaluate"]["inputs"]["champion"]["value"] == "${{parent.inputs.champion}}"

    # Given at submission: a uri_folder pipeline input.
    uri = "azureml://datastores/workspaceblobstore/paths/retrain/co2-0123456789abcdef/model/"
    given = load_job(
        source=PIPELINE,
        params_override=[
            {"inputs.champion": {"type": "uri_folder", "path": uri}},
            {"inputs.run_key": "co2-0123456789abcdef"},
            {"inputs.backtest_folds": 4},
        ],
    )
    assert given._validate().passed
    inputs = given._to_rest_object().properties.inputs
    assert inputs["champion"].as_dict() == {"uri": uri, "jobInputType": "uri_folder"}
    assert inputs["run_key"].as_dict() == {
        "value": "co2-0123456789abcdef",
        "jobInputType": "literal",
    }
    assert inputs["backtest_folds"].as_dict() == {"value": "4", "jobInputType": "literal"}


def test_every_step_uses_the_one_conda_environment():
    for component in ("prep", "train", "evaluate"):
        definition = yaml.safe_load(
            (ROOT / "components" / component / f"{component}.yml").read_text()
        )
        assert definition["environment"]["conda_file"] == "../../environment/conda.yml", component


def test_train_takes_the_transform_setting_from_the_pipeline_input(job):
    """train.yml's input ``transform`` is bound to the pipeline's; the pipeline's default is
    the setting bench/order_search.py measures by default (none: with auto the replay missed
    its served-error target, docs/benchmarks.md), and train.py's own default agrees."""
    from azure.ai.ml import load_job

    from bench.order_search import parse_args as bench_args
    from tests.pipeline_defs.components import load_step

    definition = yaml.safe_load(PIPELINE.read_text())
    setting = definition["inputs"]["transform"]
    assert setting == "none"
    train = job.jobs["train"]
    assert str(train.inputs["transform"]._data) == "${{parent.inputs.transform}}"
    declared = train.component.inputs["transform"]
    assert declared.type == "string" and declared.default == setting
    assert list(declared.enum) == ["auto", "none"]
    assert "--transform ${{inputs.transform}}" in train.component.command
    assert (
        load_step("train", "train").parse_args(["--prepared", "p", "--model_output", "m"]).transform
        == setting
    )
    assert bench_args([]).transform == setting
    rest = job._to_rest_object().properties
    assert rest.inputs["transform"].as_dict() == {"value": setting, "jobInputType": "literal"}
    on = load_job(source=PIPELINE, params_override=[{"inputs.transform": "auto"}])
    rest_on = on._to_rest_object().properties
    assert rest_on.inputs["transform"].as_dict() == {"value": "auto", "jobInputType": "literal"}
