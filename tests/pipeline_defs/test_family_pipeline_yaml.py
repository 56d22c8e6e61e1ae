"""The family pipeline loads with the Azure ML SDK, offline, with a real parallel step."""

import pytest
import yaml

from tests.pipeline_defs.components import ROOT

PIPELINE = ROOT / "family_pipeline.yml"


@pytest.fixture(scope="module")
def job():
    from azure.ai.ml import load_job

    return load_job(source=PIPELINE)


def test_the_family_pipeline_loads_with_a_parallel_fit_step(job):
    from azure.ai.ml.entities import Parallel, PipelineJob

    assert isinstance(job, PipelineJob)
    assert set(job.jobs) == {"prep", "fit"}
    fit = job.jobs["fit"]
    assert isinstance(fit, Parallel) and fit.type == "parallel"
    component = fit.component
    assert component.type == "parallel"
    assert component.task.type == "run_function" and component.task.entry_script == "shard.py"
    assert component.mini_batch_size == 1 and fit.max_concurrency_per_instance == 4
    assert fit.resources.instance_count == 2
    assert component.retry_settings.max_retries >= 1
    assert component.retry_settings.timeout >= 600
    assert component.mini_batch_error_threshold == -1
    assert component.task.append_row_to == "${{outputs.results}}"
    assert "--models ${{outputs.models}}" in component.task.program_arguments
    assert str(fit.inputs["shards"]._data) == "${{parent.jobs.prep.outputs.shards}}"


def test_the_entry_script_and_its_search_are_in_the_task_code_folder(job):
    code = ROOT / "components" / "fit_shards" / job.jobs["fit"].component.task.code
    assert (code / "shard.py").is_file()
    assert (code / "family_scoring.py").is_file() and (code / "family_champions.py").is_file()
    assert (code / "order_search.py").exists() or (code / "order_search").is_dir()


def test_family_outputs_are_keyed_by_job_name_in_the_workspace_datastore():
    definition = yaml.safe_load(PIPELINE.read_text())
    for name in ("prepared", "results", "models"):
        path = definition["outputs"][name]["path"]
        assert (
            path == f"azureml://datastores/workspaceblobstore/paths/retrain/${{{{name}}}}/{name}/"
        )


def test_previous_is_an_optional_uri_folder_given_at_submission(job):
    from azure.ai.ml import load_job

    fit = job.jobs["fit"]
    assert str(fit.inputs["previous"]._data) == "${{parent.inputs.previous}}"
    assert fit.component.inputs["previous"].optional is True
    assert "$[[--previous ${{inputs.previous}}]]" in fit.component.task.program_arguments
    assert job._validate().passed
    assert "previous" not in job._to_rest_object().properties.inputs

    uri = "azureml://datastores/workspaceblobstore/paths/retrain/fam-0123456789abcdef/"
    given = load_job(
        source=PIPELINE,
        params_override=[{"inputs.previous": {"type": "uri_folder", "path": uri}}],
    )
    assert given._validate().passed
    inputs = given._to_rest_object().properties.inputs
    assert inputs["previous"].as_dict() == {"uri": uri, "jobInputType": "uri_folder"}


def test_champions_and_the_backtest_reach_the_fit_step(job):
    from azure.ai.ml import load_job

    fit = job.jobs["fit"]
    arguments = fit.component.task.program_arguments
    assert str(fit.inputs["champions"]._data) == "${{parent.inputs.champions}}"
    assert fit.component.inputs["champions"].optional is True
    assert fit.component.inputs["champions"].type == "uri_folder"
    assert "$[[--champions ${{inputs.champions}}]]" in arguments
    for name in ("backtest_folds", "backtest_horizon"):
        assert str(fit.inputs[name]._data) == f"${{{{parent.inputs.{name}}}}}"
        assert f"--{name} ${{{{inputs.{name}}}}}" in arguments
        assert job.inputs[name]._data == 0
    assert "champions" not in job._to_rest_object().properties.inputs

    uri = "azureml://datastores/workspaceblobstore/paths/retrain/fam-0123456789abcdef/champions/"
    given = load_job(
        source=PIPELINE,
        params_override=[
            {"inputs.champions": {"type": "uri_folder", "path": uri}},
            {"inputs.backtest_folds": 3},
        ],
    )
    assert given._validate().passed
    inputs = given._to_rest_object().properties.inputs
    assert inputs["champions"].as_dict() == {"uri": uri, "jobInputType": "uri_folder"}
    assert inputs["backtest_folds"].as_dict()["value"] == "3"


def test_transform_reaches_the_fit_step_as_in_the_single_series_pipeline(job):
    """The family's ``transform`` has train.yml's semantics (``auto`` | ``none``) and the
    family's own default, ``none`` (what its benchmark measured best)."""
    from azure.ai.ml import load_job

    fit = job.jobs["fit"]
    spec = fit.component.inputs["transform"]
    single = yaml.safe_load((ROOT / "components" / "train" / "train.yml").read_text())
    assert spec.type == "string" and list(spec.enum) == single["inputs"]["transform"]["enum"]
    assert spec.default == "none"
    assert str(fit.inputs["transform"]._data) == "${{parent.inputs.transform}}"
    assert "--transform ${{inputs.transform}}" in fit.component.task.program_arguments
    assert job.inputs["transform"]._data == "none"
    given = load_job(source=PIPELINE, params_override=[{"inputs.transform": "auto"}])
    assert given._validate().passed
    inputs = given._to_rest_object().properties.inputs
    assert inputs["transform"].as_dict()["value"] == "auto"


def test_a_forced_family_run_salts_both_steps_and_the_scripts_ignore_it(job, tmp_path):
    from azure.ai.ml import load_job

    from tests.family.steps import load_shard

    for name in ("prep", "fit"):
        step = job.jobs[name]
        spec = step.component.inputs["rerun_salt"]
        assert (spec.type, spec.optional) == ("string", True), name
        assert str(step.inputs["rerun_salt"]._data) == "${{parent.inputs.rerun_salt}}", name
    arguments = job.jobs["fit"].component.task.program_arguments
    assert "$[[--rerun_salt ${{inputs.rerun_salt}}]]" in arguments
    assert "rerun_salt" not in job._to_rest_object().properties.inputs
    salt = "fam-0123456789abcdef"
    given = load_job(source=PIPELINE, params_override=[{"inputs.rerun_salt": salt}])
    assert given._validate().passed
    sent = given._to_rest_object().properties.inputs["rerun_salt"].as_dict()
    assert sent == {"value": salt, "jobInputType": "literal"}
    argv = ["--frequency", "MS", "--season_length", "12", "--horizon", "6"]
    argv += ["--models", str(tmp_path)]
    shard = load_shard()
    assert shard.parse_args([*argv, "--rerun_salt", salt]) == shard.parse_args(argv)


def test_the_local_workspace_reads_the_same_parallel_step():
    from localdev.workspace import load_pipeline

    definition = load_pipeline(PIPELINE)
    fit = next(step for step in definition.steps if step.name == "fit")
    settings = fit.component.parallel
    assert settings is not None
    assert (settings.input_data, settings.mini_batch_size, settings.append_row_to) == (
        "shards",
        1,
        "results",
    )
    assert settings.entry_script == "shard.py" and settings.mini_batch_error_threshold == -1
    assert (settings.instance_count, settings.max_concurrency_per_instance) == (2, 4)
    assert fit.component.inputs["previous"].optional
    assert fit.component.inputs["previous"].type == "uri_folder"
