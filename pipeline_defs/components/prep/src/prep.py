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

The step's code is split by job into modules beside this file (``prep_files``: the
manifest and reading files; ``prep_single``: one series; ``prep_family``: families and
shards); this file is the command line, and every name the step ever had is importable
from it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# The modules beside this file are found however it is loaded (as the step's script, or
# by file path from tests and benchmarks).
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from prep_family import (  # noqa: E402
    FAMILY_SCHEMA,
    KEY_SEPARATOR,
    MIN_AUTO_SHARDS,
    SERIES_PER_SHARD,
    SHARD_COLUMNS,
    FamilyPrep,
    SeriesReport,
    auto_shard_count,
    parse_series_columns,
    prepare_family,
    shard_of,
    write_family_outputs,
)
from prep_files import (  # noqa: E402
    DATA_SUFFIXES,
    KEY_LIKE_NAMES,
    PrepError,
    key_like_columns,
    locate,
    parse_times,
    parse_values,
    read_manifest,
    read_table,
    row_label,
)
from prep_single import (  # noqa: E402
    PrepReport,
    combine,
    first_conflict,
    minimum_length,
    prepare,
    read_file,
    regularise,
    split,
    write_outputs,
)

__all__ = [
    "DATA_SUFFIXES",
    "FAMILY_SCHEMA",
    "KEY_LIKE_NAMES",
    "KEY_SEPARATOR",
    "MIN_AUTO_SHARDS",
    "SERIES_PER_SHARD",
    "SHARD_COLUMNS",
    "FamilyPrep",
    "PrepError",
    "PrepReport",
    "SeriesReport",
    "auto_shard_count",
    "combine",
    "first_conflict",
    "key_like_columns",
    "locate",
    "main",
    "minimum_length",
    "parse_args",
    "parse_series_columns",
    "parse_times",
    "parse_values",
    "prepare",
    "prepare_family",
    "read_file",
    "read_manifest",
    "read_table",
    "regularise",
    "row_label",
    "shard_of",
    "split",
    "write_family_outputs",
    "write_outputs",
]


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
