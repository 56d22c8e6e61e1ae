"""infra/hooks/postdeploy.sh, run with stand-ins for az, curl and python on PATH that
record their arguments: it publishes the pipeline with the provisioned names, waits for
the Event Grid system key, then deploys events.bicep with the right parameters; and the
deploy workflow gives it every variable it needs."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import yaml

from tests.infra.bicep import INFRA, ROOT

HOOK = INFRA / "hooks" / "postdeploy.sh"
ENV = {
    "AZURE_RESOURCE_GROUP": "rg-dev",
    "AZURE_FUNCTION_APP_NAME": "func-abc",
    "AZURE_STORAGE_ACCOUNT_NAME": "stabc",
    "AZUREML_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000000",
    "AZUREML_RESOURCE_GROUP": "rg-dev",
    "AZUREML_WORKSPACE": "mlw-abc",
    "AZUREML_COMPUTE": "cpu-cluster",
    "RETRAIN_BATCH_ENDPOINT": "retrain-abc",
    "RETRAIN_DATA_CONTAINER": "data",
    "RETRAIN_MODELS": '[{"name": "co2", "prefix": "co2/"}]',
    "EVENTGRID_STORAGE_TOPIC": "evgt-st-abc",
    "EVENTGRID_ML_TOPIC": "evgt-mlw-abc",
    "EVENTGRID_DEADLETTER_CONTAINER": "eventgrid-deadletter",
}
AZ = """#!/bin/sh
echo "az $*" >> "$CALLS"
case "$*" in
  "functionapp show"*) echo func-abc.azurewebsites.net ;;
  "functionapp keys list"*)
    n=$(grep -c "keys list" "$CALLS")
    if [ "$n" -ge 2 ]; then echo true; else echo false; fi ;;
  "deployment group create"*) echo Succeeded ;;
esac
"""
RECORD = '#!/bin/sh\necho "$(basename "$0") $*" >> "$CALLS"\n'


def run_hook(tmp_path: Path, **extra: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True)
    for name, script in (("az", AZ), ("curl", RECORD), ("python", RECORD), ("sleep", RECORD)):
        (bin_dir / name).write_text(script)
        (bin_dir / name).chmod(0o755)
    calls = tmp_path / "calls"
    calls.touch()
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "CALLS": str(calls),
        "PYTHON": str(bin_dir / "python"),
        **ENV,
        **extra,
    }
    result = subprocess.run(
        ["sh", str(HOOK)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    return result, calls.read_text().splitlines()


def test_the_hook_publishes_waits_for_the_key_and_subscribes_the_functions(
    tmp_path: Path,
) -> None:
    result, calls = run_hook(tmp_path)
    assert result.returncode == 0, result.stderr
    assert calls[0] == (
        "python -m deploy.publish --subscription 00000000-0000-0000-0000-000000000000 "
        "--resource-group rg-dev --workspace mlw-abc --endpoint retrain-abc "
        "--compute cpu-cluster"
    )
    keys = [c for c in calls if c.startswith("az functionapp keys list")]
    assert len(keys) == 2 and "sleep 10" in calls  # the key appeared on the second look
    assert "curl" in " ".join(calls)  # the app was woken before looking
    [deploy] = [c for c in calls if c.startswith("az deployment group create")]
    assert "--template-file infra/events.bicep" in deploy
    for parameter in (
        "functionAppName=func-abc",
        "storageTopicName=evgt-st-abc",
        "mlTopicName=evgt-mlw-abc",
        "storageAccountName=stabc",
        "dataContainerName=data",
        "deadLetterContainerName=eventgrid-deadletter",
        'retrainModels=[{"name": "co2", "prefix": "co2/"}]',
    ):
        assert parameter in deploy
    assert "eventgrid_extension" not in result.stdout  # the key is never printed


def test_the_hook_can_skip_publishing_and_refuses_missing_settings(tmp_path: Path) -> None:
    result, calls = run_hook(tmp_path / "skip", SKIP_PUBLISH="1")
    assert result.returncode == 0 and not any(c.startswith("python") for c in calls)
    result, calls = run_hook(tmp_path / "missing", AZUREML_WORKSPACE="")
    assert result.returncode == 2 and "AZUREML_WORKSPACE is not set" in result.stderr
    assert calls == []


def test_the_deploy_workflow_gives_the_hook_every_variable_it_needs() -> None:
    required = re.search(r"for name in (.*?); do", HOOK.read_text(), re.S)
    assert required is not None
    names = set(required[1].replace("\\", " ").split())
    assert names == set(ENV)
    workflow = yaml.safe_load((ROOT / ".github/workflows/deploy-environment.yml").read_text())
    assert names <= set(workflow["jobs"]["deploy"]["env"])
    outputs = set(re.findall(r"^output (\w+) ", (INFRA / "main.bicep").read_text(), re.M))
    assert names <= outputs  # azd puts the provision outputs in the hook's environment
    assert os.access(HOOK, os.X_OK)
