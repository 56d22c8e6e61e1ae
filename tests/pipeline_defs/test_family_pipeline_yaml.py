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
    assert fit.task.type == "run_function" and fit.task.entry_script == "shard.py"
    assert fit.mini_batch_size == 1 and fit.max_concurrency_per_instance >= 1
    assert fit.resources.instance_count >= 1
    assert fit.retry_settings.max_retries >= 1 and fit.retry_settings.timeout >= 600
    assert fit.mini_batch_error_threshold == -1
    assert fit.task.append_row_to == "${{outputs.results}}"
    assert "--models ${{outputs.models}}" in fit.task.program_arguments
    assert str(fit.inputs["shards"]._data) == "${{parent.jobs.prep.outputs.shards}}"


def test_the_entry_script_and_its_search_are_in_the_task_code_folder(job):
    code = ROOT / job.jobs["fit"].task.code
    assert (code / "shard.py").is_file()
    assert (code / "order_search.py").exists() or (code / "order_search").is_dir()


def test_family_outputs_are_keyed_by_job_name_in_the_workspace_datastore():
    definition = yaml.safe_load(PIPELINE.read_text())
    for name in ("prepared", "results", "models"):
        path = definition["outputs"][name]["path"]
        assert (
            path == f"azureml://datastores/workspaceblobstore/paths/retrain/${{{{name}}}}/{name}/"
        )
