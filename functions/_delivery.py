"""What every adapter does around the service call: build the service on first use,
dead-letter what cannot be processed, and answer HTTP callers in JSON.

The delivery contract (Event Grid retries a 5xx for up to a day and never retries a 2xx
or a 400): an input that can never succeed is dead-lettered once with the reason and
answered normally (a 4xx on HTTP routes; the function returns, so Event Grid stops); only
a failure that may pass (storage or the backend unreachable) is raised, so the platform
retries the delivery.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import azure.functions as func

from shared.adapters.budget import invocation_budget
from shared.bootstrap import get_service
from shared.errors import InvalidInput, NotFound, UnknownModel
from shared.messages import Message
from shared.parsing.common import load_json
from shared.service import Outcome, RetrainService

log = logging.getLogger(__name__)

# The worker's Event Grid converter (``azure.functions.meta._parse_datetime``) reads an
# event's time by trying up to twelve ``strptime`` formats in turn (six before Event Grid's
# ``...T00:00:00.0000000Z`` matches), and CPython keeps at most five compiled formats,
# emptying its cache whenever a sixth comes: every event compiled its formats' regular
# expressions again (66 us per event against 25 us once kept, about 4 % of the host's CPU
# per event in the bench's batched phase). Keeping enough of them changes no result.
STRPTIME_FORMATS_KEPT = 32


def keep_strptime_formats(size: int = STRPTIME_FORMATS_KEPT) -> None:
    """Let ``strptime`` keep ``size`` compiled formats (never fewer than it keeps now)."""
    import _strptime

    if getattr(_strptime, "_CACHE_MAX_SIZE", size) < size:
        _strptime._CACHE_MAX_SIZE = size


keep_strptime_formats()

# Errors a parser may raise on input it did not foresee. Parsing is pure, so the same
# input fails the same way every time: a permanent fault, never worth a retry.
_PARSER_FAULTS = (
    TypeError,
    ValueError,
    KeyError,
    AttributeError,
    IndexError,
    RecursionError,
    OverflowError,
    UnicodeError,
)


def event_to_dict(event: Any) -> dict[str, Any]:
    """The event as it came over the wire (Event Grid schema or CloudEvents 1.0), as far
    as the trigger binding keeps it (it parses the times and drops unknown Event Grid
    fields; CloudEvent extension attributes are kept).

    A CloudEvent is told by its ``source`` (``func.CloudEvent`` only exists from
    azure-functions 1.25, and the worker may bring its own copy of the library); its
    ``specversion`` is kept whatever it is, for the parser to judge.
    """
    if hasattr(event, "source") and not hasattr(event, "topic"):
        extensions = getattr(event, "extension_attrs", None) or {}
        cloud = {
            **{str(k): v for k, v in dict(extensions).items()},
            "specversion": event.specversion,
            "id": event.id,
            "source": event.source,
            "type": event.type,
            "subject": event.subject,
            "time": event.time.isoformat() if event.time else None,
            "data": event.get_json(),
        }
        for name in ("datacontenttype", "dataschema"):
            if getattr(event, name, None) is not None:
                cloud[name] = getattr(event, name)
        return cloud
    return {
        "id": event.id,
        "topic": event.topic,
        "subject": event.subject,
        "eventType": event.event_type,
        "eventTime": event.event_time.isoformat() if event.event_time else None,
        "dataVersion": event.data_version,
        "data": event.get_json(),
    }


def deliver_event(
    source: str, event: Any, parse: Callable[[RetrainService, dict[str, Any]], Message]
) -> list[Outcome] | InvalidInput:
    """``deliver`` for an Event Grid trigger: the binding's event, read inside the same
    guard (a binding object that cannot be read is a permanent fault too)."""
    box: dict[str, Any] = {}

    def read(service: RetrainService) -> Message:
        box["event"] = event_to_dict(event)
        return parse(service, box["event"])

    return deliver(source, lambda: box.get("event", event), read)


def deliver(
    source: str, raw: Any, parse: Callable[[RetrainService], Message]
) -> list[Outcome] | InvalidInput:
    """Parse and handle one input within the invocation's storage time budget (Event
    Grid waits about 30 s: a hung storage gets a 5xx in time, not a timeout); see
    ``_deliver``."""
    with invocation_budget():
        return _deliver(source, raw, parse)


def _deliver(
    source: str, raw: Any, parse: Callable[[RetrainService], Message]
) -> list[Outcome] | InvalidInput:
    """Parse and handle one input.

    - Input that cannot be processed (``InvalidInput``, or any error while parsing, which
      is pure and would fail the same way again) is dead-lettered once with the reason
      and returned as the error.
    - Any other failure is dead-lettered as retryable and re-raised, so the platform
      retries the delivery.
    - When the service itself cannot be built, or a dead letter cannot be written
      (storage down), the payload goes to the log and the error is raised: nothing is
      answered as handled that was not kept somewhere.

    ``raw`` is the payload as received (bytes for HTTP bodies, kept verbatim), or a
    callable returning it.
    """
    try:
        service = get_service()
    except Exception:
        log.exception(
            "%s: the service could not start; input not processed: %.2000r",
            source,
            _payload(raw),
        )
        raise
    try:
        message = parse(service)
    except InvalidInput as exc:
        _keep(service, source, raw, exc)
        return exc
    except _PARSER_FAULTS as exc:
        log.warning("%s: the parser failed on its input", source, exc_info=True)
        fault = InvalidInput(f"the input cannot be read ({type(exc).__name__}: {exc})"[:2000])
        _keep(service, source, raw, fault)
        return fault
    try:
        return service.handle(message)
    except InvalidInput as exc:
        _keep(service, source, raw, exc)
        return exc
    except Exception as exc:
        _keep(service, source, raw, exc, retryable=True)
        raise


def _payload(raw: Any) -> str | bytes:
    if callable(raw):
        raw = raw()
    if isinstance(raw, str | bytes):
        return raw
    try:
        return json.dumps(raw, default=str)
    except (ValueError, RecursionError):
        return repr(raw)[: 1024 * 1024]


def _keep(
    service: RetrainService, source: str, raw: Any, error: Exception, *, retryable: bool = False
) -> None:
    try:
        service.dead_letter(source, _payload(raw), error, retryable=retryable)
    except Exception:
        log.exception(
            "%s: the input could not be dead-lettered (%s: %s); it is here: %.4000r",
            source,
            type(error).__name__,
            error,
            _payload(raw),
        )
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
    """The body as JSON (None when empty); ``InvalidInput`` when it is not JSON (or is
    nested too deeply, or holds an integer too long to convert)."""
    body = req.get_body()
    if not body.strip():
        return None
    return load_json(body, "the request body")
