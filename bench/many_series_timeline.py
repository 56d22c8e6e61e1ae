"""Where a ``bench/many_series.py`` run's parallel step spent its time: the workers'
start-up and idle tail (from the local workspace's timeline), the shards' work in three
schedules against a perfect split, and the gate's share of the workers' time per series."""

from __future__ import annotations

from typing import Any

import numpy as np


def where_time_went(parallel: dict[str, Any]) -> dict[str, Any]:
    """The parallel step's wall time split (from the local workspace's timeline): workers'
    start-up (launch to ``init()`` done, the slowest), the busiest worker's time in
    ``run()``, and the idle tail (workers done while another still runs: the wall time
    times the workers, minus start-up and batch time, over the workers)."""
    timeline = parallel.get("timeline") or {}
    workers = timeline.get("workers") or {}
    batches = timeline.get("batches") or []
    wall = float(parallel["wall_seconds"])
    if not workers or not batches:
        return {"startup_s": None, "busiest_worker_s": None, "idle_tail_s": None}
    startup = {w: float(ready) - float(launched) for w, (launched, ready) in workers.items()}
    busy: dict[str, float] = {}
    for b in batches:
        busy[b["worker"]] = busy.get(b["worker"], 0.0) + float(b["end"]) - float(b["start"])
    slots = max(1, len(workers))
    idle = (wall * slots - sum(startup.values()) - sum(busy.values())) / slots
    return {
        "startup_s": round(max(startup.values()), 2),
        "busiest_worker_s": round(max(busy.values()), 2),
        "idle_tail_s": round(idle, 2),
        "batch_order": [
            b["files"][0].split(".")[0] for b in sorted(batches, key=lambda b: b["start"])
        ],
    }


def schedules(rows: list[dict[str, Any]], workers: int = 2) -> dict[str, Any]:
    """How long the shards' work takes on ``workers`` workers in three orders, from the rows'
    own seconds per series (search + final refit + gate, summed per shard): by shard name
    (the order before the local step ordered batches), longest expected first (by rows, as
    the local step orders them now), longest actual first; and the perfect split (the total
    over the workers). Load inflates all four alike, so their ratios compare schedules on
    a busy machine too. Start-up is not included."""
    cost: dict[str, float] = {}
    size: dict[str, int] = {}
    for r in rows:
        seconds = r.get("seconds") or {}
        shard = str(r.get("shard"))
        cost[shard] = cost.get(shard, 0.0) + sum(float(seconds.get(k) or 0) for k in seconds)
        size[shard] = size.get(shard, 0) + int(r.get("n_train") or 0) + int(r.get("n_holdout") or 0)
    if not cost:
        return {}

    def makespan(order: list[str]) -> float:
        free = [0.0] * workers
        for shard in order:
            free[free.index(min(free))] += cost[shard]
        return max(free)

    return {
        "schedule_by_name_s": round(makespan(sorted(cost)), 2),
        "schedule_by_rows_s": round(makespan(sorted(cost, key=lambda k: (-size[k], k))), 2),
        "schedule_by_cost_s": round(makespan(sorted(cost, key=lambda k: (-cost[k], k))), 2),
        "schedule_perfect_s": round(sum(cost.values()) / workers, 2),
    }


def gate_cost(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """What the per-series gate evidence cost inside the fit step: the mean seconds per
    series spent scoring (candidate, seasonal naive and the champion when given, on the
    holdout and every backtest fold), and their share of the workers' time per series
    (order search + final refit + scoring; a carried-over series counts its earlier fit)."""
    ok = [r for r in rows if r["status"] == "ok" and isinstance(r.get("seconds"), dict)]
    if not ok:
        return {"gate_ms_per_series": None, "gate_share": None, "backtest_folds_mean": None}
    gate = [float(r["seconds"].get("gate") or 0.0) for r in ok]
    fitting = [
        float(r["seconds"].get("search") or 0) + float(r["seconds"].get("final") or 0) for r in ok
    ]
    folds = [r["gate_metrics"]["backtest"]["folds"] for r in ok if r.get("gate_metrics")]
    return {
        "gate_ms_per_series": round(1000 * sum(gate) / len(ok), 1),
        "gate_share": round(sum(gate) / (sum(gate) + sum(fitting)), 4),
        "backtest_folds_mean": round(float(np.mean(folds)), 2) if folds else None,
        "champions_scored": sum(
            1 for r in ok if (r.get("gate_metrics") or {}).get("champion") is not None
        ),
    }
