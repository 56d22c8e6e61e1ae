"""Prep step: turn a data snapshot into clean, regular series split into train/holdout.

Reads exactly the files the snapshot manifest lists (files that arrived later are ignored;
CSV or Parquet), parses and sorts timestamps, combines files (a later file corrects an
earlier one), resamples to the declared frequency, fills gaps of at most ``max_gap``
periods by linear interpolation, and rejects what cannot be trusted with a message naming
the problem.

A single-series model refuses rows it cannot hold instead of merging them silently: one
file giving different values for one timestamp, or an extra column that looks like a
series key (the file holds a family), fail with the file, timestamp and values named;
identical repeats are dropped and counted.

Given ``--series_columns`` the model is a family: the files hold many series in long form
(one row per series and timestamp, the ``unique_id, ds, y`` convention, with our own column
names). Each series is validated, combined, regularised and split on its own; a series that
cannot be trusted is excluded with its reason and the others go on. ``prep.json`` then
reports every series, and the series that passed are written to ``--shards`` as Parquet
shard files (stable hash buckets of series ids) for the family pipeline's parallel step.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


class PrepError(ValueError):
    """The snapshot cannot be turned into a trustworthy series."""


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


def read_manifest(path: Path) -> tuple[str, list[str]]:
    """The manifest's prefix and its file names, in name order."""
    try:
        manifest = json.loads(path.read_text())
        prefix = str(manifest.get("prefix", ""))
        names = sorted(str(f["name"]) for f in manifest["files"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PrepError(f"snapshot manifest {path} is unreadable: {exc}") from exc
    if not names:
        raise PrepError(f"snapshot manifest {path} lists no files")
    return prefix, names


def locate(raw_data: Path, prefix: str, names: list[str]) -> list[Path]:
    """Map manifest names (full blob names) to files under the mounted prefix folder."""
    paths = []
    for name in names:
        relative = name[len(prefix) :] if prefix and name.startswith(prefix) else name
        path = raw_data / relative
        if not path.is_file():
            raise PrepError(f"data file {name!r} from the manifest is missing under {raw_data}")
        paths.append(path)
    return paths


DATA_SUFFIXES = (".csv", ".parquet")
# Column names that name a series rather than carry a value: an extra column called one of
# these (or ending in "_id") in a single-series model's file means the file holds a family.
KEY_LIKE_NAMES = frozenset(
    {
        "unique_id",
        "series",
        "series_id",
        "id",
        "key",
        "item",
        "sku",
        "store",
        "product",
        "meter",
        "sensor",
        "site",
        "region",
        "location",
        "device",
        "customer",
        "account",
    }
)


def read_table(path: Path, columns: list[str]) -> pd.DataFrame:
    """A CSV or Parquet data file as a frame of text columns (``""`` for missing values),
    with ``columns`` checked to be present. Parquet timestamps become ISO text and numbers
    ``repr`` text, so both formats go through the same parsing and the same errors."""
    suffix = path.suffix.lower()
    if suffix not in DATA_SUFFIXES:
        raise PrepError(
            f"{path.name}: only CSV and Parquet data files are supported (got {suffix!r})"
        )
    if suffix == ".csv":
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
            raise PrepError(f"{path.name}: not a readable CSV file: {exc}") from exc
    else:
        try:
            typed = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises its own error types for bad files
            raise PrepError(f"{path.name}: not a readable Parquet file: {exc}") from exc
        frame = pd.DataFrame(
            {str(c): _as_text(typed[c]) for c in typed.columns}, index=range(len(typed))
        )
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise PrepError(
            f"{path.name}: missing column(s) {', '.join(missing)}; "
            f"header is {', '.join(map(str, frame.columns))}"
        )
    return frame


def _as_text(column: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(column):
        text = column.map(lambda t: "" if pd.isna(t) else pd.Timestamp(t).isoformat())
    else:
        text = column.map(
            lambda v: "" if v is None or (isinstance(v, float) and v != v) else str(v)
        )
    return text.astype(str).reset_index(drop=True)


def _row(path: Path, position: int) -> str:
    """How a user finds a row: the CSV line (the header is line 1), or the Parquet row."""
    line = position + 2 if path.suffix.lower() == ".csv" else position + 1
    return f"row {line}"


def parse_times(path: Path, frame: pd.DataFrame, time_column: str) -> pd.Series:
    """Timestamps of every row (NaT where unparseable)."""
    return pd.to_datetime(frame[time_column], errors="coerce", utc=False, format="ISO8601")


def parse_values(frame: pd.DataFrame, value_column: str) -> tuple[pd.Series, pd.Series]:
    """Float values of every row (NaN for empty cells) and the mask of non-numeric cells."""
    raw = frame[value_column].str.strip()
    values = pd.to_numeric(raw, errors="coerce").astype(float)
    return values, values.isna() & (raw != "") & (raw.str.lower() != "nan")


def key_like_columns(
    frame: pd.DataFrame, identity: pd.Series, known: list[str], *, by_name: bool = True
) -> list[str]:
    """Extra columns that look like series keys: named like one (``KEY_LIKE_NAMES`` or
    ``*_id``, when ``by_name``) and holding more than one value (a constant key names the
    one series the file holds), or telling apart rows that share an ``identity`` (the
    timestamp of a single series; series id and timestamp in a family), as an undeclared
    series id column does in a long-form file."""
    extra = [str(c) for c in frame.columns if c not in known]
    found = []
    if by_name:
        found = [
            c
            for c in extra
            if (c.strip().lower() in KEY_LIKE_NAMES or c.lower().endswith("_id"))
            and frame[c].nunique() > 1
        ]
    repeated = identity.duplicated(keep=False) & identity.notna()
    if repeated.any():
        rows = frame.loc[repeated.to_numpy()]
        groups = identity[repeated].to_numpy()
        for column in extra:
            if column not in found and rows.groupby(groups)[column].nunique().max() > 1:
                found.append(column)
    return found


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
            f"{path.name}: {_row(path, row)}: {time_column} {frame[time_column].iloc[row]!r} "
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
            f"{path.name}: {_row(path, row)}: {value_column} "
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


# -- families: many series in long form ---------------------------------------------------

FAMILY_SCHEMA = "family-prep/1"
SERIES_PER_SHARD = 100
MIN_AUTO_SHARDS = 8
KEY_SEPARATOR = "|"
SHARD_COLUMNS = ("unique_id", "ds", "y")


@dataclass
class SeriesReport:
    """What prep did with one series of a family: ``status`` is ``ok`` (it goes on to
    training, in ``shard``) or ``excluded`` (``reason`` says why; the others go on)."""

    unique_id: str
    keys: dict[str, str]
    status: str = "ok"
    reason: str | None = None
    shard: str | None = None
    rows_read: int = 0
    duplicates_dropped: int = 0
    gaps_filled: int = 0
    n_train: int = 0
    n_holdout: int = 0
    train_start: str | None = None
    train_end: str | None = None
    holdout_start: str | None = None
    holdout_end: str | None = None

    def exclude(self, reason: str) -> None:
        if self.status == "ok":
            self.status, self.reason = "excluded", reason


@dataclass
class FamilyPrep:
    """The prepared family: every series' report and the regular series that passed."""

    report: dict[str, Any]
    series: dict[str, pd.Series] = field(default_factory=dict)

    @property
    def reports(self) -> list[dict[str, Any]]:
        return list(self.report["series"])


def parse_series_columns(text: str | None) -> list[str]:
    """``"store, item"`` -> ``["store", "item"]``; empty -> ``[]`` (a single series)."""
    columns = [c.strip() for c in (text or "").split(",") if c.strip()]
    if len(set(columns)) != len(columns):
        raise PrepError(f"series_columns {text!r} names a column twice")
    return columns


def shard_of(unique_id: str, shard_count: int) -> str:
    """The shard a series belongs to: a stable hash bucket of its id (the same series stays
    in the same shard from run to run while ``shard_count`` is unchanged)."""
    bucket = int.from_bytes(hashlib.sha256(unique_id.encode()).digest()[:8], "big") % shard_count
    return f"shard-{bucket:05d}"


def auto_shard_count(n_series: int) -> int:
    """Shards for ``n_series`` when none is declared: the smallest power of two giving at
    most ``SERIES_PER_SHARD`` series per shard, and at least ``MIN_AUTO_SHARDS`` shards (so
    small families still spread over the workers). A power of two changes rarely as a
    family grows, and every change moves most series to another shard."""
    wanted = max(MIN_AUTO_SHARDS, math.ceil(n_series / SERIES_PER_SHARD))
    return 1 << (wanted - 1).bit_length()


def _family_rows(
    path: Path,
    position: int,
    *,
    series_columns: list[str],
    time_column: str,
    value_column: str,
    reports: dict[str, SeriesReport],
) -> pd.DataFrame:
    """One family file as ``unique_id, ds, y, file`` rows; problems that belong to one series
    exclude that series (with the file, row or timestamp in the reason), problems of the
    file as a whole raise ``PrepError``."""
    frame = read_table(path, [*series_columns, time_column, value_column])
    key_text = frame[series_columns].apply(lambda c: c.str.strip())
    empty = (key_text == "").any(axis=1)
    if empty.any():
        row = int(empty.to_numpy().nonzero()[0][0])
        raise PrepError(
            f"{path.name}: {_row(path, row)}: the series column(s) {', '.join(series_columns)} "
            "are empty, so the row belongs to no series"
        )
    ids = (
        key_text.agg(KEY_SEPARATOR.join, axis=1) if len(series_columns) > 1 else key_text.iloc[:, 0]
    )
    times = parse_times(path, frame, time_column)
    identity = (ids + "@" + times.astype(str)).where(times.notna())
    extra = key_like_columns(
        frame, identity, [*series_columns, time_column, value_column], by_name=False
    )
    if extra:
        raise PrepError(
            f"{path.name}: column(s) {', '.join(extra)} look like series keys too, but "
            f"series_columns names only {', '.join(series_columns)}; add them to series_columns "
            "or remove them from the files"
        )
    values, non_numeric = parse_values(frame, value_column)
    rows = pd.DataFrame({"unique_id": ids.to_numpy(), "ds": times.to_numpy(), "y": values})
    for uid, first in zip(ids.to_numpy(), range(len(ids)), strict=True):
        if uid not in reports:
            keys = dict(zip(series_columns, key_text.iloc[first].tolist(), strict=True))
            reports[uid] = SeriesReport(unique_id=str(uid), keys=keys)
    for mask, what in ((times.isna(), "time"), (non_numeric, "value")):
        for position_in_file in mask.to_numpy().nonzero()[0]:
            uid = str(ids.iloc[position_in_file])
            column = time_column if what == "time" else value_column
            cell = frame[column].iloc[position_in_file].strip()
            kind = "a timestamp" if what == "time" else "a number"
            reports[uid].exclude(
                f"{path.name}: {_row(path, int(position_in_file))}: {column} {cell!r} is not {kind}"
            )
    counts = rows.groupby("unique_id", sort=False).size()
    for uid, count in counts.items():
        reports[str(uid)].rows_read += int(count)
    rows = rows[times.notna().to_numpy()]
    repeated = rows.duplicated(["unique_id", "ds"], keep=False)
    if repeated.any():
        dup = rows[repeated]
        filled = dup.assign(y=dup["y"].fillna(np.inf))
        distinct = filled.groupby(["unique_id", "ds"], sort=True)["y"].nunique()
        for uid, stamp in distinct[distinct > 1].index:
            found = filled.loc[(filled["unique_id"] == uid) & (filled["ds"] == stamp), "y"]
            shown = ", ".join(f"{v:g}" for v in dict.fromkeys(found.replace(np.inf, np.nan)))
            reports[str(uid)].exclude(
                f"{path.name}: timestamp {pd.Timestamp(stamp).isoformat()} appears with "
                f"different values ({shown}); one file must give one value per timestamp"
            )
        identical = rows.duplicated(["unique_id", "ds"], keep="last")
        for uid, count in rows[identical].groupby("unique_id").size().items():
            reports[str(uid)].duplicates_dropped += int(count)
        rows = rows[~identical.to_numpy()]
    return rows.assign(file=position)


def prepare_family(
    paths: list[Path],
    *,
    series_columns: list[str],
    time_column: str,
    value_column: str,
    frequency: str,
    season_length: int,
    horizon: int,
    max_gap: int,
    shard_count: int = 0,
) -> FamilyPrep:
    """A family's files (long form: one row per series and timestamp) prepared series by
    series: each is validated, combined across files (a later file wins), regularised and
    split as a single series would be; a series that cannot be trusted is excluded with
    its reason and the others go on. Raises ``PrepError`` only for problems of a whole
    file or of the declaration, and when no series is left."""
    if horizon < 1 or season_length < 1:
        raise PrepError(f"horizon ({horizon}) and season_length ({season_length}) must be >= 1")
    if not series_columns:
        raise PrepError("a family needs at least one series column")
    clash = {time_column, value_column} & set(series_columns)
    if clash:
        raise PrepError(f"series_columns {', '.join(sorted(clash))} is the time or value column")
    if shard_count < 0:
        raise PrepError(f"shard_count must be >= 0 (0: automatic), got {shard_count}")
    reports: dict[str, SeriesReport] = {}
    parts = [
        _family_rows(
            path,
            position,
            series_columns=series_columns,
            time_column=time_column,
            value_column=value_column,
            reports=reports,
        )
        for position, path in enumerate(paths)
    ]
    rows = pd.concat(parts, ignore_index=True)
    rows = rows[rows["unique_id"].map(lambda u: reports[str(u)].status == "ok")]
    rows = rows.sort_values(["unique_id", "ds", "file"], kind="stable")
    later = rows.duplicated(["unique_id", "ds"], keep="last")
    for uid, count in rows[later].groupby("unique_id").size().items():
        reports[str(uid)].duplicates_dropped += int(count)
    rows = rows[~later.to_numpy()]
    needed = minimum_length(season_length=season_length, horizon=horizon)
    prepared: dict[str, pd.Series] = {}
    try:
        pd.tseries.frequencies.to_offset(frequency)
    except ValueError as exc:
        raise PrepError(f"frequency {frequency!r} is not a pandas offset alias: {exc}") from exc
    for uid, group in rows.groupby("unique_id", sort=True):
        report = reports[str(uid)]
        series = pd.Series(group["y"].to_numpy(), index=pd.DatetimeIndex(group["ds"])).dropna()
        if series.empty:
            report.exclude("the series holds no numeric values")
            continue
        try:
            regular, filled = regularise(series, frequency=frequency, max_gap=max_gap)
        except PrepError as exc:
            report.exclude(str(exc))
            continue
        report.gaps_filled = filled
        if len(regular) < needed:
            report.exclude(
                f"the series has {len(regular)} {frequency} points; at least {needed} are "
                f"needed (two seasons of {season_length} or 10 points, plus a holdout of {horizon})"
            )
            continue
        train, holdout = split(regular, horizon=horizon)
        report.n_train, report.n_holdout = len(train), len(holdout)
        report.train_start, report.train_end = (
            train.index[0].isoformat(),
            train.index[-1].isoformat(),
        )
        report.holdout_start = holdout.index[0].isoformat()
        report.holdout_end = holdout.index[-1].isoformat()
        prepared[str(uid)] = regular
    for report in reports.values():
        if report.status == "ok" and report.unique_id not in prepared:
            report.exclude("the series holds no numeric values")
    if not prepared:
        reasons = "; ".join(f"{r.unique_id}: {r.reason}" for r in list(reports.values())[:5])
        raise PrepError(
            f"no series of the family can be trusted ({len(reports)} excluded: {reasons})"
        )
    shards = shard_count or auto_shard_count(len(prepared))
    for uid in prepared:
        reports[uid].shard = shard_of(uid, shards)
    ordered = [asdict(reports[uid]) for uid in sorted(reports)]
    summary = {
        "schema": FAMILY_SCHEMA,
        "frequency": frequency,
        "season_length": season_length,
        "horizon": horizon,
        "max_gap": max_gap,
        "time_column": time_column,
        "value_column": value_column,
        "series_columns": list(series_columns),
        "files": [p.name for p in paths],
        "rows_read": int(sum(r.rows_read for r in reports.values())),
        "shard_count": shards,
        "series_total": len(reports),
        "series_ok": len(prepared),
        "series_excluded": len(reports) - len(prepared),
        "series": ordered,
    }
    return FamilyPrep(report=summary, series=prepared)


def write_family_outputs(prepared_dir: Path, shards_dir: Path, family: FamilyPrep) -> list[Path]:
    """``prep.json`` (the family report) under ``prepared_dir``; one Parquet file per shard
    (``unique_id, ds, y``: train and holdout together, the holdout being the last
    ``horizon`` points) under ``shards_dir``. A shard's bytes depend only on its series, so
    an arrival that leaves a shard's series unchanged leaves its file unchanged."""
    prepared_dir.mkdir(parents=True, exist_ok=True)
    shards_dir.mkdir(parents=True, exist_ok=True)
    (prepared_dir / "prep.json").write_text(json.dumps(family.report, indent=2))
    by_shard: dict[str, list[str]] = {}
    for entry in family.report["series"]:
        if entry["shard"] is not None:
            by_shard.setdefault(entry["shard"], []).append(entry["unique_id"])
    written = []
    for shard, ids in sorted(by_shard.items()):
        frame = pd.concat(
            pd.DataFrame(
                {
                    "unique_id": uid,
                    "ds": family.series[uid].index.astype("datetime64[ns]"),
                    "y": family.series[uid].to_numpy(dtype=float),
                }
            )
            for uid in sorted(ids)
        )
        path = shards_dir / f"{shard}.parquet"
        frame.astype({"unique_id": "string"}).to_parquet(path, index=False)
        written.append(path)
    return written


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raw_data", type=Path, required=True, help="folder of data files")
    parser.add_argument("--manifest", type=Path, required=True, help="snapshot manifest JSON")
    parser.add_argument("--frequency", default="MS", help="pandas offset alias, e.g. MS, W, D")
    parser.add_argument("--season_length", type=int, default=12)
    parser.add_argument("--horizon", type=int, default=12, help="holdout length in periods")
    parser.add_argument("--time_column", default="timestamp")
    parser.add_argument("--value_column", default="value")
    parser.add_argument("--max_gap", type=int, default=3, help="longest gap filled, in periods")
    parser.add_argument(
        "--series_columns",
        default="",
        help="comma-separated columns naming the series of a family (empty: one series)",
    )
    parser.add_argument(
        "--shard_count", type=int, default=0, help="shards of a family (0: automatic)"
    )
    parser.add_argument("--rerun_salt", default=None, help="ignored: makes a forced run's step new")
    parser.add_argument("--prepared", type=Path, required=True, help="output folder")
    parser.add_argument("--shards", type=Path, help="output folder of a family's shard files")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        series_columns = parse_series_columns(args.series_columns)
        prefix, names = read_manifest(args.manifest)
        paths = locate(args.raw_data, prefix, names)
        if series_columns:
            return _main_family(args, series_columns, paths)
        train, holdout, report = prepare(
            paths,
            time_column=args.time_column,
            value_column=args.value_column,
            frequency=args.frequency,
            season_length=args.season_length,
            horizon=args.horizon,
            max_gap=args.max_gap,
        )
    except PrepError as exc:
        print(f"prep: {exc}", file=sys.stderr, flush=True)
        return 2
    write_outputs(args.prepared, train, holdout, report)
    print(
        f"prep: {len(names)} file(s), {report.rows_read} rows -> {report.n_train} train + "
        f"{report.n_holdout} holdout {report.frequency} points "
        f"({report.duplicates_dropped} duplicates dropped, {report.gaps_filled} gaps filled)",
        flush=True,
    )
    return 0


def _main_family(args: argparse.Namespace, series_columns: list[str], paths: list[Path]) -> int:
    if args.shards is None:
        raise PrepError("a family (series_columns given) needs the --shards output folder")
    family = prepare_family(
        paths,
        series_columns=series_columns,
        time_column=args.time_column,
        value_column=args.value_column,
        frequency=args.frequency,
        season_length=args.season_length,
        horizon=args.horizon,
        max_gap=args.max_gap,
        shard_count=args.shard_count,
    )
    written = write_family_outputs(args.prepared, args.shards, family)
    report = family.report
    print(
        f"prep: {len(paths)} file(s), {report['rows_read']} rows, {report['series_total']} "
        f"series: {report['series_ok']} prepared in {len(written)} of "
        f"{report['shard_count']} shard(s), {report['series_excluded']} excluded",
        flush=True,
    )
    for entry in report["series"]:
        if entry["status"] != "ok":
            print(f"prep: excluded {entry['unique_id']}: {entry['reason']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
