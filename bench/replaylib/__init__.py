"""The replay benchmark's library, one job per module (``bench/replay.py`` is its command line
and re-exports these names): ``arrivals`` (cutting and dating a series), ``scoring`` (the
benchmark's own MASE, re-scoring and served forecasts), ``records`` (one arrival),
``summary`` (counts, means, targets), ``render`` (the printed lines), ``driver`` (the local
stack driven through the arrivals)."""

from bench.replaylib.arrivals import (
    CALENDAR_START,
    FIRST_FRACTION,
    FREQUENCIES,
    Arrival,
    arrival_csv,
    dated,
    frequency_for,
    model_name,
    split_arrivals,
)
from bench.replaylib.driver import (
    _DATASTORE_URI,
    PRODUCTION,
    Peers,
    Production,
    Replayer,
    statsforecast_peers,
)
from bench.replaylib.records import (
    ArrivalRecord,
    _gt,
)
from bench.replaylib.render import (
    TABLE_HEAD,
    _fmt,
    progress_line,
    render,
    render_targets,
    table_row,
)
from bench.replaylib.scoring import (
    mase,
    mase_scale,
    model_end,
    rescore,
    seasonal_naive,
    served_forecast,
)
from bench.replaylib.summary import (
    SERVED_BY,
    _mean,
    summarise,
    targets,
)

__all__ = [
    "CALENDAR_START",
    "FIRST_FRACTION",
    "FREQUENCIES",
    "PRODUCTION",
    "SERVED_BY",
    "TABLE_HEAD",
    "_DATASTORE_URI",
    "Arrival",
    "ArrivalRecord",
    "Peers",
    "Production",
    "Replayer",
    "_fmt",
    "_gt",
    "_mean",
    "arrival_csv",
    "dated",
    "frequency_for",
    "mase",
    "mase_scale",
    "model_end",
    "model_name",
    "progress_line",
    "render",
    "render_targets",
    "rescore",
    "seasonal_naive",
    "served_forecast",
    "split_arrivals",
    "statsforecast_peers",
    "summarise",
    "table_row",
    "targets",
]
