"""Names every part of the local host shares: constants, the error tree, the value
types and small helpers (kept here so the parts never import each other)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

EVENTGRID_WEBHOOK_PATH = "/runtime/webhooks/eventgrid"
ADMIN_FUNCTIONS_PATH = "/admin/functions/"
ZERO_SUBSCRIPTION_ID = "00000000-0000-0000-0000-000000000000"
HOST_API_REASON = "This function was programmatically called via the host APIs."

HTTP_TRIGGER = "httpTrigger"
EVENT_GRID_TRIGGER = "eventGridTrigger"
TIMER_TRIGGER = "timerTrigger"

_JSON = "application/json; charset=utf-8"
_TEXT = "text/plain; charset=utf-8"
_CLOUDEVENT_REQUIRED = ("id", "source", "type")
_EVENTGRID_REQUIRED = ("id", "eventType", "subject")
_PAST_DUE_TOLERANCE = dt.timedelta(seconds=1)
_WATCHER_READY_TIMEOUT = 10.0


# -- errors ------------------------------------------------------------------------------------


class HostError(Exception):
    """Base class of the local host's errors.

    HostError
     ├── HostConfigurationError  the app or its settings cannot be served (raised at
     │                           construction: bad schedule, unset %SETTING%, bad route,
     │                           a subscription naming a function that is not there)
     ├── UnknownFunctionError    no function of that name and trigger type
     └── FunctionInvocationError the function raised (the exception is chained)
    """


class HostConfigurationError(HostError):
    """The function app or its app settings cannot be served as they are."""


class UnknownFunctionError(HostError, LookupError):
    """No function of that name (and trigger type) in the app."""


class FunctionInvocationError(HostError):
    """A function raised; ``__cause__`` is its exception."""

    def __init__(self, message: str, result: InvocationResult) -> None:
        super().__init__(message)
        self.result = result


# -- public value types ------------------------------------------------------------------------


@dataclass(frozen=True)
class HostRefusal:
    """A request the host refused itself (a 4xx it made, or its own 500), as received:
    ``body`` is the bytes of the request, verbatim; ``event_index`` names the event of a
    delivery that was refused while the others were delivered. Secret-bearing headers
    (``Authorization``, function keys, cookies) are left out."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    status: int
    reason: str
    event_index: int | None = None

    def describe(self) -> dict[str, Any]:
        """Everything but the body, as JSON-ready values."""
        return {
            "method": self.method,
            "path": self.path,
            "query": dict(self.query),
            "headers": dict(self.headers),
            "status": self.status,
            **({"event_index": self.event_index} if self.event_index is not None else {}),
        }


_SECRET_HEADERS = frozenset({"authorization", "x-functions-key", "cookie", "aeg-sas-key"})


@dataclass(frozen=True)
class InvocationResult:
    """What one invocation of a function did."""

    function_name: str
    invocation_id: str
    succeeded: bool
    duration_ms: float
    value: Any = None
    error: BaseException | None = None


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return "null" if value is None else f"a {type(value).__name__}"


def _names(functions: Mapping[str, Any]) -> str:
    return ", ".join(sorted(functions)) or "none"


def _etag(blob: Any) -> str:
    return str(blob.etag or "").strip('"')


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat()


def _event_time(moment: dt.datetime) -> str:
    # Azure writes seven fractional digits and a Z: 2017-06-26T18:41:00.9584103Z
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def _enum_value(value: Any) -> str:
    return str(getattr(value, "value", value))


def _run_awaitable(awaitable: Any) -> Any:
    async def wait() -> Any:
        return await awaitable

    return asyncio.run(wait())
