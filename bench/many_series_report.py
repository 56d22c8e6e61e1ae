"""What ``bench/many_series.py`` prints and records of a run: the issue's targets judged from
the figures measured (``targets``, ``target_lines``), a panel's line as it finishes
(``print_row``) and the table at the end (``print_table``)."""

from __future__ import annotations

from typing import Any

TARGET_TIME_RATIO = 0.5
TARGET_OUTSIDE_SHARE = 0.10
FLAT_WITHIN = 1.15  # "flat": the larger family's figure at most 15 % above the smaller's


def targets(results: list[dict[str, Any]], comparison: dict[str, Any] | None) -> dict[str, Any]:
    """The issue's targets, from what this run measured (a target whose panels were not
    run is absent): training time at most 0.5x AutoARIMA's at a mean MASE no worse (real
    panel); time outside training at most 10 % at 1,000 series; cost per series and
    resident memory per worker flat (within ``FLAT_WITHIN``) from the smallest synthetic
    family to the largest (1,000 to 5,000 by default)."""
    out: dict[str, Any] = {}
    if comparison:
        out["time_ratio"] = {
            "value": comparison["time_ratio"],
            "target": TARGET_TIME_RATIO,
            "met": comparison["time_ratio"] <= TARGET_TIME_RATIO,
        }
        out["mean_mase"] = {
            "value": comparison["mase_ours"],
            "target": comparison["mase_autoarima"],
            "met": comparison["mase_ours"] <= comparison["mase_autoarima"],
        }
    synthetic = sorted(
        (r for r in results if str(r["panel"]).startswith("synthetic")), key=lambda r: r["series"]
    )
    at_1000 = [r for r in synthetic if r["series"] == 1000]
    if at_1000:
        share = at_1000[0]["outside_training_share"]
        out["outside_training_at_1000"] = {
            "value": share,
            "target": TARGET_OUTSIDE_SHARE,
            "met": share <= TARGET_OUTSIDE_SHARE,
        }
    if len(synthetic) >= 2:
        small, large = synthetic[0], synthetic[-1]
        what = f"{small['series']} -> {large['series']} series"
        for key, name in (
            ("ms_per_series", "cost_per_series"),
            ("worker_rss_last_batch_mb_max", "memory_per_worker"),
        ):
            if small.get(key) and large.get(key):
                ratio = float(large[key]) / float(small[key])
                out[f"{name}_flat"] = {
                    "from": small[key],
                    "to": large[key],
                    "over": what,
                    "ratio": round(ratio, 3),
                    "target": FLAT_WITHIN,
                    "met": ratio <= FLAT_WITHIN,
                }
    return out


def target_lines(found: dict[str, Any]) -> list[str]:
    """The targets as printed under the table."""
    lines = ["", "targets:"] if found else []
    for name, t in found.items():
        verdict = "met" if t["met"] else "MISSED"
        if "ratio" in t:
            lines.append(
                f"  {name}: {t['from']} -> {t['to']} ({t['over']}), x{t['ratio']:.2f} "
                f"(flat: <= x{t['target']:.2f}): {verdict}"
            )
        else:
            lines.append(f"  {name}: {t['value']} (target {t['target']}): {verdict}")
    return lines


COLUMNS = (
    ("panel", "panel", "{}"),
    ("series", "series", "{}"),
    ("shards", "shards", "{}"),
    ("wall_s", "wall s", "{:.1f}"),
    ("series_per_s", "series/s", "{:.2f}"),
    ("training_series_per_s", "train series/s", "{:.2f}"),
    ("ms_per_series", "ms/series", "{:.0f}"),
    ("outside_training_share", "outside training", "{:.1%}"),
    ("worker_peak_mb_max", "worker peak MB", "{:.0f}"),
    ("worker_rss_last_batch_mb_max", "RSS after batch MB", "{:.0f}"),
    ("gate_ms_per_series", "gate ms/series", "{:.0f}"),
    ("gate_share", "gate share", "{:.1%}"),
    ("startup_s", "worker start s", "{}"),
    ("idle_tail_s", "idle tail s", "{}"),
    ("failed", "failed", "{}"),
)


def print_row(result: dict[str, Any]) -> None:
    """One panel's figures on one line, as it finishes."""
    print("  " + ", ".join(f"{label}={fmt.format(result[key])}" for key, label, fmt in COLUMNS))


def print_table(
    results: list[dict[str, Any]],
    comparison: dict[str, Any] | None,
    with_champions: dict[str, Any] | None = None,
    *,
    workers: int,
) -> None:
    """The table of panels, where each panel's training time went, and the comparison
    with AutoARIMA (run with ``n_jobs=workers``)."""
    cells = [[label for _, label, _ in COLUMNS]] + [
        [fmt.format(r[key]) for key, _, fmt in COLUMNS] for r in results
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    print()
    for row in cells:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))
    print(
        "\ngate = the per-series gate evidence (candidate and seasonal naive, on the holdout "
        "and the backtest folds); share = of the workers' time per series (search + final "
        "refit + gate)"
    )
    if with_champions:
        print(
            f"real panel, second arrival with every series' champion scored too: gate "
            f"{with_champions['gate_ms_per_series']:.0f} ms/series, "
            f"{with_champions['gate_share']:.1%} of the workers' time per series "
            f"({with_champions['champions_scored']} champions scored, "
            f"{with_champions['reused']} fits carried over)"
        )
    for r in results:
        if r.get("schedule_perfect_s"):
            print(
                f"{r['panel']}: shards' work on {workers} workers (rows' seconds, start-up "
                f"excluded): by name {r['schedule_by_name_s']:.1f} s, longest rows first "
                f"{r['schedule_by_rows_s']:.1f} s, longest cost first {r['schedule_by_cost_s']:.1f}"
                f" s, perfect {r['schedule_perfect_s']:.1f} s; measured: start-up "
                f"{r['startup_s']} s, idle tail {r['idle_tail_s']} s, step {r['training_s']:.1f} s"
            )
    if comparison:
        print(
            f"\nreal panel vs statsforecast AutoARIMA (n_jobs={workers}, "
            f"{comparison['series_compared']} series, h={comparison['horizon']}): "
            f"training time ratio {comparison['time_ratio']:.2f} "
            f"(whole run {comparison['time_ratio_whole_run']:.2f}; AutoARIMA "
            f"{comparison['autoarima_s']:.1f} s), mean MASE ours {comparison['mase_ours']:.3f} vs "
            f"AutoARIMA {comparison['mase_autoarima']:.3f} ({comparison['wins']} wins, "
            f"{comparison['losses']} losses)"
        )
