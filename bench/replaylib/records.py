"""What happened at one arrival, and the benchmark's scores of it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class ArrivalRecord:
    """What happened at one arrival, and the benchmark's own scores of it."""

    series: str
    arrival: int
    rows: tuple[int, int]
    blob: str = ""
    decision: str = ""  # retrain | skip | (none: no ledger entry)
    reason: str = ""
    run_key: str | None = None
    status: str | None = None  # the run's final status
    version: int | None = None  # the version the run registered
    production_before: int | None = None
    production_after: int | None = None
    promoted: bool = False
    # re-scored on the run's holdout (None: no champion, or the run registered nothing)
    candidate_holdout_mase: float | None = None
    champion_holdout_mase: float | None = None
    rescore_error: str | None = None
    # served forecast error on the arrival's points (None on the first arrival)
    served_mase: float | None = None
    autoarima_mase: float | None = None
    naive_mase: float | None = None
    served_error: str | None = None
    # arrivals between the run that put the serving model in production and this one (0: the
    # previous arrival's run)
    served_behind: int | None = None
    # how the serving model got there: "promoted" or "refreshed" by the previous arrival's
    # run, or "older" (None: not served, or the first model's arrival)
    served_by: str | None = None
    seconds: float = 0.0

    @property
    def ran(self) -> bool:
        return self.run_key is not None

    @property
    def completed(self) -> bool:
        return self.status == "Completed"

    @property
    def refused(self) -> bool:
        return self.completed and not self.promoted

    @property
    def replaced_champion(self) -> bool:
        return self.promoted and self.production_before is not None

    @property
    def rescored(self) -> bool:
        return self.candidate_holdout_mase is not None and self.champion_holdout_mase is not None

    @property
    def worse_promotion(self) -> bool:
        return (
            self.replaced_champion
            and self.rescored
            and _gt(self.candidate_holdout_mase, self.champion_holdout_mase)
        )

    @property
    def refused_better(self) -> bool:
        return (
            self.refused
            and self.rescored
            and _gt(self.champion_holdout_mase, self.candidate_holdout_mase)
        )

    @property
    def scored(self) -> bool:
        """Served error was measured: every arrival after the first whose comparators ran."""
        return self.autoarima_mase is not None and self.naive_mase is not None

    @property
    def served_with_fallback(self) -> float | None:
        """The served MASE, or seasonal naive's when no model was in production."""
        if not self.scored:
            return None
        return self.served_mase if self.served_mase is not None else self.naive_mase

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rows"] = list(self.rows)
        for name in ("replaced_champion", "refused", "worse_promotion", "refused_better"):
            data[name] = getattr(self, name)
        return data


def _gt(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and a > b
