"""The evaluate step's MLflow logging against the real ``mlflow`` package, into a local
sqlite store as the local workspace configures it (``MLFLOW_TRACKING_URI=sqlite:///<abs>``).

``mlflow`` is not in requirements-dev.txt: it pins pyarrow below our pin (mlflow 3.17.2, the
newest installable here, wants pyarrow < 26), so it lives in a virtual environment of its
own. The test runs the probe (tests/pipeline_defs/mlflow_probe.py) with the first of: this
interpreter when it can import ``mlflow``; ``RETRAIN_MLFLOW_PYTHON``; ``.local/mlflow/bin/
python`` in the repository. Make the last one with::

    python3.11 -m venv .local/mlflow
    .local/mlflow/bin/pip install mlflow==3.17.2 pandas==3.1.1 numpy==2.4.6

Without any of them the test is skipped, and says so.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from localdev.datasets import co2_monthly
from tests.pipeline_defs.test_evaluate import evaluate, run_main, write_champion, write_inputs

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "pipeline_defs" / "components" / "evaluate" / "src"
PROBE = Path(__file__).with_name("mlflow_probe.py")


def mlflow_python() -> str | None:
    """An interpreter that can import mlflow, or None."""
    if importlib.util.find_spec("mlflow") is not None:
        return sys.executable
    configured = os.environ.get("RETRAIN_MLFLOW_PYTHON")
    candidate = Path(configured) if configured else REPO / ".local" / "mlflow" / "bin" / "python"
    return str(candidate) if candidate.is_file() else None


PYTHON = mlflow_python()

pytestmark = pytest.mark.skipif(
    PYTHON is None,
    reason="mlflow is not importable here, and no interpreter with it was found "
    "(RETRAIN_MLFLOW_PYTHON, or .local/mlflow/bin/python: see this module's docstring); "
    "it is a dev-only check kept out of .venv because mlflow pins pyarrow below ours",
)


def test_a_local_evaluate_run_is_in_the_sqlite_store_under_the_workspace(tmp_path):
    series = co2_monthly().loc["1985":"2001"]
    write_inputs(tmp_path, series)
    champion = write_champion(tmp_path / "champion", series.loc[:"1997"])
    code, metrics = run_main(tmp_path, "--champion", str(champion), "--backtest_folds", "3")
    assert code == 0
    workspace, step_cwd = tmp_path / "workspace", tmp_path / "code"
    workspace.mkdir()
    step_cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_") and k != "PYTHONPATH"}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{workspace / 'mlflow.db'}"
    assert PYTHON is not None
    done = subprocess.run(
        [PYTHON, str(PROBE), str(SOURCE), str(tmp_path / "metrics"), "co2-0123456789abcdef"],
        cwd=step_cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["logged"] is True
    experiments = {e["name"]: e for e in found["experiments"]}
    local = experiments[evaluate.LOCAL_EXPERIMENT]
    assert local["artifact_location"] == str(workspace / "mlartifacts" / "retrain-local")
    assert all(not e["runs"] for name, e in experiments.items() if name != "retrain-local")
    (run,) = local["runs"]
    assert run["name"] == "co2-0123456789abcdef-evaluate" and run["status"] == "FINISHED"
    assert run["params"]["backtest_folds"] == "3" and run["params"]["champion"] == "True"
    values, _ = evaluate.tracking_metrics(metrics)
    assert run["metrics"].keys() >= values.keys()
    assert run["metrics"]["candidate.holdout.mase"] == pytest.approx(
        metrics["candidate"]["holdout"]["mase"]
    )
    for who in ("candidate", "champion", "baseline"):
        assert [v for _, v in run["fold_mase"][who]] == pytest.approx(
            [f["mase"] for f in metrics[who]["folds"]]
        )
        assert [s for s, _ in run["fold_mase"][who]] == [0, 1, 2]
    assert run["tags"]["retrain_run_key"] == "co2-0123456789abcdef"
    assert run["artifacts"] == ["forecast.png", "metrics.json"]
    # Everything lands under the workspace folder; nothing in the step's working directory.
    assert run["artifact_uri"].startswith(str(workspace / "mlartifacts"))
    assert (workspace / "mlflow.db").is_file()
    assert list(step_cwd.iterdir()) == []
