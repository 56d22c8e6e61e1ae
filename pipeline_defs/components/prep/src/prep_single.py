"""Prep of a single-series model: each file read as one series (refusing what it cannot
hold), files combined (a later file corrects an earlier one), the series regularised to
its frequency with short gaps filled, and split into training data and holdout."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from prep_files import (
    PrepError,
    key_like_columns,
    parse_times,
    parse_values,
    read_table,
    row_label,
)


@dataclass(frozen=True)
class PrepReport:
    frequency: str
    season_length: int
    horizon: int
    files: list[str]
    rows_read: int
    duplicates_dropped: int
    gaps_filled: int
    n_train: int
    n_holdout: int
    train_start: str
    train_end: str
    holdout_start: str
    holdout_end: str


def read_file(path: Path, *, time_column: str, value_column: str) -> pd.Series:
    """One data file of a single-series model as a float series indexed by timestamp.

    Clear errors on bad content: a missing column, an unparseable timestamp or value, an
    extra column that looks like a series key (the file holds a family), or one timestamp
    carrying different values within the file. Identical repeats are kept here (and dropped,
    counted, by ``combine``)."""
    frame = read_table(path, [time_column, value_column])
    times = parse_times(path, frame, time_column)
    bad_time = times.isna()
    if bad_time.any():
        row = int(bad_time.to_numpy().nonzero()[0][0])
        raise PrepError(
            f"{path.name}: {row_label(path, row)}: {time_column} {frame[time_column].iloc[row]!r} "
            "is not a timestamp"
        )
    keys = key_like_columns(frame, times, [time_column, value_column])
    if keys:
        raise PrepError(
            f"{path.name}: column(s) {', '.join(keys)} look like series keys, but this model is "
            "one series; declare the model a family with series_columns naming them, or send "
            f"files with only {time_column} and {value_column}"
        )
    values, non_numeric = parse_values(frame, value_column)
    if non_numeric.any():
        row = int(non_numeric.to_numpy().nonzero()[0][0])
        raise PrepError(
            f"{path.name}: {row_label(path, row)}: {value_column} "
            f"{frame[value_column].iloc[row].strip()!r} is not a number"
        )
    series = pd.Series(values.to_numpy(dtype=float), index=pd.DatetimeIndex(times), name="value")
    conflict = first_conflict(series)
    if conflict is not None:
        stamp, found = conflict
        raise PrepError(
            f"{path.name}: timestamp {stamp.isoformat()} appears with different values "
            f"({', '.join(f'{v:g}' for v in found)}); one file must give one value per "
            "timestamp (identical repeats are dropped). If the file holds several series, "
            "declare the model a family with series_columns"
        )
    return series


def first_conflict(series: pd.Series) -> tuple[pd.Timestamp, list[float]] | None:
    """The first timestamp repeated with different values (NaN counts as a value), if any."""
    repeated = series[series.index.duplicated(keep=False)]
    if repeated.empty:
        return None
    for stamp, group in repeated.groupby(level=0, sort=True):
        distinct = list(dict.fromkeys(group.fillna(np.inf).tolist()))
        if len(distinct) > 1:
            return pd.Timestamp(stamp), [np.nan if v == np.inf else v for v in distinct]
    return None


def combine(parts: list[pd.Series]) -> tuple[pd.Series, int]:
    """Concatenate in manifest order, sort by time, keep the last value per timestamp (a
    later file corrects an earlier one)."""
    series = pd.concat(parts)
    series = series[~series.index.isna()]
    before = len(series)
    series = series[~series.index.duplicated(keep="last")].sort_index()
    return series, before - len(series)


def regularise(series: pd.Series, *, frequency: str, max_gap: int) -> tuple[pd.Series, int]:
    """Resample to ``frequency`` by mean and fill gaps of at most ``max_gap`` periods."""
    try:
        regular = series.resample(frequency).mean()
    except ValueError as exc:
        raise PrepError(f"frequency {frequency!r} is not a pandas offset alias: {exc}") from exc
    missing = regular.isna()
    if missing.any():
        run_ids = (missing != missing.shift()).cumsum()
        runs = missing.groupby(run_ids).agg(["all", "size"])
        longest = int(runs.loc[runs["all"], "size"].max())
        if longest > max_gap:
            raise PrepError(
                f"the series has a gap of {longest} consecutive {frequency} periods; "
                f"at most {max_gap} are filled (raise max_gap or send the missing data)"
            )
    filled = int(missing.sum())
    return regular.interpolate(method="time", limit_area="inside"), filled


def minimum_length(*, season_length: int, horizon: int) -> int:
    """Observations needed: two full seasons (or 10 points) to fit, plus the holdout."""
    return max(2 * season_length, 10) + horizon


def split(series: pd.Series, *, horizon: int) -> tuple[pd.Series, pd.Series]:
    return series.iloc[:-horizon], series.iloc[-horizon:]


def prepare(
    paths: list[Path],
    *,
    time_column: str,
    value_column: str,
    frequency: str,
    season_length: int,
    horizon: int,
    max_gap: int,
) -> tuple[pd.Series, pd.Series, PrepReport]:
    """The whole step as a pure function of the files and the declared series shape."""
    if horizon < 1 or season_length < 1:
        raise PrepError(f"horizon ({horizon}) and season_length ({season_length}) must be >= 1")
    parts = [read_file(p, time_column=time_column, value_column=value_column) for p in paths]
    rows = sum(len(p) for p in parts)
    series, duplicates = combine(parts)
    series = series.dropna()
    if series.empty:
        raise PrepError("the snapshot holds no numeric values")
    regular, filled = regularise(series, frequency=frequency, max_gap=max_gap)
    needed = minimum_length(season_length=season_length, horizon=horizon)
    if len(regular) < needed:
        raise PrepError(
            f"the series has {len(regular)} {frequency} points; at least {needed} are needed "
            f"(two seasons of {season_length} or 10 points, plus a holdout of {horizon})"
        )
    train, holdout = split(regular, horizon=horizon)
    report = PrepReport(
        frequency=frequency,
        season_length=season_length,
        horizon=horizon,
        files=[p.name for p in paths],
        rows_read=rows,
        duplicates_dropped=duplicates,
        gaps_filled=filled,
        n_train=len(train),
        n_holdout=len(holdout),
        train_start=train.index[0].isoformat(),
        train_end=train.index[-1].isoformat(),
        holdout_start=holdout.index[0].isoformat(),
        holdout_end=holdout.index[-1].isoformat(),
    )
    return train, holdout, report


def write_outputs(out: Path, train: pd.Series, holdout: pd.Series, report: PrepReport) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, part in (("train.csv", train), ("holdout.csv", holdout)):
        frame = pd.DataFrame({"timestamp": part.index.strftime("%Y-%m-%dT%H:%M:%S"), "value": part})
        frame.to_csv(out / name, index=False)
    (out / "prep.json").write_text(json.dumps(asdict(report), indent=2))
