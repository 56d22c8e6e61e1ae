"""Drift alerts: the Azure Monitor common alert schema and the documented generic JSON."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from shared.errors import InvalidInput, UnknownModel
from shared.messages import (
    DriftAlerted,
)
from shared.parsing.common import (
    COMMON_ALERT_SCHEMA,
    event_data,
    flag,
    known_model,
    parse_time,
)
from shared.settings import ModelConfig


def parse_drift_alert(body: Any, *, models: Sequence[ModelConfig]) -> DriftAlerted:
    """An Azure Monitor common-alert-schema alert, or the generic drift JSON
    ``{"model": "...", "reason": "...", "alert_id": "...", "detected_at": "..."}``."""
    if not isinstance(body, Mapping):
        raise InvalidInput("a drift alert must be a JSON object")
    if body.get("schemaId") == COMMON_ALERT_SCHEMA:
        return _common_alert(body, models)
    if "model" in body:
        model = known_model(str(body["model"]), models)
        return DriftAlerted(
            model=model,
            source=str(body.get("source") or "generic"),
            alert_id=str(body.get("alert_id") or body.get("id") or ""),
            description=str(body.get("reason") or "drift reported"),
            fired_at=parse_time(body.get("detected_at")),
            resolved=flag(body, "resolved"),
        )
    raise InvalidInput(
        "unrecognised drift alert: expected the Azure Monitor common alert schema "
        f"(schemaId {COMMON_ALERT_SCHEMA!r}) or a JSON object with a 'model' field"
    )


def _common_alert(body: Mapping[str, Any], models: Sequence[ModelConfig]) -> DriftAlerted:
    data = event_data(body.get("data"), COMMON_ALERT_SCHEMA)
    essentials = data.get("essentials")
    if not isinstance(essentials, Mapping):
        raise InvalidInput("common alert schema payload has no data.essentials")
    custom = data.get("customProperties") or {}
    named = custom.get("model") if isinstance(custom, Mapping) else None
    model = known_model(str(named), models) if named else _model_named_in(essentials, models)
    condition = str(essentials.get("monitorCondition") or "Fired")
    return DriftAlerted(
        model=model,
        source=f"azure-monitor/{essentials.get('monitoringService') or 'unknown'}",
        alert_id=str(essentials.get("alertId") or ""),
        description=str(
            essentials.get("description") or essentials.get("alertRule") or "alert fired"
        ),
        fired_at=parse_time(essentials.get("firedDateTime")),
        resolved=condition.lower() == "resolved",
    )


def _model_named_in(essentials: Mapping[str, Any], models: Sequence[ModelConfig]) -> str:
    """The one configured model named by the alert rule or its configuration items.

    A model name counts when it stands between separators (start, end, or any character
    other than a letter or digit); when one match contains another (``sales`` in
    ``sales-eu``), the longer wins.
    """
    texts = [str(essentials.get("alertRule") or "")]
    texts += [str(item) for item in essentials.get("configurationItems") or []]
    text = " ".join(texts).lower()
    found = {
        m.name
        for m in models
        if re.search(rf"(?<![a-z0-9]){re.escape(m.name)}(?![a-z0-9])", text) is not None
    }
    found = {name for name in found if not any(name != o and name in o for o in found)}
    if len(found) == 1:
        return found.pop()
    rule = essentials.get("alertRule")
    if not found:
        raise UnknownModel(
            f"alert rule {rule!r} names no configured model: set the alert's custom property "
            "'model' or put the model name in the rule name"
        )
    raise InvalidInput(f"alert rule {rule!r} names several models ({', '.join(sorted(found))})")
