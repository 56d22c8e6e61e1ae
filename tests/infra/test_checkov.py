"""infra/ passes checkov (its Bicep framework) with every skipped check justified where
it is skipped, and no skip left over for a check that no longer applies."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from tests.infra.bicep import INFRA, bicep_files
from tests.infra.tools import cached_venv

REQUIREMENTS = Path(__file__).with_name("requirements-checkov.txt")
SKIP = re.compile(r"//\s*checkov:skip=(CKV\w+):\s*(.*)")


def run_checkov() -> dict[str, Any]:
    python = cached_venv("checkov", sys.executable, files=[REQUIREMENTS])
    result = subprocess.run(
        [
            str(python.parent / "checkov"),
            "--directory",
            str(INFRA),
            "--framework",
            "bicep",
            "--skip-download",  # no call to the vendor's platform (no network here)
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.stdout.strip(), result.stderr[-3000:]
    report = json.loads(result.stdout)
    return report[0] if isinstance(report, list) else report


def test_infra_passes_checkov_with_every_skip_justified_in_place() -> None:
    report = run_checkov()
    summary, results = report["summary"], report["results"]
    failed = [(c["check_id"], c["resource"], c["file_path"]) for c in results["failed_checks"]]
    assert failed == []
    assert results["parsing_errors"] == []
    assert summary["passed"] > 20 and summary["resource_count"] > 30

    skipped = Counter((c["check_id"], Path(c["file_path"]).name) for c in results["skipped_checks"])
    declared: Counter[tuple[str, str]] = Counter()
    for path in bicep_files():
        for match in SKIP.finditer(path.read_text()):
            check, reason = match.groups()
            assert len(reason.split()) >= 6, f"{path.name}: {check} needs a reason: {reason!r}"
            declared[(check, path.name)] += 1
    assert declared == skipped, "a checkov:skip comment no longer matches a finding"
