import json
import subprocess
import sys

import pandas as pd
import pytest

from tests import samples
from tests.pipeline_defs.components import ROOT, load_step

prep = load_step("prep", "prep")


def write(folder, name, text):
    path = folder / name
    path.write_text(text)
    return path


def run(paths, **overrides):
    options = {
        "time_column": "timestamp",
        "value_column": "value",
        "frequency": "MS",
        "season_length": 12,
        "horizon": 12,
        "max_gap": 2,
    } | overrides
    return prep.prepare(paths, **options)


def test_files_are_combined_sorted_deduplicated_and_split(tmp_path):
    later = write(tmp_path, "b.csv", samples.csv_rows(2003, 2))
    earlier = write(tmp_path, "a.csv", samples.csv_rows(2000, 3) + "2003-01-01,999\n")
    train, holdout, report = run([earlier, later])
    assert report.rows_read == 36 + 1 + 24
    assert report.duplicates_dropped == 1
    assert (report.n_train, report.n_holdout) == (48, 12)
    assert train.index.is_monotonic_increasing
    assert train.loc["2003-01-01"] != 999  # the later file wins
    assert holdout.index[-1] == pd.Timestamp("2004-12-01")


def test_short_gaps_are_filled_long_ones_rejected(tmp_path):
    lines = samples.csv_rows(2000, 4).splitlines()
    gap_of_two = write(tmp_path, "a.csv", "\n".join(lines[:10] + lines[12:]) + "\n")
    _, _, report = run([gap_of_two])
    assert report.gaps_filled == 2
    gap_of_three = write(tmp_path, "b.csv", "\n".join(lines[:10] + lines[13:]) + "\n")
    with pytest.raises(prep.PrepError, match="gap of 3 consecutive MS periods; at most 2"):
        run([gap_of_three])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("timestamp,value\n2000-01-01,1\n2000-02-01,x\n", "row 3: value 'x' is not a number"),
        ("time,value\n2000-01-01,1\n", "missing column(s) timestamp"),
        ("timestamp,value\nsoon,1\n", "row 2: timestamp 'soon' is not a timestamp"),
        ("timestamp,value\n2000-01-01,\n", "holds no numeric values"),
    ],
)
def test_untrustworthy_content_is_rejected_with_the_reason(tmp_path, text, message):
    with pytest.raises(prep.PrepError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run([write(tmp_path, "a.csv", text)])


def test_too_short_names_the_minimum(tmp_path):
    with pytest.raises(prep.PrepError, match="has 24 MS points; at least 36 are needed"):
        run([write(tmp_path, "a.csv", samples.csv_rows(2000, 2))])


def test_step_reads_only_the_manifest_files(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    write(raw, "a.csv", samples.csv_rows(2000, 4))
    write(raw, "late.csv", "timestamp,value\n2010-01-01,oops\n")  # not in the snapshot
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"prefix": "co2/", "files": [{"name": "co2/a.csv"}]}))
    out = tmp_path / "out"
    result = subprocess.run(
        [
            *(sys.executable, "prep.py", "--raw_data", str(raw), "--manifest", str(manifest)),
            *("--horizon", "12", "--prepared", str(out)),
        ],
        cwd=ROOT / "components" / "prep" / "src",
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "prep.json").read_text())["files"] == ["a.csv"]
    assert len(pd.read_csv(out / "holdout.csv")) == 12


def test_step_reports_a_missing_manifest_file_clearly(tmp_path):
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"prefix": "co2/", "files": [{"name": "co2/gone.csv"}]}))
    result = subprocess.run(
        [
            *(sys.executable, "prep.py", "--raw_data", str(tmp_path), "--manifest", str(manifest)),
            *("--prepared", str(tmp_path / "out")),
        ],
        cwd=ROOT / "components" / "prep" / "src",
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "data file 'co2/gone.csv' from the manifest is missing" in result.stderr
