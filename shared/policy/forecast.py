"""Built-in forecast-error drift, standard library only (the Function App has no pandas).

The train step writes the final fit's forecast for the next ``horizon`` periods as
``model/forecast.json`` (``{"timestamps": [iso, ...], "forecast": [float, ...]}``), and the
evaluate step its backtest error (metrics.json ``candidate.backtest.mae``). When new actuals
arrive, ``score_actuals`` matches their timestamps with the production model's forecast and
compares the mean absolute error with that validation error.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class ForecastScore:
    points: int
    mae: float
    validation_mae: float
    multiple: float
    min_points: int

    @property
    def ratio(self) -> float:
        return self.mae / self.validation_mae if self.validation_mae > 0 else math.inf

    @property
    def drifted(self) -> bool:
        """Sustained: enough actuals scored, and their error above the threshold."""
        return self.points >= self.min_points and self.ratio > self.multiple

    def describe(self) -> str:
        verdict = "above" if self.ratio > self.multiple else "within"
        enough = "" if self.points >= self.min_points else f" (fewer than {self.min_points})"
        return (
            f"forecast MAE {self.mae:.4g} over {self.points} actual(s){enough} is "
            f"{self.ratio:.2f}x the validation MAE {self.validation_mae:.4g}, {verdict} "
            f"{self.multiple:g}x"
        )


def _moment(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=None)


def score_actuals(
    forecast: Mapping[str, Any],
    content: bytes,
    *,
    time_column: str,
    value_column: str,
    multiple: float,
    min_points: int,
) -> ForecastScore | None:
    """The score of the actuals in ``content`` (CSV) against ``forecast`` (forecast.json
    with ``validation_mae``); None when no actual falls on a forecast timestamp or the
    forecast has no usable validation error."""
    validation = forecast.get("validation_mae")
    if not isinstance(validation, int | float) or not math.isfinite(validation):
        return None
    predicted: dict[datetime, float] = {}
    for stamp, value in zip(
        forecast.get("timestamps") or (), forecast.get("forecast") or (), strict=False
    ):
        moment = _moment(str(stamp))
        if moment is not None and isinstance(value, int | float):
            predicted[moment] = float(value)
    errors: list[float] = []
    for row in csv.DictReader(io.StringIO(content.decode("utf-8-sig"))):
        moment = _moment(row.get(time_column) or "")
        raw = (row.get(value_column) or "").strip()
        if moment is None or moment not in predicted or not raw:
            continue
        try:
            errors.append(abs(float(raw) - predicted[moment]))
        except ValueError:
            continue
    if not errors:
        return None
    mae = sum(errors) / len(errors)
    return ForecastScore(len(errors), mae, float(validation), multiple, min_points)
