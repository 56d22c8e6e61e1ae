"""The dashboard's view-model: one JSON document with everything the page shows.

Built from the read-only queries (``shared.service.queries``) and nothing else that
decides: per model a card (production version, last run and decision, next scheduled
tick, paused or not, data freshness), a timeline (arrivals, runs as bars with their step
timings where the run record has them, gate verdicts, the production pointer), the ledger
newest first, the versions with their metrics and lineage, and where the forecast plot
is; then the dead letters and the quarantined files.

Positions on a timeline are fractions of its span (0 at ``start``, 1 at ``end``), so the
page only scales them to its width. Everything here is data: the page escapes it.

One module per part: ``card`` (one model), ``runs`` (a run as shown), ``versions``
(versions, metrics, lineage, plot), ``timeline``, ``common``; this module builds the page
and keeps the public names importable as before the split.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.ports import JSON
from shared.service import queries
from shared.service.context import Context
from shared.service.overview.card import (
    LEDGER_LIMIT,
    RUNS_LIMIT,
    STEP_RUNS,
    freshness,
    model_card,
)
from shared.service.overview.timeline import MARGIN, MIN_SPAN, timeline
from shared.service.overview.versions import METRIC_NAMES, comparable_metrics

log = logging.getLogger(__name__)

__all__ = [
    "LEDGER_LIMIT",
    "MARGIN",
    "METRIC_NAMES",
    "MIN_SPAN",
    "RUNS_LIMIT",
    "STEP_RUNS",
    "build",
    "comparable_metrics",
    "freshness",
    "model_card",
    "next_tick_after",
    "timeline",
]


def build(ctx: Context, *, schedule: str | None = None, now: datetime | None = None) -> JSON:
    """The whole page's data. ``schedule``: the NCRONTAB expression of the schedule timer
    (``RETRAIN_SCHEDULE``), for each card's next tick; None when not known."""
    moment = now or ctx.clock.now()
    next_tick = next_tick_after(schedule, moment) if schedule else None
    models = [
        model_card(ctx, summary, moment, next_tick)
        for summary in sorted(queries.list_models(ctx), key=lambda m: str(m["name"]))
    ]
    return {
        "generated_at": moment.isoformat(),
        "schedule": schedule,
        "models": models,
        "dead_letters": [_dead_letter(d) for d in queries.list_dead_letters(ctx, limit=50)],
        "quarantine": [_quarantined(q) for q in queries.list_quarantine(ctx)],
    }


def next_tick_after(schedule: str, moment: datetime) -> str | None:
    """The next time the six-field NCRONTAB ``schedule`` fires after ``moment`` (UTC),
    as ISO-8601; None when the expression cannot be read."""
    from croniter import croniter

    try:
        following = croniter(schedule, moment, second_at_beginning=True).get_next(datetime)
    except (ValueError, KeyError) as exc:
        log.warning("schedule %r has no next tick: %s", schedule, exc)
        return None
    return following.isoformat() if isinstance(following, datetime) else None


def _dead_letter(letter: Mapping[str, Any]) -> JSON:
    return {
        "id": letter.get("id"),
        "received_at": letter.get("received_at"),
        "source": letter.get("source"),
        "error_type": letter.get("error_type"),
        "reason": letter.get("reason"),
        "retryable": letter.get("retryable"),
        "size": letter.get("size"),
        "payload_preview": letter.get("payload_preview"),
    }


def _quarantined(record: Mapping[str, Any]) -> JSON:
    return {
        "blob": record.get("blob"),
        "model": record.get("model"),
        "etag": record.get("etag"),
        "reason": record.get("reason"),
        "at": record.get("at"),
    }
