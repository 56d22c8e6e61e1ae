"""A family model wired to the in-memory fakes, and what the family pipeline would write:
result rows in the famfit <-> famsvc seam's shape (``family-result/1`` with
``gate_metrics`` in metrics.json schema 2), prep.json and one models file per shard."""

from __future__ import annotations

import json
from typing import Any

from shared.parsing import parse_run_event
from shared.ports import JSON
from shared.service import Outcome
from shared.settings import ModelConfig
from tests import samples
from tests.fakes import FakeArtifactStore, FakeWorld, metrics_v2

MODEL = "stores"
FAMILY = ModelConfig(name=MODEL, prefix="stores/", horizon=4, series_columns=("unique_id",))


class FamilyWorld(FakeWorld):
    """``FakeWorld`` with one family model (by default)."""

    def __init__(self, *models: ModelConfig) -> None:
        super().__init__(models or (FAMILY,))

    def panel(self, name: str, series: dict[str, float], *, year: int, event_id: str) -> Any:
        """A long-form CSV blob with one year of monthly rows for each series."""
        lines = ["unique_id,timestamp,value"]
        for uid, level in series.items():
            lines += [f"{uid},{year}-{m:02d}-01,{level + m:.2f}" for m in range(1, 13)]
        return self.arrive(f"stores/{name}.csv", "\n".join(lines) + "\n", event_id=event_id)

    def launch(self, name: str, series: dict[str, float], *, year: int, event_id: str) -> str:
        [outcome] = self.service.handle(self.panel(name, series, year=year, event_id=event_id))
        assert outcome.action == "retrain", outcome
        assert outcome.run_key is not None
        return outcome.run_key

    def finish_family(
        self,
        key: str,
        rows: list[JSON],
        *,
        excluded: dict[str, str] | None = None,
        status: str = "Completed",
    ) -> Outcome:
        """Write what the family pipeline writes, then deliver its completion event."""
        excluded = excluded or {}
        self.pipeline.finish(key, status, error="prep: boom" if status == "Failed" else None)
        if status == "Completed":
            write_outputs(self.artifacts, key, rows, excluded)
        event = samples.run_event(key, run_key=key, status=status)
        return self.service.handle(parse_run_event(event))[0]


def shard_of(uid: str) -> str:
    return f"shard-{sum(map(ord, uid)) % 2:05d}"


def row(
    uid: str,
    *,
    candidate: float | None = 0.5,
    champion: float | None = None,
    data_end: str = "2002-12-01T00:00:00",
    status: str = "ok",
    reason: str | None = None,
    gate: bool = True,
    reused: bool = False,
    refreshed: bool = False,
) -> JSON:
    """One ``family-result/1`` row; ``gate_metrics`` from ``metrics_v2`` (candidate backtest
    MASE ``candidate``, the champion's ``champion`` when the series had one)."""
    shard = shard_of(uid)
    ok = status == "ok"
    result: JSON = {
        "schema": "family-result/1",
        "unique_id": uid,
        "shard": shard,
        "status": status,
        "reason": reason,
        "digest": f"digest-{uid}-{data_end}",
        "reused": reused,
        "n_train": 32,
        "n_holdout": 4,
        "train_start": "2000-01-01T00:00:00",
        "train_end": "2002-08-01T00:00:00",
        "data_end": data_end,
        "metrics": {"holdout": {"mase": candidate}} if ok else None,
        "model": {"order": [1, 1, 0]} if ok else None,
        "model_file": f"{shard}.pkl" if ok else None,
        "seconds": {"search": 0.1, "final": 0.01},
    }
    if ok and gate and candidate is not None:
        result["gate_metrics"] = metrics_v2(
            candidate=candidate, champion=champion, data_end=data_end
        )
        if refreshed:  # the fit step kept the champion refreshed on this run's data
            result["gate_metrics"]["champion_refreshed"] = {
                "model_file": f"{shard}.pkl",
                "key": "refreshed",
                "data_end": data_end,
                "params_end": "2002-12-01T00:00:00",
            }
    return result


def write_outputs(
    artifacts: FakeArtifactStore, key: str, rows: list[JSON], excluded: dict[str, str]
) -> None:
    root = f"retrain/{key}/"
    text = "".join(json.dumps(r) + "\n" for r in rows)
    artifacts.write_bytes(root + "results/parallel_run_step.txt", text.encode())
    series = [
        {"unique_id": r["unique_id"], "status": "ok", "reason": None, "shard": r["shard"]}
        for r in rows
    ] + [
        {"unique_id": uid, "status": "excluded", "reason": why, "shard": None}
        for uid, why in excluded.items()
    ]
    artifacts.write_json(
        root + "prepared/prep.json",
        {
            "schema": "family-prep/1",
            "series_total": len(series),
            "series_ok": len(rows),
            "series_excluded": len(excluded),
            "series": series,
        },
    )
    for shard in sorted({r["shard"] for r in rows if r.get("model_file")}):
        artifacts.write_bytes(root + f"models/{shard}.pkl", f"{key}:{shard}".encode())
