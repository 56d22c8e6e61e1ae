"""Benchmark: replay real series arriving year by year through the local stack.

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
  and forecast the holdout; the MASE of both (scaled by the training split's in-sample
  seasonal-naive MAE) are compared. "Worse" is strictly larger. Refusals of a challenger
  that re-scores better than the champion kept are counted too (not a target);
- the served forecast error: at each arrival after the first, the MASE on the newly
  arrived observations of the model that was in production just before they arrived,
  forecast as registered from its own end of data (a model fit on the training split only
  ends ``horizon`` periods before the data it was trained on, so it must forecast across
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
import math  # noqa: E402
import pickle  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable, Iterable, Sequence  # noqa: E402
from dataclasses import asdict, dataclass, field  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING, Any  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script: make the repository importable
    sys.path.insert(0, str(REPO_ROOT))

from bench.order_search import Series, load_series, load_validation_series  # noqa: E402

if TYPE_CHECKING:
    from localdev.stack import LocalStack

log = logging.getLogger("bench.replay")

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
FIRST_FRACTION = 0.6
CALENDAR_START = "1950-01-01"
FREQUENCIES = {12: "MS", 4: "QS", 1: "YS"}
PRODUCTION = "production"
_DATASTORE_URI = re.compile(r"^azureml://datastores/(?P<datastore>[^/]+)/paths/(?P<path>.*)$")


# ----------------------------------------------------------------------------- pure parts


@dataclass(frozen=True)
class Arrival:
    """One data blob: rows ``start:end`` of the series (the first arrival starts at 0)."""

    number: int
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start


def split_arrivals(
    n: int,
    *,
    season_length: int,
    first_fraction: float = FIRST_FRACTION,
    annual_points: int = 5,
    max_arrivals: int | None = None,
) -> list[Arrival]:
    """The first blob (``first_fraction`` of the ``n`` points, rounded down), then one blob
    per year: ``season_length`` points, or ``annual_points`` when there is no season. The
    last blob holds what is left (it may be shorter). ``max_arrivals`` caps the yearly
    blobs after the first (None: all)."""
    if not 0 < first_fraction < 1:
        raise ValueError(f"first_fraction must be in (0, 1), got {first_fraction}")
    step = season_length if season_length > 1 else annual_points
    if step < 1:
        raise ValueError(f"a yearly arrival must hold at least one point, got {step}")
    first = int(n * first_fraction)
    if first < 1 or first >= n:
        raise ValueError(f"a series of {n} points cannot be split at {first_fraction:.0%}")
    arrivals = [Arrival(0, 0, first)]
    start = first
    while start < n and (max_arrivals is None or len(arrivals) <= max_arrivals):
        end = min(start + step, n)
        arrivals.append(Arrival(len(arrivals), start, end))
        start = end
    return arrivals


def frequency_for(season_length: int) -> str:
    """The pandas frequency of the calendar given to a series of this season length."""
    try:
        return FREQUENCIES[season_length]
    except KeyError:
        raise ValueError(
            f"no calendar for season length {season_length} (known: {sorted(FREQUENCIES)})"
        ) from None


def dated(values: np.ndarray, season_length: int) -> pd.Series:
    """The values on a regular calendar from ``CALENDAR_START`` at the series' frequency."""
    index = pd.date_range(CALENDAR_START, periods=len(values), freq=frequency_for(season_length))
    return pd.Series(np.asarray(values, dtype=float), index=index, name="value")


def arrival_csv(part: pd.Series) -> str:
    """A blob as the service receives it: ``timestamp,value`` with ISO dates; values are
    written with 12 significant digits, so what the pipeline reads is what we score."""
    lines = ["timestamp,value"] + [f"{t:%Y-%m-%d},{v:.12g}" for t, v in part.items()]
    return "\n".join(lines) + "\n"


def model_name(series_name: str) -> str:
    """A service model name (lower case, digits, dashes) for a series."""
    return re.sub(r"[^a-z0-9-]+", "-", series_name.lower()).strip("-")[:40]


def mase_scale(history: np.ndarray, season_length: int) -> float:
    """In-sample mean absolute error of the seasonal naive forecast (lag ``season_length``,
    lag 1 without a season) on ``history``."""
    lag = season_length if season_length > 1 else 1
    values = np.asarray(history, dtype=float)
    if values.size <= lag:
        raise ValueError(f"{values.size} points cannot scale a lag-{lag} MASE")
    return float(np.mean(np.abs(values[lag:] - values[:-lag])))


def mase(actual: Sequence[float] | np.ndarray, forecast: np.ndarray, scale: float) -> float:
    actual_values = np.asarray(actual, dtype=float)
    forecast_values = np.asarray(forecast, dtype=float)
    if actual_values.shape != forecast_values.shape:
        raise ValueError(f"{forecast_values.shape} forecasts for {actual_values.shape} actuals")
    if not scale > 0:
        return math.nan
    return float(np.mean(np.abs(actual_values - forecast_values)) / scale)


def seasonal_naive(history: np.ndarray, steps: int, season_length: int) -> np.ndarray:
    """Repeat the last season of ``history`` (the last value without a season)."""
    values = np.asarray(history, dtype=float)
    lag = min(season_length if season_length > 1 else 1, values.size)
    last = values[-lag:]
    return np.resize(last, steps) if steps else np.empty(0)


def rescore(results: Any, train: pd.Series, holdout: pd.Series, scale: float) -> float:
    """MASE on ``holdout`` of a stored model's parameters applied to ``train`` without refit
    (statsmodels ``results.apply(train, refit=False)``), forecasting ``len(holdout)``
    steps from the end of ``train``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        applied = results.apply(train, refit=False)
        forecast = np.asarray(applied.get_forecast(len(holdout)).predicted_mean, dtype=float)
    return mase(holdout.to_numpy(dtype=float), forecast, scale)


def model_end(results: Any) -> pd.Timestamp:
    """The last date the stored model was fitted on (its index must be dated)."""
    index = getattr(results.model, "_index", None)
    if not isinstance(index, pd.DatetimeIndex) or len(index) == 0:
        raise ValueError("the stored model has no dated index; cannot place its forecast")
    return index[-1]


def served_forecast(results: Any, calendar: pd.DatetimeIndex, arrival: Arrival) -> np.ndarray:
    """The forecast of the arrival's points by a stored model as registered: from its own
    end of data (``get_forecast`` over every period after it), the arrival's points kept."""
    end = model_end(results)
    position = calendar.get_loc(end)
    if not isinstance(position, int):
        raise ValueError(f"the model's last date {end} is not one period of the calendar")
    if position >= arrival.start:
        raise ValueError(f"the model saw data up to {end}, past the arrival's first point")
    steps = arrival.end - 1 - position
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mean = np.asarray(results.get_forecast(steps).predicted_mean, dtype=float)
    return mean[-arrival.size :]


@dataclass
class ArrivalRecord:
    """What happened at one arrival, and the benchmark's own scores of it."""

    series: str
    arrival: int
    rows: tuple[int, int]
    blob: str = ""
    decision: str = ""  # retrain | skip | (none: no ledger entry)
    reason: str = ""
    run_key: str | None = None
    status: str | None = None  # the run's final status
    version: int | None = None  # the version the run registered
    production_before: int | None = None
    production_after: int | None = None
    promoted: bool = False
    # re-scored on the run's holdout (None: no champion, or the run registered nothing)
    candidate_holdout_mase: float | None = None
    champion_holdout_mase: float | None = None
    rescore_error: str | None = None
    # served forecast error on the arrival's points (None on the first arrival)
    served_mase: float | None = None
    autoarima_mase: float | None = None
    naive_mase: float | None = None
    served_error: str | None = None
    # arrivals between the serving model's run and this one (0: the previous arrival's run)
    served_behind: int | None = None
    seconds: float = 0.0

    @property
    def ran(self) -> bool:
        return self.run_key is not None

    @property
    def completed(self) -> bool:
        return self.status == "Completed"

    @property
    def refused(self) -> bool:
        return self.completed and not self.promoted

    @property
    def replaced_champion(self) -> bool:
        return self.promoted and self.production_before is not None

    @property
    def rescored(self) -> bool:
        return self.candidate_holdout_mase is not None and self.champion_holdout_mase is not None

    @property
    def worse_promotion(self) -> bool:
        return (
            self.replaced_champion
            and self.rescored
            and _gt(self.candidate_holdout_mase, self.champion_holdout_mase)
        )

    @property
    def refused_better(self) -> bool:
        return (
            self.refused
            and self.rescored
            and _gt(self.champion_holdout_mase, self.candidate_holdout_mase)
        )

    @property
    def scored(self) -> bool:
        """Served error was measured: every arrival after the first whose comparators ran."""
        return self.autoarima_mase is not None and self.naive_mase is not None

    @property
    def served_with_fallback(self) -> float | None:
        """The served MASE, or seasonal naive's when no model was in production."""
        if not self.scored:
            return None
        return self.served_mase if self.served_mase is not None else self.naive_mase

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rows"] = list(self.rows)
        for name in ("replaced_champion", "refused", "worse_promotion", "refused_better"):
            data[name] = getattr(self, name)
        return data


def _gt(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and a > b


def _mean(values: Iterable[float | None]) -> float | None:
    kept = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(kept)) if kept else None


def summarise(records: Sequence[ArrivalRecord]) -> dict[str, Any]:
    """Counts and mean served MASE over ``records`` (one series, or all of them)."""
    scored = [r for r in records if r.scored]
    with_model = [r for r in scored if r.served_mase is not None]
    worse = [r for r in records if r.worse_promotion]
    return {
        "arrivals": len(records),
        "runs": sum(r.ran for r in records),
        "completed": sum(r.completed for r in records),
        "failed": sum(r.ran and not r.completed for r in records),
        "promotions": sum(r.promoted for r in records),
        "promotions_replacing_champion": sum(r.replaced_champion for r in records),
        "refusals": sum(r.refused for r in records),
        "without_production": sum(r.production_after is None for r in records),
        "worse_promotions": len(worse),
        "worse_promotions_by_5pct": sum(
            (r.candidate_holdout_mase or 0.0) > 1.05 * (r.champion_holdout_mase or 0.0)
            for r in worse
        ),
        "worse_promotions_detail": [
            {
                "series": r.series,
                "arrival": r.arrival,
                "run_key": r.run_key,
                "candidate": r.candidate_holdout_mase,
                "champion": r.champion_holdout_mase,
            }
            for r in worse
        ],
        "rescored_replacements": sum(r.replaced_champion and r.rescored for r in records),
        "refused_better": sum(r.refused_better for r in records),
        "scored_arrivals": len(scored),
        "served_arrivals_with_model": len(with_model),
        "served_by_model_age": {
            label: {
                "arrivals": len(group),
                "served": _mean(r.served_mase for r in group),
                "autoarima": _mean(r.autoarima_mase for r in group),
                "naive": _mean(r.naive_mase for r in group),
            }
            for label, group in (
                ("current", [r for r in with_model if r.served_behind == 0]),
                ("older", [r for r in with_model if (r.served_behind or 0) > 0]),
            )
        },
        "mean_mase": {
            "served": _mean(r.served_with_fallback for r in scored),
            "autoarima": _mean(r.autoarima_mase for r in scored),
            "naive": _mean(r.naive_mase for r in scored),
            "served_model_only": _mean(r.served_mase for r in with_model),
            "autoarima_same_arrivals": _mean(r.autoarima_mase for r in with_model),
            "naive_same_arrivals": _mean(r.naive_mase for r in with_model),
        },
    }


def targets(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The issue's two targets with PASS/FAIL (FAIL when nothing could be measured)."""
    served = summary["mean_mase"]["served"]
    auto = summary["mean_mase"]["autoarima"]
    rescored = summary["rescored_replacements"]
    replaced = summary["promotions_replacing_champion"]
    return {
        "no_worse_promotions": {
            "text": "0 promotions worse than the replaced champion on the run's holdout",
            "value": summary["worse_promotions"],
            "passed": summary["worse_promotions"] == 0 and rescored == replaced,
        },
        "served_vs_autoarima": {
            "text": "served mean MASE <= AutoARIMA refitted at every arrival",
            "value": [served, auto],
            "passed": served is not None and auto is not None and served <= auto,
        },
    }


# ----------------------------------------------------------------------------- rendering


def _fmt(value: float | None, width: int = 7) -> str:
    return f"{value:{width}.3f}" if value is not None else f"{'-':>{width}}"


TABLE_HEAD = (
    f"{'series':<22}{'arr':>4}{'runs':>5}{'prom':>5}{'repl':>5}{'ref':>5}{'fail':>5}"
    f"{'noprod':>7}{'worse':>6}{'refB':>5} |{'served':>8}{'model':>8}{'AutoAR':>8}{'naive':>8}"
)


def table_row(name: str, summary: dict[str, Any]) -> str:
    means = summary["mean_mase"]
    return (
        f"{name:<22}{summary['arrivals']:>4}{summary['runs']:>5}{summary['promotions']:>5}"
        f"{summary['promotions_replacing_champion']:>5}{summary['refusals']:>5}"
        f"{summary['failed']:>5}{summary['without_production']:>7}"
        f"{summary['worse_promotions']:>6}{summary['refused_better']:>5} |"
        f" {_fmt(means['served'])} {_fmt(means['served_model_only'])}"
        f" {_fmt(means['autoarima'])} {_fmt(means['naive'])}"
    )


def render(per_series: dict[str, dict[str, Any]], total: dict[str, Any]) -> str:
    lines = [TABLE_HEAD, "-" * len(TABLE_HEAD)]
    lines += [table_row(name, summary) for name, summary in per_series.items()]
    lines += ["-" * len(TABLE_HEAD), table_row("total", total)]
    lines += [
        "",
        "arr: arrivals (blobs); runs: runs started; prom: promotions; repl: promotions that",
        "replaced a champion; ref: refusals (completed, not promoted); fail: failed runs;",
        "noprod: arrivals left without a production model; worse: promotions worse than the",
        "replaced champion on the run's holdout (re-scored here); refB: refusals of a",
        "challenger that re-scored better than the champion kept. Mean MASE on the newly",
        "arrived points: served (the production model just before; seasonal naive when none),",
        "model (served, only arrivals with a production model), AutoAR (statsforecast",
        "AutoARIMA refitted on all earlier data at every arrival), naive (seasonal naive).",
    ]
    means = total["mean_mase"]
    for label, text in (
        ("current", "trained at the previous arrival"),
        ("older", "older (later runs refused or failed)"),
    ):
        group = total["served_by_model_age"][label]
        lines.append(
            f"served by a model {text}: {group['arrivals']} arrivals, served "
            f"{_fmt(group['served'], 0)}, AutoARIMA {_fmt(group['autoarima'], 0)}, "
            f"naive {_fmt(group['naive'], 0)}"
        )
    lines.append(
        f"model-only arrivals: {total['served_arrivals_with_model']} of "
        f"{total['scored_arrivals']} scored; on them AutoARIMA "
        f"{_fmt(means['autoarima_same_arrivals'], 0)}, "
        f"naive {_fmt(means['naive_same_arrivals'], 0)}"
    )
    return "\n".join(lines)


def render_targets(result: dict[str, dict[str, Any]], total: dict[str, Any]) -> str:
    no_worse, served = result["no_worse_promotions"], result["served_vs_autoarima"]
    unscored = total["promotions_replacing_champion"] - total["rescored_replacements"]
    note = f" ({unscored} replacement(s) could not be re-scored)" if unscored else ""
    means = total["mean_mase"]
    return "\n".join(
        [
            f"target: {no_worse['text']}: {no_worse['value']} of "
            f"{total['promotions_replacing_champion']} ({total['worse_promotions_by_5pct']} by "
            f"more than 5 %){note}: " + ("PASS" if no_worse["passed"] else "FAIL"),
            f"target: {served['text']}: served {_fmt(means['served'], 0)} vs AutoARIMA "
            f"{_fmt(means['autoarima'], 0)} (naive {_fmt(means['naive'], 0)}): "
            + ("PASS" if served["passed"] else "FAIL"),
        ]
    )


# ----------------------------------------------------------------------------- the replay


@dataclass
class Peers:
    """The comparators of the served forecast."""

    autoarima: Callable[[np.ndarray, int, int], np.ndarray]


def statsforecast_peers() -> Peers:
    from statsforecast.models import AutoARIMA

    def autoarima(history: np.ndarray, steps: int, season_length: int) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = AutoARIMA(season_length=season_length).fit(np.asarray(history, float))
            return np.asarray(model.predict(steps)["mean"], dtype=float)

    return Peers(autoarima=autoarima)


@dataclass
class Production:
    version: int | None
    artifact_uri: str | None = None


@dataclass
class Replayer:
    """Drives one local stack through the arrivals of each series."""

    stack: LocalStack
    peers: Peers
    run_timeout: float
    _pickles: dict[str, Any] = field(default_factory=dict)

    # -- reading the service's public state

    def production(self, model: str) -> Production:
        for version in self.stack.service.list_versions(model):
            if version.get("production"):
                return Production(int(version["version"]), str(version["artifact_uri"]))
        return Production(None)

    def version_of_run(self, model: str, run_key: str) -> dict[str, Any] | None:
        found = [
            v
            for v in self.stack.service.list_versions(model)
            if (v.get("tags") or {}).get("run_key") == run_key
        ]
        return found[-1] if found else None

    def run_folder(self, run_key: str) -> str:
        """A run's model folder in the artifact datastore (the pipeline's output path)."""
        datastore = self.stack.settings.artifact_datastore
        return f"azureml://datastores/{datastore}/paths/retrain/{run_key}/model/"

    def load_model(self, folder_uri: str, *names: str) -> Any:
        """The first of ``names`` present in a registered model folder, unpickled."""
        match = _DATASTORE_URI.match(folder_uri)
        if match is None:
            raise ValueError(f"not a datastore URI: {folder_uri!r}")
        settings = self.stack.settings
        containers = {
            settings.artifact_datastore: settings.artifact_container,
            settings.data_datastore: settings.data_container,
        }
        container = self.stack.blobs.get_container_client(containers[match["datastore"]])
        folder = match["path"].rstrip("/")
        present = {b.name for b in container.list_blobs(name_starts_with=folder + "/")}
        for name in names:
            path = f"{folder}/{name}"
            if path in present:
                if path not in self._pickles:
                    data = container.download_blob(path).readall()
                    self._pickles[path] = pickle.loads(data)
                return self._pickles[path]
        raise FileNotFoundError(f"none of {', '.join(names)} in {folder_uri}")

    def wait_for_trigger(self, model: str, blob: str, seen: int) -> dict[str, Any]:
        """The ledger's trigger decision for ``blob`` (entries after the first ``seen``)."""

        def check() -> dict[str, Any] | None:
            for entry in self.stack.service.list_ledger(model)[seen:]:
                if entry.get("kind") == "trigger" and blob in str(entry.get("trigger", "")):
                    return entry
            return None

        found: dict[str, Any] = self.stack.wait_for(
            f"the trigger decision on {blob}", check, timeout=120
        )
        return found

    # -- one series

    def replay(
        self,
        series: Series,
        arrivals: list[Arrival],
        progress: Callable[[str], None],
    ) -> list[ArrivalRecord]:
        model = model_name(series.name)
        values = dated(series.values, series.season_length)
        m, h = series.season_length, series.horizon
        records: list[ArrivalRecord] = []
        registered_at: dict[int, int] = {}  # version -> the arrival whose run registered it
        for arrival in arrivals:
            started = time.monotonic()
            record = ArrivalRecord(series.name, arrival.number, (arrival.start, arrival.end))
            part = values.iloc[arrival.start : arrival.end]
            record.blob = (
                f"{model}/arrival-{arrival.number:03d}-"
                f"{part.index[0]:%Y%m%d}-{part.index[-1]:%Y%m%d}.csv"
            )
            before = self.production(model)
            record.production_before = before.version
            seen = len(self.stack.service.list_ledger(model))
            self.stack.upload(record.blob, arrival_csv(part))
            if arrival.number > 0:  # scored while the pipeline runs
                self.score_served(record, values, arrival, before, m)
                if record.served_mase is not None and before.version in registered_at:
                    record.served_behind = arrival.number - 1 - registered_at[before.version]
            entry = self.wait_for_trigger(model, record.blob, seen)
            record.decision = str(entry.get("action"))
            record.reason = str(entry.get("reason", ""))
            if record.decision == "retrain" and entry.get("run_key"):
                record.run_key = str(entry["run_key"])
                run = self.stack.wait_for_run(record.run_key, timeout=self.run_timeout)
                record.status = str(run.get("status"))
                if record.status != "Completed" and run.get("error"):
                    record.reason = str(run["error"])
                version = self.version_of_run(model, record.run_key)
                after = self.production(model)
                record.production_after = after.version
                if version is not None:
                    record.version = int(version["version"])
                    record.promoted = (
                        after.version == record.version and before.version != record.version
                    )
                if record.completed and before.version is not None and before.artifact_uri:
                    # A run that registered nothing is re-scored from its model folder.
                    folder = (
                        str(version["artifact_uri"]) if version else self.run_folder(record.run_key)
                    )
                    self.rescore_run(record, values.iloc[: arrival.end], folder, before, m, h)
            else:
                record.production_after = self.production(model).version
            if record.version is not None:
                registered_at[record.version] = arrival.number
            record.seconds = round(time.monotonic() - started, 2)
            records.append(record)
            progress(progress_line(record, len(arrivals)))
        return records

    def score_served(
        self,
        record: ArrivalRecord,
        values: pd.Series,
        arrival: Arrival,
        production: Production,
        season_length: int,
    ) -> None:
        history = values.iloc[: arrival.start].to_numpy(dtype=float)
        actual = values.iloc[arrival.start : arrival.end].to_numpy(dtype=float)
        scale = mase_scale(history, season_length)
        record.naive_mase = mase(
            actual, seasonal_naive(history, arrival.size, season_length), scale
        )
        record.autoarima_mase = mase(
            actual, self.peers.autoarima(history, arrival.size, season_length), scale
        )
        if production.version is None or production.artifact_uri is None:
            return
        try:
            results = self.load_model(production.artifact_uri, "model.pkl")
            forecast = served_forecast(results, pd.DatetimeIndex(values.index), arrival)
            record.served_mase = mase(actual, forecast, scale)
        except Exception as exc:  # a model that cannot serve is reported, not fatal
            record.served_error = f"{type(exc).__name__}: {exc}"
            log.warning(
                "%s arrival %d: served forecast failed: %s", record.series, arrival.number, exc
            )

    def rescore_run(
        self,
        record: ArrivalRecord,
        data: pd.Series,
        candidate_folder: str,
        champion: Production,
        season_length: int,
        horizon: int,
    ) -> None:
        train, holdout = data.iloc[:-horizon], data.iloc[-horizon:]
        try:
            scale = mase_scale(train.to_numpy(dtype=float), season_length)
            candidate = self.load_model(candidate_folder, "model_eval.pkl", "model.pkl")
            assert champion.artifact_uri is not None
            defending = self.load_model(champion.artifact_uri, "model.pkl")
            record.candidate_holdout_mase = rescore(candidate, train, holdout, scale)
            record.champion_holdout_mase = rescore(defending, train, holdout, scale)
        except Exception as exc:
            record.rescore_error = f"{type(exc).__name__}: {exc}"
            log.warning("%s arrival %d: re-scoring failed: %s", record.series, record.arrival, exc)


def progress_line(record: ArrivalRecord, total: int) -> str:
    head = f"  {record.series:<22} arrival {record.arrival:>2}/{total - 1:<2} "
    head += f"rows {record.rows[0]:>3}-{record.rows[1] - 1:<3} "
    if not record.ran:
        what = f"{record.decision or 'no decision'}: {record.reason}"
    elif not record.completed:
        what = f"run {record.status}: {record.reason[:80]}"
    elif record.promoted:
        was = f"v{record.production_before}" if record.production_before else "none"
        what = f"promoted v{record.version} (was {was})"
    else:
        what = f"refused v{record.version} (production v{record.production_after})"
    if record.rescored:
        what += (
            f"; holdout cand {record.candidate_holdout_mase:.3f} "
            f"champ {record.champion_holdout_mase:.3f}"
        )
    if record.scored:
        what += (
            f" | served {_fmt(record.served_mase, 0)} AutoARIMA {_fmt(record.autoarima_mase, 0)}"
            f" naive {_fmt(record.naive_mase, 0)}"
        )
    return f"{head}{what} ({record.seconds:.1f}s)"


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


if __name__ == "__main__":
    sys.exit(main())
