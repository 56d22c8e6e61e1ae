"""Write a model and schema-2 metrics in which the candidate beats seasonal naive, after
QUICK_STEP_SECONDS (default 2) so a test can act while the job runs."""

import argparse
import json
import os
import sys
import time
from pathlib import Path


def section(mase):
    errors = [[mase * s for s in (1.0, -0.6, 0.8, -1.2)] for _ in range(3)]
    values = {"mase": mase, "smape": 10 * mase, "rmse": mase, "mae": mase, "coverage": 0.8}
    origins = ["2001-01-01T00:00:00", "2001-02-01T00:00:00", "2001-03-01T00:00:00"]
    return {
        "holdout": dict(values),
        "backtest": dict(values),
        "folds": [
            {"origin": o, "mase": mase, "errors": e} for o, e in zip(origins, errors, strict=True)
        ],
        "holdout_errors": errors[-1],
    }


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    args = parser.parse_args(argv)
    time.sleep(float(os.environ.get("QUICK_STEP_SECONDS", "2")))
    files = sorted(p.name for p in args.data.rglob("*") if p.is_file())
    (args.model / "model.json").write_text(json.dumps({"files": files}))
    metrics = {
        "schema": 2,
        "horizon": 4,
        "season_length": 12,
        "interval": 0.8,
        "holdout_start": "2002-01-01T00:00:00",
        "holdout_end": "2002-12-01T00:00:00",
        "data_end": "2002-12-01T00:00:00",
        "mase_scale": 1.0,
        "backtest": {"folds": 3, "horizon": 4, "origins": []},
        "candidate": section(0.5),
        "baseline": dict(section(1.0), name="seasonal_naive"),
        "champion": None,
        "model": {"order": [1, 1, 1], "seasonal_order": [0, 0, 0, 0], "trend": None},
        "champion_model": None,
    }
    (args.metrics / "metrics.json").write_text(json.dumps(metrics))
    return 0


if __name__ == "__main__":
    sys.exit(main())
