"""The local workspace honours a component's ``additional_includes`` as Azure ML does: the
included folder is copied beside the code folder's contents in the step's code snapshot,
the step runs there, and the snapshot's content is part of the step's reuse fingerprint.
The evaluate component includes the shared ``scoring`` package this way."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from localdev.workspace import LocalWorkspace, load_pipeline
from localdev.workspace.snapshot import code_snapshot
from shared.errors import PipelineError
from shared.ports import PipelineSubmission

REPO = Path(__file__).resolve().parents[2]
EVALUATE = REPO / "pipeline_defs" / "components" / "evaluate"
SCORING = REPO / "pipeline_defs" / "components" / "train" / "src" / "scoring"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def tiny_pipeline(root: Path, includes: str = "[./lib]") -> Path:
    """One command step whose script imports ``lib``, a folder beside its code folder that
    only the additional include brings into the snapshot."""
    write(
        root / "c" / "src" / "run.py",
        """\
        import argparse, os, pathlib
        import lib
        parser = argparse.ArgumentParser()
        parser.add_argument("--out", type=pathlib.Path)
        args = parser.parse_args()
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "value.txt").write_text(f"{lib.VALUE} {os.getcwd()}")
        """,
    )
    write(root / "c" / "lib" / "__init__.py", "VALUE = 'one'\n")
    write(
        root / "c" / "c.yml",
        f"""\
        type: command
        code: ./src
        additional_includes: {includes}
        outputs:
          out: {{type: uri_folder}}
        command: python run.py --out ${{{{outputs.out}}}}
        """,
    )
    return write(
        root / "pipeline.yml",
        """\
        type: pipeline
        outputs:
          out:
            type: uri_folder
            path: azureml://datastores/workspaceblobstore/paths/runs/${{name}}/out/
        jobs:
          step:
            type: command
            component: ./c/c.yml
            outputs:
              out: ${{parent.outputs.out}}
        """,
    )


def test_a_snapshot_is_the_code_folder_with_each_include_beside_it(tmp_path):
    code = write(tmp_path / "src" / "main.py", "print('hi')\n").parent
    write(code / "__pycache__" / "main.cpython-311.pyc", "x")
    lib = write(tmp_path / "shared" / "lib" / "__init__.py", "VALUE = 1\n").parent
    single = write(tmp_path / "shared" / "settings.json", "{}")

    snapshot = code_snapshot(code, (lib, single), tmp_path / "cache")
    files = sorted(p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if p.is_file())
    assert files == ["lib/__init__.py", "main.py", "settings.json"]
    assert code_snapshot(code, (lib, single), tmp_path / "cache") == snapshot  # built once
    (lib / "__init__.py").write_text("VALUE = 2\n")
    changed = code_snapshot(code, (lib, single), tmp_path / "cache")
    assert changed != snapshot and (changed / "lib" / "__init__.py").read_text() == "VALUE = 2\n"
    assert code_snapshot(code, (), tmp_path / "cache") == code  # no includes: the folder


@pytest.mark.parametrize(
    ("includes", "message"),
    [
        ("[../missing]", "does not exist"),
        ("[./lib, ./lib]", "have the same name"),
        ("[./src/run.py]", "a file already exists for additional include"),
        ("[./lib.zip]", "compressed folder"),
        ("./lib", "must be a list of paths"),
    ],
)
def test_includes_azure_ml_would_refuse_are_refused_when_the_pipeline_is_read(
    tmp_path, includes, message
):
    with pytest.raises(PipelineError, match=message):
        load_pipeline(tiny_pipeline(tmp_path, includes))


def test_the_evaluate_step_includes_the_shared_scoring_package_and_imports_it_from_there(
    tmp_path,
):
    definition = load_pipeline(REPO / "pipeline_defs" / "pipeline.yml")
    evaluate = next(s for s in definition.steps if s.name == "evaluate").component
    assert evaluate.additional_includes == (SCORING,)
    metrics_source = (EVALUATE / "src" / "evaluation" / "metrics.py").read_text()
    # the path evaluation/metrics.py loads the package from when run from the repository
    assert '\nSHARED_SOURCE = "../train/src/scoring"\n' in metrics_source
    assert (EVALUATE / "../train/src/scoring").resolve() == SCORING

    assert evaluate.code is not None
    snapshot = code_snapshot(evaluate.code, evaluate.additional_includes, tmp_path)
    probe = (
        "import json, sys, evaluation, scoring;"
        "w = sys.modules['evaluation.windows'];"
        "print(json.dumps([scoring.__file__, evaluation.point_metrics is scoring.point_metrics,"
        " w.BacktestPlan is scoring.BacktestPlan]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=snapshot, capture_output=True, text=True, check=True
    )
    where, same_metrics, same_plan = json.loads(done.stdout.splitlines()[-1])
    assert Path(where).resolve() == (snapshot / "scoring" / "__init__.py").resolve()
    assert same_metrics and same_plan


@pytest.mark.azurite
def test_a_step_runs_in_its_snapshot_and_an_included_change_makes_it_run_again(
    tmp_path: Path,
    blob_service: BlobServiceClient,
    new_container: Callable[..., ContainerClient],
):
    artifacts = new_container("artifacts")
    path = tiny_pipeline(tmp_path / "defs")
    with LocalWorkspace(
        tmp_path / "ws",
        path,
        blob_service=blob_service,
        datastores={"workspaceblobstore": artifacts.container_name},
    ) as workspace:

        def run(key: str) -> tuple[str, bool]:
            workspace.submit(PipelineSubmission(run_key=key, model="tiny", inputs={}))
            done = workspace.wait(key, 120)
            assert done.status == "Completed", done.error
            job = json.loads((tmp_path / "ws" / "jobs" / key / "job.json").read_text())
            value = artifacts.download_blob(f"runs/{key}/out/value.txt").readall().decode()
            return value, bool(job["steps"]["step"]["reused"])

        (value, reused) = run("first")
        text, cwd = value.split(" ", 1)
        assert text == "one" and not reused
        assert Path(cwd).parent == (tmp_path / "ws" / "cache" / "code").resolve()
        assert run("again") == (value, True)  # nothing changed: reused
        (tmp_path / "defs" / "c" / "lib" / "__init__.py").write_text("VALUE = 'two'\n")
        value, reused = run("changed")
        assert value.startswith("two ") and not reused
