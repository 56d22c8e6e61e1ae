"""Bench scripts run as scripts (``python bench/x.py``), not only with ``-m``: each makes
the repository, and the train step's code folder where it loads it, importable itself."""

import json
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


def test_search_panels_runs_as_a_script_with_the_familys_drift_margin(tmp_path):
    """A quick look (the first 5 series of M1 quarterly, no AutoARIMA): the family's margin
    for a season length of 4 is used unless one is given, and it decides the 5th series
    (a row says so); with a margin of 0 no row does."""
    out = tmp_path / "panels.json"
    script = str(ROOT / "bench" / "search_panels.py")
    quick = [script, "--panel", "m1q", "--limit", "5", "--no-peer", "--output", str(out)]
    done = run(quick, tmp_path)
    assert done.returncode == 0, done.stderr
    [panel] = json.loads(out.read_text())["panels"]
    summary = panel["summary"]
    assert (summary["panel"], summary["role"], summary["series"], summary["failed"]) == (
        "m1q",
        "tuning",
        5,
        0,
    )
    assert summary["drift_margin"] == 2.0 and summary["mase"] > 0
    assert "autoarima_mase" not in summary
    assert [row["model"].endswith("(drift margin)") for row in panel["rows"]][-1]
    assert done.stdout.splitlines()[-2].split()[:5] == ["m1q", "tuning", "5", "4", "2"]

    given = run([*quick, "--drift-margin", "0"], tmp_path)
    assert given.returncode == 0, given.stderr
    [panel] = json.loads(out.read_text())["panels"]
    assert panel["summary"]["drift_margin"] == 0
    assert not [row for row in panel["rows"] if row["model"].endswith("(drift margin)")]

    for bad, said in (("0", "--limit must be >= 1"), ("inf", "--drift-margin must be a finite")):
        flag = "--limit" if bad == "0" else "--drift-margin"
        refused = run([script, flag, bad], tmp_path)
        assert refused.returncode == 2 and said in refused.stderr
