"""The train step: its pure functions, its error messages, and the script run for real."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from localdev import datasets
from tests.pipeline_defs.components import ROOT, load_step

# train.py imports its sibling module by name, as it does when run from its code folder.
sys.modules.setdefault("order_search", load_step("train", "order_search"))
train = load_step("train", "train")

SRC = ROOT / "components" / "train" / "src"


def write_prepared(
    folder: Path, series: pd.Series, *, frequency: str = "MS", season_length: int = 12
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(
        {"timestamp": series.index.strftime("%Y-%m-%dT%H:%M:%S"), "value": series.to_numpy()}
    )
    frame.to_csv(folder / "train.csv", index=False)
    info = {"frequency": frequency, "season_length": season_length, "horizon": 12}
    (folder / "prep.json").write_text(json.dumps(info))
    return folder


@pytest.fixture(scope="module")
def co2_monthly() -> pd.Series:
    return datasets.co2_monthly().loc["1992":"1999"]


def test_the_script_writes_a_model_that_unpickles_and_forecasts_without_our_code(
    tmp_path, co2_monthly
):
    prepared = write_prepared(tmp_path / "prepared", co2_monthly)
    out = tmp_path / "model"
    command = [sys.executable, "train.py", "--prepared", str(prepared), "--time_budget", "30"]
    run = subprocess.run(
        [*command, "--model_output", str(out)],
        cwd=SRC,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert len(lines) > 5 and all(line.startswith("train: ") for line in lines)
    assert lines[-1].startswith("train: chose ARIMA(")

    record = json.loads((out / "model.json").read_text())
    assert record["frequency"] == "MS" and record["season_length"] == 12
    assert record["n_obs"] == len(co2_monthly)
    assert record["train_start"] == "1992-01-01T00:00:00"
    assert record["train_end"] == "1999-12-01T00:00:00"
    assert record["criterion_name"] == "aicc" and np.isfinite(record["criterion"])
    assert record["seasonal_order"][3] == 12
    assert len(record["search"]["tried"]) == len(lines) - 1

    # A fresh interpreter, outside the code folder: only statsmodels is needed to unpickle.
    check = (
        "import pickle, sys, numpy as np\n"
        "r = pickle.load(open(sys.argv[1], 'rb'))\n"
        "f = r.get_forecast(12)\n"
        "ci = f.conf_int(alpha=0.2)\n"
        "assert 'order_search' not in sys.modules\n"
        "assert f.predicted_mean.shape == (12,) and ci.shape == (12, 2)\n"
        "assert np.all(np.isfinite(ci.to_numpy())) and np.all(ci.iloc[:, 0] < ci.iloc[:, 1])\n"
        "print(f.predicted_mean.index[0].date(), round(float(f.predicted_mean.iloc[0]), 2))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", check, str(out / "model.pkl")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert loaded.returncode == 0, loaded.stderr
    first_date, first_value = loaded.stdout.split()
    assert first_date == "2000-01-01"
    assert 360 < float(first_value) < 380  # CO2 in ppm at the start of 2000


def test_read_train_series_carries_the_frequency(tmp_path, co2_monthly):
    prepared = write_prepared(tmp_path, co2_monthly)
    series = train.read_train_series(prepared / "train.csv", "MS")
    assert series.index.freqstr == "MS"
    assert np.allclose(series.to_numpy(), co2_monthly.to_numpy())


def test_model_record_describes_the_search(tmp_path, co2_monthly):
    prepared = write_prepared(tmp_path, co2_monthly.iloc[-48:])
    result, record = train.train(prepared, time_budget=30)
    assert record["order"] == list(result.order)
    assert record["search"]["n_tried"] == len(result.tried)
    assert record["fallback_reason"] is None
    json.dumps(record)


def run_main(args: list[str], capsys) -> tuple[int, str]:
    code = train.main(args)
    return code, capsys.readouterr().err


def test_missing_folder_or_files_are_named(tmp_path, capsys):
    out = str(tmp_path / "out")
    code, err = run_main(["--prepared", str(tmp_path / "nope"), "--model_output", out], capsys)
    assert code == 2 and "does not exist" in err

    (tmp_path / "prepared").mkdir()
    args = ["--prepared", str(tmp_path / "prepared"), "--model_output", out]
    code, err = run_main(args, capsys)
    assert code == 2 and "missing prep.json" in err

    (tmp_path / "prepared" / "prep.json").write_text(
        json.dumps({"frequency": "MS", "season_length": 12, "horizon": 12})
    )
    code, err = run_main(args, capsys)
    assert code == 2 and "missing train.csv" in err
    assert err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_bad_prep_json_and_csv_are_named(tmp_path, capsys, co2_monthly):
    prepared = write_prepared(tmp_path, co2_monthly)
    args = ["--prepared", str(prepared), "--model_output", str(tmp_path / "out")]

    (prepared / "prep.json").write_text(json.dumps({"frequency": "MS", "horizon": 12}))
    code, err = run_main(args, capsys)
    assert code == 2 and "season_length" in err

    (prepared / "prep.json").write_text(
        json.dumps({"frequency": "MS", "season_length": 12, "horizon": 12})
    )
    (prepared / "train.csv").write_text("time,value\n2000-01-01,1\n")
    code, err = run_main(args, capsys)
    assert code == 2 and "lacks column(s) timestamp" in err

    (prepared / "train.csv").write_text("timestamp,value\n2000-01-01,1\n2000-02-01,abc\n")
    code, err = run_main(args, capsys)
    assert code == 2 and "non-numeric value 'abc' at row 3" in err

    (prepared / "train.csv").write_text(
        "timestamp,value\n2000-01-01,1\n2000-02-01,2\n2000-04-01,3\n"
    )
    code, err = run_main(args, capsys)
    assert code == 2 and "not evenly spaced at frequency 'MS'" in err

    (prepared / "train.csv").write_text("timestamp,value\n2000-01-01,1\n2000-02-01,2\n")
    code, err = run_main(args, capsys)
    assert code == 2 and "has 2 observed value(s)" in err and "at least 3" in err
