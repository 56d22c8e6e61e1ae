"""Prep step: turn a data snapshot into a clean, regular series split into train/holdout.

Reads exactly the files the snapshot manifest lists (files that arrived later are ignored),
parses and sorts timestamps, drops duplicate timestamps (the later file wins), resamples
to the declared frequency, fills gaps of at most ``max_gap`` periods by linear
interpolation, and rejects what cannot be trusted with a message naming the problem.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

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


def read_file(path: Path, *, time_column: str, value_column: str) -> pd.Series:
    """One CSV file as a float series indexed by timestamp; clear errors on bad content."""
    if path.suffix.lower() != ".csv":
        raise PrepError(f"{path.name}: only CSV data files are supported (got {path.suffix!r})")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise PrepError(f"{path.name}: not a readable CSV file: {exc}") from exc
    missing = [c for c in (time_column, value_column) if c not in frame.columns]
    if missing:
        raise PrepError(
            f"{path.name}: missing column(s) {', '.join(missing)}; "
            f"header is {', '.join(frame.columns)}"
        )
    times = pd.to_datetime(frame[time_column], errors="coerce", utc=False, format="ISO8601")
    bad_time = times.isna()
    if bad_time.any():
        row = int(bad_time.to_numpy().nonzero()[0][0])
        raise PrepError(
            f"{path.name}: row {row + 2}: {time_column} {frame[time_column].iloc[row]!r} "
            "is not a timestamp"
        )
    raw_values = frame[value_column].str.strip()
    values = pd.to_numeric(raw_values, errors="coerce")
    non_numeric = values.isna() & (raw_values != "")
    if non_numeric.any():
        row = int(non_numeric.to_numpy().nonzero()[0][0])
        raise PrepError(
            f"{path.name}: row {row + 2}: {value_column} {raw_values.iloc[row]!r} is not a number"
        )
    return pd.Series(values.to_numpy(dtype=float), index=pd.DatetimeIndex(times), name="value")


def combine(parts: list[pd.Series]) -> tuple[pd.Series, int]:
    """Concatenate in manifest order, sort by time, keep the last value per timestamp."""
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
    parser.add_argument("--prepared", type=Path, required=True, help="output folder")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        prefix, names = read_manifest(args.manifest)
        paths = locate(args.raw_data, prefix, names)
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


if __name__ == "__main__":
    sys.exit(main())
