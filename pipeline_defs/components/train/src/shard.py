"""Entry script of the family pipeline's parallel step: fit every series of a shard.

Azure ML's parallel run (``task.type: run_function``) imports this file in each worker
process, calls ``init()`` once, then ``run(mini_batch)`` with a list of shard files (Parquet,
``unique_id, ds, y``: each series' regular training split followed by its holdout, the last
``--horizon`` points, as the prep step writes them). For each series, inside its own
try/except so that one failing series never fails the others, it runs the order search on
the training split (``order_search.search_order``), scores the holdout, refits the chosen
order on all the data (``order_search.refit_final``), and returns ONE ROW PER SERIES: a JSON
object on one line (``RESULT_SCHEMA``; the format is documented in docs/many-series.md),
which the parallel step appends to its ``append_row_to`` output
(``parallel_run_step.txt``, JSON Lines). The final fits of a shard are pickled together in
``<--models>/<shard>.pkl`` (``{"schema": ..., "models": {unique_id: record}}``), named
after the shard file so the local workspace can reuse it with the shard. A record holds
what rebuilds the fitted model exactly, not a pickled results object (``family_records``:
the record shapes, ``rebuild`` and ``forecast_record``).

**How a series is searched** is ``family_fit``'s: the family's search settings, and the
yearly ``d = 1`` / ``d = 2`` combination (a yearly series near or above the second KPSS
test's threshold is searched twice and forecast by the mean of both fits).

A batch therefore returns at least as many rows as it received files (the parallel run's
row contract); it fails (and is retried) only when a shard file cannot be read or the
models cannot be written.

**Gate evidence.** Each fitted series' row carries ``gate_metrics``: the evaluate step's
metrics.json (schema 2) for that series, computed by ``family_scoring.gate_metrics``: the
candidate (the evaluation fit), the series' champion when ``--champions`` names one
(``family_champions``: its stored parameters applied to the new data, never refitted for
the comparison) and seasonal naive, on the holdout and a rolling-origin backtest
(``--backtest_folds``, ``--backtest_horizon``, 0 = automatic). ``shared/gate.py::judge``
reads it unchanged. A scored champion is also refreshed for production, should the gate
keep it: its specification re-estimated on all the data (``scoring.refresh``, the evaluate
step's rule; stored parameters kept when that refit is unusable), kept in the models file
under ``refreshed`` with its ``method``.

**Per-series reuse.** Given ``--previous`` (the output root of an earlier run of the same
family: ``results/parallel_run_step.txt`` and ``models/``), a series whose ``digest`` (its id,
data, the family's shape, the time budget and this code's version) equals the digest of its
earlier ``ok`` row is not fitted again: its row and its fit are carried over (``reused``:
true). So an arrival that touches a few series of a shard refits only those, on Azure ML as
locally. Its gate evidence is computed again, against this run's champion, from the
evaluation fit its record keeps.
"""

from __future__ import annotations

import os

# One BLAS thread per worker: the parallelism is across workers, and the matrices are tiny.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import pickle  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from family_champions import Champions  # noqa: E402
from family_fit import D_COMBINATION_MIN_KPSS, EXACT_FTOL, combines_d, family_searches  # noqa: E402
from family_records import (  # noqa: E402
    COMBINATION,
    combination_parts,
    combination_record,
    model_record,
    record_of,
    weighted_mean,
    write_models,
)
from family_scoring import (  # noqa: E402
    AppliedModel,
    Champion,
    Combination,
    CombinedModel,
    ScoringError,
    gate_metrics,
)
from order_search import TRANSFORMS, forecast_frame, refit_final  # noqa: E402
from scoring.boxcox import BoxCox  # noqa: E402
from scoring.refresh import METHOD_APPLIED, METHOD_ML, refresh_params  # noqa: E402

logger = logging.getLogger(__name__)

RESULT_SCHEMA = "family-result/1"
INTERVAL = 0.8
STATUS_OK = "ok"
STATUS_FAILED = "failed"


@dataclass(frozen=True)
class ShardSettings:
    """What every series of the family shares (the parallel step's program arguments)."""

    frequency: str
    season_length: int
    horizon: int
    time_budget: float
    models: Path
    previous: Path | None = None
    code_version: str = ""
    champions: Path | None = None
    backtest_folds: int = 0
    backtest_horizon: int = 0
    transform: str = "none"


_settings: ShardSettings | None = None
_previous: Previous | None = None
_champions: Champions | None = None


def parse_args(argv: list[str] | None = None) -> ShardSettings:
    """The step's own arguments; the parallel runtime adds its own, which are ignored."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frequency", required=True)
    parser.add_argument("--season_length", type=int, required=True)
    parser.add_argument("--horizon", type=int, required=True)
    parser.add_argument("--time_budget", type=float, default=10.0, help="seconds per series")
    parser.add_argument("--models", type=Path, required=True, help="output folder of fits")
    parser.add_argument(
        "--previous", type=Path, default=None, help="output root of an earlier run (reuse)"
    )
    parser.add_argument(
        "--champions", type=Path, default=None, help="the series' production models (gate)"
    )
    parser.add_argument("--backtest_folds", type=int, default=0, help="0: automatic")
    parser.add_argument("--backtest_horizon", type=int, default=0, help="0: the horizon")
    parser.add_argument(
        "--transform",
        choices=TRANSFORMS,
        default="none",
        help=(
            "auto: search and fit each series on a Box-Cox transform when order_search's rule "
            "picks one (the models file's record then says so: every consumer back-transforms); "
            "none (default, the pipeline's): never"
        ),
    )
    parser.add_argument("--rerun_salt", default=None, help="ignored: makes a forced run's step new")
    args, _ = parser.parse_known_args(argv)
    if args.season_length < 1 or args.horizon < 1:
        parser.error("--season_length and --horizon must be >= 1")
    if args.backtest_folds < 0 or args.backtest_horizon < 0:
        parser.error("--backtest_folds and --backtest_horizon must be >= 0")
    return ShardSettings(
        args.frequency,
        args.season_length,
        args.horizon,
        args.time_budget,
        args.models,
        args.previous,
        code_version(),
        args.champions,
        args.backtest_folds,
        args.backtest_horizon,
        args.transform,
    )


def code_version() -> str:
    """A digest of the fitting code: this file, how a series is searched (``family_fit``),
    what a fit is stored as (``family_records``) and the order search beside them."""
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    fitting = ("shard.py", "family_fit.py", "family_records.py")
    for path in sorted([*(here / name for name in fitting), *here.glob("order_search/**/*.py")]):
        if path.is_file():
            digest.update(path.relative_to(here).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


class Previous:
    """An earlier run's results, for per-series reuse: its ``ok`` rows by series id, and
    its pickled fits, loaded one models file at a time."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.rows: dict[str, dict[str, Any]] = {}
        results = root / "results" / "parallel_run_step.txt"
        if results.is_file():
            for line in results.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                if isinstance(row, dict) and row.get("status") == STATUS_OK and row.get("digest"):
                    self.rows[str(row["unique_id"])] = row
        self._file: str | None = None
        self._models: dict[str, Any] = {}
        logger.info("previous run %s: %d reusable series", root, len(self.rows))

    def reusable(self, uid: str, digest: str) -> tuple[dict[str, Any], Any] | None:
        """The earlier row and fit of ``uid`` when its digest is ``digest``."""
        row = self.rows.get(uid)
        if row is None or row.get("digest") != digest or not row.get("model_file"):
            return None
        name = str(row["model_file"])
        if self._file != name:
            path = self.root / "models" / name
            try:
                with path.open("rb") as handle:
                    self._models = dict(pickle.load(handle).get("models") or {})
            except (OSError, pickle.UnpicklingError, AttributeError, EOFError) as exc:
                logger.warning("previous fits %s unreadable (%s); fitting again", path, exc)
                self._models = {}
            self._file = name
        model = self._models.get(uid)
        return None if model is None else (row, model)


def init() -> None:
    """Once per worker process: read the arguments, make the output folder and index the
    earlier run's results when one is given."""
    global _settings, _previous, _champions
    _settings = parse_args()
    _settings.models.mkdir(parents=True, exist_ok=True)
    _previous = Previous(_settings.previous) if _settings.previous is not None else None
    _champions = Champions(_settings.champions) if _settings.champions is not None else None
    logging.getLogger("order_search").setLevel(logging.WARNING)


def run(mini_batch: list[str]) -> list[str]:
    """Fit every series of every shard file in ``mini_batch``; one JSON row per series."""
    if _settings is None:
        raise RuntimeError("init() was not called")
    rows: list[str] = []
    for name in mini_batch:
        results, models, refreshed = fit_shard(Path(name), _settings, _previous, _champions)
        write_models(_settings.models / f"{Path(name).name.split('.')[0]}.pkl", models, refreshed)
        rows.extend(json.dumps(row, allow_nan=False) for row in results)
    return rows


def read_shard(path: Path, frequency: str) -> dict[str, pd.Series]:
    """A shard file as ``{unique_id: series}``, each on a DatetimeIndex at ``frequency``."""
    frame = pd.read_parquet(path)
    out: dict[str, pd.Series] = {}
    for uid, group in frame.groupby("unique_id", sort=True):
        index = pd.DatetimeIndex(group["ds"].to_numpy(), freq=frequency)
        out[str(uid)] = pd.Series(group["y"].to_numpy(dtype=float), index=index, name="y")
    return out


def fit_shard(
    path: Path,
    settings: ShardSettings,
    previous: Previous | None = None,
    champions: Champions | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """Every series of one shard file fitted (or carried over from ``previous`` when its
    digest is unchanged) and scored for the gate against its champion: the result rows,
    the final fits by id and the refreshed champions by id (see :func:`score_series`)."""
    shard = path.name.split(".")[0]
    rows: list[dict[str, Any]] = []
    models: dict[str, Any] = {}
    refreshed: dict[str, Any] = {}
    for uid, series in read_shard(path, settings.frequency).items():
        carried = None
        if previous is not None:
            carried = previous.reusable(uid, data_digest(uid, series, settings))
        candidate = None if carried is None else evaluation_fit(carried[1], series, settings)
        if carried is not None and candidate is not None:
            row = dict(carried[0], shard=shard, model_file=f"{shard}.pkl", reused=True)
            model = carried[1]
        else:
            row, model, candidate = fit_series(uid, series, settings, shard=shard)
        if candidate is not None:
            fresh = score_series(uid, series, candidate, settings, champions, shard=shard)
            seconds = fresh[0].pop("gate_seconds")
            row.update(fresh[0], seconds=dict(row.get("seconds") or {}, gate=seconds))
            if fresh[1] is not None:
                refreshed[uid] = fresh[1]
            if carried is None:
                row["metrics"] = row_metrics(row["gate_metrics"], candidate, series, settings)
        else:
            row.update(gate_metrics=None, gate_error=None, champion=None)
        rows.append(row)
        if model is not None:
            models[uid] = model
    return rows, models, refreshed


def evaluation_fit(record: Any, series: pd.Series, settings: ShardSettings) -> Any:
    """The evaluation fit (training split only) a models-file record keeps under
    ``evaluation``, as an object with ``model`` and ``params`` (a :class:`Combination` of
    its members' for a combination record); None when the record has none (then the
    series is fitted again)."""
    if isinstance(record, dict) and record.get("class") == COMBINATION:
        try:
            parts, weights = combination_parts(record)
        except ValueError as exc:
            logger.warning("stored combination unusable (%s); fitting again", exc)
            return None
        members = [evaluation_fit(m, series, settings) for m in parts]
        if any(m is None for m in members):
            return None
        return Combination(tuple(members), tuple(weights))
    evaluation = record.get("evaluation") if isinstance(record, dict) else None
    if not isinstance(evaluation, dict):
        return None
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    train = series.iloc[: len(series) - settings.horizon]
    try:
        transform = BoxCox.from_record(record.get("transform"))
        if transform is not None:
            train = pd.Series(transform.forward(train.to_numpy(dtype=float)), index=train.index)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = SARIMAX(train, **evaluation["init"])
        params = np.asarray(evaluation["params"], dtype=float)
    except Exception as exc:  # an unusable record: fit again
        logger.warning("stored evaluation fit unusable (%s); fitting again", exc)
        return None
    return _Fit(model, params, transform)


@dataclass(frozen=True)
class _Fit:
    """A model specification and its parameters (what the scoring applies)."""

    model: Any
    params: Any
    transform: BoxCox | None = None


def score_series(
    uid: str,
    series: pd.Series,
    candidate: Any,
    settings: ShardSettings,
    champions: Champions | None,
    *,
    shard: str,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The row's gate fields for one fitted series (``gate_metrics``: metrics.json schema
    2, see family_scoring; ``gate_error`` when it cannot be computed; ``champion``: what
    champions.json says about the series, or null) and the refreshed champion's record
    (its stored parameters applied to all of ``series``, forecasting from the last
    observation; kept in the models file under ``refreshed``), or None."""
    started = time.perf_counter()
    entry = champions.entry(uid) if champions is not None else None
    champion, champion_error = (
        champions.champion(uid, settings.frequency) if champions is not None else (None, None)
    )
    fields: dict[str, Any] = {"gate_metrics": None, "gate_error": None, "champion": entry}
    record = None
    try:
        metrics, refreshed = gate_metrics(
            series,
            horizon=settings.horizon,
            season_length=settings.season_length,
            candidate=candidate,
            champion=champion,
            champion_error=champion_error,
            backtest_folds=settings.backtest_folds,
            backtest_horizon=settings.backtest_horizon,
            transform=getattr(candidate, "transform", None),
        )
    except ScoringError as exc:
        fields["gate_error"] = str(exc)
    else:
        if refreshed is not None and champion is not None:
            record, refresh = refreshed_champion(refreshed, series, champion)
            metrics["champion_refreshed"] = {
                "model_file": f"{shard}.pkl",
                "key": "refreshed",
                "data_end": series.index[-1].isoformat(),
                "params_end": record["params_end"],
                "method": refresh["method"],
                "message": refresh["message"],
            }
        fields["gate_metrics"] = metrics
    fields["gate_seconds"] = round(time.perf_counter() - started, 4)
    return fields, record


def refreshed_champion(
    applied_model: AppliedModel | CombinedModel, series: pd.Series, champion: Champion
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The champion brought up to the last observation of ``series``, as the evaluate step
    refreshes a single series' champion (``scoring.refresh``): its specification
    re-estimated on all the data, warm-started from its stored parameters (``method``
    "ml", ``params_end`` the data's end), or its stored parameters applied when the refit
    fails, is not finite, has a root within 1.01 of the unit circle or fits worse
    ("applied", ``params_end`` the champion's own). Returns the models-file record (with
    ``params_end`` and ``refresh``: method, message, the previous ``params_end``) and that
    ``refresh`` section. A combination's members are refreshed one by one: its record is
    a combination of theirs, "ml" when every member was re-estimated, "applied" otherwise,
    and its ``params_end`` the latest of theirs (its parameters saw the data up to there)."""
    params_end = champion.params_end
    if isinstance(applied_model, CombinedModel):
        parts = [
            refreshed_champion(member, series, part)
            for member, part in zip(applied_model.members, champion.members, strict=True)
        ]
        records = [record for record, _ in parts]
        ml = all(refresh["method"] == METHOD_ML for _, refresh in parts)
        refresh = {
            "method": METHOD_ML if ml else METHOD_APPLIED,
            "message": "; ".join(
                f"member {i + 1}: {r['method']}: {r['message']}" for i, (_, r) in enumerate(parts)
            ),
            "previous_params_end": params_end.isoformat(),
        }
        ended = max(pd.Timestamp(record["params_end"]) for record in records)
        combined = combination_record(records, list(applied_model.weights), series) | {
            "params_end": ended.isoformat(),
            "refresh": refresh,
        }
        return combined, refresh
    refit = refresh_params(applied_model.model, applied_model.params, applied_model.endog)
    ended = series.index[-1] if refit.method == METHOD_ML else params_end
    refresh = {
        "method": refit.method,
        "message": refit.message,
        "previous_params_end": params_end.isoformat(),
    }
    record = record_of(applied_model.model, refit.params, series, applied_model.transform) | {
        "params_end": ended.isoformat(),
        "refresh": refresh,
    }
    return record, refresh


def data_digest(uid: str, series: pd.Series, settings: ShardSettings) -> str:
    """What a series' result depends on, besides the code: its id, data and shape."""
    digest = hashlib.sha256()
    shape = f"{uid}\0{series.index[0].isoformat()}\0{settings.frequency}\0"
    shape += f"{settings.season_length}\0{settings.horizon}\0{settings.time_budget!r}\0"
    shape += settings.code_version
    if settings.transform != "none":  # "none" keeps the digests of runs before the input
        shape += f"\0transform={settings.transform}"
    digest.update(shape.encode())
    digest.update(np.ascontiguousarray(series.to_numpy(dtype=float)).tobytes())
    return digest.hexdigest()


def fit_series(
    uid: str, series: pd.Series, settings: ShardSettings, *, shard: str
) -> tuple[dict[str, Any], Any, Any]:
    """One series: search on the training split, score the holdout, refit on all the data.
    Never raises: a failure becomes a row with ``status: failed`` and its reason. Returns
    the row, the final fit's record and the evaluation fit (None when failed)."""
    started = time.perf_counter()
    h = settings.horizon
    row: dict[str, Any] = {
        "schema": RESULT_SCHEMA,
        "unique_id": uid,
        "shard": shard,
        "status": STATUS_OK,
        "reason": None,
        "digest": None,
        "reused": False,
        "n_train": max(0, len(series) - h),
        "n_holdout": min(h, len(series)),
        "train_start": None,
        "train_end": None,
        "data_end": None,
        "metrics": None,
        "model": None,
        "model_file": None,
        "seconds": None,
    }
    try:
        row["digest"] = data_digest(uid, series, settings)
        if len(series) <= h:
            raise ValueError(f"{len(series)} points cannot hold a holdout of {h}")
        train = series.iloc[:-h]
        row.update(
            train_start=train.index[0].isoformat(),
            train_end=train.index[-1].isoformat(),
            data_end=series.index[-1].isoformat(),
        )
        # Fitted by position: on a DatetimeIndex statsmodels generates a date range for
        # every results object and forecast, a fifth of the fit step's time on M3's
        # non-seasonal series (the same fits; docs/many-series.md, "The non-seasonal fit
        # step's time"). The records keep the dates.
        positional = series.reset_index(drop=True)
        yearly = combines_d(settings.frequency, settings.season_length)
        searches, error = family_searches(
            positional.iloc[:-h],
            settings.season_length,
            settings.time_budget,
            yearly=yearly,
            transform=settings.transform,
        )
        searched = time.perf_counter()
        if error is not None:  # the first fit stands alone
            logger.warning("series %s: %s; its first fit serves alone", uid, error)
        combination: dict[str, Any] | None = None if error is None else {"error": error}
        members = [_member(search, positional, series, settings) for search in searches]
        weights = [1.0 / len(members)] * len(members)
        if len(members) > 1:
            combination = {
                "rule": (
                    f"yearly series whose second KPSS statistic is at least "
                    f"{D_COMBINATION_MIN_KPSS}: the d=1 and d=2 forecasts averaged"
                ),
                "weights": weights,
                "members": [m.description for m in members],
            }
        # ``metrics`` (the holdout's) is filled in from the gate's evidence, which forecasts
        # the same holdout from the same fit (see fit_shard), not forecast twice.
        row["model"] = members[0].description | {"combination": combination}
        row["model_file"] = f"{shard}.pkl"
        row["seconds"] = {
            "search": round(searched - started, 4),
            "final": round(time.perf_counter() - searched, 4),
        }
        if len(members) == 1:
            return row, members[0].record, members[0].fit
        record = combination_record([m.record for m in members], weights, series)
        return row, record, Combination(tuple(m.fit for m in members), tuple(weights))
    except Exception as exc:  # one series never fails the others
        logger.warning("series %s failed: %s: %s", uid, type(exc).__name__, exc)
        row.update(
            status=STATUS_FAILED,
            reason=f"{type(exc).__name__}: {exc}",
            metrics=None,
            model=None,
            model_file=None,
            seconds={"search": round(time.perf_counter() - started, 4), "final": 0.0},
        )
        return row, None, None


@dataclass(frozen=True)
class _Member:
    """One search refitted on all the data: the row's ``model`` description, the
    models-file record and the evaluation fit."""

    description: dict[str, Any]
    record: dict[str, Any]
    fit: _Fit


def _member(
    search: Any, positional: pd.Series, series: pd.Series, settings: ShardSettings
) -> _Member:
    """``search`` (on the training split of ``positional``, ``series`` by position) with
    its order refitted on all of it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        final = refit_final(positional, search, time_budget_s=settings.time_budget, ftol=EXACT_FTOL)
    description = {
        "order": list(search.order),
        "seasonal_order": list(search.seasonal_order),
        "trend": search.trend,
        "criterion_name": search.criterion_name,
        "criterion": _finite(search.criterion),
        "fallback_reason": search.fallback_reason,
        "n_tried": len(search.tried),
        "final_fit": final.to_record(),
        "params": _params(final.results),
        # as model.json's: null, or the Box-Cox record every consumer back-transforms with
        "transform": None if search.transform is None else search.transform.to_record(),
    }
    record = model_record(final.results, series, final.transform)
    evaluation = search.results
    record["evaluation"] = {
        "init": evaluation.model._get_init_kwds(),
        "params": np.asarray(evaluation.params, dtype=float).tolist(),
        "n_obs": len(series) - settings.horizon,
    }
    return _Member(description, record, _Fit(evaluation.model, evaluation.params, search.transform))


def row_metrics(
    gate: dict[str, Any] | None, candidate: Any, series: pd.Series, settings: ShardSettings
) -> dict[str, Any]:
    """The row's ``metrics`` (the holdout's, see :func:`holdout_metrics`): taken from the
    gate's evidence, whose candidate and seasonal-naive holdout sections are the same
    forecasts scored the same way; forecast from the evaluation fit only when the evidence
    could not be computed (``gate_error``)."""
    if gate is not None:
        naive = gate["baseline"]["holdout"]
        return {
            "interval": INTERVAL,
            "mase_scale": gate["mase_scale"],
            "holdout": dict(gate["candidate"]["holdout"]),
            "baseline": {"name": "seasonal_naive"}
            | {k: naive[k] for k in ("mase", "smape", "rmse", "mae")},
            "holdout_errors": list(gate["candidate"]["holdout_errors"]),
        }
    h = settings.horizon
    frame = _holdout_forecast(candidate, series.iloc[:-h], h)
    return holdout_metrics(
        series.iloc[:-h].to_numpy(),
        series.iloc[-h:].to_numpy(),
        frame["mean"].to_numpy(dtype=float),
        frame["lower"].to_numpy(dtype=float),
        frame["upper"].to_numpy(dtype=float),
        settings.season_length,
    )


def _holdout_forecast(candidate: Any, train: pd.Series, h: int) -> pd.DataFrame:
    """The evaluation fit's ``h`` forecasts from the end of ``train`` (a combination's: the
    weighted mean of its members')."""
    if isinstance(candidate, Combination):
        frames = [_holdout_forecast(m, train, h) for m in candidate.members]
        return weighted_mean(frames, candidate.weights)
    transform = getattr(candidate, "transform", None)
    if transform is not None:
        train = pd.Series(transform.forward(train.to_numpy(dtype=float)), index=train.index)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = candidate.model.clone(train).filter(candidate.params)
        return forecast_frame(results, h, transform, alpha=1 - INTERVAL)


def holdout_metrics(
    train: np.ndarray,
    actual: np.ndarray,
    forecast: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    season_length: int,
) -> dict[str, Any]:
    """Holdout errors of the evaluation fit and of the seasonal naive forecast. MASE is
    scaled by the in-sample MAE of the seasonal naive forecast on the training split (lag
    ``season_length``, or 1 when the split holds less than two seasons)."""
    lag = season_length if season_length > 1 and train.size > season_length else 1
    scale = float(np.mean(np.abs(train[lag:] - train[:-lag]))) if train.size > lag else math.nan
    naive = np.resize(train[-lag:], actual.size)

    def errors(predicted: np.ndarray) -> dict[str, float | None]:
        error = actual - predicted
        mae = float(np.mean(np.abs(error)))
        denominator = np.abs(actual) + np.abs(predicted)
        ratio = np.divide(
            2.0 * np.abs(error), denominator, out=np.zeros_like(error), where=denominator > 0
        )
        return {
            "mase": _finite(mae / scale) if scale > 0 else None,
            "smape": _finite(100.0 * float(np.mean(ratio))),
            "rmse": _finite(float(np.sqrt(np.mean(error**2)))),
            "mae": _finite(mae),
        }

    candidate = errors(forecast)
    candidate["coverage"] = _finite(float(np.mean((actual >= lower) & (actual <= upper))))
    return {
        "interval": INTERVAL,
        "mase_scale": _finite(scale),
        "holdout": candidate,
        "baseline": {"name": "seasonal_naive", **errors(naive)},
        "holdout_errors": [_finite(float(v)) for v in actual - forecast],
    }


def _params(results: Any) -> dict[str, float | None]:
    names = list(getattr(results.model, "param_names", []))
    values = [_finite(float(v)) for v in np.asarray(results.params, dtype=float)]
    return dict(zip(names, values, strict=False)) if len(names) == len(values) else {}


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)
