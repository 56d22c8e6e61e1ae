"""Reading wire formats into messages. The only module that knows the JSON shapes of
Event Grid (Event Grid schema and CloudEvents 1.0), Azure Storage, Azure ML and Azure
Monitor. Anything it cannot read raises ``InvalidInput`` (or ``UnknownModel``) with a
message naming what was wrong.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from azure.eventgrid import SystemEventNames

from shared.errors import InvalidInput, UnknownModel
from shared.messages import (
    DriftAlerted,
    NewDataArrived,
    PinRequested,
    PipelineRunCompleted,
    PromoteRequested,
    RetrainRequested,
    RollbackRequested,
    UnpinRequested,
)
from shared.settings import ModelConfig

BLOB_CREATED = SystemEventNames.StorageBlobCreatedEventName.value
RUN_COMPLETED = SystemEventNames.MachineLearningServicesRunCompletedEventName.value
RUN_STATUS_CHANGED = SystemEventNames.MachineLearningServicesRunStatusChangedEventName.value
COMMON_ALERT_SCHEMA = "azureMonitorCommonAlertSchema"
RUN_KEY_TAG = "retrain_run_key"
MODEL_TAG = "retrain_model"
_RUN_STATES = {
    s.lower(): s
    for s in (
        *("NotStarted", "Queued", "Preparing", "Starting", "Running", "Finalizing"),
        *("Completed", "Failed", "Canceled", "CancelRequested"),
    )
}


def _envelope(event: Mapping[str, Any]) -> tuple[str, str, str, datetime | None, Any]:
    """(id, type, subject, time, data) of an Event Grid schema event or a CloudEvent."""
    if not isinstance(event, Mapping):
        raise InvalidInput(f"an event must be a JSON object, got {type(event).__name__}")
    if "specversion" in event:
        keys = ("id", "type", "subject", "time")
    else:
        keys = ("id", "eventType", "subject", "eventTime")
    missing = [k for k in keys[:3] if not event.get(k)]
    if missing:
        raise InvalidInput(f"event is missing {', '.join(missing)}")
    return (
        str(event[keys[0]]),
        str(event[keys[1]]),
        str(event[keys[2]]),
        parse_time(event.get(keys[3])),
        event.get("data"),
    )


def parse_time(value: Any) -> datetime | None:
    """An ISO-8601 timestamp as aware UTC; None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value).strip()
        # Azure writes up to 7 fractional digits; fromisoformat takes at most 6.
        if "." in text:
            head, _, tail = text.partition(".")
            digits = "".join(c for c in tail if c.isdigit())
            zone = tail[len(digits) :]
            text = f"{head}.{digits[:6]}{zone}"
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(f"{value!r} is not an ISO-8601 timestamp") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _data(data: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise InvalidInput(f"{what} event has no data object")
    return data


def parse_blob_created(
    event: Mapping[str, Any], *, container: str, models: Sequence[ModelConfig]
) -> NewDataArrived:
    """A ``Microsoft.Storage.BlobCreated`` event for the data container."""
    event_id, event_type, subject, event_time, raw = _envelope(event)
    if event_type != BLOB_CREATED:
        raise InvalidInput(f"expected a {BLOB_CREATED} event, got {event_type!r}")
    data = _data(raw, BLOB_CREATED)
    marker = "/containers/"
    if marker not in subject or "/blobs/" not in subject:
        raise InvalidInput(f"subject {subject!r} does not name a blob")
    blob_container, _, name = subject.split(marker, 1)[1].partition("/blobs/")
    if blob_container != container:
        raise InvalidInput(
            f"blob {name!r} is in container {blob_container!r}; the service reads data from "
            f"{container!r} (check the Event Grid subscription's subject filter)"
        )
    model = next((m for m in models if name.startswith(m.prefix)), None)
    if model is None:
        known = ", ".join(m.prefix for m in models)
        raise UnknownModel(f"no model owns blob {name!r}: known prefixes are {known}")
    try:
        size = int(data.get("contentLength", 0))
    except (TypeError, ValueError):
        raise InvalidInput(f"contentLength {data.get('contentLength')!r} is not a number") from None
    return NewDataArrived(
        model=model.name,
        blob_name=name,
        etag=str(data.get("eTag", "")),
        size=size,
        api=str(data.get("api", "")),
        url=str(data.get("url", "")),
        event_id=event_id,
        event_time=event_time,
    )


def parse_run_event(event: Mapping[str, Any]) -> PipelineRunCompleted:
    """An Azure ML ``RunCompleted`` or ``RunStatusChanged`` event."""
    event_id, event_type, _subject, _time, raw = _envelope(event)
    # Azure ML's sources disagree on the casing of these keys (runStatus, RunStatus...).
    data = {str(k).lower(): v for k, v in _data(raw, event_type).items()}
    if event_type == RUN_COMPLETED:
        status = "Completed"
    elif event_type == RUN_STATUS_CHANGED:
        raw_status = str(data.get("runstatus") or "")
        if not raw_status:
            raise InvalidInput(f"{RUN_STATUS_CHANGED} event {event_id} has no runStatus")
        # Azure ML's documented example says "failed"; the service speaks "Failed".
        status = _RUN_STATES.get(raw_status.lower(), raw_status)
    else:
        raise InvalidInput(f"expected {RUN_COMPLETED} or {RUN_STATUS_CHANGED}, got {event_type!r}")
    run_id = data.get("runid")
    if not run_id:
        raise InvalidInput(f"{event_type} event {event_id} has no runId")
    # Our run key travels as a job tag (pipeline jobs, v1) or, for a batch endpoint's job,
    # which cannot carry tags, as a job property.
    run_key = None
    for where in ("runtags", "runproperties"):
        found = data.get(where)
        if isinstance(found, Mapping) and found.get(RUN_KEY_TAG):
            run_key = found[RUN_KEY_TAG]
            break
    return PipelineRunCompleted(
        run_id=str(run_id),
        run_key=str(run_key) if run_key else None,
        status=status,
        event_id=event_id,
        experiment=data.get("experimentname"),
    )


def parse_drift_alert(body: Any, *, models: Sequence[ModelConfig]) -> DriftAlerted:
    """An Azure Monitor common-alert-schema alert, or the generic drift JSON
    ``{"model": "...", "reason": "...", "alert_id": "...", "detected_at": "..."}``."""
    if not isinstance(body, Mapping):
        raise InvalidInput("a drift alert must be a JSON object")
    if body.get("schemaId") == COMMON_ALERT_SCHEMA:
        return _common_alert(body, models)
    if "model" in body:
        model = _known_model(str(body["model"]), models)
        return DriftAlerted(
            model=model,
            source=str(body.get("source") or "generic"),
            alert_id=str(body.get("alert_id") or body.get("id") or ""),
            description=str(body.get("reason") or "drift reported"),
            fired_at=parse_time(body.get("detected_at")),
            resolved=_flag(body, "resolved"),
        )
    raise InvalidInput(
        "unrecognised drift alert: expected the Azure Monitor common alert schema "
        f"(schemaId {COMMON_ALERT_SCHEMA!r}) or a JSON object with a 'model' field"
    )


def _common_alert(body: Mapping[str, Any], models: Sequence[ModelConfig]) -> DriftAlerted:
    data = _data(body.get("data"), COMMON_ALERT_SCHEMA)
    essentials = data.get("essentials")
    if not isinstance(essentials, Mapping):
        raise InvalidInput("common alert schema payload has no data.essentials")
    custom = data.get("customProperties") or {}
    named = custom.get("model") if isinstance(custom, Mapping) else None
    model = _known_model(str(named), models) if named else _model_named_in(essentials, models)
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


def _flag(body: Mapping[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise InvalidInput(f"{key!r} must be true or false, got {value!r}")


def _known_model(name: str, models: Sequence[ModelConfig]) -> str:
    if any(m.name == name for m in models):
        return name
    known = ", ".join(m.name for m in models)
    raise UnknownModel(f"unknown model {name!r}; configured models: {known}")


def parse_retrain_request(
    model: str, body: Any, *, models: Sequence[ModelConfig]
) -> RetrainRequested:
    """A manual retrain request: the model from the route, an optional JSON body
    ``{"requested_by": "...", "reason": "...", "force": false}``."""
    if body is None:
        body = {}
    if not isinstance(body, Mapping):
        raise InvalidInput("the request body must be a JSON object (or empty)")
    return RetrainRequested(
        model=_known_model(model, models),
        requested_by=str(body.get("requested_by") or "api"),
        reason=str(body.get("reason") or "manual retrain"),
        force=_flag(body, "force"),
    )


# ------------------------------------------------------------------ operator requests


def _body_object(body: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise InvalidInput(f"the {what} request body must be a JSON object")
    return body


def _required_text(body: Mapping[str, Any], key: str, what: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{what} needs {key!r}: a non-empty string (got {value!r})")
    return value.strip()


def parse_version_number(value: Any, key: str = "version") -> int:
    """A model version: a positive whole number (``3``, ``"3"`` or ``"v3"``)."""
    text = value.removeprefix("v") if isinstance(value, str) else None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif text is not None and text.isdigit():
        number = int(text)
    else:
        raise InvalidInput(f"{key!r} must be a version number such as 3, got {value!r}")
    if number < 1:
        raise InvalidInput(f"{key!r} must be 1 or more, got {number}")
    return number


def parse_version_change(
    model: str, body: Any, *, models: Sequence[ModelConfig], rollback: bool
) -> RollbackRequested | PromoteRequested:
    """A rollback or manual promotion: ``{"version": 3, "reason": "...",
    "requested_by": "...", "expected_version": 5}`` (``expected_version`` optional: the
    production version the operator saw; refused if production moved since)."""
    what = "a rollback" if rollback else "a manual promotion"
    data = _body_object(body, "rollback" if rollback else "promote")
    if "version" not in data:
        raise InvalidInput(f"{what} needs 'version': the version to put in production")
    expected = data.get("expected_version")
    kind = RollbackRequested if rollback else PromoteRequested
    return kind(
        model=_known_model(model, models),
        version=parse_version_number(data["version"]),
        reason=_required_text(data, "reason", what),
        requested_by=_required_text(data, "requested_by", what),
        expected_version=(
            None if expected is None else parse_version_number(expected, "expected_version")
        ),
    )


def parse_pin_request(
    model: str, body: Any, *, models: Sequence[ModelConfig], pin: bool
) -> PinRequested | UnpinRequested:
    """Pin or unpin production: ``{"reason": "...", "requested_by": "..."}`` (an unpin's
    reason may be left out)."""
    what = "a pin" if pin else "an unpin"
    data = _body_object({} if body is None and not pin else body, "pin" if pin else "unpin")
    if pin:
        reason = _required_text(data, "reason", what)
    else:
        reason = str(data.get("reason") or "unpinned").strip() or "unpinned"
    kind = PinRequested if pin else UnpinRequested
    return kind(
        model=_known_model(model, models),
        reason=reason,
        requested_by=_required_text(data, "requested_by", what),
    )
