"""What every parser shares: the Event Grid / CloudEvents envelope, times, body
checks, and the names Azure and the service give to events and tags."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from azure.eventgrid import SystemEventNames

from shared.errors import InvalidInput, UnknownModel
from shared.settings import ModelConfig

BLOB_CREATED = SystemEventNames.StorageBlobCreatedEventName.value
RUN_COMPLETED = SystemEventNames.MachineLearningServicesRunCompletedEventName.value
RUN_STATUS_CHANGED = SystemEventNames.MachineLearningServicesRunStatusChangedEventName.value
COMMON_ALERT_SCHEMA = "azureMonitorCommonAlertSchema"
RUN_KEY_TAG = "retrain_run_key"
MODEL_TAG = "retrain_model"


def envelope(event: Mapping[str, Any]) -> tuple[str, str, str, datetime | None, Any]:
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


def event_data(data: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise InvalidInput(f"{what} event has no data object")
    return data


def body_object(body: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise InvalidInput(f"the {what} request body must be a JSON object")
    return body


def required_text(body: Mapping[str, Any], key: str, what: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{what} needs {key!r}: a non-empty string (got {value!r})")
    return value.strip()


def known_model(name: str, models: Sequence[ModelConfig]) -> str:
    if any(m.name == name for m in models):
        return name
    known = ", ".join(m.name for m in models)
    raise UnknownModel(f"unknown model {name!r}; configured models: {known}")


def flag(body: Mapping[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise InvalidInput(f"{key!r} must be true or false, got {value!r}")
