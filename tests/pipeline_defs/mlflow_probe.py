"""Run by tests/pipeline_defs/test_mlflow_real.py with an interpreter that has ``mlflow``
(not a test module): log an evaluate step's folder with the step's own code, the way the
step does (``MLFLOW_TRACKING_URI`` from the environment, the working directory the step's
code folder), then read the store back with MLflow's client and print what it holds as JSON.

Usage: python mlflow_probe.py <evaluate src folder> <metrics folder> <run key>
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    source, folder, run_key = Path(argv[0]), Path(argv[1]), argv[2]
    sys.path.insert(0, str(source))
    import evaluation
    from mlflow.tracking import MlflowClient

    metrics = json.loads((folder / "metrics.json").read_text())
    logged = evaluation.log_to_mlflow(metrics, folder, run_key=run_key)
    client = MlflowClient()
    experiments = []
    for experiment in client.search_experiments():
        runs = []
        for run in client.search_runs([experiment.experiment_id]):
            run_id = run.info.run_id
            runs.append(
                {
                    "name": run.info.run_name,
                    "status": run.info.status,
                    "artifact_uri": run.info.artifact_uri,
                    "params": run.data.params,
                    "metrics": run.data.metrics,
                    "tags": {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")},
                    "fold_mase": {
                        who: [
                            (m.step, m.value)
                            for m in client.get_metric_history(run_id, f"{who}.fold_mase")
                        ]
                        for who in ("candidate", "champion", "baseline")
                    },
                    "artifacts": sorted(a.path for a in client.list_artifacts(run_id)),
                }
            )
        experiments.append(
            {
                "name": experiment.name,
                "artifact_location": experiment.artifact_location,
                "runs": runs,
            }
        )
    import mlflow

    print(json.dumps({"logged": logged, "version": mlflow.__version__, "experiments": experiments}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
