"""Prep of families (many series in long form) and of single series that receive rows
they cannot hold: per-series validation and reports, the exclusion of a series that cannot
be trusted while the others go on, and clear errors instead of silent merging."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from bench.many_series import real_panel
from tests.pipeline_defs.components import ROOT, load_step

prep = load_step("prep", "prep")

SHAPE = {"frequency": "MS", "season_length": 12, "horizon": 12, "max_gap": 2}


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    """Three real M3 monthly series (levels differing by a factor of several)."""
    frame = real_panel(3)
    return frame.rename(columns={"ds": "timestamp", "y": "value"})


def as_csv(frame: pd.DataFrame) -> str:
    out = frame.copy()
    out["timestamp"] = pd.to_datetime(out["timestamp"]).dt.strftime("%Y-%m-%d")
    return out.to_csv(index=False)


def family(paths, **overrides):
    options = {
        "series_columns": ["unique_id"],
        "time_column": "timestamp",
        "value_column": "value",
        **SHAPE,
    } | overrides
    return prep.prepare_family(paths, **options)


def single(paths):
    return prep.prepare(paths, time_column="timestamp", value_column="value", **SHAPE)


# -- a single-series model fails clearly instead of merging ------------------------------


def test_a_long_form_file_sent_to_a_single_series_model_fails_naming_the_key(tmp_path, panel):
    path = tmp_path / "panel.csv"
    path.write_text(as_csv(panel))
    with pytest.raises(prep.PrepError, match=r"panel.csv: column\(s\) unique_id look like series"):
        single([path])


def test_a_duplicate_timestamp_with_different_values_names_file_time_and_values(tmp_path):
    path = tmp_path / "a.csv"
    rows = [f"20{y:02d}-{m:02d}-01,{y * 12 + m}" for y in range(0, 5) for m in range(1, 13)]
    path.write_text("timestamp,value\n" + "\n".join([*rows, "2002-03-01,7.5"]) + "\n")
    with pytest.raises(prep.PrepError) as caught:
        single([path])
    message = str(caught.value)
    assert "a.csv: timestamp 2002-03-01T00:00:00 appears with different values (27, 7.5)" in message


def test_an_unnamed_column_that_tells_repeated_rows_apart_is_a_key(tmp_path):
    path = tmp_path / "a.csv"
    rows = [f"2000-{m:02d}-01,{m},{shop}" for m in range(1, 13) for shop in ("north", "south")]
    path.write_text("timestamp,value,shop\n" + "\n".join(rows) + "\n")
    with pytest.raises(prep.PrepError, match="column\\(s\\) shop look like series keys"):
        single([path])


def test_a_key_column_naming_the_one_series_of_the_file_is_accepted(tmp_path):
    rows = [f"20{y:02d}-{m:02d}-01,{y * 12 + m},meter-7" for y in range(5) for m in range(1, 13)]
    path = tmp_path / "a.csv"
    path.write_text("timestamp,value,meter_id\n" + "\n".join(rows) + "\n")
    _, _, report = single([path])
    assert report.n_train + report.n_holdout == 60


def test_identical_repeats_are_still_dropped_and_a_later_file_still_corrects(tmp_path):
    rows = [f"20{y:02d}-{m:02d}-01,{y * 12 + m}" for y in range(0, 5) for m in range(1, 13)]
    a = tmp_path / "a.csv"
    a.write_text("timestamp,value,note\n" + "\n".join(f"{r},ok" for r in rows + rows[:3]) + "\n")
    b = tmp_path / "b.csv"
    b.write_text("timestamp,value\n2000-01-01,100\n")
    train, _, report = single([a, b])
    assert report.duplicates_dropped == 4
    assert train.iloc[0] == 100


# -- families ------------------------------------------------------------------------------


def test_each_series_of_a_family_is_prepared_and_reported_on_its_own(tmp_path, panel):
    path = tmp_path / "panel.csv"
    path.write_text(as_csv(panel))
    result = family([path])
    report = result.report
    assert report["series_total"] == report["series_ok"] == 3
    assert report["series_excluded"] == 0
    for entry in report["series"]:
        rows = panel[panel["unique_id"] == entry["unique_id"]]
        assert entry["status"] == "ok" and entry["reason"] is None
        assert entry["rows_read"] == len(rows)
        assert entry["n_train"] + entry["n_holdout"] == len(rows)
        assert entry["n_holdout"] == 12
        assert entry["shard"].startswith("shard-")
        expected = rows["value"].to_numpy()
        assert result.series[entry["unique_id"]].to_numpy() == pytest.approx(expected)


def test_parquet_and_csv_give_the_same_family(tmp_path, panel):
    csv_path, parquet_path = tmp_path / "p.csv", tmp_path / "p.parquet"
    csv_path.write_text(as_csv(panel))
    panel.to_parquet(parquet_path, index=False)
    from_csv, from_parquet = family([csv_path]), family([parquet_path])
    assert from_parquet.report["series"] == [{**entry} for entry in from_csv.report["series"]]
    for uid, series in from_csv.series.items():
        pd.testing.assert_series_equal(series, from_parquet.series[uid])


def test_a_series_that_cannot_be_trusted_is_excluded_with_its_reason(tmp_path, panel):
    ids = sorted(panel["unique_id"].unique())
    broken = panel.copy()
    conflict = broken[broken["unique_id"] == ids[0]].iloc[[5]].assign(value=-1.0)
    gap = broken[broken["unique_id"] == ids[1]].index[20:25]
    broken = pd.concat([broken.drop(index=gap), conflict], ignore_index=True)
    path = tmp_path / "panel.csv"
    path.write_text(as_csv(broken) + "X9,2001-01-01,oops\n")
    report = family([path]).report
    by_id = {entry["unique_id"]: entry for entry in report["series"]}
    assert by_id[ids[0]]["status"] == "excluded"
    assert "panel.csv: timestamp" in by_id[ids[0]]["reason"]
    assert "appears with different values" in by_id[ids[0]]["reason"]
    assert by_id[ids[1]]["status"] == "excluded"
    assert "gap of 5 consecutive MS periods; at most 2" in by_id[ids[1]]["reason"]
    assert by_id["X9"]["reason"].endswith("value 'oops' is not a number")
    assert by_id[ids[2]]["status"] == "ok"
    assert (report["series_ok"], report["series_excluded"]) == (1, 3)
    assert by_id[ids[0]]["shard"] is None


def test_a_later_file_corrects_one_series_and_leaves_the_others(tmp_path, panel):
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text(as_csv(panel))
    target = sorted(panel["unique_id"].unique())[0]
    fix = panel[panel["unique_id"] == target].tail(1).assign(value=123456.0)
    second.write_text(as_csv(fix))
    result = family([first, second])
    assert result.series[target].iloc[-1] == 123456.0
    entry = next(e for e in result.report["series"] if e["unique_id"] == target)
    assert entry["duplicates_dropped"] == 1


def test_several_key_columns_name_a_series_and_an_undeclared_one_is_refused(tmp_path, panel):
    two = panel.assign(store=panel["unique_id"].str[:2], item=panel["unique_id"].str[2:])
    path = tmp_path / "p.csv"
    path.write_text(as_csv(two.drop(columns=["unique_id"])))
    result = family([path], series_columns=["store", "item"])
    entry = result.report["series"][0]
    assert entry["unique_id"] == f"{entry['keys']['store']}|{entry['keys']['item']}"
    with pytest.raises(prep.PrepError, match="column\\(s\\) item look like series keys too"):
        family([path], series_columns=["store"])


def test_shards_are_stable_hash_buckets_and_their_files_depend_only_on_their_series(
    tmp_path, panel
):
    assert prep.shard_of("N1402", 8) == prep.shard_of("N1402", 8)
    assert prep.auto_shard_count(3) == 16 and prep.auto_shard_count(5000) == 64
    path = tmp_path / "p.csv"
    path.write_text(as_csv(panel))
    result = family([path], shard_count=2)
    written = prep.write_family_outputs(tmp_path / "a", tmp_path / "shards-a", result)
    again = prep.write_family_outputs(
        tmp_path / "b", tmp_path / "shards-b", family([path], shard_count=2)
    )
    assert [p.read_bytes() for p in written] == [p.read_bytes() for p in again]
    frame = pd.concat(pd.read_parquet(p) for p in written)
    assert list(frame.columns) == ["unique_id", "ds", "y"]
    assert sorted(frame["unique_id"].unique()) == sorted(result.series)


def run_step(tmp_path, text, *extra):
    raw = tmp_path / "raw"
    raw.mkdir(exist_ok=True)
    (raw / "p.csv").write_text(text)
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"prefix": "fam/", "files": [{"name": "fam/p.csv"}]}))
    return subprocess.run(
        [
            *(sys.executable, "prep.py", "--raw_data", str(raw), "--manifest", str(manifest)),
            *("--prepared", str(tmp_path / "out"), "--shards", str(tmp_path / "shards")),
            *extra,
        ],
        cwd=ROOT / "components" / "prep" / "src",
        capture_output=True,
        text=True,
    )


def test_the_step_prepares_a_family_and_fails_only_when_no_series_is_left(tmp_path, panel):
    done = run_step(tmp_path, as_csv(panel), "--series_columns", "unique_id")
    assert done.returncode == 0, done.stderr
    assert "3 series: 3 prepared" in done.stdout
    assert json.loads((tmp_path / "out" / "prep.json").read_text())["series_ok"] == 3
    assert list((tmp_path / "shards").glob("shard-*.parquet"))
    short = panel.groupby("unique_id").head(10)
    refused = run_step(tmp_path, as_csv(short), "--series_columns", "unique_id")
    assert refused.returncode == 2
    assert "no series of the family can be trusted" in refused.stderr
