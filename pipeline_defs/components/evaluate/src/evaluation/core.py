"""The whole evaluation: candidate, champion and seasonal naive on the same windows, and the
metrics.json document (schema 2)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .champion import parse_end, score_champion
from .errors import ChampionError, EvaluateError
from .metrics import INTERVAL_ALPHA, mase_scale
from .refresh import Refresh, refresh_champion
from .sections import Scored, score_applied, score_naive
from .transform import BoxCox
from .windows import Window, backtest_plan, windows

logger = logging.getLogger(__name__)

SCHEMA = 2


@dataclass
class Evaluation:
    metrics: dict[str, Any]
    candidate: Scored
    baseline: Scored
    champion: Scored | None
    holdout: Window
    folds: list[Window]
    refreshed: Any = None  # the champion brought up to the last observation, or None
    champion_info: dict[str, Any] = field(default_factory=dict)  # its model.json
    frequency: str | None = None
    refresh: Refresh | None = None  # how ``refreshed`` was made (method, message)


def evaluate(
    train: pd.Series,
    holdout: pd.Series,
    candidate: Any,
    *,
    season_length: int,
    champion: Any = None,
    champion_error: str | None = None,
    champion_params_end: str | None = None,
    backtest_folds: int = 0,
    backtest_horizon: int = 0,
    candidate_transform: BoxCox | None = None,
    champion_transform: BoxCox | None = None,
) -> Evaluation:
    """Score candidate, champion (if given) and seasonal naive on the holdout and the
    backtest of ``train`` + ``holdout``. The candidate failing raises ``EvaluateError``;
    the champion failing gives ``champion`` null and ``champion_error``.

    Out-of-sample marks: the candidate (the evaluation fit) was estimated on ``train``;
    the champion's parameters on the data up to ``champion_params_end`` (None: unknown, so
    no window counts as out-of-sample for it); seasonal naive has no parameters.

    ``candidate_transform`` / ``champion_transform``: the transform each model folder's
    model.json records (None: the pickle models the series in its own units). A model with
    one is applied to the transformed data and its forecasts back-transformed (bias-adjusted
    mean), so every section's errors and metrics are in the series' units; the champion is
    refreshed with its own transform."""
    series = pd.concat([train, holdout])
    if series.index.freq is None and train.index.freq is not None:
        series = series.asfreq(train.index.freq)
    horizon = len(holdout)
    plan = backtest_plan(
        len(series),
        model_horizon=horizon,
        season_length=season_length,
        folds=backtest_folds,
        horizon=backtest_horizon,
    )
    if plan.note:
        logger.warning("%s", plan.note)
    scale = mase_scale(train.to_numpy(dtype=float), season_length)
    window = Window(series.iloc[: len(train)], series.iloc[len(train) :], scale)
    folds = windows(series, plan, season_length)
    try:
        scored = score_applied(candidate, window, folds, train.index[-1], candidate_transform)
    except EvaluateError as exc:
        raise EvaluateError(f"the candidate: {exc}") from exc
    baseline = score_naive(window, folds, season_length)
    champion_scored: Scored | None = None
    refresh: Refresh | None = None
    if champion is not None:
        try:
            champion_scored = score_champion(
                champion, window, folds, parse_end(champion_params_end), champion_transform
            )
        except ChampionError as exc:
            champion_error = str(exc)
        else:
            refresh = refresh_champion(champion, series, champion_transform)
    metrics: dict[str, Any] = {
        "schema": SCHEMA,
        "horizon": horizon,
        "season_length": season_length,
        "interval": 1 - INTERVAL_ALPHA,
        "holdout_start": holdout.index[0].isoformat(),
        "holdout_end": holdout.index[-1].isoformat(),
        "data_end": series.index[-1].isoformat(),
        "mase_scale": scale,
        "backtest": {
            "folds": plan.folds,
            "horizon": plan.horizon,
            "origins": [w.origin for w in folds],
        },
        "candidate": scored.section,
        "baseline": baseline.section | {"name": "seasonal_naive"},
        "champion": champion_scored.section if champion_scored is not None else None,
        "champion_error": champion_error if champion_scored is None else None,
        "champion_refreshed": None,
    }
    refreshed = refresh.results if refresh is not None else None
    return Evaluation(
        metrics, scored, baseline, champion_scored, window, folds, refreshed, refresh=refresh
    )
