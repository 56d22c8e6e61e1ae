"""Reading a dead letter back into the message its function would have handed the
service: the same parser, the same arguments (the app's container, models and trust).

A dead letter keeps the payload exactly as the function kept it (``functions/_delivery``:
the Event Grid event as JSON, an HTTP request's body, a timer's ``{"past_due": ...}``).
Sources whose payload does not hold everything the function had are not replayable:
``retrain_model`` (the model was in the URL: send the request again) and ``host`` (a
request the local host refused before any function saw it). A drift webhook's HMAC
signature was checked before its body was dead-lettered and is not checked again.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from shared.errors import InvalidInput
from shared.messages import Message, ScheduleTicked, SweepTicked
from shared.parsing.azureml import parse_run_event
from shared.parsing.common import load_json
from shared.parsing.drift import (
    is_azureml_drift_event,
    parse_azureml_drift_event,
    parse_drift_alert,
)
from shared.parsing.storage import parse_blob_event
from shared.settings import ModelConfig, TrustSettings


def _event(payload: bytes) -> Mapping[str, Any]:
    event = load_json(payload, "the dead-lettered event")
    if not isinstance(event, Mapping):
        raise InvalidInput("the dead-lettered event is not a JSON object")
    return event


def _azureml_event(payload: bytes, models: Sequence[ModelConfig]) -> Message:
    event = _event(payload)
    if not is_azureml_drift_event(dict(event)):
        raise InvalidInput("the dead-lettered Azure ML event is no drift signal")
    return parse_azureml_drift_event(event, models=models)


def _timer(payload: bytes) -> bool:
    """A timer payload's ``past_due`` (a per-model schedule failure kept text: False)."""
    try:
        body = load_json(payload, "the timer payload")
    except InvalidInput:
        return False
    return bool(body.get("past_due")) if isinstance(body, Mapping) else False


def replayable_sources() -> tuple[str, ...]:
    """The functions whose dead letters can be replayed."""
    return tuple(sorted(_PARSERS))


_Parser = Callable[[bytes, str, Sequence[ModelConfig], TrustSettings | None, datetime], Message]
_PARSERS: dict[str, _Parser] = {
    "on_blob_created": lambda p, container, models, trust, now: parse_blob_event(
        _event(p), container=container, models=models, trust=trust
    ),
    "on_run_completed": lambda p, container, models, trust, now: parse_run_event(
        _event(p), trust=trust
    ),
    "on_azureml_event": lambda p, container, models, trust, now: _azureml_event(p, models),
    "on_drift_alert": lambda p, container, models, trust, now: parse_drift_alert(
        load_json(p, "the dead-lettered request body"), models=models
    ),
    "on_schedule": lambda p, container, models, trust, now: ScheduleTicked(
        at=now, past_due=_timer(p)
    ),
    "on_sweep": lambda p, container, models, trust, now: SweepTicked(at=now),
}


def dead_letter_payload(record: Mapping[str, Any]) -> bytes:
    """The payload a dead letter kept, as bytes; ``InvalidInput`` when it was cut."""
    if record.get("payload_truncated"):
        raise InvalidInput(
            f"the dead letter kept only the first part of its {record.get('size')}-byte "
            "payload: it cannot be replayed"
        )
    if isinstance(record.get("payload"), str):
        return str(record["payload"]).encode("utf-8", "surrogatepass")
    try:
        return base64.b64decode(str(record.get("payload_base64") or ""), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(f"the dead letter's payload cannot be read: {exc}") from None


def parse_dead_letter(
    record: Mapping[str, Any],
    *,
    container: str,
    models: Sequence[ModelConfig],
    trust: TrustSettings | None,
    now: datetime,
) -> Message:
    """The message the dead letter's function would hand the service for its payload.

    Raises ``InvalidInput`` when the source cannot be replayed, or when the payload is
    refused again (the parser's message says why); parsers' other errors propagate as
    they would in the function (the caller treats them as it does).
    """
    source = str(record.get("source"))
    parser = _PARSERS.get(source)
    if parser is None:
        raise InvalidInput(
            f"dead letters from {source!r} cannot be replayed (replayable: "
            f"{', '.join(replayable_sources())}); send the request again instead"
        )
    return parser(dead_letter_payload(record), container, models, trust, now)
