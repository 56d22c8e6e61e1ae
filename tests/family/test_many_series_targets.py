"""bench/many_series.py's targets summary: what the issue asks of the printed figures."""

from bench.many_series_report import target_lines, targets


def panel(name: str, series: int, ms: float, share: float, rss: float) -> dict:
    return {
        "panel": name,
        "series": series,
        "ms_per_series": ms,
        "outside_training_share": share,
        "worker_rss_last_batch_mb_max": rss,
    }


def test_each_target_is_judged_from_the_panels_that_ran():
    results = [
        panel("real", 120, 150.0, 0.04, 240.0),
        panel("synthetic-1000", 1000, 136.0, 0.018, 236.0),
        panel("synthetic-5000", 5000, 143.0, 0.014, 290.0),
    ]
    comparison = {"time_ratio": 0.33, "mase_ours": 0.80, "mase_autoarima": 0.81}
    found = targets(results, comparison)
    assert found["time_ratio"]["met"] and found["mean_mase"]["met"]
    assert found["outside_training_at_1000"] == {"value": 0.018, "target": 0.1, "met": True}
    assert found["cost_per_series_flat"]["ratio"] == round(143 / 136, 3)
    assert found["cost_per_series_flat"]["met"] is True
    assert found["memory_per_worker_flat"]["met"] is False  # 290 / 236 > 1.15
    lines = target_lines(found)
    assert any("memory_per_worker_flat" in line and "MISSED" in line for line in lines)
    assert any(line.startswith("  time_ratio: 0.33") and line.endswith("met") for line in lines)


def test_a_target_whose_panels_did_not_run_is_absent():
    worse = {"time_ratio": 0.6, "mase_ours": 0.82, "mase_autoarima": 0.81}
    found = targets([panel("real", 120, 150.0, 0.04, 240.0)], worse)
    assert set(found) == {"time_ratio", "mean_mase"}
    assert not found["time_ratio"]["met"] and not found["mean_mase"]["met"]
    assert targets([panel("real", 120, 150.0, 0.04, 240.0)], None) == {}
    assert target_lines({}) == []
