"""bench/many_series.py on one's own panel: reading a long-form CSV or Parquet file, its
errors, the inferred frequency / season / horizon, the subset, and the command line."""

import importlib.util
import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.many_series import build_parser, main, real_panel
from bench.many_series_panel import (
    PanelError,
    panel_shape,
    pick_series,
    read_panel,
    season_and_horizon,
)


def own_panel(series: int = 3, points: int = 48, freq: str = "MS") -> pd.DataFrame:
    """A panel with a team's own column names: ``store, date, sales``."""
    rng = np.random.default_rng(7)
    frames = [
        pd.DataFrame(
            {
                "store": f"S{i}",
                "date": pd.date_range("2020-01-01", periods=points, freq=freq),
                "sales": rng.normal(100 * (i + 1), 5, points).round(3),
            }
        )
        for i in range(series)
    ]
    return pd.concat(frames, ignore_index=True)


def write(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


COLUMNS = {"id_column": "store", "time_column": "date", "value_column": "sales"}


def test_csv_and_parquet_read_to_the_same_long_form(tmp_path):
    frame = own_panel()
    from_csv = read_panel(write(frame, tmp_path / "p.csv"), **COLUMNS)
    from_parquet = read_panel(write(frame, tmp_path / "p.parquet"), **COLUMNS)
    assert list(from_csv.columns) == ["unique_id", "ds", "y"]
    pd.testing.assert_frame_equal(from_csv, from_parquet, check_dtype=False)
    assert sorted(from_csv["unique_id"].unique()) == ["S0", "S1", "S2"]
    assert from_csv["ds"].iloc[0] == pd.Timestamp("2020-01-01")
    assert from_csv["y"].tolist() == frame.sort_values(["store", "date"])["sales"].tolist()


def test_several_id_columns_are_joined_and_empty_values_are_gaps(tmp_path):
    frame = own_panel(series=2)
    frame["region"] = "north"
    frame.loc[3, "sales"] = np.nan
    panel = read_panel(
        write(frame, tmp_path / "p.csv"),
        id_column="region,store",
        time_column="date",
        value_column="sales",
    )
    assert sorted(panel["unique_id"].unique()) == ["north|S0", "north|S1"]
    assert len(panel) == len(frame) - 1


def test_times_with_an_offset_or_a_zone_become_utc_and_dates_are_midnight(tmp_path):
    (tmp_path / "p.csv").write_text(
        "unique_id,ds,y\na,2020-01-01T00:00:00+01:00,1\na,2020-01-01T01:00:00+01:00,2\n"
    )
    assert read_panel(tmp_path / "p.csv")["ds"].tolist() == [
        pd.Timestamp("2019-12-31 23:00"),
        pd.Timestamp("2020-01-01 00:00"),
    ]
    zoned = pd.DataFrame(
        {"unique_id": "a", "ds": pd.date_range("2020-06-01", periods=2, freq="h", tz="CET")}
    ).assign(y=1.0)
    assert read_panel(write(zoned, tmp_path / "z.parquet"))["ds"].iloc[0] == pd.Timestamp(
        "2020-05-31 22:00"
    )
    days = pd.DataFrame({"unique_id": "a", "ds": [date(2020, 1, 1), date(2020, 1, 2)], "y": 1.0})
    assert read_panel(write(days, tmp_path / "d.parquet"))["ds"].iloc[1] == pd.Timestamp(
        "2020-01-02"
    )


@pytest.mark.parametrize(
    ("change", "suffix", "message"),
    [
        (lambda f: f.rename(columns={"date": "when"}), ".csv", "no column 'date' (--time-column)"),
        (lambda f: f.assign(date="soon"), ".csv", "not ISO 8601 timestamps, e.g. 'soon' (row 1)"),
        (lambda f: f.assign(date=range(len(f))), ".parquet", "holds numbers (int64)"),
        (lambda f: f.assign(sales="many"), ".csv", "are not numbers, e.g. 'many' (row 1)"),
        (lambda f: f.assign(store="one"), ".csv", "rows repeat a (series, time) pair"),
        (lambda f: f.assign(store=None), ".parquet", "rows have no series id in store"),
        (lambda f: f.iloc[0:0], ".csv", "the file has no rows"),
    ],
)
def test_a_bad_panel_says_what_is_wrong(tmp_path, change, suffix, message):
    path = write(change(own_panel()), tmp_path / f"p{suffix}")
    with pytest.raises(PanelError) as raised:
        read_panel(path, **COLUMNS)
    assert message in str(raised.value)
    assert str(path) in str(raised.value)


def test_a_missing_column_lists_the_columns_the_file_has(tmp_path):
    path = write(own_panel(), tmp_path / "p.csv")
    with pytest.raises(PanelError, match="its columns are 'store', 'date', 'sales'"):
        read_panel(path)  # the defaults: unique_id, ds, y


def test_a_missing_or_foreign_or_broken_file_is_named(tmp_path):
    with pytest.raises(PanelError, match="no such file"):
        read_panel(tmp_path / "absent.csv")
    (tmp_path / "p.xlsx").write_text("x")
    with pytest.raises(PanelError, match=r"unknown file type '\.xlsx'"):
        read_panel(tmp_path / "p.xlsx")
    (tmp_path / "p.parquet").write_text("not parquet")
    with pytest.raises(PanelError, match="cannot be read as PARQUET"):
        read_panel(tmp_path / "p.parquet")


@pytest.mark.parametrize(
    ("freq", "points", "expected"),
    [
        ("MS", 80, ("MS", 12, 18)),
        ("QS-JAN", 60, ("QS-JAN", 4, 8)),
        ("W-SUN", 200, ("W-SUN", 52, 13)),
        ("D", 100, ("D", 7, 14)),
        ("h", 400, ("h", 24, 48)),
        ("MS", 40, ("MS", 12, 10)),  # the horizon capped at a quarter of the median length
    ],
)
def test_frequency_season_and_horizon_are_inferred_and_said(tmp_path, freq, points, expected):
    panel = read_panel(write(own_panel(points=points, freq=freq), tmp_path / "p.csv"), **COLUMNS)
    shape = panel_shape(panel)
    assert (shape.frequency, shape.season_length, shape.horizon) == expected
    assert all("inferred" in note for note in shape.notes[:3])


def test_given_values_are_kept_and_short_series_are_announced(tmp_path):
    panel = read_panel(write(own_panel(points=30), tmp_path / "p.csv"), **COLUMNS)
    shape = panel_shape(panel, frequency="MS", season_length=6, horizon=12)
    assert (shape.frequency, shape.season_length, shape.horizon) == ("MS", 6, 12)
    assert shape.notes[:3] == (
        "frequency MS (given)",
        "season length 6 (given)",
        "horizon 12 (given)",
    )
    assert not any("fewer than" in n for n in shape.notes)
    longer = panel_shape(panel, horizon=12)  # season 12: 24 + 12 = 36 rows needed
    assert "3 of 3 series have fewer than 36 rows" in longer.notes[-1]
    with pytest.raises(PanelError, match="not a pandas offset alias"):
        panel_shape(panel, frequency="fortnightly")
    with pytest.raises(PanelError, match="must be >= 1"):
        panel_shape(panel, horizon=0)


def test_irregular_times_ask_for_the_frequency():
    stamps = pd.to_datetime(["2020-01-01", "2020-01-03", "2020-01-10", "2020-02-11"])
    panel = pd.DataFrame({"unique_id": "a", "ds": stamps, "y": 1.0})
    with pytest.raises(PanelError, match="pass --frequency"):
        panel_shape(panel)


def test_multiples_keep_the_cycle_they_divide():
    assert season_and_horizon("2h")[:2] == (12, 48)
    assert season_and_horizon("7h")[0] == 1
    assert season_and_horizon("YS-JAN")[:2] == (1, 6)


def test_a_subset_is_spread_over_the_sorted_ids():
    panel = pd.DataFrame({"unique_id": [f"S{i:02d}" for i in range(10)], "ds": 0, "y": 0.0})
    assert pick_series(panel, 5)["unique_id"].tolist() == ["S00", "S02", "S04", "S06", "S08"]
    assert pick_series(panel, None) is panel
    assert pick_series(panel, 50) is panel
    with pytest.raises(PanelError, match="--real must be >= 1"):
        pick_series(panel, 0)


def test_every_option_of_the_command_line_is_described():
    parser = build_parser()
    for action in parser._actions:
        assert action.help, action.option_strings
    text = parser.format_help()
    for flag in ("--panel", "--id-column", "--time-column", "--frequency", "--horizon"):
        assert flag in text
    helps = {action.dest: action.help or "" for action in parser._actions}
    assert "(default: unique_id)" in helps["id_column"]
    assert "(default: ds)" in helps["time_column"] and "(default: y)" in helps["value_column"]
    assert "inferred" in helps["frequency"] and "inferred" in helps["horizon"]


def test_a_bad_panel_ends_the_bench_before_anything_runs(tmp_path, capsys):
    path = write(own_panel(), tmp_path / "p.csv")
    with pytest.raises(SystemExit) as ended:
        main(["--panel", str(path), "--synthetic"])
    assert ended.value.code == 2
    assert "no column 'unique_id' (--id-column)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--frequency", "D", "--synthetic"])
    assert "--frequency: only for your own panel" in capsys.readouterr().err


@pytest.mark.slow
def test_the_bench_runs_on_a_panel_it_has_not_seen(tmp_path, capsys):
    """A quick path of the whole bench on a small real panel under its own column names,
    one series too short for the pipeline: prep excludes it, the rest are fitted, and the
    peer scores the same series as ours."""
    frame = real_panel(3).rename(columns={"unique_id": "store", "ds": "date", "y": "sales"})
    short = frame[frame["store"] == frame["store"].iloc[0]].tail(20).assign(store="tiny")
    path = write(pd.concat([frame, short]), tmp_path / "p.parquet")
    output = tmp_path / "out.json"
    argv = ["--panel", str(path), "--synthetic", "--no-champions", "--output", str(output)]
    peer = importlib.util.find_spec("statsforecast") is not None  # a bench-only package
    argv += [] if peer else ["--no-peer"]
    columns = ["--id-column", "store", "--time-column", "date", "--value-column", "sales"]
    assert main([*argv, *columns]) == 0
    printed = capsys.readouterr().out
    assert "frequency MS (inferred" in printed and "horizon 18 (inferred" in printed
    assert "prep excluded 1 series, e.g. tiny:" in printed
    document = json.loads(output.read_text())
    (real,) = document["panels"]
    assert real["shape"] == {"frequency": "MS", "season_length": 12, "horizon": 18}
    assert real["source"].endswith("all 4 series (" + str(len(frame) + 20) + " rows)")
    assert (real["fitted"], real["excluded_by_prep"]) == (3, 1)
    if peer:  # AutoARIMA scored on the series prep kept, with the same horizon
        compared = document["real_vs_autoarima"]
        assert compared["series_compared"] == 3 and compared["horizon"] == 18
        assert compared["mase_ours"] > 0 and compared["mase_autoarima"] > 0
