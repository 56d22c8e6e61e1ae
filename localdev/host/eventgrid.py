"""Event Grid deliveries to Event Grid trigger functions: the webhook, the
subscription-validation and CloudEvents abuse-protection handshakes, each event of a
batch decided on its own, the events of a delivery invoked at the same time."""

from __future__ import annotations

import json
from typing import Any

from azure.functions import meta
from azure.functions.eventgrid import EventGridEventInConverter

from localdev.host.base import HostBase
from localdev.host.common import (
    _CLOUDEVENT_REQUIRED,
    _EVENTGRID_REQUIRED,
    _iso,
    _kind,
    _names,
    _utcnow,
)
from localdev.host.server import _Request, _Response


class EventGridEndpoint(HostBase):
    """The Event Grid webhook part of the host."""

    def _handle_eventgrid(self, request: _Request) -> _Response:
        function_name = request.query.get("functionName", "")
        if not function_name:
            return _Response.refuse(400, "The functionName query parameter is required")
        function = self._eventgrid.get(function_name)
        if function is None:
            return _Response.refuse(
                404,
                f"No Event Grid trigger function named '{function_name}' "
                f"(Event Grid trigger functions: {_names(self._eventgrid)})",
            )
        if request.method == "OPTIONS":
            return self._cloudevents_handshake(request)
        if request.method != "POST":
            return _Response.refuse(
                405, "Event Grid deliveries are POSTed", headers={"Allow": "POST"}
            )

        try:
            payload = json.loads(request.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as error:
            # ValueError: bad JSON, or an integer of more than 4,300 digits;
            # RecursionError: nesting deeper than the decoder goes.
            why = "nested too deeply" if isinstance(error, RecursionError) else str(error)[:300]
            return _Response.refuse(400, f"The request body is not valid JSON: {why}")

        event_type = request.headers.get("aeg-event-type", "Notification")
        if event_type.lower() == "subscriptionvalidation":
            return _subscription_validation_response(payload)
        if event_type.lower() == "unsubscribe":
            return _Response(202, b"", {})
        if event_type.lower() != "notification":
            return _Response.refuse(
                400, f"Unknown aeg-event-type header value '{event_type[:100]}'"
            )

        events, problem = _read_events(payload, request.headers.get("content-type", ""))
        if problem:
            return _Response.refuse(400, problem)
        # Each event is decided on its own: one that cannot be read is refused and kept
        # (reported with its index), and the others are still delivered.
        decoded: list[Any] = []
        refused: list[tuple[int, str]] = []
        for index, event in enumerate(events):
            shape = _event_problem(index, event)
            if shape is not None:
                refused.append((index, shape))
                continue
            try:
                decoded.append(
                    EventGridEventInConverter.decode(
                        meta.Datum(json.dumps(event), "json"), trigger_metadata=None
                    )
                )
            except Exception as error:  # the converter raises whatever parsing raised
                refused.append((index, f"Event {index} cannot be read: {str(error)[:300]}"))
        if refused and not decoded:
            return _Response.refuse(400, "; ".join(problem for _, problem in refused))
        for index, problem in refused:
            self._report_refusal(request, 400, problem, event_index=index)

        # The events are invoked at the same time, as the Functions Event Grid extension does
        # (ProcessEventsAsync); one that fails does not stop the others, and the delivery is
        # answered 500 when any failed (Event Grid then retries all of it).
        reason = f"EventGrid trigger fired at {_iso(_utcnow())}"
        results = self._invoke_all(function, decoded, reason)
        failures = [
            f"event {event.id}: {result.error!r}"
            for event, result in zip(decoded, results, strict=True)
            if not result.succeeded
        ]
        if failures:
            return _Response.text(
                500, f"Function '{function_name}' failed for " + "; ".join(failures)
            )
        return _Response(202, b"", {})

    def _cloudevents_handshake(self, request: _Request) -> _Response:
        origin = request.headers.get("webhook-request-origin")
        if not origin:
            return _Response.refuse(400, "OPTIONS needs a WebHook-Request-Origin header")
        return _Response(
            200,
            b"",
            {"WebHook-Allowed-Origin": origin, "WebHook-Allowed-Rate": "*", "Allow": "POST"},
        )


def _read_events(payload: Any, content_type: str) -> tuple[list[Any], str | None]:
    """The events of a Notification body, or a message naming what is wrong with it."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if isinstance(payload, dict):
        events: list[Any] = [payload]
    elif isinstance(payload, list):
        events = payload
    else:
        return [], f"Expected a JSON array of events (or one CloudEvent), got {_kind(payload)}"
    if media_type == "application/cloudevents-batch+json" and not isinstance(payload, list):
        return [], "A application/cloudevents-batch+json body must be a JSON array"
    if isinstance(payload, dict) and "specversion" not in payload:
        return [], "An Event Grid schema delivery must be a JSON array of events"
    return events, None


def _event_problem(index: int, event: Any) -> str | None:
    """What makes one event of a delivery unreadable, or None."""
    if not isinstance(event, dict):
        return f"Event {index} is {_kind(event)}, not a JSON object"
    required = _CLOUDEVENT_REQUIRED if "specversion" in event else _EVENTGRID_REQUIRED
    missing = [name for name in required if name not in event]
    if missing:
        schema = "CloudEvent" if "specversion" in event else "Event Grid event"
        return f"Event {index} ({schema}) lacks {', '.join(missing)}"
    return None


def _subscription_validation_response(payload: Any) -> _Response:
    events = payload if isinstance(payload, list) else [payload]
    first = events[0] if events else None
    data = first.get("data") if isinstance(first, dict) else None
    code = data.get("validationCode") if isinstance(data, dict) else None
    if not isinstance(code, str) or not code:
        return _Response.refuse(
            400, "A SubscriptionValidation delivery must carry data.validationCode"
        )
    return _Response.json(200, {"validationResponse": code})
