"""Benchmark: how much step reuse saves when the real training pipeline runs again.

Starts Azurite, uploads the monthly Mauna Loa CO2 series (statsmodels' ``co2`` data set,
resampled to month starts by mean and interpolated) as ``<prefix>/co2.csv`` to a data
container, then runs ``pipeline_defs/pipeline.yml`` through the local workspace twice with
the same inputs under two run keys. The second run should reuse every step, so its time is
only fetching inputs, hashing and publishing outputs. Prints per-step times of both runs,
the totals and the ratio re-run / first run (target: at most 5 %), and writes them as JSON
to ``bench/results/pipeline_reuse.json``.

Run from the repository root::

    .venv/bin/python bench/pipeline_reuse.py            # or: python -m bench.pipeline_reuse

Exit status: 0 when both runs completed and the ratio met the target, 1 when a run did
not complete, 2 when the ratio missed the target.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script: make the repository importable
    sys.path.insert(0, str(REPO_ROOT))

from azure.storage.blob import BlobServiceClient  # noqa: E402

from localdev.azurite import Azurite  # noqa: E402
from localdev.datasets import co2_monthly, series_csv  # noqa: E402
from localdev.workspace import LocalWorkspace  # noqa: E402
from shared.adapters.blob import BlobDataStore, container_client  # noqa: E402
from shared.ports import PipelineRun, PipelineSubmission  # noqa: E402
from shared.snapshot import Snapshot  # noqa: E402

logger = logging.getLogger("bench.pipeline_reuse")

DATA_CONTAINER = "trainingdata"
ARTIFACT_CONTAINER = "artifacts"
DATA_DATASTORE = "trainingdata"
ARTIFACT_DATASTORE = "workspaceblobstore"
TARGET_RATIO = 0.05


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Run the real training pipeline twice through the local workspace (same inputs, "
            "two run keys) and report how long the re-run takes compared to the first run."
        )
    )
    parser.add_argument(
        "--pipeline",
        type=Path,
        default=REPO_ROOT / "pipeline_defs" / "pipeline.yml",
        help="pipeline job YAML (default: %(default)s)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="local workspace root; must be empty or absent so the first run really runs "
        "(default: a temporary folder, removed afterwards)",
    )
    parser.add_argument(
        "--model-prefix", default="co2", help="blob prefix of the data (default: %(default)s)"
    )
    parser.add_argument(
        "--time-budget",
        type=int,
        default=60,
        help="seconds the train step may spend on order search (default: %(default)s)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=1800.0,
        help="give up on a run after this many seconds (default: %(default)s)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=REPO_ROOT / "bench" / "results" / "pipeline_reuse.json",
        help="where to write the JSON results (default: %(default)s)",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="do not stream the steps' output"
    )
    return parser.parse_args(argv)


def co2_csv() -> tuple[bytes, int]:
    """The monthly CO2 series as CSV (timestamp,value) and its number of rows."""
    monthly = co2_monthly()
    return series_csv(monthly).encode(), len(monthly)


def snapshot_manifest(blob_service: BlobServiceClient, prefix: str) -> dict[str, Any]:
    """The manifest the service writes for a data snapshot of the prefix."""
    data = BlobDataStore(container_client(blob_service, DATA_CONTAINER))
    model = prefix.strip("/")
    return Snapshot(model=model, prefix=prefix, files=tuple(data.list_files(prefix))).manifest()


def run_once(
    workspace: LocalWorkspace,
    blob_service: BlobServiceClient,
    *,
    run_key: str,
    prefix: str,
    manifest: dict[str, Any],
    time_budget: int,
    timeout: float,
) -> tuple[PipelineRun, float]:
    """Submit one run as the service would and wait for it; return it and its wall time."""
    manifest_path = f"retrain/{run_key}/snapshot.json"
    container_client(blob_service, ARTIFACT_CONTAINER).upload_blob(
        manifest_path, json.dumps(manifest, indent=2), overwrite=True
    )
    submission = PipelineSubmission(
        run_key=run_key,
        model=prefix,
        inputs={
            "data": f"azureml://datastores/{DATA_DATASTORE}/paths/{prefix}/",
            "manifest": f"azureml://datastores/{ARTIFACT_DATASTORE}/paths/{manifest_path}",
            "frequency": "MS",
            "season_length": 12,
            "horizon": 24,
            "time_column": "timestamp",
            "value_column": "value",
            "time_budget": time_budget,
        },
        tags={"retrain_run_key": run_key, "model": prefix},
    )
    started = time.perf_counter()
    workspace.submit(submission)
    run = workspace.wait(run_key, timeout)
    return run, time.perf_counter() - started


def step_table(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: {
            "seconds": step.get("duration_s"),
            "reused": bool(step.get("reused")),
            "status": step.get("status"),
        }
        for name, step in job["steps"].items()
    }


def render(results: dict[str, Any]) -> str:
    first, rerun = results["first_run"], results["re_run"]
    lines = [
        f"{'step':<12}{'first run (s)':>15}{'re-run (s)':>13}  re-run reused",
        "-" * 55,
    ]
    for name, step in first["steps"].items():
        again = rerun["steps"].get(name, {})
        lines.append(
            f"{name:<12}{_seconds(step['seconds']):>15}{_seconds(again.get('seconds')):>13}"
            f"  {'yes' if again.get('reused') else 'no'}"
        )
    lines += [
        "-" * 55,
        f"{'total':<12}{_seconds(first['wall_s']):>15}{_seconds(rerun['wall_s']):>13}",
        "",
        f"re-run / first run: {results['ratio']:.2%} "
        f"(target <= {results['target_ratio']:.0%}: {'met' if results['met'] else 'MISSED'})",
    ]
    return "\n".join(lines)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("azure").setLevel(logging.WARNING)

    csv, rows = co2_csv()
    with tempfile.TemporaryDirectory(prefix="pipeline-reuse-") as temporary, Azurite() as azurite:
        root = args.workdir or Path(temporary) / "workspace"
        if root.exists() and any(root.iterdir()):
            print(f"--workdir {root} is not empty; the first run would reuse old steps")
            return 1
        blob_service = BlobServiceClient.from_connection_string(azurite.connection_string)
        container_client(blob_service, DATA_CONTAINER).upload_blob(
            f"{args.model_prefix}/co2.csv", csv, overwrite=True
        )
        manifest = snapshot_manifest(blob_service, f"{args.model_prefix}/")
        workspace = LocalWorkspace(
            root,
            args.pipeline,
            blob_service=blob_service,
            datastores={DATA_DATASTORE: DATA_CONTAINER, ARTIFACT_DATASTORE: ARTIFACT_CONTAINER},
        )
        batch = uuid.uuid4().hex[:8]
        measured: dict[str, dict[str, Any]] = {}
        try:
            for label, key in (("first_run", f"bench-{batch}-1"), ("re_run", f"bench-{batch}-2")):
                logger.warning("starting %s (run key %s)", label.replace("_", " "), key)
                run, wall = run_once(
                    workspace,
                    blob_service,
                    run_key=key,
                    prefix=args.model_prefix,
                    manifest=manifest,
                    time_budget=args.time_budget,
                    timeout=args.timeout,
                )
                job = json.loads((root / "jobs" / key / "job.json").read_text())
                measured[label] = {
                    "run_key": key,
                    "status": run.status,
                    "error": run.error,
                    "wall_s": round(wall, 3),
                    "job_s": job["duration_s"],
                    "steps": step_table(job),
                    "outputs": dict(run.outputs),
                }
                if run.status != "Completed":
                    print(f"{label.replace('_', ' ')} {run.status}: {run.error}")
                    return 1
        finally:
            workspace.close()

    ratio = measured["re_run"]["wall_s"] / measured["first_run"]["wall_s"]
    results = {
        "benchmark": "pipeline_reuse",
        "when": datetime.now(UTC).isoformat(),
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "pipeline": str(args.pipeline),
        "data": {"series": "statsmodels co2, monthly (MS) mean, interpolated", "rows": rows},
        "time_budget": args.time_budget,
        "first_run": measured["first_run"],
        "re_run": measured["re_run"],
        "ratio": round(ratio, 5),
        "target_ratio": TARGET_RATIO,
        "met": ratio <= TARGET_RATIO,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(render(results))
    print(f"\nresults written to {args.output}")
    return 0 if results["met"] else 2


if __name__ == "__main__":
    sys.exit(main())
