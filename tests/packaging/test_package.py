"""The Function App as Azure runs it: packaged as Core Tools packages it, read-only, with
only requirements.txt installed into a fresh virtual environment (no pandas, no
statsmodels, no dev tools)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.azureml import fake_workspace
from tests.fakes import metrics_v2
from tests.packaging.package import ROOT, build_package, fresh_venv, package_files

# Root ignores file modes, so the tests (often run as root in CI containers) also refuse,
# inside the deployed process, every write under the package folder with an audit hook:
# the same EROFS a Function App running from a package gets.
READ_ONLY_GUARD = """
import errno, os, sys
_ROOT = os.path.realpath(os.getcwd())
_WRITES = {"os.mkdir", "os.rename", "os.remove", "os.rmdir", "os.symlink", "shutil.rmtree"}
def _guard(event, args):
    if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        mode, flags = args[1] or "r", args[2] or 0
        if not (any(c in str(mode) for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR)):
            return
    elif event not in _WRITES or not args or not isinstance(args[0], (str, os.PathLike)):
        return
    if os.path.realpath(os.fsdecode(args[0])).startswith(_ROOT + os.sep):
        raise OSError(errno.EROFS, "Read-only file system", os.fsdecode(args[0]))
sys.addaudithook(_guard)
"""


def test_the_package_holds_the_app_and_no_local_only_code():
    files = {str(f) for f in package_files()}
    for needed in ("function_app.py", "host.json", "requirements.txt", "shared/bootstrap.py"):
        assert needed in files
    for asset in ("dashboard.html", "dashboard.js", "dashboard.css"):
        assert f"functions/dashboard_assets/{asset}" in files, asset
    assert any(f.startswith("functions/") for f in files)
    for local_only in ("localdev/", "tests/", "bench/", "scripts/", "docs/", "node_modules/"):
        assert not [f for f in files if f.startswith(local_only)], local_only
    assert not [f for f in files if "__pycache__" in f or f.startswith(".venv")]


@pytest.fixture(scope="module")
def deployed() -> Iterator[tuple[Path, Path]]:
    """(python of a fresh venv with requirements.txt, read-only package folder)."""
    base = Path(tempfile.mkdtemp(prefix="retrain-deployed-"))
    try:
        python = fresh_venv(base / "venv", ROOT / "requirements.txt")
        package = build_package(base / "wwwroot")
        yield python, package
    finally:
        for folder, _, _ in os.walk(base):
            os.chmod(folder, 0o755)
        shutil.rmtree(base)


def run_in(
    deployed: tuple[Path, Path], code: str, env: dict[str, str], args: tuple[str, ...] = ()
) -> str:
    """Run ``code`` with the deployed venv, from the read-only package folder."""
    python, package = deployed
    result = subprocess.run(
        [str(python), "-c", READ_ONLY_GUARD + code, *args],
        cwd=package,
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp", "PYTHONDONTWRITEBYTECODE": "1"} | env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.slow
def test_the_read_only_guard_refuses_writes_in_the_package(deployed):
    out = run_in(
        deployed,
        "try:\n    open('x.txt', 'w')\nexcept OSError as e:\n    print(e.errno == errno.EROFS)",
        {},
    )
    assert out.strip() == "True"


@pytest.mark.slow
def test_the_packaged_app_imports_and_indexes_read_only_with_only_its_requirements(deployed):
    out = run_in(
        deployed,
        "import importlib.util, json, sys, function_app\n"
        "names = sorted(f.get_function_name() for f in function_app.app.get_functions())\n"
        "print(json.dumps({'functions': names, 'pandas': bool(importlib.util.find_spec("
        "'pandas')), 'heavy': [m for m in ('azure.ai.ml', 'yaml') if m in sys.modules]}))",
        {"PYTHONPATH": str(deployed[1])},
    )
    report = json.loads(out.splitlines()[-1])
    assert "on_blob_created" in report["functions"] and "on_sweep" in report["functions"]
    assert report["pandas"] is False  # as on Azure: the app must never need it
    assert report["heavy"] == []


@pytest.mark.slow
def test_every_function_answers_its_first_call_with_the_azure_backend(deployed, azurite, tmp_path):
    """Each function invoked once in the deployed package, the service built from Azure app
    settings (backend azureml by default on Azure), the workspace played at the HTTP level:
    none fails, and the new data ends as a registered model tagged production in Studio."""
    helpers = tmp_path / "driver"
    helpers.mkdir()
    for source in ("packaging/driver.py", "azureml/fake_workspace.py", "samples.py"):
        shutil.copy(ROOT / "tests" / source, helpers)
    (helpers / "tests").mkdir()  # fake_workspace imports tests.fake_entra
    (helpers / "tests" / "__init__.py").write_text("")
    shutil.copy(ROOT / "tests" / "fake_entra.py", helpers / "tests")
    metrics = helpers / "metrics.json"
    # Every run beats seasonal naive and the champion it is compared with: v1, then v2.
    metrics.write_text(json.dumps(metrics_v2(candidate=0.4, baseline=1.0, champion=0.6)))
    suffix = uuid.uuid4().hex[:8]
    settings = {
        "WEBSITE_INSTANCE_ID": "packaging-test",
        "RETRAIN_STORAGE_CONNECTION_STRING": azurite.connection_string,
        "RETRAIN_MODELS": json.dumps([{"name": "co2", "prefix": "co2/", "horizon": 4}]),
        "AZUREML_SUBSCRIPTION_ID": fake_workspace.SUBSCRIPTION,
        "AZUREML_RESOURCE_GROUP": fake_workspace.RESOURCE_GROUP,
        "AZUREML_WORKSPACE": fake_workspace.WORKSPACE,
        "RETRAIN_BATCH_ENDPOINT": fake_workspace.ENDPOINT,
        "RETRAIN_DATA_CONTAINER": f"data-{suffix}",
        "RETRAIN_STATE_CONTAINER": f"state-{suffix}",
        "RETRAIN_ARTIFACT_CONTAINER": f"artifacts-{suffix}",
        # The sample BlobCreated names Azure's documented account, not Azurite's.
        "RETRAIN_TRUSTED_STORAGE_ACCOUNTS": "*",
        "PYTHONPATH": f"{deployed[1]}:{helpers}",
    }
    out = run_in(
        deployed,
        "import runpy\nsys.argv = sys.argv[1:]\nrunpy.run_path(sys.argv[0], run_name='__main__')",
        settings,
        (str(helpers / "driver.py"), str(metrics)),
    )
    report = json.loads(out.splitlines()[-1])
    assert report["results"] == EXPECTED_ANSWERS
    assert report["tagged_production"] == [2]  # rolled back to v1, then v2 promoted again


# What each first call answers: Event Grid and timer functions return nothing (a raise
# would be a failure), HTTP routes their status. Operator actions really act: there are
# two versions to move between.
EXPECTED_ANSWERS = {
    "on_blob_created": "ok",
    "on_run_completed": "ok",
    "second arrival": "ok",
    "second completion": "ok",
    "on_schedule": "ok",
    "on_sweep": "ok",
    "on_drift_alert": "status 202",
    "retrain_model": "status 202",
    "get_run": "status 200",
    "list_models": "status 200",
    "list_model_versions": "status 200",
    "get_model_ledger": "status 200",
    "get_model_history": "status 200",
    "get_run_report": "status 200",
    "get_dashboard": "status 200",
    "get_dashboard_data": "status 200",
    "get_version_report": "status 200",
    "list_model_runs": "status 200",
    "get_run_steps": "status 200",
    "get_step_log": "status 404",  # Azure ML step logs: not implemented (RunInspector)
    "get_run_artifacts": "status 200",
    "get_run_plot": "status 404",  # the driver's pipeline writes no plot
    "get_model_version": "status 200",
    "compare_model_versions": "status 200",
    "list_model_series": "status 400",  # co2 is one series, not a family
    "get_model_series": "status 400",
    "get_run_series": "status 404",  # a single-series run has no per-series verdicts
    "act_on_family": "status 400",
    "list_dead_letters": "status 200",
    "get_dead_letter": "status 404",
    "replay_dead_letter": "status 404",
    "list_quarantine": "status 200",
    "get_quarantined_file": "status 404",
    "release_quarantined_file": "status 404",
    "get_openapi": "status 200",  # openapi.json ships in the package
    "rollback_model": "status 200",
    "promote_model": "status 200",
    "pin_model": "status 200",
    "unpin_model": "status 200",
    "pause_model": "status 200",
    "resume_model": "status 200",
    "on_azureml_event": "ok",
}
