"""bench/many_series.py's parts that judge a run: where the parallel step's time went, the
shards' schedules, the gate's share, and the comparison with AutoARIMA."""

import numpy as np
import pytest

from bench.many_series_peer import compare, mase
from bench.many_series_timeline import gate_cost, schedules, where_time_went


def row(shard, search, final, gate, n=20, status="ok", folds=3, champion=None):
    return {
        "shard": shard,
        "status": status,
        "n_train": n - 4,
        "n_holdout": 4,
        "seconds": {"search": search, "final": final, "gate": gate},
        "gate_metrics": {"backtest": {"folds": folds}, "champion": champion},
    }


def test_the_timeline_gives_start_up_busiest_worker_and_idle_tail():
    parallel = {
        "wall_seconds": 10.0,
        "timeline": {
            "workers": {"w0": [0.0, 0.5], "w1": [0.0, 1.0]},
            "batches": [  # listed out of start order: the order is the timeline's
                {"worker": "w1", "start": 1.0, "end": 7.0, "files": ["shard-00000.parquet"]},
                {"worker": "w0", "start": 0.5, "end": 9.5, "files": ["shard-00001.parquet"]},
                {"worker": "w1", "start": 7.0, "end": 8.0, "files": ["shard-00002.parquet"]},
            ],
        },
    }
    got = where_time_went(parallel)
    assert got["startup_s"] == 1.0 and got["busiest_worker_s"] == 9.0
    # 2 workers x 10 s, minus 1.5 s start-up and 16 s of batches, over 2 workers
    assert got["idle_tail_s"] == 1.25
    assert got["batch_order"] == ["shard-00001", "shard-00000", "shard-00002"]
    assert where_time_went({"wall_seconds": 1.0})["startup_s"] is None


def test_schedules_compare_orders_against_the_perfect_split():
    """Cost counts search, final refit and gate; "by rows" orders by rows, "by cost" by cost:
    shard b has the most rows but the least cost."""
    rows = [
        row("a", 1.0, 0.5, 0.5, n=10),  # cost 2
        row("b", 0.5, 0.25, 0.25, n=90),  # cost 1, most rows
        row("c", 2.0, 0.5, 0.5, n=40),  # cost 3
        row("d", 1.0, 0.5, 0.5, n=30),  # cost 2
    ]
    got = schedules(rows, workers=2)
    assert got["schedule_by_name_s"] == 4.0  # a | b, then c on b's worker (1 + 3), d on a's
    assert got["schedule_by_rows_s"] == 5.0  # b | c, then d on b's worker, a on it again
    assert got["schedule_by_cost_s"] == 4.0  # c | a, then d on a's worker, b on c's
    assert got["schedule_perfect_s"] == 4.0
    assert schedules([]) == {}


def test_the_gate_share_is_of_the_workers_time_per_series():
    rows = [
        row("a", 0.07, 0.02, 0.01, folds=2, champion={"holdout": {}}),
        row("a", 0.05, 0.04, 0.01, folds=4),
        row("a", 9.0, 9.0, 9.0, status="failed"),
    ]
    got = gate_cost(rows)
    assert got["gate_ms_per_series"] == 10.0
    assert got["gate_share"] == pytest.approx(0.02 / 0.2)
    assert (got["backtest_folds_mean"], got["champions_scored"]) == (3.0, 1)


def test_the_comparison_uses_the_series_both_scored():
    result = {
        "training_s": 2.0,
        "wall_s": 3.0,
        "rows": [
            {"unique_id": "a", "metrics": {"holdout": {"mase": 1.0}}},
            {"unique_id": "b", "metrics": {"holdout": {"mase": 1.5}}},
            {"unique_id": "e", "metrics": {"holdout": {"mase": 0.5}}},
            {"unique_id": "c", "metrics": None},
        ],
    }
    peer = {"seconds": 8.0, "mase": {"a": 2.0, "b": 1.0, "e": 1.5, "c": 0.5, "d": 1.0}}
    got = compare(result, peer)
    assert got["series_compared"] == 3
    assert (got["time_ratio"], got["time_ratio_whole_run"]) == (0.25, 0.375)
    assert (got["mase_ours"], got["mase_autoarima"]) == (1.0, 1.5)
    assert (got["wins"], got["losses"]) == (2, 1)


def test_mase_scales_by_the_seasonal_naive_error_of_the_training_part():
    train = np.array([1.0, 2.0, 3.0, 5.0, 4.0, 6.0])
    actual, forecast = np.array([7.0, 8.0]), np.array([6.0, 8.0])
    # lag-2 differences 2, 3, 1, 1: scale 1.75
    assert mase(train, actual, forecast, 2) == pytest.approx(0.5 / 1.75)
    # a training part no longer than a season: lag 1
    assert mase(train[:2], actual, forecast, 4) == pytest.approx(0.5 / 1.0)
