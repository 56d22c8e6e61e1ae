"""Cold-import cost of the Function App.

Times ``import function_app`` in fresh interpreters against a baseline that imports only
what any such app needs (azure.functions, azure.storage.blob, azure.eventgrid), and
prints the ratio of the medians (target: at most 1.3). Writes
bench/results/import_time.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "import azure.functions, azure.storage.blob, azure.eventgrid"
APP = "import function_app"


def time_import(statement: str) -> float:
    """Seconds one fresh interpreter takes to run ``statement`` (minus bare start-up)."""
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return float(result.stdout.strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15, help="fresh interpreters per side")
    parser.add_argument(
        "--json", type=Path, default=ROOT / "bench" / "results" / "import_time.json"
    )
    args = parser.parse_args(argv)

    time_import(APP)  # warm the file-system cache and the .pyc files for both sides
    time_import(BASELINE)
    samples: dict[str, list[float]] = {"baseline": [], "function_app": []}
    started = time.perf_counter()
    for _ in range(args.repeat):  # interleaved, so drift in machine load hits both sides
        samples["baseline"].append(time_import(BASELINE))
        samples["function_app"].append(time_import(APP))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    ratio = medians["function_app"] / medians["baseline"]

    print(f"{'import':<58} {'median ms':>10} {'min ms':>8} {'max ms':>8}")
    for name, statement in (("baseline", BASELINE), ("function_app", APP)):
        values = samples[name]
        print(
            f"{statement:<58} {1000 * medians[name]:>10.1f} {1000 * min(values):>8.1f} "
            f"{1000 * max(values):>8.1f}"
        )
    print(f"ratio function_app / baseline: {ratio:.2f} (target <= 1.3), {args.repeat} runs each")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "repeat": args.repeat,
                "median_seconds": medians,
                "samples_seconds": samples,
                "ratio": ratio,
                "target": 1.3,
                "elapsed_seconds": time.perf_counter() - started,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
