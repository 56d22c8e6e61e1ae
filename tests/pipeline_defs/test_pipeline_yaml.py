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


def test_the_service_supplies_every_pipeline_input():
    from shared.settings import ModelConfig

    definition = yaml.safe_load(PIPELINE.read_text())
    supplied = {"data", "manifest", *ModelConfig(name="m", prefix="m/").pipeline_inputs()}
    assert supplied == set(definition["inputs"])


def test_every_step_uses_the_one_conda_environment():
    for component in ("prep", "train", "evaluate"):
        definition = yaml.safe_load(
            (ROOT / "components" / component / f"{component}.yml").read_text()
        )
        assert definition["environment"]["conda_file"] == "../../environment/conda.yml", component
