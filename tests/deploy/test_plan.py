"""The publish plan is a pure function of pipeline_defs/: which resource changes when."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from deploy.plan import PIPELINE_DEFS, Plan, PlanError, build_plan, describe


@pytest.fixture
def defs(tmp_path: Path) -> Path:
    target = tmp_path / "pipeline_defs"
    shutil.copytree(PIPELINE_DEFS, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


def plan_of(root: Path, *, compute: str = "cpu-cluster") -> Plan:
    return build_plan(root, endpoint="retrain-pipeline", deployment="retrain", compute=compute)


def versions(plan: Plan) -> dict[str, str]:
    found = {"environment": plan.environment.version, "pipeline": plan.pipeline.version}
    for component in plan.components:
        found[component.name] = component.version
        found[component.code.name] = component.code.version
    found["deployment"] = plan.deployment.sha256
    found["endpoint"] = plan.endpoint.sha256
    return found


def changed(before: Plan, after: Plan) -> set[str]:
    old, new = versions(before), versions(after)
    return {key for key in old if old[key] != new[key]}


def test_the_plan_names_the_three_steps_and_one_environment():
    plan = plan_of(PIPELINE_DEFS)
    assert [c.name for c in plan.components] == ["arima_prep", "arima_train", "arima_evaluate"]
    assert plan.pipeline.steps == (
        ("prep", "arima_prep"),
        ("train", "arima_train"),
        ("evaluate", "arima_evaluate"),
    )
    assert plan.environment.name == "arima-train-env"
    assert plan.environment.conda_file == PIPELINE_DEFS / "environment" / "conda.yml"
    files = plan.component("arima_train").code.files
    assert "train.py" in files and "shard.py" in files and "order_search/__init__.py" in files
    assert "order_search/search.py" in files  # the package's modules are uploaded too
    short = {k: v for k, v in versions(plan).items() if k not in {"deployment", "endpoint"}}
    assert all(re.fullmatch(r"[0-9a-f]{12}", version) for version in short.values())


def test_the_same_files_give_the_same_versions(defs):
    assert versions(plan_of(defs)) == versions(plan_of(PIPELINE_DEFS))


def test_a_code_change_moves_its_component_the_pipeline_and_the_deployment(defs):
    before = plan_of(defs)
    prep = defs / "components" / "prep" / "src" / "prep.py"
    prep.write_text(prep.read_text() + "\n# changed\n")
    assert changed(before, plan_of(defs)) == {
        "arima_prep_code",
        "arima_prep",
        "pipeline",
        "deployment",
    }


def test_a_change_in_an_included_package_moves_every_component_that_holds_it(defs):
    """scoring/ is the train code's and, through evaluate.yml's additional_includes, the
    evaluate code's: a change in it moves both, as Azure ML's merged snapshot would."""
    before = plan_of(defs)
    metrics = defs / "components" / "train" / "src" / "scoring" / "metrics.py"
    metrics.write_text(metrics.read_text() + "\n# changed\n")
    assert changed(before, plan_of(defs)) == {
        "arima_train_code",
        "arima_train",
        "arima_evaluate_code",
        "arima_evaluate",
        "pipeline",
        "deployment",
    }


def test_an_include_that_clashes_with_a_code_file_is_refused(defs):
    (defs / "components" / "evaluate" / "src" / "scoring").mkdir()
    with pytest.raises(PlanError, match="a file already exists for additional include"):
        plan_of(defs)


def test_an_environment_change_moves_every_component(defs):
    before = plan_of(defs)
    conda = defs / "environment" / "conda.yml"
    conda.write_text(conda.read_text().replace("scipy==1.17.1", "scipy==1.17.2"))
    assert changed(before, plan_of(defs)) == {
        "environment",
        "arima_prep",
        "arima_train",
        "arima_evaluate",
        "pipeline",
        "deployment",
    }


def test_a_compute_change_moves_only_the_deployment(defs):
    assert changed(plan_of(defs), plan_of(defs, compute="gpu-cluster")) == {"deployment"}


def test_caches_in_a_code_folder_are_not_code(defs):
    before = plan_of(defs)
    cache = defs / "components" / "train" / "src" / "__pycache__"
    cache.mkdir()
    (cache / "train.cpython-311.pyc").write_bytes(b"\x00")
    (defs / "components" / "train" / "src" / "stray.pyc").write_bytes(b"\x00")
    assert changed(before, plan_of(defs)) == set()


def test_components_on_different_images_are_refused(defs):
    train = defs / "components" / "train" / "train.yml"
    train.write_text(
        train.read_text().replace("openmpi4.1.0-ubuntu22.04", "openmpi5.0-ubuntu24.04")
    )
    with pytest.raises(PlanError, match="same environment"):
        plan_of(defs)


def test_describe_says_one_line_per_resource():
    lines = describe(plan_of(PIPELINE_DEFS))
    kinds = [line.split(" ", 1)[0] for line in lines]
    assert kinds == [
        "environment",
        "code",
        "component",
        "code",
        "component",
        "code",
        "component",
        "pipeline-component",
        "batch-endpoint",
        "deployment",
        "default-deployment",
    ]
