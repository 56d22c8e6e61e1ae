"""The arrivals: a series cut into a first blob and yearly blobs, dated, as CSV."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

FIRST_FRACTION = 0.6
CALENDAR_START = "1950-01-01"
FREQUENCIES = {12: "MS", 4: "QS", 1: "YS"}


@dataclass(frozen=True)
class Arrival:
    """One data blob: rows ``start:end`` of the series (the first arrival starts at 0)."""

    number: int
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start


def split_arrivals(
    n: int,
    *,
    season_length: int,
    first_fraction: float = FIRST_FRACTION,
    annual_points: int = 5,
    max_arrivals: int | None = None,
) -> list[Arrival]:
    """The first blob (``first_fraction`` of the ``n`` points, rounded down), then one blob
    per year: ``season_length`` points, or ``annual_points`` when there is no season. The
    last blob holds what is left (it may be shorter). ``max_arrivals`` caps the yearly
    blobs after the first (None: all)."""
    if not 0 < first_fraction < 1:
        raise ValueError(f"first_fraction must be in (0, 1), got {first_fraction}")
    step = season_length if season_length > 1 else annual_points
    if step < 1:
        raise ValueError(f"a yearly arrival must hold at least one point, got {step}")
    first = int(n * first_fraction)
    if first < 1 or first >= n:
        raise ValueError(f"a series of {n} points cannot be split at {first_fraction:.0%}")
    arrivals = [Arrival(0, 0, first)]
    start = first
    while start < n and (max_arrivals is None or len(arrivals) <= max_arrivals):
        end = min(start + step, n)
        arrivals.append(Arrival(len(arrivals), start, end))
        start = end
    return arrivals


def frequency_for(season_length: int) -> str:
    """The pandas frequency of the calendar given to a series of this season length."""
    try:
        return FREQUENCIES[season_length]
    except KeyError:
        raise ValueError(
            f"no calendar for season length {season_length} (known: {sorted(FREQUENCIES)})"
        ) from None


def dated(values: np.ndarray, season_length: int) -> pd.Series:
    """The values on a regular calendar from ``CALENDAR_START`` at the series' frequency."""
    index = pd.date_range(CALENDAR_START, periods=len(values), freq=frequency_for(season_length))
    return pd.Series(np.asarray(values, dtype=float), index=index, name="value")


def arrival_csv(part: pd.Series) -> str:
    """A blob as the service receives it: ``timestamp,value`` with ISO dates; values are
    written with 12 significant digits, so what the pipeline reads is what we score."""
    lines = ["timestamp,value"] + [f"{t:%Y-%m-%d},{v:.12g}" for t, v in part.items()]
    return "\n".join(lines) + "\n"


def model_name(series_name: str) -> str:
    """A service model name (lower case, digits, dashes) for a series."""
    return re.sub(r"[^a-z0-9-]+", "-", series_name.lower()).strip("-")[:40]
