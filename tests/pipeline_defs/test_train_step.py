"""The train step: its pure functions, its error messages, and the script run for real."""

import json
import os
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


def write_csv(path: Path, series: pd.Series) -> None:
    frame = pd.DataFrame(
        {"timestamp": series.index.strftime("%Y-%m-%dT%H:%M:%S"), "value": series.to_numpy()}
    )
    frame.to_csv(path, index=False)


def write_prepared(
    folder: Path,
    series: pd.Series,
    *,
    frequency: str = "MS",
    season_length: int = 12,
    holdout: pd.Series | None = None,
) -> Path:
    """A prep output folder: ``series`` as train.csv, ``holdout`` (default: the 12 periods
    after it, zeros) as holdout.csv."""
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(folder / "train.csv", series)
    if holdout is None:
        index = pd.date_range(series.index[-1], periods=13, freq=frequency)[1:]
        holdout = pd.Series(np.zeros(12), index=index)
    write_csv(folder / "holdout.csv", holdout)
    info = {"frequency": frequency, "season_length": season_length, "horizon": 12}
    (folder / "prep.json").write_text(json.dumps(info))
    return folder


@pytest.fixture(scope="module")
def co2_monthly() -> pd.Series:
    return datasets.co2_monthly().loc["1992":"1999"]


@pytest.fixture(scope="module")
def co2_holdout() -> pd.Series:
    return datasets.co2_monthly().loc["2000"]


@pytest.mark.slow
def test_the_script_writes_both_fits_that_unpickle_and_forecast_without_our_code(
    tmp_path, co2_monthly, co2_holdout
):
    prepared = write_prepared(tmp_path / "prepared", co2_monthly, holdout=co2_holdout)
    out = tmp_path / "model"
    command = [sys.executable, "train.py", "--prepared", str(prepared), "--time_budget", "30"]
    run = subprocess.run(
        [*command, "--model_output", str(out)],
        cwd=SRC,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "RETRAIN_STEP_LOG_LEVEL": "DEBUG"},  # the candidates too
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert len(lines) > 5 and all(line.startswith("train: ") for line in lines)
    candidates = [line for line in lines if line.startswith("train: DEBUG order_search: [")]
    [chose] = [line for line in lines if line.startswith("train: chose ARIMA(")]
    [final_line] = [line for line in lines if line.startswith("train: final fit (")]
    assert lines.index(final_line) == lines.index(chose) + 1

    record = json.loads((out / "model.json").read_text())
    assert record["frequency"] == "MS" and record["season_length"] == 12
    evaluation, final = record["evaluation_fit"], record["final_fit"]
    assert evaluation["file"] == "model_eval.pkl" and final["file"] == "model.pkl"
    assert evaluation["n_obs"] == len(co2_monthly)
    assert evaluation["train_start"] == final["train_start"] == "1992-01-01T00:00:00"
    assert evaluation["train_end"] == "1999-12-01T00:00:00"
    assert final["n_obs"] == record["n_obs"] == len(co2_monthly) + len(co2_holdout)
    assert final["train_end"] == record["train_end"] == "2000-12-01T00:00:00"
    assert np.isfinite(final["criterion"])
    assert set(final["params"]) == set(evaluation["params"])
    # On these 9 years the exact refit puts the seasonal MA root on the unit circle, which
    # the search's root rule refuses: the final fit keeps the evaluation parameters.
    assert final["method"] == "applied", final
    assert "seasonal MA root" in final["message"]
    assert final["params"] == evaluation["params"]
    assert record["criterion_name"] == "aicc" and np.isfinite(evaluation["criterion"])
    assert record["seasonal_order"][3] == 12
    assert len(record["search"]["tried"]) == len(candidates)
    forecast = json.loads((out / "forecast.json").read_text())  # for forecast-error drift
    assert len(forecast["timestamps"]) == len(forecast["forecast"]) == record["horizon"]
    assert forecast["timestamps"][0] == "2001-01-01T00:00:00"

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
    # The final fit forecasts from right after the last observation (the holdout's end).
    first_date, first_value = loaded.stdout.split()
    assert first_date == "2001-01-01"
    assert 365 < float(first_value) < 375  # CO2 in ppm at the start of 2001

    evaluation_fit = subprocess.run(
        [sys.executable, "-c", check, str(out / "model_eval.pkl")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert evaluation_fit.returncode == 0, evaluation_fit.stderr
    assert evaluation_fit.stdout.split()[0] == "2000-01-01"


def test_read_train_series_carries_the_frequency(tmp_path, co2_monthly):
    prepared = write_prepared(tmp_path, co2_monthly)
    series = train.read_train_series(prepared / "train.csv", "MS")
    assert series.index.freqstr == "MS"
    assert np.allclose(series.to_numpy(), co2_monthly.to_numpy())


def test_model_record_describes_the_search_and_both_fits(tmp_path, co2_monthly):
    prepared = write_prepared(tmp_path, co2_monthly.iloc[-48:-12], holdout=co2_monthly.iloc[-12:])
    result, final, record = train.train(prepared, time_budget=30)
    assert record["order"] == list(result.order)
    assert record["search"]["n_tried"] == len(result.tried)
    assert record["fallback_reason"] is None
    assert record["evaluation_fit"]["train_end"] == "1998-12-01T00:00:00"
    assert record["final_fit"]["train_end"] == "1999-12-01T00:00:00"
    assert final.results.nobs == 48 and result.results.nobs == 36
    forecast = final.results.get_forecast(3).predicted_mean
    assert forecast.index[0] == pd.Timestamp("2000-01-01")
    json.dumps(record)


def test_a_fixed_parameter_model_keeps_its_parameters_in_the_final_fit(tmp_path):
    index = pd.date_range("2000-01-01", periods=36, freq="MS")
    constant = pd.Series(np.full(36, 5.0), index=index)
    prepared = write_prepared(tmp_path, constant.iloc[:24], holdout=constant.iloc[24:])
    result, final, record = train.train(prepared, time_budget=10)
    assert final.method == "applied" and "fixed-parameter" in final.message
    assert np.array_equal(final.results.params, result.results.params)
    assert final.results.get_forecast(1).predicted_mean.index[0] == pd.Timestamp("2003-01-01")
    assert record["final_fit"]["n_obs"] == 36


def test_a_holdout_that_does_not_continue_the_training_split_is_refused(
    tmp_path, co2_monthly, capsys
):
    prepared = write_prepared(tmp_path, co2_monthly, holdout=co2_monthly.iloc[-12:])
    code, err = run_main(
        ["--prepared", str(prepared), "--model_output", str(tmp_path / "out")], capsys
    )
    assert code == 2 and "holdout.csv does not continue train.csv" in err


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

    (tmp_path / "prepared" / "train.csv").write_text("timestamp,value\n2000-01-01,1\n")
    code, err = run_main(args, capsys)
    assert code == 2 and "missing holdout.csv" in err
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
    (prepared / "holdout.csv").write_text("timestamp,value\n2000-03-01,3\n")
    code, err = run_main(args, capsys)
    assert code == 2 and "has 2 observed value(s)" in err and "at least 3" in err


def test_mlflow_gets_the_model_and_both_fits(tmp_path, co2_monthly):
    from tests.pipeline_defs.test_evaluate import RecordingMlflow

    prepared = write_prepared(tmp_path, co2_monthly.iloc[-48:-12], holdout=co2_monthly.iloc[-12:])
    result, final, record = train.train(prepared, time_budget=30)
    train.write_outputs(tmp_path / "model", result, final, record)
    client = RecordingMlflow()
    assert train.log_to_mlflow(record, tmp_path / "model", client)
    assert client.params["order"] == record["order"]
    assert client.params["final_train_end"] == "1999-12-01T00:00:00"
    assert client.metrics["final_fit.n_obs"] == 48 and client.metrics["evaluation_fit.n_obs"] == 36
    assert client.artifacts == ["model.json"]
    assert not train.log_to_mlflow(record, tmp_path / "model", RecordingMlflow(fail=True))


def test_order_search_candidates_are_logged_only_at_debug(monkeypatch):
    train = load_step("train", "train")
    monkeypatch.delenv("RETRAIN_STEP_LOG_LEVEL", raising=False)
    assert train._candidate_logger() is None
    monkeypatch.setenv("RETRAIN_STEP_LOG_LEVEL", "debug")
    assert callable(train._candidate_logger())
