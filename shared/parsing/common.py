"""What every parser shares: the Event Grid / CloudEvents envelope, times, body
checks, and the names Azure and the service give to events and tags."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
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
# A run tag asking the backend for a real new attempt: no reuse of earlier step outputs.
FORCE_RERUN_TAG = "retrain_force_rerun"


# Limits on what the service accepts: anything beyond them is a permanent input fault (a
# 4xx / a dead letter), never an exception that would make Event Grid retry for a day.
MAX_JSON_DEPTH = 64
MAX_BLOB_NAME = 1024  # Azure Storage's own limit, in characters
MAX_NAME = 255  # run keys, job names, event ids
CLOUDEVENTS_SPEC = "1.0"
# Azure ML job names (and our run keys, which name the jobs): letters, digits, '-', '_'.
RUN_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,254}")
# Run ids Azure ML puts in its events: job names, or v1 run ids (``<exp>_<time>_<hex>``).
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,254}")


def load_json(body: bytes | str, what: str = "the body") -> Any:
    """Parse JSON that came from outside, with every failure as ``InvalidInput``: bad
    UTF-8, bad syntax, an integer longer than Python converts (4,300 digits), nesting
    deeper than ``MAX_JSON_DEPTH`` (which would otherwise raise ``RecursionError`` here or
    in any later ``json.dumps``)."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes | bytearray) else body
        value = json.loads(text)
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{what} is not UTF-8: {exc.reason} at byte {exc.start}") from None
    except RecursionError:
        raise InvalidInput(f"{what} is nested too deeply to read") from None
    except ValueError as exc:  # JSONDecodeError, and the int digit limit
        raise InvalidInput(f"{what} is not valid JSON: {str(exc)[:200]}") from None
    check_depth(value, what)
    return value


def check_depth(value: Any, what: str = "the body", limit: int = MAX_JSON_DEPTH) -> None:
    """``InvalidInput`` when ``value`` nests lists/objects deeper than ``limit``."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth > limit:
            raise InvalidInput(f"{what} nests JSON deeper than {limit} levels")
        stack.extend((child, depth + 1) for child in children)


def envelope(event: Mapping[str, Any]) -> tuple[str, str, str, datetime | None, Any]:
    """(id, type, subject, time, data) of an Event Grid schema event or a CloudEvent."""
    if not isinstance(event, Mapping):
        raise InvalidInput(f"an event must be a JSON object, got {type(event).__name__}")
    check_depth(event, "the event")
    if "specversion" in event:
        spec = event.get("specversion")
        if spec != CLOUDEVENTS_SPEC:
            raise InvalidInput(
                f"CloudEvent specversion {spec!r} is not supported: expected {CLOUDEVENTS_SPEC!r}"
            )
        keys = ("id", "type", "subject", "time")
    else:
        keys = ("id", "eventType", "subject", "eventTime")
    missing = [k for k in keys[:3] if not event.get(k)]
    if missing:
        raise InvalidInput(f"event is missing {', '.join(missing)}")
    for key in keys[:3]:
        if not isinstance(event[key], str):
            raise InvalidInput(f"event {key!r} must be a string, got {type(event[key]).__name__}")
    event_id = printable(event[keys[0]], "event id", MAX_NAME)
    return (
        event_id,
        str(event[keys[1]]),
        str(event[keys[2]]),
        parse_time(event.get(keys[3])),
        event.get("data"),
    )


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def printable(value: str, what: str, limit: int) -> str:
    """``value`` if it is at most ``limit`` characters of encodable, non-control text."""
    if len(value) > limit:
        raise InvalidInput(f"{what} is {len(value)} characters long; at most {limit} allowed")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"{what} {value[:80]!r} is not valid Unicode text") from None
    if _CONTROL.search(value):
        raise InvalidInput(f"{what} {value[:80]!r} contains control characters")
    return value


def check_blob_name(name: str) -> str:
    """A blob name the service can address safely: at most 1,024 characters, valid
    Unicode, no control characters or backslashes, and no empty, ``.`` or ``..`` path
    segments (storage refuses or rewrites those)."""
    printable(name, "blob name", MAX_BLOB_NAME)
    if "\\" in name:
        raise InvalidInput(f"blob name {name[:200]!r} contains a backslash")
    segments = name.split("/")
    if any(segment in ("", ".", "..") for segment in segments) or name.endswith("."):
        raise InvalidInput(
            f"blob name {name[:200]!r} has an empty, '.' or '..' path segment or ends in '.'"
        )
    return name


def check_run_key(value: Any, what: str = "run key") -> str:
    """A run key as the service makes them (and Azure ML accepts as a job name)."""
    if not isinstance(value, str) or RUN_KEY.fullmatch(value) is None:
        shown = value[:80] if isinstance(value, str) else value
        raise InvalidInput(
            f"{what} {shown!r} is not a run key: letters, digits, '-' and '_', at most "
            f"{MAX_NAME} characters"
        )
    return value


_FRACTION = re.compile(r"(?P<head>.*T\d{2}:\d{2}:\d{2})\.(?P<digits>\d{1,9})(?P<zone>.*)")
_ZONE = re.compile(r"(?:Z|z|[+-]\d{2}:?\d{2})?")


def parse_time(value: Any) -> datetime | None:
    """An ISO-8601 timestamp as aware UTC; None when absent.

    Azure writes up to seven fractional digits (``...00.9584103Z``), more than
    ``datetime.fromisoformat`` reads: the fraction is read here (up to nine digits,
    rounded down to microseconds), and anything else after the seconds' dot must be a
    zone (``Z`` or ``+hh:mm``), so ``00.1x1`` is refused rather than read as 0.111 s.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    elif not isinstance(value, str) or len(value) > 64:
        raise InvalidInput(f"{str(value)[:80]!r} is not an ISO-8601 timestamp")
    else:
        moment = _parse_iso(value.strip(), value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _parse_iso(text: str, original: str) -> datetime:
    micro = 0
    if "." in text:
        found = _FRACTION.fullmatch(text)
        if found is None or _ZONE.fullmatch(found["zone"]) is None:
            raise InvalidInput(f"{original!r} is not an ISO-8601 timestamp")
        micro = int(found["digits"].ljust(6, "0")[:6])
        text = found["head"] + found["zone"]
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{original!r} is not an ISO-8601 timestamp") from None
    if micro:
        moment = moment.replace(microsecond=micro)
    if moment.tzinfo is not None and moment.utcoffset() != timedelta(0):
        try:
            moment = moment.astimezone(UTC)
        except OverflowError:
            raise InvalidInput(f"{original!r} is out of range") from None
    return moment


def whole_number(value: Any, what: str, *, least: int = 0, most: int | None = None) -> int:
    """A JSON whole number (or a string of ASCII digits) within bounds, else
    ``InvalidInput``: refuses booleans, fractions, ``Infinity``/``NaN``, superscript or
    other non-ASCII digits, and values outside ``[least, most]``."""
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif (isinstance(value, float) and math.isfinite(value) and value.is_integer()) or (
        isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18
    ):
        number = int(value)
    else:
        number = None
    if number is None:
        raise InvalidInput(f"{what} must be a whole number, got {str(value)[:80]!r}")
    if number < least or (most is not None and number > most):
        bound = f"between {least} and {most}" if most is not None else f"at least {least}"
        raise InvalidInput(f"{what} must be {bound}, got {number}")
    return number


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
