"""Drift signals: the Azure Monitor common alert schema, the documented generic JSON (with
its HMAC signature), and Azure ML's Event Grid drift events (v2 model monitoring's
``RunStatusChanged`` carrying ``azureml_modelmonitor_threshold_breached``, and the v1
``DatasetDriftDetected``).

Keys are matched case-insensitively: Azure's own documentation disagrees on their casing
(``runTags``/``RunTags``, ``DataDriftId``/``dataDriftId``).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from azure.eventgrid import SystemEventNames

from shared.errors import InvalidInput, UnknownModel
from shared.messages import DriftAlerted
from shared.parsing.common import (
    COMMON_ALERT_SCHEMA,
    MODEL_TAG,
    RUN_COMPLETED,
    RUN_STATUS_CHANGED,
    envelope,
    known_model,
    parse_time,
)
from shared.settings import ModelConfig

DATASET_DRIFT_DETECTED = SystemEventNames.MachineLearningServicesDatasetDriftDetectedEventName.value
MONITOR_BREACH_TAG = "azureml_modelmonitor_threshold_breached"
SIGNATURE_HEADER = "X-Retrain-Signature"
TIMESTAMP_HEADER = "X-Retrain-Timestamp"


class WebhookUnauthorized(Exception):
    """The generic webhook's signature is missing, stale or wrong (answered with 401,
    never dead-lettered: an unauthenticated caller must not be able to write state)."""


def folded(value: Any) -> Any:
    """``value`` with every mapping's keys lowercased, recursively."""
    if isinstance(value, Mapping):
        return {str(k).lower(): folded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [folded(v) for v in value]
    return value


# ------------------------------------------------------------------ HTTP webhook


def parse_drift_alert(body: Any, *, models: Sequence[ModelConfig]) -> DriftAlerted:
    """An Azure Monitor common-alert-schema alert, or the generic drift JSON
    ``{"model": "...", "reason": "...", "alert_id": "...", "detected_at": "...",
    "resolved": false, "source": "..."}`` (keys in any case)."""
    if not isinstance(body, Mapping):
        raise InvalidInput("a drift alert must be a JSON object")
    data = folded(body)
    if data.get("schemaid") == COMMON_ALERT_SCHEMA:
        return _common_alert(data, models)
    if "model" in data:
        model = known_model(str(data["model"]), models)
        return DriftAlerted(
            model=model,
            source=str(data.get("source") or "generic"),
            alert_id=str(data.get("alert_id") or data.get("alertid") or data.get("id") or ""),
            description=str(data.get("reason") or "drift reported"),
            fired_at=parse_time(data.get("detected_at") or data.get("detectedat")),
            resolved=_flag(data.get("resolved", False), "resolved"),
        )
    raise InvalidInput(
        "unrecognised drift alert: expected the Azure Monitor common alert schema "
        f"(schemaId {COMMON_ALERT_SCHEMA!r}) or a JSON object with a 'model' field"
    )


def named_model(body: Any) -> str | None:
    """The model a generic drift body names (for choosing its webhook secret); None for
    the common alert schema or anything else."""
    data = folded(body) if isinstance(body, Mapping) else {}
    if data.get("schemaid") == COMMON_ALERT_SCHEMA or not isinstance(data.get("model"), str):
        return None
    return str(data["model"])


def verify_signature(
    body: bytes,
    headers: Mapping[str, str],
    *,
    secret: str,
    now: datetime,
    window_seconds: float,
) -> None:
    """Check ``X-Retrain-Signature: sha256=<hex>``, the HMAC-SHA256 with ``secret`` of
    ``<X-Retrain-Timestamp>.<body>`` (the timestamp in Unix seconds, within
    ``window_seconds`` of ``now``). ``WebhookUnauthorized`` says what is wrong."""
    lowered = {k.lower(): v for k, v in headers.items()}
    signature = lowered.get(SIGNATURE_HEADER.lower())
    stamp = lowered.get(TIMESTAMP_HEADER.lower())
    if not signature or not stamp:
        raise WebhookUnauthorized(
            f"this webhook needs the headers {TIMESTAMP_HEADER} (Unix seconds) and "
            f"{SIGNATURE_HEADER} (sha256=<hex HMAC-SHA256 of '<timestamp>.<body>'>)"
        )
    try:
        sent = float(stamp)
    except ValueError:
        raise WebhookUnauthorized(f"{TIMESTAMP_HEADER} {stamp!r} is not Unix seconds") from None
    if not math.isfinite(sent) or abs(now.timestamp() - sent) > window_seconds:
        raise WebhookUnauthorized(
            f"{TIMESTAMP_HEADER} is outside the replay window of {window_seconds:g} s "
            "(check the sender's clock; a replayed request is refused)"
        )
    expected = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256)
    given = signature.removeprefix("sha256=").strip().lower()
    if not hmac.compare_digest(given, expected.hexdigest()):
        raise WebhookUnauthorized(f"{SIGNATURE_HEADER} does not match the body and timestamp")


def sign(body: bytes, *, secret: str, timestamp: int) -> dict[str, str]:
    """The headers a sender adds (used by tests and docs/policy.md's example)."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: f"sha256={digest.hexdigest()}"}


def _flag(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise InvalidInput(f"{key!r} must be true or false, got {value!r}")


def _common_alert(data: Mapping[str, Any], models: Sequence[ModelConfig]) -> DriftAlerted:
    inner = data.get("data")
    if not isinstance(inner, Mapping):
        raise InvalidInput(f"{COMMON_ALERT_SCHEMA} event has no data object")
    essentials = inner.get("essentials")
    if not isinstance(essentials, Mapping):
        raise InvalidInput("common alert schema payload has no data.essentials")
    custom = inner.get("customproperties") or {}
    named = custom.get("model") if isinstance(custom, Mapping) else None
    items = essentials.get("configurationitems") or []
    if not isinstance(items, list):
        raise InvalidInput("data.essentials.configurationItems must be a list")
    texts = [str(essentials.get("alertrule") or ""), *(str(i) for i in items)]
    model = known_model(str(named), models) if named else _model_named_in(texts, models)
    condition = str(essentials.get("monitorcondition") or "Fired")
    return DriftAlerted(
        model=model,
        source=f"azure-monitor/{essentials.get('monitoringservice') or 'unknown'}",
        alert_id=str(essentials.get("alertid") or ""),
        description=str(
            essentials.get("description") or essentials.get("alertrule") or "alert fired"
        ),
        fired_at=parse_time(essentials.get("fireddatetime")),
        resolved=condition.lower() == "resolved",
    )


def _model_named_in(texts: Sequence[str], models: Sequence[ModelConfig]) -> str:
    """The one configured model named in ``texts`` (an alert rule, configuration items,
    a monitor or experiment name).

    A model name counts when it stands between separators (start, end, or any character
    other than a letter or digit); when one match contains another (``sales`` in
    ``sales-eu``), the longer wins.
    """
    text = " ".join(texts).lower()
    found = {
        m.name
        for m in models
        if re.search(rf"(?<![a-z0-9]){re.escape(m.name)}(?![a-z0-9])", text) is not None
    }
    found = {name for name in found if not any(name != o and name in o for o in found)}
    if len(found) == 1:
        return found.pop()
    shown = texts[0] if texts else ""
    if not found:
        raise UnknownModel(
            f"{shown!r} names no configured model: set the alert's custom property 'model', "
            "or put the model name in the alert rule or monitor name"
        )
    raise InvalidInput(f"{shown!r} names several models ({', '.join(sorted(found))})")


# ------------------------------------------------------------------ Azure ML (Event Grid)


def is_azureml_drift_event(event: Any) -> bool:
    """Whether an Azure ML event is a drift signal: a ``DatasetDriftDetected``, or a run
    event whose run tags carry ``azureml_modelmonitor_threshold_breached``. Other run
    events (ordinary pipeline runs) are ``on_run_completed``'s business."""
    if not isinstance(event, Mapping):
        return False
    kind = event.get("eventType") or event.get("type")
    if kind == DATASET_DRIFT_DETECTED:
        return True
    if kind not in (RUN_STATUS_CHANGED, RUN_COMPLETED):
        return False
    data = folded(event.get("data"))
    tags = data.get("runtags") if isinstance(data, Mapping) else None
    return isinstance(tags, Mapping) and bool(tags.get(MONITOR_BREACH_TAG))


def parse_azureml_drift_event(
    event: Mapping[str, Any], *, models: Sequence[ModelConfig]
) -> DriftAlerted:
    """A drift signal from Azure ML's Event Grid events (``is_azureml_drift_event``)."""
    event_id, event_type, subject, event_time, raw = envelope(event)
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"{event_type} event {event_id} has no data object")
    if event_type == DATASET_DRIFT_DETECTED:
        return _dataset_drift(event_id, subject, event_time, folded(raw), models)
    if event_type in (RUN_STATUS_CHANGED, RUN_COMPLETED):
        return parse_model_monitor_event(event_id, event_time, folded(raw), models)
    raise InvalidInput(f"{event_type!r} is not an Azure ML drift event")


def parse_model_monitor_event(
    event_id: str,
    event_time: datetime | None,
    data: Mapping[str, Any],
    models: Sequence[ModelConfig],
) -> DriftAlerted:
    """A v2 model monitor's run event (keys folded to lower case) whose run tags carry
    the threshold-breached message."""
    found = data.get("runtags")
    tags: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    message = str(tags.get(MONITOR_BREACH_TAG) or "")
    if not message:
        raise InvalidInput(f"run event {event_id} carries no {MONITOR_BREACH_TAG} tag")
    run_id = str(data.get("runid") or "")
    tagged = tags.get(MODEL_TAG.lower())
    texts = [
        str(data.get("experimentname") or ""),
        *(str(v) for k, v in tags.items() if k != MONITOR_BREACH_TAG),
        message,
    ]
    model = known_model(str(tagged), models) if tagged else _model_named_in(texts, models)
    status = str(data.get("runstatus") or "Completed")
    first_line = message.strip().splitlines()[0] if message.strip() else message
    return DriftAlerted(
        model=model,
        source="azureml-model-monitor",
        alert_id=f"{run_id}:{status.lower()}",
        description=f"model monitor run {run_id} ({status}): {first_line}",
        fired_at=event_time,
        event_id=event_id,
    )


def _dataset_drift(
    event_id: str,
    subject: str,
    event_time: datetime | None,
    data: Mapping[str, Any],
    models: Sequence[ModelConfig],
) -> DriftAlerted:
    monitor = str(data.get("datadriftname") or "")
    coefficient = data.get("driftcoefficient")
    if isinstance(coefficient, bool) or not isinstance(coefficient, int | float):
        raise InvalidInput(f"{DATASET_DRIFT_DETECTED} event {event_id} has no driftCoefficient")
    window = f"{data.get('starttime') or '?'} to {data.get('endtime') or '?'}"
    model = _model_named_in([monitor, subject, str(data.get("targetdatasetid") or "")], models)
    return DriftAlerted(
        model=model,
        source="azureml-datadrift",
        alert_id=f"{data.get('datadriftid') or monitor}:{data.get('runid') or ''}",
        description=f"data drift monitor {monitor}: drift coefficient {coefficient:.4g} "
        f"over {window}",
        fired_at=event_time,
        event_id=event_id,
    )
