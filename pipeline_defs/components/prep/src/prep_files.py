"""Prep: reading a snapshot's files. The manifest, the files it lists, and each CSV or
Parquet file as text columns parsed into timestamps and values, with the checks both
single series and families share (missing columns, columns that look like series keys)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd


class PrepError(ValueError):
    """The snapshot cannot be turned into a trustworthy series."""


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


def row_label(path: Path, position: int) -> str:
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
