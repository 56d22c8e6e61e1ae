"""What every adapter does around the service call: build the service on first use,
dead-letter what cannot be processed, and answer HTTP callers in JSON."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import azure.functions as func

from shared.bootstrap import get_service
from shared.errors import InvalidInput, NotFound, UnknownModel
from shared.messages import Message
from shared.service import Outcome, RetrainService

log = logging.getLogger(__name__)


def event_to_dict(event: Any) -> dict[str, Any]:
    """The event as it came over the wire (Event Grid schema or CloudEvents 1.0).

    Duck-typed on ``specversion``: ``func.CloudEvent`` only exists from azure-functions
    1.25, and the worker may bring its own copy of the library.
    """
    if getattr(event, "specversion", None):
        return {
            "specversion": event.specversion,
            "id": event.id,
            "source": event.source,
            "type": event.type,
            "subject": event.subject,
            "time": event.time.isoformat() if event.time else None,
            "data": event.get_json(),
        }
    return {
        "id": event.id,
        "topic": event.topic,
        "subject": event.subject,
        "eventType": event.event_type,
        "eventTime": event.event_time.isoformat() if event.event_time else None,
        "dataVersion": event.data_version,
        "data": event.get_json(),
    }


def deliver(
    source: str, raw: Any, parse: Callable[[RetrainService], Message]
) -> list[Outcome] | InvalidInput:
    """Parse and handle one input. Input that cannot be processed is dead-lettered with
    the reason and returned as the error; any other failure is dead-lettered as
    retryable and re-raised so the platform retries the delivery. When the service itself
    cannot be built (bad settings, storage unreachable) there is nowhere to dead-letter:
    the payload goes to the log and the error is re-raised."""
    payload = raw if isinstance(raw, str | bytes) else json.dumps(raw, default=str)
    try:
        service = get_service()
    except Exception:
        log.exception(
            "%s: the service could not start; input not processed: %.2000r", source, payload
        )
        raise
    try:
        return service.handle(parse(service))
    except InvalidInput as exc:
        service.dead_letter(source, payload, exc)
        return exc
    except Exception as exc:
        service.dead_letter(source, payload, exc, retryable=True)
        raise


def json_response(body: Any, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body, indent=2, default=str), status_code=status, mimetype="application/json"
    )


def error_response(exc: Exception) -> func.HttpResponse:
    status = 404 if isinstance(exc, UnknownModel | NotFound) else 400
    return json_response({"error": type(exc).__name__, "message": str(exc)}, status)


def outcome_response(result: list[Outcome] | InvalidInput) -> func.HttpResponse:
    if isinstance(result, InvalidInput):
        return error_response(result)
    return json_response({"outcomes": [o.as_dict() for o in result]}, 202)


def request_json(req: func.HttpRequest) -> Any:
    """The body as JSON (None when empty); ``InvalidInput`` when it is not JSON."""
    body = req.get_body()
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except ValueError as exc:
        raise InvalidInput(f"the request body is not valid JSON: {exc}") from None
