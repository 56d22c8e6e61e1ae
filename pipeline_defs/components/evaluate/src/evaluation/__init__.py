"""The evaluate step's library, one job per module (the step's command line is
``evaluate.py`` beside this package, which re-exports these names):

- ``errors``: the two errors; ``metrics``: point metrics, coverage, seasonal naive;
- ``windows``: the backtest plan and its windows; ``forecasters``: forecasts from stored
  parameters (never a refit) and from seasonal naive;
- ``transform``: a model folder's ``transform`` record and the bias-adjusted back-transform;
- ``sections``: one forecaster's SECTION of metrics.json; ``champion``: loading, describing and
  scoring the champion; ``refresh``: the refreshed champion's model folder;
- ``core``: the whole evaluation (metrics.json); ``plot``: the forecast plot; ``tracking``:
  MLflow.
"""

from .champion import (
    champion_transform,
    describe_model,
    load_champion,
    params_end_of,
    parse_end,
    read_model_json,
    score_champion,
)
from .core import (
    SCHEMA,
    Evaluation,
    evaluate,
)
from .errors import (
    ChampionError,
    EvaluateError,
)
from .forecasters import (
    Forecast,
    apply_stored,
    forecast_applied,
    forecast_naive,
)
from .metrics import (
    INTERVAL_ALPHA,
    METRIC_KEYS,
    coverage,
    mase_scale,
    naive_interval,
    point_metrics,
    seasonal_naive,
)
from .plot import (
    VERDICT_ID,
    VERDICT_PLACEHOLDER,
    model_label,
    plot,
    plot_title,
)
from .refresh import (
    METHOD_APPLIED,
    METHOD_ML,
    MIN_ROOT_MODULUS,
    REFIT_MAXITER,
    REFRESHED_FOLDER,
    Refresh,
    refit,
    refresh_champion,
    refreshed_record,
    write_refreshed,
)
from .sections import (
    UNKNOWN_END,
    Scored,
    out_of_sample,
    pooled_metrics,
    score_applied,
    score_naive,
    section,
    window_metrics,
)
from .tracking import (
    LOCAL_ARTIFACTS,
    LOCAL_EXPERIMENT,
    import_mlflow,
    local_artifact_location,
    log_to_mlflow,
    tracking_metrics,
    use_local_experiment,
)
from .transform import (
    BoxCox,
    Transformed,
    to_model_scale,
    transform_of,
)
from .windows import (
    MAX_FOLDS,
    MIN_TRAIN_POINTS,
    MIN_TRAIN_SEASONS,
    BacktestPlan,
    Window,
    backtest_plan,
    min_train_length,
    windows,
)

__all__ = [
    "INTERVAL_ALPHA",
    "LOCAL_ARTIFACTS",
    "LOCAL_EXPERIMENT",
    "MAX_FOLDS",
    "METHOD_APPLIED",
    "METHOD_ML",
    "METRIC_KEYS",
    "MIN_ROOT_MODULUS",
    "MIN_TRAIN_POINTS",
    "MIN_TRAIN_SEASONS",
    "REFIT_MAXITER",
    "REFRESHED_FOLDER",
    "SCHEMA",
    "UNKNOWN_END",
    "VERDICT_ID",
    "VERDICT_PLACEHOLDER",
    "BacktestPlan",
    "BoxCox",
    "ChampionError",
    "EvaluateError",
    "Evaluation",
    "Forecast",
    "Refresh",
    "Scored",
    "Transformed",
    "Window",
    "apply_stored",
    "backtest_plan",
    "champion_transform",
    "coverage",
    "describe_model",
    "evaluate",
    "forecast_applied",
    "forecast_naive",
    "import_mlflow",
    "load_champion",
    "local_artifact_location",
    "log_to_mlflow",
    "mase_scale",
    "min_train_length",
    "model_label",
    "naive_interval",
    "out_of_sample",
    "params_end_of",
    "parse_end",
    "plot",
    "plot_title",
    "point_metrics",
    "pooled_metrics",
    "read_model_json",
    "refit",
    "refresh_champion",
    "refreshed_record",
    "score_applied",
    "score_champion",
    "score_naive",
    "seasonal_naive",
    "section",
    "to_model_scale",
    "tracking_metrics",
    "transform_of",
    "use_local_experiment",
    "window_metrics",
    "windows",
    "write_refreshed",
]
