"""Train step: choose and fit an ARIMA/SARIMAX model for the prepared training series.

Reads ``train.csv`` (``timestamp,value``, ascending, evenly spaced) and ``prep.json``
(``frequency``, ``season_length``, ``horizon``) from ``--prepared``, runs the stepwise order
search of ``order_search.py`` within ``--time_budget`` seconds, and writes to
``--model_output``:

- ``model.pkl``: the fitted statsmodels results object (pickle; needs only statsmodels to load,
  then ``results.get_forecast(h)``);
- ``model.json``: order, seasonal order, trend, criterion, training range, frequency and the
  full record of the search.

Bad input exits with status 2 and one line on stderr saying what was wrong.
"""

from __future__ import annotations

import os

# One BLAS thread: the search parallelises over candidates, and the matrices are tiny.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import pickle  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pandas as pd  # noqa: E402
import statsmodels  # noqa: E402
from order_search import SearchResult, SeriesTooShortError, search_order  # noqa: E402

REQUIRED_PREP_KEYS = ("frequency", "season_length", "horizon")


class InputError(ValueError):
    """The prepared folder is missing something or holds something unusable."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prepared", type=Path, required=True, help="prep step output folder")
    parser.add_argument(
        "--time_budget", type=float, default=60.0, help="search budget in seconds (default 60)"
    )
    parser.add_argument("--model_output", type=Path, required=True, help="output folder")
    return parser.parse_args(argv)


def read_prep_info(path: Path) -> dict[str, Any]:
    """``prep.json`` with its required keys checked and typed."""
    if not path.is_file():
        raise InputError(f"missing {path.name} in {path.parent}")
    try:
        info = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{path.name} is not valid JSON ({exc})") from exc
    if not isinstance(info, dict):
        raise InputError(f"{path.name} must hold a JSON object")
    missing = [k for k in REQUIRED_PREP_KEYS if k not in info]
    if missing:
        raise InputError(f"{path.name} lacks key(s) {', '.join(missing)}")
    for key in ("season_length", "horizon"):
        value = info[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"{path.name}: {key} must be a positive integer, got {value!r}")
    if not isinstance(info["frequency"], str):
        raise InputError(f"{path.name}: frequency must be a string, got {info['frequency']!r}")
    try:
        pd.tseries.frequencies.to_offset(info["frequency"])
    except ValueError as exc:
        raise InputError(f"{path.name}: unknown frequency {info['frequency']!r}") from exc
    return info


def read_train_series(path: Path, frequency: str) -> pd.Series:
    """``train.csv`` as a float Series on a DatetimeIndex carrying ``frequency``."""
    if not path.is_file():
        raise InputError(f"missing {path.name} in {path.parent}")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path.name} cannot be read as CSV ({exc})") from exc
    missing = [c for c in ("timestamp", "value") if c not in frame.columns]
    if missing:
        raise InputError(
            f"{path.name} lacks column(s) {', '.join(missing)} (has {', '.join(frame.columns)})"
        )
    if frame.empty:
        raise InputError(f"{path.name} has no rows")
    try:
        stamps = pd.to_datetime(frame["timestamp"])
    except (ValueError, TypeError) as exc:
        raise InputError(f"{path.name}: unparseable timestamp ({exc})") from exc
    values = pd.to_numeric(frame["value"], errors="coerce")
    bad = values.isna() & frame["value"].notna()
    if bad.any():
        row = int(bad.to_numpy().argmax())
        raise InputError(
            f"{path.name}: non-numeric value {frame['value'].iloc[row]!r} at row {row + 2}"
        )
    try:
        index = pd.DatetimeIndex(stamps, freq=frequency)
    except ValueError as exc:
        raise InputError(
            f"{path.name}: timestamps are not evenly spaced at frequency {frequency!r} "
            "(or not ascending)"
        ) from exc
    return pd.Series(values.to_numpy(dtype=float), index=index, name="value")


def model_record(
    result: SearchResult, series: pd.Series, info: dict[str, Any], time_budget: float
) -> dict[str, Any]:
    """What ``model.json`` holds: the model, its training range and the search record."""
    return {
        "order": list(result.order),
        "seasonal_order": list(result.seasonal_order),
        "trend": result.trend,
        "criterion_name": result.criterion_name,
        "criterion": result.to_record()["criterion"],
        "n_obs": int(series.notna().sum()),
        "train_start": series.index[0].isoformat(),
        "train_end": series.index[-1].isoformat(),
        "frequency": info["frequency"],
        "season_length": int(info["season_length"]),
        "horizon": int(info["horizon"]),
        "fallback_reason": result.fallback_reason,
        "time_budget_s": time_budget,
        "statsmodels_version": statsmodels.__version__,
        "python_version": platform.python_version(),
        "search": result.to_record(),
    }


def write_outputs(folder: Path, result: SearchResult, record: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "model.pkl").open("wb") as handle:
        pickle.dump(result.results, handle, protocol=pickle.HIGHEST_PROTOCOL)
    (folder / "model.json").write_text(json.dumps(record, indent=2))


def train(prepared: Path, time_budget: float) -> tuple[SearchResult, dict[str, Any]]:
    """Read the prepared folder, search, and return the result with its JSON record."""
    if not prepared.is_dir():
        raise InputError(f"prepared folder {prepared} does not exist")
    info = read_prep_info(prepared / "prep.json")
    series = read_train_series(prepared / "train.csv", info["frequency"])
    try:
        result = search_order(
            series,
            season_length=int(info["season_length"]),
            time_budget_s=time_budget,
            progress=lambda line: print(f"train: {line}", flush=True),
        )
    except SeriesTooShortError as exc:
        raise InputError(f"train.csv: {exc}") from exc
    return result, model_record(result, series, info, time_budget)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        result, record = train(args.prepared, args.time_budget)
    except InputError as exc:
        print(f"train: error: {exc}", file=sys.stderr, flush=True)
        return 2
    write_outputs(args.model_output, result, record)
    fallback = f"; fallback: {result.fallback_reason}" if result.fallback_reason else ""
    print(
        f"train: chose {record['search']['model']} {result.criterion_name}="
        f"{result.criterion:.3f} from {len(result.tried)} candidates in {result.seconds:.2f}s "
        f"on {record['n_obs']} points ({record['train_start']} .. {record['train_end']})"
        f"{fallback}; wrote {args.model_output / 'model.pkl'}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
