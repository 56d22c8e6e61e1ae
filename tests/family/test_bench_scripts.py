"""Bench scripts run as scripts (``python bench/x.py``), not only with ``-m``: each makes
the repository, and the train step's code folder where it loads it, importable itself."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(code_or_script: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter outside the repository, with nothing of ours on its path."""
    return subprocess.run(
        [sys.executable, *code_or_script],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
        timeout=120,
        check=False,
    )


def test_family_finalise_help_runs_as_a_script(tmp_path):
    done = run([str(ROOT / "bench" / "family_finalise.py"), "--help"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "usage: family_finalise.py" in done.stdout


def test_the_order_search_loader_finds_the_scoring_package(tmp_path):
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
        "from bench.order_search import load_order_search; "
        "module = load_order_search(); print(module.BoxCox.__name__)"
    )
    done = run(["-c", code], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "BoxCox"
