"""The pure parts of the local workspace: reading pipeline YAML and building commands.

Running pipelines for real is in tests/integration/test_local_workspace.py.
"""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from localdev.workspace import (
    LiteralBinding,
    LocalWorkspace,
    ParentInput,
    StepOutput,
    experiment_id,
    load_pipeline,
    render_command,
)
from shared.errors import NotFound, PipelineError
from shared.ports import PipelineSubmission

MINI = Path(__file__).parents[1] / "integration" / "fixtures" / "mini_pipeline" / "pipeline.yml"

# Never contacted: submit validates before anything touches storage.
UNUSED_BLOB_SERVICE = BlobServiceClient.from_connection_string(
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
    "BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;"
)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


COMPONENT = """\
    type: command
    code: ./src
    inputs:
      data: {type: uri_folder}
      n: {type: integer, default: 3}
    outputs:
      out: {type: uri_folder}
    command: python run.py --data ${{inputs.data}} --n ${{inputs.n}} --out ${{outputs.out}}
"""


def pipeline(tmp_path: Path, jobs: str, extra: str = "") -> Path:
    write(tmp_path / "c" / "c.yml", COMPONENT)
    (tmp_path / "c" / "src").mkdir(exist_ok=True)
    return write(
        tmp_path / "pipeline.yml",
        "type: pipeline\ninputs:\n  data:\n    type: uri_folder\n    path: ./data\n"
        + textwrap.dedent(extra)
        + "jobs:\n"
        + textwrap.indent(textwrap.dedent(jobs), "  "),
    )


# -- render_command ----------------------------------------------------------------------


def test_render_command_substitutes_inputs_and_outputs():
    argv = render_command(
        "python run.py --x ${{inputs.x}} --out ${{ outputs.out }}",
        {"x": "7"},
        {"out": "/tmp/out"},
    )

    assert argv == ["python", "run.py", "--x", "7", "--out", "/tmp/out"]


def test_render_command_keeps_a_value_with_spaces_as_one_argument():
    argv = render_command("python run.py --data=${{inputs.data}}", {"data": "/a b/c"}, {})

    assert argv == ["python", "run.py", "--data=/a b/c"]


def test_optional_segment_is_kept_only_when_its_input_is_given():
    template = "python run.py $[[--label ${{inputs.label}}]] --n ${{inputs.n}}"

    assert render_command(template, {"n": "1", "label": "hi"}, {}) == [
        "python",
        "run.py",
        "--label",
        "hi",
        "--n",
        "1",
    ]
    assert render_command(template, {"n": "1"}, {}) == ["python", "run.py", "--n", "1"]


def test_folded_multiline_command_is_split_on_any_whitespace():
    argv = render_command("python run.py\n  --n ${{inputs.n}}\n", {"n": "2"}, {})

    assert argv == ["python", "run.py", "--n", "2"]


def test_a_placeholder_without_value_is_an_error():
    with pytest.raises(PipelineError, match=r"inputs\.n"):
        render_command("python run.py --n ${{inputs.n}}", {}, {})


# -- load_pipeline -----------------------------------------------------------------------


def test_mini_pipeline_steps_come_in_dependency_order():
    definition = load_pipeline(MINI)

    assert [step.name for step in definition.steps] == ["prep", "train", "report"]
    report = definition.steps[2]
    assert report.inputs["model"] == StepOutput("train", "model")
    assert report.outputs == {"metrics": "metrics"}
    assert definition.steps[0].inputs["raw"] == ParentInput("data")
    assert definition.steps[0].component.inputs["label"].optional
    assert definition.outputs["model"].path == (
        "azureml://datastores/workspaceblobstore/paths/runs/${{name}}/${{output_name}}/"
    )
    assert definition.experiment_name == "mini"


def test_literal_and_relative_path_bindings(tmp_path):
    path = pipeline(
        tmp_path,
        """\
        only:
          component: ./c/c.yml
          inputs:
            data: ./local
            n: 5
        """,
    )

    step = load_pipeline(path).steps[0]

    assert step.inputs == {"data": LiteralBinding("./local"), "n": LiteralBinding(5)}
    assert step.component.code == (tmp_path / "c" / "src").resolve()


def test_a_cycle_is_reported(tmp_path):
    path = pipeline(
        tmp_path,
        """\
        a:
          component: ./c/c.yml
          inputs: {data: "${{parent.jobs.b.outputs.out}}"}
        b:
          component: ./c/c.yml
          inputs: {data: "${{parent.jobs.a.outputs.out}}"}
        """,
    )

    with pytest.raises(PipelineError, match="cycle"):
        load_pipeline(path)


@pytest.mark.parametrize(
    ("jobs", "message"),
    [
        ("a:\n  component: ./c/c.yml\n  inputs: {nope: 1}\n", "does not declare"),
        ("a:\n  component: ./missing.yml\n", "cannot read"),
        ("a:\n  component: azureml:prep:1\n", "registered component"),
        (
            "a:\n  component: ./c/c.yml\n  inputs: {data: '${{parent.jobs.z.outputs.out}}'}\n",
            "does not have",
        ),
        ("a:\n  component: ./c/c.yml\n", "output 'y' is not bound"),
        ("a:\n  component: ./c/c.yml\n  outputs: {out: {type: uri_folder, path: x}}\n", "own path"),
    ],
)
def test_pipelines_the_workspace_cannot_run_are_rejected_with_the_reason(tmp_path, jobs, message):
    path = pipeline(tmp_path, jobs, extra="outputs:\n  y: {type: uri_folder}\n")

    with pytest.raises(PipelineError, match=message):
        load_pipeline(path)


def test_an_optional_input_outside_a_segment_is_rejected(tmp_path):
    write(
        tmp_path / "c.yml",
        """\
        type: command
        inputs:
          label: {type: string, optional: true}
        command: python run.py --label ${{inputs.label}}
        """,
    )
    path = write(tmp_path / "p.yml", "type: pipeline\njobs:\n  a:\n    component: ./c.yml\n")

    with pytest.raises(PipelineError, match=r"\$\[\["):
        load_pipeline(path)


# -- submit validation (nothing runs) --------------------------------------------------


@pytest.fixture
def workspace(tmp_path):
    ws = LocalWorkspace(
        tmp_path / "ws",
        MINI,
        blob_service=UNUSED_BLOB_SERVICE,
        datastores={},
    )
    yield ws
    ws.close()


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"nope": 1}, "no input"),
        ({"offset": "five"}, "must be an integer"),
        ({"offset": 1.5}, "must be an integer"),
        ({"scale": "x"}, "must be a number"),
        ({"verbose": "maybe"}, "must be a boolean"),
    ],
)
def test_submit_rejects_bad_inputs_before_creating_a_run(workspace, inputs, message):
    key = f"bad-{uuid.uuid4().hex[:8]}"

    with pytest.raises(PipelineError, match=message):
        workspace.submit(PipelineSubmission(run_key=key, model="mini", inputs=inputs))
    with pytest.raises(NotFound):
        workspace.get_run(key)


@pytest.mark.parametrize("key", ["", "has space", "../escape", "-lead", "a/b"])
def test_submit_rejects_run_keys_that_are_not_job_names(workspace, key):
    with pytest.raises(PipelineError, match="job name"):
        workspace.submit(PipelineSubmission(run_key=key, model="mini", inputs={}))


def test_get_run_of_an_unknown_id_raises_not_found(workspace):
    with pytest.raises(NotFound):
        workspace.get_run("never-submitted")
    with pytest.raises(NotFound):
        workspace.get_run("../../etc")


def test_submit_after_close_is_refused(workspace):
    workspace.close()

    with pytest.raises(PipelineError, match="closed"):
        workspace.submit(PipelineSubmission(run_key="late", model="mini", inputs={}))


def test_a_broken_pipeline_fails_at_construction(tmp_path):
    broken = write(tmp_path / "p.yml", "type: pipeline\njobs: {}\n")

    with pytest.raises(PipelineError, match="at least one job"):
        LocalWorkspace(tmp_path, broken, blob_service=UNUSED_BLOB_SERVICE, datastores={})


def test_experiment_id_is_a_stable_uuid():
    assert experiment_id("retrain") == experiment_id("retrain")
    assert experiment_id("retrain") != experiment_id("other")
    assert uuid.UUID(experiment_id("retrain")).version == 5
