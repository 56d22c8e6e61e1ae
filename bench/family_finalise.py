"""What a family's finalisation and one series' page cost as the family ages, on Azurite.

For a family of ``--series`` series, finalises ``--runs`` runs one after the other (each
moves every series: the gate passes them against their champions), straight through
``shared.service.family_finalise.finalise_family`` over the blob adapters (state,
artifacts, the document registry) on an in-memory Azurite: no pipeline, no training. For
each run it prints the finalisation's wall time and storage requests, the requests that
wrote the series' history chains (one per bucket of series), and one series' history page
(up to 20 entries) against reading the model's whole history (what that page cost before
the per-series chains).

    .venv/bin/python -m bench.family_finalise                 # 1,000 series, 6 runs
    .venv/bin/python -m bench.family_finalise --series 200 --runs 4

Flat means: the same requests from the second run on, and a wall time that does not
grow with the run number. Timings are as noisy as the machine's load.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make the repository importable
    sys.path.insert(0, str(ROOT))

from shared.gate import GatePolicy  # noqa: E402
from shared.ports import JSON, PipelineRun, PipelineSubmission  # noqa: E402
from shared.settings import ModelConfig  # noqa: E402
from tests.family.counting import CountingStore  # noqa: E402

MODEL = "stores"
SHARDS = 16


class Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class NoPipeline:
    """Never asked: the bench finalises runs it wrote itself."""

    def submit(self, submission: PipelineSubmission) -> PipelineRun:
        raise NotImplementedError

    def get_run(self, run_id: str) -> PipelineRun:
        raise NotImplementedError

    def find_run(self, run_key: str) -> PipelineRun | None:
        return None


def section(mase: float) -> JSON:
    values = {"mase": mase, "smape": 10 * mase, "rmse": mase, "mae": mase, "coverage": 0.8}
    errors = [[mase * s for s in (1.0, -0.6, 0.8, -1.2)] for _ in range(3)]
    origins = [f"2001-0{m}-01T00:00:00" for m in (1, 2, 3)]
    return {
        "holdout": dict(values),
        "backtest": dict(values),
        "folds": [
            {"origin": o, "mase": mase, "errors": e, "out_of_sample": True}
            for o, e in zip(origins, errors, strict=True)
        ],
        "holdout_errors": errors[-1],
        "holdout_out_of_sample": True,
    }


def result_row(uid: str, run: int, end: str) -> JSON:
    shard = f"shard-{sum(map(ord, uid)) % SHARDS:05d}"
    candidate = 0.5 - 0.01 * run
    return {
        "schema": "family-result/1",
        "unique_id": uid,
        "shard": shard,
        "status": "ok",
        "reason": None,
        "reused": False,
        "data_end": end,
        "model_file": f"{shard}.pkl",
        "metrics": {"holdout": {"mase": candidate}},
        "gate_metrics": {
            "schema": 2,
            "horizon": 4,
            "season_length": 12,
            "interval": 0.8,
            "holdout_start": "2002-01-01T00:00:00",
            "holdout_end": end,
            "data_end": end,
            "mase_scale": 1.0,
            "backtest": {"folds": 3, "horizon": 4, "origins": []},
            "candidate": section(candidate),
            "baseline": section(1.0) | {"name": "seasonal_naive"},
            "champion": section(candidate + 0.05) if run else None,
        },
    }


def one_run(
    service: Any, store: CountingStore, artifacts: Any, series: list[str], run: int
) -> dict[str, Any]:
    """Write run ``run``'s outputs (every series beats its champion) and finalise it."""
    from shared.service.family import read_production
    from shared.service.family_finalise import finalise_family

    ctx = service.context
    key = f"{MODEL}-{run:016x}"
    end = f"{2002 + run}-12-01T00:00:00"
    production, _ = read_production(ctx, MODEL)
    champions = {
        uid: {
            "run_key": p["run_key"],
            "version": p["version"],
            "model_file": f"{p['run_key']}/{p['model_file']}",
        }
        for uid, p in (production.get("series") or {}).items()
    }
    root = f"retrain/{key}/"
    ctx.artifacts.write_json(
        root + "champions/champions.json", {"schema": "family-champions/1", "series": champions}
    )
    rows = "".join(json.dumps(result_row(uid, run, end)) + "\n" for uid in series)
    artifacts.upload_blob(root + "results/parallel_run_step.txt", rows.encode())
    record = {
        "model": MODEL,
        "status": "Completed",
        "created_at": Clock().now().isoformat(),
        "pipeline": "family",
        "family_inputs": {"previous": None, "champions": len(champions), "champions_missing": 0},
        "finalise_attempt": 1,
    }
    ctx.state.create(f"runs/{key}.json", record)
    store.requests.clear()
    started = time.perf_counter()
    outcome = finalise_family(MODEL, key, record, ctx)
    seconds = time.perf_counter() - started
    assert outcome.details and outcome.details["promoted"] == len(series), outcome
    finalise = Counter(store.requests)
    return {"run": run + 1, "seconds": round(seconds, 3), "requests": finalise}


def page_cost(service: Any, store: CountingStore, uid: str) -> dict[str, Any]:
    from shared.service.family_ops import get_series
    from shared.service.promotion import list_history

    ctx = service.context
    store.requests.clear()
    started = time.perf_counter()
    page = get_series(ctx, MODEL, uid)
    page_s = time.perf_counter() - started
    page_requests = store.total()
    store.requests.clear()
    started = time.perf_counter()
    whole = list_history(ctx, MODEL)
    whole_s = time.perf_counter() - started
    return {
        "page_entries": len(page["history"]),
        "page_requests": page_requests,
        "page_ms": round(page_s * 1000, 1),
        "whole_history_entries": len(whole),
        "whole_history_requests": store.total(),
        "whole_history_ms": round(whole_s * 1000, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=6)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    from azure.storage.blob import BlobServiceClient

    from localdev.azurite import Azurite
    from shared.adapters.blob import BlobArtifactStore, BlobDataStore, BlobStateStore
    from shared.adapters.document_registry import DocumentModelRegistry
    from shared.service import RetrainService

    config = ModelConfig(name=MODEL, prefix="stores/", horizon=4, series_columns=("unique_id",))
    series = [f"s{i:05d}" for i in range(args.series)]
    with (
        tempfile.TemporaryDirectory(prefix="family-finalise-") as folder,
        Azurite(in_memory=True, workdir=Path(folder)) as azurite,
    ):
        blobs = BlobServiceClient.from_connection_string(azurite.connection_string)
        containers = {}
        for name in ("state", "artifacts", "data"):
            containers[name] = blobs.get_container_client(f"bench-{name}")
            containers[name].create_container()
        store = CountingStore(BlobStateStore(containers["state"]))
        clock = Clock()
        service = RetrainService(
            models=(config,),
            gate=GatePolicy(),
            data_container="data",
            data_datastore="trainingdata",
            state=store,
            data=BlobDataStore(containers["data"]),
            artifacts=BlobArtifactStore(containers["artifacts"], datastore="workspaceblobstore"),
            pipeline=NoPipeline(),
            registry=DocumentModelRegistry(store, clock),
            clock=clock,
        )
        print(f"{args.series} series, {args.runs} runs, each moving every series (Azurite)")
        print(
            "run  finalise s  requests  of which series history  page req  page ms  "
            "whole-history req  whole-history ms"
        )
        for run in range(args.runs):
            done = one_run(service, store, containers["artifacts"], series, run)
            cost = page_cost(service, store, series[len(series) // 2])
            requests = done["requests"]
            total = sum(n for op, n in requests.items() if " " not in op)
            print(
                f"{done['run']:<4} {done['seconds']:<11} {total:<9} "
                f"{requests['create series history']:<24} {cost['page_requests']:<9} "
                f"{cost['page_ms']:<8} {cost['whole_history_requests']:<18} "
                f"{cost['whole_history_ms']}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
