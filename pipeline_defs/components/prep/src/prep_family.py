"""Prep of a family: many series in long form, each validated, combined, regularised and
split on its own; a series that cannot be trusted is excluded with its reason while the
others go on; the series that passed are written as Parquet shard files (stable hash
buckets of series ids) for the parallel fit step."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from prep_files import PrepError, key_like_columns, parse_times, parse_values, read_table, row_label
from prep_single import minimum_length, regularise, split

FAMILY_SCHEMA = "family-prep/1"
SERIES_PER_SHARD = 100
MIN_AUTO_SHARDS = 16
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
            f"{path.name}: {row_label(path, row)}: the series column(s) "
            f"{', '.join(series_columns)} are empty, so the row belongs to no series"
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
                f"{path.name}: {row_label(path, int(position_in_file))}: {column} {cell!r} "
                f"is not {kind}"
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
