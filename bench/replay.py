"""Benchmark: replay real series arriving year by year through the local stack.

This file is the command line; the work is done by ``bench/replaylib/`` (one job per module:
arrivals, scoring, records, summary, render, driver), whose names are importable from here.

Every series is its own model of the service. The first CSV blob holds the first 60 % of
the series; then one blob per year arrives (``season_length`` periods: 12 months, 4
quarters; for series without a season, ``--annual-points`` points, default 5, per blob;
the last blob may be shorter). Each blob lands in the Azurite data container; the local
Functions host turns it into an Event Grid BlobCreated delivery to ``on_blob_created``;
the trigger policy starts the real training pipeline in the local workspace (prep, ARIMA
order search, evaluate); the workspace's RunCompleted event reaches ``on_run_completed``
and the service gates, registers and maybe promotes. The benchmark waits until the
service has finalised each run before the next blob arrives. It reads what happened only
through the service's public API: the ledger (``list_ledger``: which run the blob
started), the run record (``get_run``: its status) and the registry (``list_versions``:
which version the run registered, where its model folder is, which one is production).
It never reads the gate's verdict or the evaluate step's metrics.

Printed per series and in total, and written to ``bench/results/replay.json``:

- arrivals, runs started, promotions (and how many replaced a champion), refusals (runs
  that completed without being promoted), failed runs, arrivals left without a production
  model (none in production once the arrival's run was done);
- promotions worse than the replaced champion on that run's holdout, **re-scored
  independently**: the run's data is the series up to the arrival; its holdout is the last
  ``horizon`` points, its training split the rest (as prep splits). Both pickles are loaded
  from the registered versions' model folders in the artifact container: the candidate's
  evaluation fit (``model_eval.pkl`` when the train step writes one, else ``model.pkl``)
  and the champion's ``model.pkl`` as registered. Each one's stored parameters are applied
  to the training split without refit (statsmodels ``results.apply(train, refit=False)``)
  and forecast the holdout (a folder whose ``model.json`` records a ``transform``: applied
  to the transformed split, the forecast back-transformed to the bias-adjusted mean, as the
  evaluate step does; ``bench/replaylib/transform.py``); the MASE of both (scaled by the
  training split's in-sample seasonal-naive MAE) are compared. "Worse" is strictly larger.
  Refusals of a challenger that re-scores better than the champion kept are counted too
  (not a target);
- the served forecast error: at each arrival after the first, the MASE on the newly
  arrived observations of the model that was in production just before they arrived,
  forecast as registered from its own end of data (back-transformed when its model.json
  records a transform; a model fit on the training split only ends ``horizon`` periods
  before the data it was trained on, so it must forecast across
  data already seen: exactly what the issue complains about); against statsforecast
  AutoARIMA refitted on all earlier data at every arrival, and seasonal naive on all
  earlier data. The three share one scale: the in-sample seasonal-naive MAE (lag
  ``season_length``; lag 1 without a season) of all data before the arrival. An arrival
  with no model in production is served by seasonal naive in the "served" mean (what a
  team without a model would use), and is left out of "served (model only)".

Means: per series, the mean over its scored arrivals; in total, the mean over all scored
arrivals of all series (pooled, so long series weigh more).

Targets (issue 8): 0 promotions worse than the replaced champion on the run's holdout, and
served mean MASE (with the naive fallback) at most AutoARIMA-refitted-every-time's.

Series: by default seven of the order-search benchmark's *validation* suite
(``bench/order_search.py --suite validation``), not its 8 benchmark series, so the
replay's set is apart from the series the order search was designed on (the validation
suite was used to check changes to the search, so it is not entirely unseen either):
sunspots_monthly_tail (monthly, m=12, h=24); austres, danish_lrm, danish_ibo, macro_unemp
and macro_infl (quarterly, m=4, h=8); fertility_CHL (annual, m=1, h=6): 87 blobs. ``--suite
benchmark`` replays the 8 benchmark series instead (long: co2 and elnino alone give 40
arrivals); ``--series`` picks any by name. The loaders are bench/order_search.py's.
The series carry no dates there, so each gets a regular calendar from 1950-01-01 at its
frequency (month starts, quarter starts or year starts): only the spacing matters to the
pipeline.

Run time: each run's order search gets ``--time-budget`` seconds (default 10, a short
budget so the default replay of 87 runs stays within about 10 minutes on 2 cores; the
searches usually finish well within it). ``--quick`` (2 series, 3 yearly arrivals each) is
a smoke run of about a minute.

The peer (statsforecast) and pmdarima (the data sets) are installed only for benchmarks:
``.venv/bin/pip install --no-deps -r bench/requirements-bench.txt``.

Run from the repository root::

    .venv/bin/python bench/replay.py --quick
    .venv/bin/python bench/replay.py
    .venv/bin/python bench/replay.py --series austres --series macro_infl

Exit status: 0 when both targets pass, 2 when one fails (failed runs are counted and
reported, not fatal), 1 when the replay stopped (a wait timed out), 3 when a peer package
is missing.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script: make the repository importable
    sys.path.insert(0, str(REPO_ROOT))

from bench.order_search import Series, load_series, load_validation_series  # noqa: E402
from bench.replaylib import *  # noqa: E402, F403  (the benchmark's names, importable from here)
from bench.replaylib import (  # noqa: E402
    CALENDAR_START,
    FIRST_FRACTION,
    ArrivalRecord,
    Replayer,
    frequency_for,
    model_name,
    render,
    render_targets,
    split_arrivals,
    statsforecast_peers,
    summarise,
    targets,
)
from bench.replaylib import __all__ as _library_names  # noqa: E402

RESULTS = REPO_ROOT / "bench" / "results" / "replay.json"
INSTALL_HINT = ".venv/bin/pip install --no-deps -r bench/requirements-bench.txt"
DEFAULT_SERIES = (
    "sunspots_monthly_tail",
    "austres",
    "danish_lrm",
    "danish_ibo",
    "macro_unemp",
    "macro_infl",
    "fertility_CHL",
)
QUICK_SERIES = ("austres", "fertility_CHL")
QUICK_ARRIVALS = 3


# ----------------------------------------------------------------------------- command line


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/replay.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--suite",
        choices=("validation", "benchmark"),
        default="validation",
        help="where the series come from: bench/order_search.py's validation suite (default; "
        f"replays {', '.join(DEFAULT_SERIES)} unless --series) or its 8 benchmark series (all "
        "of them unless --series)",
    )
    parser.add_argument(
        "--series", action="append", help="replay this series of the suite (repeatable)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: {' and '.join(QUICK_SERIES)} (unless --series), "
        f"{QUICK_ARRIVALS} yearly arrivals each",
    )
    parser.add_argument(
        "--max-arrivals",
        type=int,
        default=None,
        help="at most this many yearly arrivals per series after the first blob (default: all)",
    )
    parser.add_argument(
        "--annual-points",
        type=int,
        default=5,
        help="points per arrival for series without a season (default: %(default)s)",
    )
    parser.add_argument(
        "--time-budget",
        type=int,
        default=10,
        help="seconds each run's order search may take (default: %(default)s)",
    )
    parser.add_argument(
        "--run-timeout",
        type=float,
        default=900.0,
        help="seconds to wait for one run to be finalised (default: %(default)s)",
    )
    parser.add_argument(
        "--app-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an extra app setting for the service, e.g. RETRAIN_GATE_MIN_IMPROVEMENT=0.02 "
        "(repeatable; default: the app's defaults)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="keep the workspace's job folders and logs here (default: a temporary folder)",
    )
    parser.add_argument(
        "--output", type=Path, default=RESULTS, help="JSON results (default: %(default)s)"
    )
    parser.add_argument("--verbose", action="store_true", help="the service's and steps' logs too")
    return parser.parse_args(argv)


def select_series(args: argparse.Namespace, pmdarima_datasets: Any) -> list[Series]:
    if args.suite == "benchmark":
        suite = load_series(pmdarima_datasets)
        default = [s.name for s in suite]
    else:
        suite = load_validation_series(pmdarima_datasets)
        default = list(DEFAULT_SERIES)
    wanted = args.series or (list(QUICK_SERIES) if args.quick else default)
    by_name = {s.name: s for s in suite}
    unknown = [name for name in wanted if name not in by_name]
    if unknown:
        raise SystemExit(
            f"bench: unknown series {unknown} in the {args.suite} suite; known: {sorted(by_name)}"
        )
    return [by_name[name] for name in wanted]


def parse_app_settings(pairs: Sequence[str]) -> dict[str, str]:
    """``NAME=VALUE`` pairs as a mapping (the value may contain ``=``)."""
    settings: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise SystemExit(f"bench: --app-setting wants NAME=VALUE, got {pair!r}")
        settings[name.strip()] = value
    return settings


def model_settings(series: Series, time_budget: int) -> dict[str, Any]:
    return {
        "name": model_name(series.name),
        "prefix": f"{model_name(series.name)}/",
        "frequency": frequency_for(series.season_length),
        "season_length": series.season_length,
        "horizon": series.horizon,
        "time_budget": time_budget,
    }


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    for package in ("statsmodels", "statsforecast", "pmdarima", "numpy", "pandas"):
        try:
            found[package] = __import__(package).__version__
        except ImportError:
            found[package] = None
    return found


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="    %(asctime)s %(name)-18.18s %(message)s",
        datefmt="%H:%M:%S",
    )
    if not args.verbose:
        logging.getLogger("shared").setLevel(logging.ERROR)  # the gate's refusals log warnings
    try:
        import pmdarima

        peers = statsforecast_peers()
    except ImportError as exc:
        print(f"bench: missing package ({exc.name}); install with:\n    {INSTALL_HINT}")
        return 3
    all_series = select_series(args, pmdarima.datasets)
    app_settings = parse_app_settings(args.app_setting)
    max_arrivals = args.max_arrivals
    if args.quick and max_arrivals is None:
        max_arrivals = QUICK_ARRIVALS
    plans = {
        s.name: split_arrivals(
            s.values.size,
            season_length=s.season_length,
            annual_points=args.annual_points,
            max_arrivals=max_arrivals,
        )
        for s in all_series
    }
    runs = sum(len(p) for p in plans.values())
    print(
        f"replay: {len(all_series)} series ({args.suite} suite), {runs} blobs; first blob "
        f"{FIRST_FRACTION:.0%} of each series, then one per year (non-seasonal: "
        f"{args.annual_points} points); order-search time budget {args.time_budget}s",
        flush=True,
    )
    peers.autoarima(all_series[0].values[:60], 4, 4)  # warm-up: statsforecast's first call

    from localdev.stack import start_stack

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="replay-") as temporary:
        workdir = args.workdir or Path(temporary)
        workdir.mkdir(parents=True, exist_ok=True)
        stack = start_stack(
            workdir,
            models=[model_settings(s, args.time_budget) for s in all_series],
            extra_settings=app_settings,
        )
        records: dict[str, list[ArrivalRecord]] = {}
        try:
            replayer = Replayer(stack, peers, args.run_timeout)
            for series in all_series:
                print(
                    f"{series.name}: {series.values.size} points, m={series.season_length}, "
                    f"h={series.horizon}, {len(plans[series.name]) - 1} yearly arrivals",
                    flush=True,
                )
                records[series.name] = replayer.replay(
                    series, plans[series.name], lambda line: print(line, flush=True)
                )
        except (TimeoutError, KeyboardInterrupt) as exc:
            print(f"bench: replay stopped: {exc or 'interrupted'}", file=sys.stderr)
            return 1
        finally:
            stack.close()
    elapsed = time.monotonic() - started

    per_series = {name: summarise(rs) for name, rs in records.items()}
    total = summarise([r for rs in records.values() for r in rs])
    result = targets(total)
    print()
    print(render(per_series, total))
    print()
    print(render_targets(result, total))
    print(f"total time {elapsed:.0f}s")
    payload = {
        "benchmark": "replay",
        "when": datetime.now(UTC).isoformat(),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "versions": versions(),
        "settings": {
            "suite": args.suite,
            "series": [s.name for s in all_series],
            "first_fraction": FIRST_FRACTION,
            "annual_points": args.annual_points,
            "max_arrivals": max_arrivals,
            "time_budget": args.time_budget,
            "calendar_start": CALENDAR_START,
            "app_settings": app_settings,
        },
        "seconds": round(elapsed, 1),
        "per_series": per_series,
        "total": total,
        "targets": result,
        "arrivals": [r.as_dict() for rs in records.values() for r in rs],
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"results written to {args.output}")
    failed = total["failed"] > 0
    if failed:
        print(f"bench: {total['failed']} run(s) failed (see the arrivals in the JSON)")
    return 0 if all(t["passed"] for t in result.values()) else 2


__all__ = [*_library_names, "main", "parse_app_settings", "parse_args", "select_series"]


if __name__ == "__main__":
    sys.exit(main())
