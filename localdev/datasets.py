"""Real series shipped inside packages, shaped as the service receives them."""

from __future__ import annotations

import pandas as pd


def co2_monthly() -> pd.Series:
    """Mauna Loa CO2 (statsmodels) resampled to month starts by mean, gaps interpolated."""
    import statsmodels.api as sm

    weekly = sm.datasets.co2.load_pandas().data["co2"]
    return weekly.resample("MS").mean().interpolate()


def series_csv(series: pd.Series) -> str:
    """A series as a data blob: ``timestamp,value`` CSV with ISO dates."""
    lines = ["timestamp,value"] + [f"{t:%Y-%m-%d},{v:.3f}" for t, v in series.items()]
    return "\n".join(lines) + "\n"
