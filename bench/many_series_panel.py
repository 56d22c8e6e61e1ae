"""One's own panel for ``bench/many_series.py``: read a long-form CSV or Parquet file, check
it, infer its frequency, season length and horizon when not given, and pick a subset.

A panel is long form: one row per series and timestamp, a series id column (or several,
joined), a time column and a value column. :func:`read_panel` returns it as
``unique_id, ds, y`` (the statsforecast convention the bench uses inside) or raises
:class:`PanelError` naming what is wrong with the file. :func:`panel_shape` settles the
frequency (a pandas offset alias), the season length and the horizon, each either given or
inferred, and says how each was chosen. :func:`pick_series` takes ``count`` series spread
evenly over the panel's ids (deterministic: every k-th id in sorted order).
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

ID_SEPARATOR = "|"  # joins several id columns into one unique_id
SUFFIXES = {".csv": "csv", ".gz": "csv", ".parquet": "parquet", ".pq": "parquet"}
INFER_SAMPLE = 200  # series looked at when inferring the frequency


class PanelError(ValueError):
    """The panel file cannot be used as given; the message says what is wrong and where."""


@dataclass(frozen=True)
class PanelShape:
    """The literals the family pipeline and the peer need, and how each was chosen."""

    frequency: str
    season_length: int
    horizon: int
    notes: tuple[str, ...] = ()


# Season length (observations per cycle) and horizon by the offset's base unit. Horizons
# are the M4 competition's (yearly 6, quarterly 8, monthly 18, weekly 13, daily 14,
# hourly 48); seasons the usual cycles (a year of months or quarters, a year of weeks, a
# week of days, a day of hours).
_BY_UNIT: dict[str, tuple[int, int, str]] = {
    "Y": (1, 6, "yearly"),
    "Q": (4, 8, "quarterly"),
    "M": (12, 18, "monthly"),
    "SM": (24, 24, "semi-monthly"),
    "W": (52, 13, "weekly"),
    "D": (7, 14, "daily"),
    "B": (5, 10, "business-daily"),
    "H": (24, 48, "hourly"),
    "MIN": (60, 120, "by the minute"),
    "S": (60, 120, "by the second"),
}


def read_panel(
    path: str | Path,
    *,
    id_column: str = "unique_id",
    time_column: str = "ds",
    value_column: str = "y",
) -> pd.DataFrame:
    """The panel in ``path`` (``.csv``, ``.csv.gz``, ``.parquet`` or ``.pq``) as a frame of
    ``unique_id`` (str), ``ds`` (datetime64, timezone-naive: aware times are converted to
    UTC) and ``y`` (float), sorted by id and time. ``id_column`` may name several columns
    separated by commas (their values are joined with ``|``). Rows whose value is empty
    are dropped (the pipeline treats them as gaps). Raises :class:`PanelError` when the
    file is missing or unreadable, a column is absent, a time or value cannot be parsed, an
    id is empty, or a series repeats a timestamp."""
    file = Path(path)
    if not file.is_file():
        raise PanelError(f"no such file: {file}")
    kind = SUFFIXES.get(file.suffix.lower())
    if kind is None:
        raise PanelError(
            f"{file}: unknown file type {file.suffix or '(no suffix)'!r}; expected .csv, "
            ".csv.gz, .parquet or .pq"
        )
    try:
        raw = pd.read_csv(file) if kind == "csv" else pd.read_parquet(file)
    except Exception as exc:  # any reader failure is the file's problem, said plainly
        raise PanelError(f"{file}: cannot be read as {kind.upper()}: {exc}") from exc
    ids = [c.strip() for c in id_column.split(",") if c.strip()]
    if not ids:
        raise PanelError("--id-column names no column")
    wanted = [(c, "--id-column") for c in ids]
    wanted += [(time_column, "--time-column"), (value_column, "--value-column")]
    missing = [f"{name!r} ({flag})" for name, flag in wanted if name not in raw.columns]
    if missing:
        have = ", ".join(repr(str(c)) for c in raw.columns)
        raise PanelError(f"{file}: no column {' or '.join(missing)}; its columns are {have}")
    if raw.empty:
        raise PanelError(f"{file}: the file has no rows")
    ds = _times(raw[time_column], file, time_column)
    y = _values(raw[value_column], file, value_column)
    unique_id = _ids(raw, ids, file)
    panel = pd.DataFrame({"unique_id": unique_id, "ds": ds, "y": y})
    panel = panel[panel["y"].notna()]
    if panel.empty:
        raise PanelError(f"{file}: column {value_column!r} holds no values")
    repeated = panel.duplicated(["unique_id", "ds"], keep=False)
    if repeated.any():
        first = panel[repeated].iloc[0]
        raise PanelError(
            f"{file}: {int(repeated.sum())} rows repeat a (series, time) pair, e.g. series "
            f"{first['unique_id']!r} at {first['ds']}; a panel has one row per series and "
            f"time (is a key column missing from --id-column?)"
        )
    return panel.sort_values(["unique_id", "ds"], kind="stable").reset_index(drop=True)


def _times(column: pd.Series, file: Path, name: str) -> pd.Series:
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        raise PanelError(
            f"{file}: column {name!r} (--time-column) holds numbers ({column.dtype}), not "
            "timestamps; the pipeline needs dates or date-times"
        )
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        return column.dt.tz_convert("UTC").dt.tz_localize(None)
    parsed = pd.to_datetime(column, errors="coerce", format="ISO8601", utc=True)
    bad = parsed.isna()
    if bad.any():
        row = int(bad.to_numpy().argmax())
        raise PanelError(
            f"{file}: {int(bad.sum())} values of column {name!r} (--time-column) are not "
            f"ISO 8601 timestamps, e.g. {column.iloc[row]!r} (row {row + 1})"
        )
    return parsed.dt.tz_convert(None)  # naive times were read as UTC: unchanged


def _values(column: pd.Series, file: Path, name: str) -> pd.Series:
    numbers = pd.to_numeric(column, errors="coerce")
    bad = numbers.isna() & column.notna() & (column.astype(str).str.strip() != "")
    if bad.any():
        row = int(bad.to_numpy().argmax())
        raise PanelError(
            f"{file}: {int(bad.sum())} values of column {name!r} (--value-column) are not "
            f"numbers, e.g. {column.iloc[row]!r} (row {row + 1})"
        )
    return numbers.astype(float)


def _ids(raw: pd.DataFrame, columns: list[str], file: Path) -> pd.Series:
    empty = raw[columns].isna().any(axis=1)
    if empty.any():
        row = int(empty.to_numpy().argmax())
        raise PanelError(
            f"{file}: {int(empty.sum())} rows have no series id in {', '.join(columns)} "
            f"(--id-column), e.g. row {row + 1}"
        )
    parts = [raw[c].astype(str) for c in columns]
    joined = parts[0]
    for part in parts[1:]:
        joined = joined + ID_SEPARATOR + part
    return joined


def infer_frequency(panel: pd.DataFrame) -> str:
    """The panel's frequency as a pandas offset alias: the most common of
    ``pandas.infer_freq`` over up to ``INFER_SAMPLE`` series (of at least 3 points).
    Raises :class:`PanelError` when no series has a regular spacing."""
    found: Counter[str] = Counter()
    for _, group in panel.groupby("unique_id", sort=True):
        if len(found) and sum(found.values()) >= INFER_SAMPLE:
            break
        stamps = pd.DatetimeIndex(group["ds"])
        if len(stamps) < 3:
            continue
        try:
            with warnings.catch_warnings():  # pandas 3 warns it will return an offset
                warnings.simplefilter("ignore")
                freq = pd.infer_freq(stamps)
        except (TypeError, ValueError):
            freq = None
        if freq:
            found[str(getattr(freq, "freqstr", freq))] += 1
    if not found:
        raise PanelError(
            "cannot infer the frequency: no series has evenly spaced timestamps "
            "(gaps or irregular times); pass --frequency (a pandas offset alias, e.g. MS, D, h)"
        )
    return found.most_common(1)[0][0]


_CLASSES = (
    ("SemiMonth", "SM"),
    ("Year", "Y"),
    ("Quarter", "Q"),
    ("Month", "M"),
    ("Week", "W"),
    ("BusinessDay", "B"),
    ("Day", "D"),
    ("Hour", "H"),
    ("Minute", "MIN"),
    ("Second", "S"),
)


def _unit(frequency: str) -> tuple[int, str]:
    """The multiple and base unit of an offset alias, from the offset's class:
    ``"15min"`` -> (15, "MIN"), ``"QS-OCT"`` -> (1, "Q"), ``"W-SUN"`` -> (1, "W")."""
    offset = pd.tseries.frequencies.to_offset(frequency)
    name = type(offset).__name__
    for part, unit in _CLASSES:
        if part in name:
            return int(offset.n), unit
    return int(offset.n), name


def season_and_horizon(frequency: str) -> tuple[int, int, str]:
    """The season length and horizon a panel at ``frequency`` gets by default, and a word
    for the frequency: from ``_BY_UNIT``; a multiple of hours or minutes keeps the day's or
    the hour's cycle when it divides it (``"2h"`` -> 12), else no season (1)."""
    n, unit = _unit(frequency)
    season, horizon, word = _BY_UNIT.get(unit, (1, 10, f"{frequency!r}"))
    if n > 1:
        cycle = {"H": 24, "MIN": 60, "S": 60, "M": 12, "Q": 4}.get(unit)
        season = cycle // n if cycle and cycle % n == 0 else 1
        word = f"every {n} ({word})"
    return season, horizon, word


def panel_shape(
    panel: pd.DataFrame,
    *,
    frequency: str | None = None,
    season_length: int | None = None,
    horizon: int | None = None,
) -> PanelShape:
    """The frequency, season length and horizon for ``panel``: each as given, else
    inferred (frequency: :func:`infer_frequency`; season and horizon:
    :func:`season_and_horizon`, the horizon capped at a quarter of the median series
    length). ``notes`` says how each was chosen and how many series are too short for the
    pipeline's prep (two seasons or 10 points, plus the horizon). Raises
    :class:`PanelError` for a frequency pandas does not know or a value below 1."""
    notes: list[str] = []
    if frequency is None:
        frequency = infer_frequency(panel)
        notes.append(f"frequency {frequency} (inferred: the most common spacing of the series)")
    else:
        notes.append(f"frequency {frequency} (given)")
    try:
        default_season, default_horizon, word = season_and_horizon(frequency)
    except ValueError as exc:
        raise PanelError(f"frequency {frequency!r} is not a pandas offset alias: {exc}") from exc
    if season_length is None:
        season_length = default_season
        notes.append(f"season length {season_length} (inferred: the usual cycle, {word})")
    else:
        notes.append(f"season length {season_length} (given)")
    lengths = panel.groupby("unique_id").size()
    if horizon is None:
        median = int(lengths.median())
        horizon = max(1, min(default_horizon, median // 4))
        why = (
            f"M4's horizon for {word}"
            if horizon == default_horizon
            else (
                f"M4's {default_horizon} for {word}, capped at a quarter of the median "
                f"length {median}"
            )
        )
        notes.append(f"horizon {horizon} (inferred: {why})")
    else:
        notes.append(f"horizon {horizon} (given)")
    if season_length < 1 or horizon < 1:
        raise PanelError(f"season length ({season_length}) and horizon ({horizon}) must be >= 1")
    needed = max(2 * season_length, 10) + horizon
    short = int((lengths < needed).sum())
    if short:
        notes.append(
            f"{short} of {len(lengths)} series have fewer than {needed} rows: prep will "
            "likely exclude them (it reports each with its reason)"
        )
    return PanelShape(frequency, int(season_length), int(horizon), tuple(notes))


def pick_series(panel: pd.DataFrame, count: int | None) -> pd.DataFrame:
    """``count`` series of ``panel`` spread evenly over its ids in sorted order (every k-th,
    k = series // count), or the whole panel when ``count`` is None or not smaller."""
    ids = sorted(panel["unique_id"].unique())
    if count is None or count >= len(ids):
        return panel
    if count < 1:
        raise PanelError(f"--real must be >= 1, got {count}")
    step = max(1, len(ids) // count)
    chosen = set(ids[::step][:count])
    return panel[panel["unique_id"].isin(chosen)].reset_index(drop=True)
