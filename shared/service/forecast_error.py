"""Forecast-error scoring of new data against the production model's stored forecast;
sustained error becomes a drift signal.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from shared.errors import NotFound
from shared.messages import (
    DriftAlerted,
)
from shared.policy.forecast import score_actuals
from shared.ports import JSON
from shared.service.context import Context
from shared.service.groupcommit import cache_for
from shared.service.launch import _champion
from shared.settings import ModelConfig

if TYPE_CHECKING:
    from shared.service.arrivals import _Arriving

log = logging.getLogger(__name__)


class _Champions:
    """The production version per model as last looked up, and when."""

    TTL = timedelta(seconds=60)  # a promotion reaches forecast scoring within a minute

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: dict[str, tuple[datetime, JSON | None]] = {}


def _scoring_champion(config: ModelConfig, ctx: Context) -> JSON | None:
    """The champion whose forecast new data is scored against, looked up at most once a
    minute per model (not on every arrival: it changes only on promotion)."""
    cache = cache_for(ctx.registry, "champions", _Champions)
    now = ctx.clock.now()
    with cache.lock:
        held = cache.seen.get(config.name)
    if held is not None and timedelta(0) <= now - held[0] < _Champions.TTL:
        return held[1]
    champion = _champion(config.name, ctx)
    with cache.lock:
        cache.seen[config.name] = (now, champion)
    return champion


def _forecast_errors(config: ModelConfig, items: Sequence[_Arriving], ctx: Context) -> None:
    """Score the production model's stored forecast against the actuals in new blobs
    (the champion and its forecast read once for all of them); sustained error above the
    policy's multiple of its validation error becomes a drift signal, decided and recorded
    like any other. Never fails the arrivals."""
    multiple = config.policy.forecast_error_multiple
    if multiple is None or not items:
        return
    try:
        champion = _scoring_champion(config, ctx)
        if not champion or not champion.get("run_key"):
            return
        folder = f"retrain/{champion['run_key']}"
        forecast = ctx.artifacts.read_json(f"{folder}/model/forecast.json")
        if "validation_mae" not in forecast:
            metrics = ctx.artifacts.read_json(f"{folder}/metrics/metrics.json")
            forecast["validation_mae"] = metrics["candidate"]["backtest"]["mae"]
    except NotFound:
        return  # no stored forecast (a model trained before forecast.json existed)
    except Exception:
        log.exception("%s: the champion's forecast could not be read", config.name)
        return
    for item in items:
        blob = item.blob
        try:
            score = score_actuals(
                forecast,
                item.content,
                time_column=config.time_column,
                value_column=config.value_column,
                multiple=multiple,
                min_points=config.policy.forecast_error_min_points,
            )
            if score is None:
                continue
            log.info("%s: forecast error on %s: %s", config.name, blob.name, score.describe())
            if score.drifted:
                alert = DriftAlerted(
                    model=config.name,
                    source="forecast-error",
                    alert_id=f"{champion['run_key']}:{blob.name}:{blob.etag}",
                    description=score.describe(),
                    fired_at=ctx.clock.now(),
                )
                from shared.service.triggers import handle_trigger  # imports this module

                handle_trigger(alert, ctx)
        except Exception:
            log.exception("%s: forecast error of %s could not be scored", config.name, blob.name)
