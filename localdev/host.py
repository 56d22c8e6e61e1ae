"""A local stand-in for the Azure Functions host (Core Tools cannot be installed here).

``LocalFunctionsHost`` serves a Python v2 ``func.FunctionApp`` on a loopback port the way the
Functions host and the Python worker do, closely enough for development and end-to-end
tests:

- HTTP triggers under ``/api/<route>`` (route templates with ``{param}``, ``{param:alpha}``,
  ``{param?}``, ``{*rest}``; method filtering; auth levels are not enforced, as with Core
  Tools);
- Event Grid triggers at ``POST /runtime/webhooks/eventgrid?functionName=NAME`` (Event Grid
  schema and CloudEvents 1.0, the subscription-validation handshake and the CloudEvents
  abuse-protection ``OPTIONS`` handshake);
- timer triggers on their NCRONTAB schedules (``%SETTING%`` resolved from the app settings,
  ``run_on_startup`` honoured), plus ``fire_timer(name)`` and ``POST /admin/functions/NAME``;
- ``BlobSubscription``: a poller that turns new blobs in Azurite into
  ``Microsoft.Storage.BlobCreated`` events (Event Grid schema, the fields Azure sends) and
  delivers them through the host's own Event Grid webhook, as a storage event subscription
  would.

Requests the host refuses itself (its own 400/404/405, a batch's unreadable event) are handed
to ``on_refused`` (the stack dead-letters them); each event of a batch is decided on its own.

The host is for a trusted machine: like Core Tools it enforces no function keys, and it
listens on loopback addresses only; anyone who can reach its port can call every route.

Trigger objects are built with the azure-functions library's own types and converters, so a
function sees what it would see in Azure. Run it from a shell with ``python -m localdev.host``
(``--help`` for options).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import http.client
import http.server
import importlib
import inspect
import ipaddress
import json
import logging
import os
import re
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import azure.functions as func
from azure.functions import meta
from azure.functions.decorators.core import BindingDirection
from azure.functions.eventgrid import EventGridEventInConverter
from azure.functions.timer import TimerRequestConverter
from croniter import croniter

logger = logging.getLogger(__name__)

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
class BlobSubscription:
    """Deliver a ``Microsoft.Storage.BlobCreated`` event to an Event Grid trigger function for
    each new committed blob in a container, like a storage-account event subscription.

    ``prefix``/``suffix`` filter blob names (Event Grid's subjectBeginsWith/subjectEndsWith).
    Blobs already there when the host starts are ignored unless ``deliver_existing``. An
    overwrite (same name, new ETag) is a new event, as in Azure. Deliveries answered 5xx (or
    not answered) are retried up to ``max_delivery_attempts`` times, then dropped with an
    error in the log (Event Grid would dead-letter them).
    """

    connection_string: str
    container: str
    function_name: str
    prefix: str = ""
    poll_interval: float = 0.2
    deliver_existing: bool = False
    suffix: str = ""
    max_delivery_attempts: int = 3

    def __post_init__(self) -> None:
        if self.poll_interval <= 0:
            raise ValueError("poll_interval must be positive")
        if self.max_delivery_attempts < 1:
            raise ValueError("max_delivery_attempts must be at least 1")


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


# -- route templates ---------------------------------------------------------------------------

_ROUTE_PARAMETER = re.compile(r"\{([^{}]+)\}")
_PARAMETER_SPEC = re.compile(
    r"^(?P<catch_all>\*{1,2})?(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"(?P<constraints>(?::[A-Za-z]+(?:\([^)]*\))?)*)"
    r"(?P<optional>\?)?(?:=(?P<default>.*))?$"
)
_CONSTRAINT = re.compile(r":([A-Za-z]+)(?:\(([^)]*)\))?")
_CONSTRAINT_PATTERNS = {
    "int": r"-?\d+",
    "long": r"-?\d+",
    "alpha": r"[A-Za-z]+",
    "bool": r"(?:true|false)",
    "guid": r"\{?[0-9A-Fa-f]{8}-(?:[0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}\}?",
    "decimal": r"-?\d+(?:\.\d+)?",
    "double": r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?",
    "float": r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?",
    "datetime": r"[^/]+",
}


@dataclass(frozen=True)
class RouteTemplate:
    """An ASP.NET-style route template (``models/{model}/retrain``) compiled to a regex.

    Supports ``{name}``, constraints (``:int``, ``:alpha``, ``:guid``, ``:bool``,
    ``:minlength(n)``, ``:maxlength(n)``, ``:length(n)``, ``:min(n)``, ``:max(n)``,
    ``:range(a,b)``, ``:regex(expr)`` ...), optional ``{name?}`` and defaults ``{name=x}`` in
    trailing segments, and a catch-all ``{*rest}``. Literals match case-insensitively.
    """

    template: str
    pattern: re.Pattern[str]
    checks: tuple[tuple[str, Callable[[str], bool]], ...]
    defaults: tuple[tuple[str, str], ...]
    precedence: tuple[int, ...]

    @classmethod
    def compile(cls, template: str) -> RouteTemplate:
        segments = [s for s in template.strip("/").split("/")] if template.strip("/") else []
        regex = ""
        checks: list[tuple[str, Callable[[str], bool]]] = []
        defaults: list[tuple[str, str]] = []
        precedence: list[int] = []
        for index, segment in enumerate(segments):
            if not segment:
                raise ValueError(f"route {template!r} has an empty segment")
            whole = _PARAMETER_SPEC.match(segment[1:-1]) if _is_single_parameter(segment) else None
            if whole is not None and (whole["catch_all"] or whole["optional"] or whole["default"]):
                if whole["catch_all"] and index != len(segments) - 1:
                    raise ValueError(f"route {template!r}: a catch-all must be the last segment")
                name = whole["name"]
                body, value_checks = _constraint_regex(template, whole["constraints"])
                if whole["catch_all"]:
                    body = ".*"
                regex += f"(?:/(?P<{name}>{body}))?"
                checks += [(name, check) for check in value_checks]
                if whole["default"] is not None:
                    defaults.append((name, whole["default"]))
                precedence.append(5 if whole["catch_all"] else 4)
                continue
            piece, segment_checks, rank = _segment_regex(template, segment)
            regex += "/" + piece
            checks += segment_checks
            precedence.append(rank)
        pattern = re.compile(f"^{regex}/?$", re.IGNORECASE)
        return cls(template, pattern, tuple(checks), tuple(defaults), tuple(precedence))

    def match(self, path: str) -> dict[str, str] | None:
        """Route parameters if ``path`` (``/models/m1/retrain``, decoded) matches, else None."""
        found = self.pattern.match(path)
        if found is None:
            return None
        values = {name: value for name, value in found.groupdict().items() if value is not None}
        for name, default in self.defaults:
            values.setdefault(name, default)
        for name, check in self.checks:
            if name in values and not check(values[name]):
                return None
        return values


def _is_single_parameter(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}") and segment.count("{") == 1


def _segment_regex(
    template: str, segment: str
) -> tuple[str, list[tuple[str, Callable[[str], bool]]], int]:
    regex = ""
    checks: list[tuple[str, Callable[[str], bool]]] = []
    position = 0
    parameters = 0
    constrained = False
    for found in _ROUTE_PARAMETER.finditer(segment):
        regex += re.escape(segment[position : found.start()])
        spec = _PARAMETER_SPEC.match(found.group(1))
        if spec is None or spec["catch_all"] or spec["optional"] or spec["default"]:
            raise ValueError(f"route {template!r}: cannot read parameter {found.group(0)!r}")
        body, segment_checks = _constraint_regex(template, spec["constraints"])
        regex += f"(?P<{spec['name']}>{body})"
        checks += [(spec["name"], check) for check in segment_checks]
        constrained = constrained or bool(spec["constraints"])
        parameters += 1
        position = found.end()
    literal_tail = segment[position:]
    if "{" in literal_tail or "}" in literal_tail:
        raise ValueError(f"route {template!r}: unbalanced braces in {segment!r}")
    regex += re.escape(literal_tail)
    if parameters == 0:
        return regex, checks, 0
    if parameters == 1 and _is_single_parameter(segment):
        return regex, checks, 2 if constrained else 3
    return regex, checks, 1


def _constraint_regex(template: str, constraints: str) -> tuple[str, list[Callable[[str], bool]]]:
    body = r"[^/]+"
    checks: list[Callable[[str], bool]] = []
    for name, argument in _CONSTRAINT.findall(constraints):
        kind = name.lower()
        if kind in _CONSTRAINT_PATTERNS:
            body = _CONSTRAINT_PATTERNS[kind]
        elif kind == "regex":
            body = f"(?:{argument})"
        elif kind in ("minlength", "maxlength", "length", "min", "max", "range"):
            checks.append(_bound_check(kind, argument))
        else:
            raise ValueError(f"route {template!r}: unknown route constraint {name!r}")
    return body, checks


def _bound_check(kind: str, argument: str) -> Callable[[str], bool]:
    numbers = [int(part) for part in argument.split(",")]

    def as_int(value: str) -> int | None:
        try:
            return int(value)
        except ValueError:
            return None

    def check(value: str) -> bool:
        if kind == "minlength":
            return len(value) >= numbers[0]
        if kind == "maxlength":
            return len(value) <= numbers[0]
        if kind == "length":
            low, high = (numbers[0], numbers[0]) if len(numbers) == 1 else numbers[:2]
            return low <= len(value) <= high
        number = as_int(value)
        if number is None:
            return False
        if kind == "min":
            return number >= numbers[0]
        if kind == "max":
            return number <= numbers[0]
        return numbers[0] <= number <= numbers[1]

    return check


# -- timer schedules ---------------------------------------------------------------------------


class Schedule(Protocol):
    def next_after(self, moment: dt.datetime) -> dt.datetime: ...


@dataclass(frozen=True)
class NcrontabSchedule:
    """A six-field NCRONTAB expression (seconds first), evaluated in UTC."""

    expression: str

    def next_after(self, moment: dt.datetime) -> dt.datetime:
        result: dt.datetime = croniter(self.expression, moment, second_at_beginning=True).get_next(
            dt.datetime
        )
        return result


@dataclass(frozen=True)
class IntervalSchedule:
    """A TimeSpan schedule (``hh:mm:ss``), as App Service plans allow."""

    interval: dt.timedelta

    def next_after(self, moment: dt.datetime) -> dt.datetime:
        return moment + self.interval


_SETTING_REFERENCE = re.compile(r"%([^%\s]+)%")
_TIMESPAN = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})$")


def resolve_setting_references(text: str, app_settings: Mapping[str, str], *, where: str) -> str:
    """Replace each ``%NAME%`` with the app setting NAME, as the Functions host does."""

    def lookup(found: re.Match[str]) -> str:
        name = found.group(1)
        value = app_settings.get(name)
        if value is None or value == "":
            raise HostConfigurationError(
                f"{where}: {text!r} refers to app setting {name!r}, which is not set. "
                "Add it to local.settings.json (Values) or to the environment."
            )
        return value

    return _SETTING_REFERENCE.sub(lookup, text)


def parse_schedule(expression: str, *, where: str) -> Schedule:
    """An NCRONTAB (6 fields) or TimeSpan schedule, or HostConfigurationError."""
    text = expression.strip()
    timespan = _TIMESPAN.match(text)
    if timespan:
        hours, minutes, seconds = (int(part) for part in timespan.groups())
        interval = dt.timedelta(hours=hours, minutes=minutes, seconds=seconds)
        if interval <= dt.timedelta(0):
            raise HostConfigurationError(f"{where}: TimeSpan schedule {text!r} must be positive")
        return IntervalSchedule(interval)
    fields = text.split()
    if len(fields) != 6:
        raise HostConfigurationError(
            f"{where}: schedule {text!r} has {len(fields)} fields; an NCRONTAB expression has "
            "six: {second} {minute} {hour} {day} {month} {day-of-week}"
        )
    if not croniter.is_valid(text, second_at_beginning=True):
        raise HostConfigurationError(f"{where}: {text!r} is not a valid NCRONTAB expression")
    return NcrontabSchedule(text)


# -- indexed functions -------------------------------------------------------------------------


@dataclass
class _Indexed:
    name: str
    trigger_type: str
    trigger_parameter: str
    user_function: Callable[..., Any]
    output_parameters: tuple[str, ...]
    wants_context: bool
    directory: str
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class _HttpFunction:
    function: _Indexed
    route: RouteTemplate
    methods: frozenset[str] | None
    auth_level: str

    def allows(self, method: str) -> bool:
        return self.methods is None or method in self.methods


@dataclass
class _TimerFunction:
    function: _Indexed
    schedule: Schedule
    schedule_text: str
    run_on_startup: bool
    last: dt.datetime | None = None


class _LocalContext(func.Context):
    def __init__(self, invocation_id: str, function_name: str, directory: str) -> None:
        self._invocation_id = invocation_id
        self._function_name = function_name
        self._directory = directory
        self._thread_local = threading.local()
        self._thread_local.invocation_id = invocation_id

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> Any:
        return self._thread_local

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._directory

    @property
    def trace_context(self) -> Any:
        return None

    @property
    def retry_context(self) -> Any:
        return None


class _Out(func.Out[Any]):
    """An output binding the local host does not emulate: the value is kept and logged."""

    def __init__(self, function_name: str, name: str) -> None:
        self._function_name = function_name
        self._name = name
        self._value: Any = None

    def set(self, val: Any) -> None:
        logger.info(
            "Output binding '%s' of 'Functions.%s' is not emulated locally; value dropped",
            self._name,
            self._function_name,
        )
        self._value = val

    def get(self) -> Any:
        return self._value


def _enum_value(value: Any) -> str:
    return str(getattr(value, "value", value))


def _index(function: Any) -> tuple[_Indexed, dict[str, Any]] | None:
    trigger = function.get_trigger()
    if trigger is None:
        return None
    settings = dict(trigger.get_dict_repr())
    name = str(function.get_function_name())
    user_function = function.get_user_function()
    parameters = inspect.signature(user_function).parameters
    outputs = tuple(
        binding.name
        for binding in function.get_bindings()
        if binding is not trigger
        and binding.direction == BindingDirection.OUT.value
        and binding.name != "$return"
        and binding.name in parameters
    )
    if trigger.name not in parameters and not any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    ):
        raise HostConfigurationError(
            f"Function 'Functions.{name}': its trigger binding is named {trigger.name!r} but "
            f"the Python function has no such parameter (it has: {', '.join(parameters)})"
        )
    indexed = _Indexed(
        name=name,
        trigger_type=str(trigger.type),
        trigger_parameter=str(trigger.name),
        user_function=user_function,
        output_parameters=outputs,
        wants_context="context" in parameters and trigger.name != "context",
        directory=str(Path(getattr(function, "function_script_file", ".") or ".").parent),
    )
    return indexed, settings


# -- the host ----------------------------------------------------------------------------------


class LocalFunctionsHost:
    """Serve a ``func.FunctionApp`` locally: HTTP, Event Grid and timer triggers, plus blob
    subscriptions that turn new blobs in Azurite into BlobCreated deliveries.

    Everything is checked at construction (schedules, ``%SETTING%`` references, routes, the
    functions named by subscriptions), so a broken app fails before anything listens.
    ``start()`` binds ``host:port`` (``port=0``: a free port; loopback addresses only), then
    starts the timers and blob watchers; ``stop()`` stops them and the server. ``set_environ``
    copies ``app_settings`` into ``os.environ`` for the host's lifetime (the real host exposes
    app settings as environment variables); off by default because it is process-wide.
    """

    def __init__(
        self,
        app: Any,
        *,
        app_settings: Mapping[str, str],
        host: str = "127.0.0.1",
        port: int = 0,
        blob_subscriptions: Sequence[BlobSubscription] = (),
        logger: logging.Logger | None = None,
        route_prefix: str = "api",
        set_environ: bool = False,
        on_refused: Callable[[HostRefusal], None] | None = None,
    ) -> None:
        _require_loopback(host)
        self.host = host
        self.requested_port = port
        self.app_settings: Mapping[str, str] = dict(app_settings)
        self.route_prefix = "/" + route_prefix.strip("/") if route_prefix.strip("/") else ""
        self.blob_subscriptions = tuple(blob_subscriptions)
        self.set_environ = set_environ
        self.on_refused = on_refused
        self._log = logger or logging.getLogger(__name__)
        self._functions: dict[str, _Indexed] = {}
        self._http: list[_HttpFunction] = []
        self._eventgrid: dict[str, _Indexed] = {}
        self._timers: dict[str, _TimerFunction] = {}
        self._unsupported: dict[str, str] = {}
        self._load(app)
        self._check_subscriptions()
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._saved_environ: dict[str, str | None] = {}
        self._sequencer_lock = threading.Lock()
        self._last_sequencer = 0

    # -- loading -------------------------------------------------------------------------------

    def _load(self, app: Any) -> None:
        for function in app.get_functions():
            indexed_and_settings = _index(function)
            if indexed_and_settings is None:
                continue
            indexed, settings = indexed_and_settings
            self._functions[indexed.name] = indexed
            where = f"Function 'Functions.{indexed.name}'"
            if indexed.trigger_type == HTTP_TRIGGER:
                self._http.append(self._load_http(indexed, settings, where))
            elif indexed.trigger_type == EVENT_GRID_TRIGGER:
                self._eventgrid[indexed.name] = indexed
            elif indexed.trigger_type == TIMER_TRIGGER:
                self._timers[indexed.name] = self._load_timer(indexed, settings, where)
            else:
                self._unsupported[indexed.name] = indexed.trigger_type
        # More specific templates first (literal before parameter before catch-all).
        self._http.sort(key=lambda entry: entry.route.precedence)

    def _load_http(self, indexed: _Indexed, settings: dict[str, Any], where: str) -> _HttpFunction:
        template = str(settings.get("route") or indexed.name)
        try:
            route = RouteTemplate.compile(template)
        except ValueError as error:
            raise HostConfigurationError(f"{where}: {error}") from error
        methods = settings.get("methods")
        allowed = frozenset(_enum_value(m).upper() for m in methods) if methods else None
        auth_level = _enum_value(settings.get("authLevel") or "function").lower()
        return _HttpFunction(indexed, route, allowed, auth_level)

    def _load_timer(
        self, indexed: _Indexed, settings: dict[str, Any], where: str
    ) -> _TimerFunction:
        raw = settings.get("schedule")
        if not raw:
            raise HostConfigurationError(f"{where}: the timer trigger has no schedule")
        text = resolve_setting_references(str(raw), self.app_settings, where=where)
        schedule = parse_schedule(text, where=where)
        return _TimerFunction(indexed, schedule, text, bool(settings.get("runOnStartup")))

    def _check_subscriptions(self) -> None:
        for subscription in self.blob_subscriptions:
            if subscription.function_name not in self._eventgrid:
                raise HostConfigurationError(
                    f"Blob subscription on container {subscription.container!r} names "
                    f"{subscription.function_name!r}, which is not an Event Grid trigger "
                    f"function of this app (those are: {_names(self._eventgrid)})"
                )

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> LocalFunctionsHost:
        """Listen, then start timers and blob watchers; returns self."""
        if self._server is not None:
            raise HostError("the host is already started")
        self._stopping.clear()
        self._server = _Server(self, (self.host, self.requested_port))
        if self.set_environ:
            self._export_settings()
        serve = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="localdev-host-http",
            daemon=True,
        )
        serve.start()
        self._threads = [serve]
        self._describe()
        for timer in self._timers.values():
            self._spawn(f"localdev-timer-{timer.function.name}", self._run_timer, timer)
        # Blobs already there when start() returns are the baseline a watcher ignores, so
        # wait for each watcher's first look at its container (bounded: Azurite may be down).
        watching = []
        for subscription in self.blob_subscriptions:
            ready = threading.Event()
            watching.append((subscription, ready))
            self._spawn(
                f"localdev-blobwatch-{subscription.container}",
                self._watch_blobs,
                subscription,
                ready,
            )
        deadline = time.monotonic() + _WATCHER_READY_TIMEOUT
        for subscription, ready in watching:
            if not ready.wait(max(0.0, deadline - time.monotonic())):
                self._log.warning(
                    "The watcher of container '%s' has not listed it yet", subscription.container
                )
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop timers and blob watchers (waiting for running invocations), then the server."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        deadline = time.monotonic() + timeout
        current = threading.current_thread()
        for thread in self._threads[1:]:
            if thread is not current:
                thread.join(max(0.0, deadline - time.monotonic()))
                if thread.is_alive():
                    self._log.warning("%s is still running after %.0f s", thread.name, timeout)
        server.shutdown()
        server.server_close()
        self._threads[0].join(max(0.0, deadline - time.monotonic()))
        self._threads = []
        if self.set_environ:
            self._restore_environ()
        self._log.info("Local Functions host at %s stopped", _base_url(self.host, server))

    def __enter__(self) -> LocalFunctionsHost:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` once started."""
        if self._server is None:
            raise HostError("the host is not running; call start() first")
        return _base_url(self.host, self._server)

    @property
    def port(self) -> int:
        if self._server is None:
            raise HostError("the host is not running; call start() first")
        return int(self._server.server_address[1])

    @property
    def function_names(self) -> dict[str, str]:
        """Every function of the app and its trigger type (served or not)."""
        return {name: indexed.trigger_type for name, indexed in self._functions.items()}

    def eventgrid_url(self, function_name: str) -> str:
        """The webhook URL an Event Grid subscription for ``function_name`` would call."""
        query = urllib.parse.urlencode({"functionName": function_name})
        return f"{self.base_url}{EVENTGRID_WEBHOOK_PATH}?{query}"

    def _spawn(self, name: str, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _describe(self) -> None:
        base = self.base_url
        self._log.info("Local Functions host listening at %s", base)
        lines = []
        for entry in self._http:
            methods = ",".join(sorted(entry.methods)) if entry.methods else "all methods"
            route = entry.route.template.strip("/")
            lines.append(f"  {entry.function.name}: [{methods}] {base}{self.route_prefix}/{route}")
        for name in self._eventgrid:
            lines.append(f"  {name}: eventGridTrigger {self.eventgrid_url(name)}")
        for name, timer in self._timers.items():
            startup = ", run on startup" if timer.run_on_startup else ""
            lines.append(f"  {name}: timerTrigger '{timer.schedule_text}' (UTC{startup})")
        for name, kind in self._unsupported.items():
            lines.append(f"  {name}: {kind} (not served by the local host)")
        self._log.info("Functions:\n%s", "\n".join(lines) if lines else "  (none)")
        if any(entry.auth_level != "anonymous" for entry in self._http):
            self._log.info(
                "Auth levels are not enforced locally (as with Core Tools): "
                "function and admin keys are neither required nor checked; "
                "run the local host on a trusted machine only"
            )

    def _export_settings(self) -> None:
        self._saved_environ = {name: os.environ.get(name) for name in self.app_settings}
        os.environ.update(self.app_settings)

    def _restore_environ(self) -> None:
        for name, value in self._saved_environ.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environ = {}

    # -- invoking ------------------------------------------------------------------------------

    def _invoke(self, function: _Indexed, trigger_value: Any, reason: str) -> InvocationResult:
        invocation_id = str(uuid.uuid4())
        self._log.info(
            "Executing 'Functions.%s' (Reason='%s', Id=%s)", function.name, reason, invocation_id
        )
        arguments: dict[str, Any] = {function.trigger_parameter: trigger_value}
        if function.wants_context:
            arguments["context"] = _LocalContext(invocation_id, function.name, function.directory)
        for name in function.output_parameters:
            arguments[name] = _Out(function.name, name)
        started = time.perf_counter()
        try:
            value = function.user_function(**arguments)
            if inspect.isawaitable(value):
                value = _run_awaitable(value)
        except Exception as error:
            duration = (time.perf_counter() - started) * 1000
            self._log.error(
                "Executed 'Functions.%s' (Failed, Id=%s, Duration=%.0fms)",
                function.name,
                invocation_id,
                duration,
            )
            self._log.error(
                "Exception while executing function: Functions.%s (Id=%s)",
                function.name,
                invocation_id,
                exc_info=error,
            )
            return InvocationResult(function.name, invocation_id, False, duration, error=error)
        duration = (time.perf_counter() - started) * 1000
        self._log.info(
            "Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%.0fms)",
            function.name,
            invocation_id,
            duration,
        )
        return InvocationResult(function.name, invocation_id, True, duration, value=value)

    # -- HTTP triggers -------------------------------------------------------------------------

    def _handle_http_trigger(self, request: _Request) -> _Response | None:
        prefix = self.route_prefix
        path = request.path
        if prefix:
            if not (path.lower() == prefix or path.lower().startswith(prefix + "/")):
                return None
            path = path[len(prefix) :]
        path = "/" + path.strip("/") if path.strip("/") else ""
        matched: list[tuple[_HttpFunction, dict[str, str]]] = []
        for entry in self._http:
            route_params = entry.route.match(path)
            if route_params is not None:
                matched.append((entry, route_params))
        if not matched:
            return None
        for entry, route_params in matched:
            if entry.allows(request.method):
                return self._call_http_function(entry, route_params, request)
        allowed = sorted({m for entry, _ in matched for m in (entry.methods or ())})
        return _Response.refuse(
            405,
            f"Method {request.method} is not allowed on {request.path}; allowed: "
            f"{', '.join(allowed)}",
            headers={"Allow": ", ".join(allowed)},
        )

    def _call_http_function(
        self, entry: _HttpFunction, route_params: dict[str, str], request: _Request
    ) -> _Response:
        http_request = func.HttpRequest(
            method=request.method,
            url=request.url,
            headers=request.headers,
            params=request.query,
            route_params=route_params,
            body=request.body,
        )
        result = self._invoke(entry.function, http_request, HOST_API_REASON)
        if not result.succeeded:
            return _Response.text(500, f"Function '{entry.function.name}' failed: {result.error}")
        return _Response.from_function_value(result.value)

    # -- Event Grid triggers -------------------------------------------------------------------

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

        failures = []
        for event in decoded:
            reason = f"EventGrid trigger fired at {_iso(_utcnow())}"
            result = self._invoke(function, event, reason)
            if not result.succeeded:
                failures.append(f"event {event.id}: {result.error!r}")
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

    # -- admin API (invoke a non-HTTP function) ------------------------------------------------

    def _handle_admin(self, request: _Request) -> _Response:
        name = urllib.parse.unquote(request.path[len(ADMIN_FUNCTIONS_PATH) :]).strip("/")
        if request.method != "POST":
            return _Response.refuse(405, "POST to invoke a function", headers={"Allow": "POST"})
        if name in self._timers:
            result = self._fire_timer(self._timers[name], HOST_API_REASON, past_due=False)
        elif name in self._eventgrid:
            try:
                body = json.loads(request.body or b"{}")
                event = body.get("input") if isinstance(body, dict) else None
                text = event if isinstance(event, str) else json.dumps(event)
                trigger = EventGridEventInConverter.decode(
                    meta.Datum(text, "json"), trigger_metadata=None
                )
            except Exception as error:
                return _Response.refuse(400, f"Cannot read the event in 'input': {error}")
            result = self._invoke(self._eventgrid[name], trigger, HOST_API_REASON)
        else:
            return _Response.refuse(
                404,
                f"No timer or Event Grid trigger function named '{name}' "
                f"(those are: {_names({**self._timers, **self._eventgrid})})",
            )
        if not result.succeeded:
            return _Response.text(500, f"Function '{name}' failed: {result.error!r}")
        return _Response(202, b"", {})

    # -- timers --------------------------------------------------------------------------------

    def fire_timer(self, function_name: str) -> Any:
        """Invoke a timer-trigger function now (waits for a running invocation of it first).

        Returns what the function returned; raises FunctionInvocationError if it raised and
        UnknownFunctionError if there is no timer function of that name.
        """
        timer = self._timers.get(function_name)
        if timer is None:
            raise UnknownFunctionError(
                f"No timer trigger function named '{function_name}' "
                f"(timer functions: {_names(self._timers)})"
            )
        result = self._fire_timer(timer, HOST_API_REASON, past_due=False)
        if not result.succeeded:
            raise FunctionInvocationError(
                f"'Functions.{function_name}' failed: {result.error!r}", result
            ) from result.error
        return result.value

    def _fire_timer(
        self, timer: _TimerFunction, reason: str, *, past_due: bool
    ) -> InvocationResult:
        with timer.function.lock:  # one invocation of a timer function at a time, as in Azure
            now = _utcnow()
            status = None
            if timer.last is not None:
                status = {
                    "Last": _iso(timer.last),
                    "Next": _iso(timer.schedule.next_after(now)),
                    "LastUpdated": _iso(timer.last),
                }
            datum = meta.Datum(
                json.dumps(
                    {
                        "Schedule": {"AdjustForDST": True},
                        "ScheduleStatus": status,
                        "IsPastDue": past_due,
                    }
                ),
                "json",
            )
            request = TimerRequestConverter.decode(datum, trigger_metadata=None)
            result = self._invoke(timer.function, request, reason)
            timer.last = now
            return result

    def _run_timer(self, timer: _TimerFunction) -> None:
        if timer.run_on_startup and not self._stopping.is_set():
            self._fire_timer(timer, f"Timer fired at {_iso(_utcnow())}", past_due=False)
        previous_due: dt.datetime | None = None
        while not self._stopping.is_set():
            after = _utcnow() if previous_due is None else max(_utcnow(), previous_due)
            due = timer.schedule.next_after(after)
            if not self._sleep_until(due):
                return
            late = _utcnow() - due
            self._fire_timer(
                timer, f"Timer fired at {_iso(_utcnow())}", past_due=late > _PAST_DUE_TOLERANCE
            )
            previous_due = due

    def _sleep_until(self, moment: dt.datetime) -> bool:
        """Wait until ``moment`` (UTC); False if the host is stopping."""
        while True:
            remaining = (moment - _utcnow()).total_seconds()
            if remaining <= 0:
                return not self._stopping.is_set()
            if self._stopping.wait(min(remaining, 1.0)):
                return False

    # -- blob subscriptions --------------------------------------------------------------------

    def _watch_blobs(self, subscription: BlobSubscription, ready: threading.Event) -> None:
        from azure.core.exceptions import AzureError, ResourceNotFoundError
        from azure.storage.blob import BlobServiceClient

        from shared.adapters.blob import client_options

        # Quick retries: a storage that is not up yet must not stall the watcher for
        # minutes in the client's default backoff; the loop below keeps trying.
        service = BlobServiceClient.from_connection_string(
            subscription.connection_string, **client_options()
        )
        container = service.get_container_client(subscription.container)
        seen: dict[str, str] | None = None
        waiting_reported = False
        failures = 0
        # When the first listing fails (storage not listening yet), whatever was written
        # from the watcher's start on is new: the watcher catches up on it once storage
        # answers. (Last-modified times have one-second resolution: from a second before.)
        started = _utcnow().replace(microsecond=0) - dt.timedelta(seconds=1)
        missed_start = False
        self._log.info(
            "Watching container '%s'%s for new blobs -> Functions.%s",
            subscription.container,
            f" (prefix '{subscription.prefix}')" if subscription.prefix else "",
            subscription.function_name,
        )
        while not self._stopping.is_set():
            try:
                blobs = [
                    blob
                    for blob in container.list_blobs(name_starts_with=subscription.prefix or None)
                    if blob.name.endswith(subscription.suffix)
                ]
                failures = 0
            except ResourceNotFoundError:
                if not waiting_reported:
                    self._log.info(
                        "Container '%s' does not exist yet; waiting for it", subscription.container
                    )
                    waiting_reported = True
                if seen is None:
                    seen = {}  # whatever appears in it later is new
                ready.set()
                self._stopping.wait(subscription.poll_interval)
                continue
            except (AzureError, OSError) as error:
                ready.set()
                failures += 1
                missed_start = missed_start or seen is None
                if failures in (1, 10) or failures % 100 == 0:
                    self._log.warning(
                        "Cannot list container '%s' (%s); retrying", subscription.container, error
                    )
                self._stopping.wait(subscription.poll_interval)
                continue
            current = {blob.name: _etag(blob) for blob in blobs}
            if seen is None:
                if subscription.deliver_existing:
                    seen = {}
                elif missed_start:
                    seen = {
                        blob.name: current[blob.name]
                        for blob in blobs
                        if blob.last_modified is not None and blob.last_modified < started
                    }
                    self._log.info(
                        "Storage answers now: catching up on %d blob(s) written in container "
                        "'%s' since the watcher started",
                        len(current) - len(seen),
                        subscription.container,
                    )
                else:
                    seen = dict(current)
            ready.set()
            fresh = [blob for blob in blobs if seen.get(blob.name) != current[blob.name]]
            fresh.sort(key=lambda blob: (blob.last_modified or _utcnow(), blob.name))
            for blob in fresh:
                if self._stopping.is_set():
                    return
                event = self._blob_created_event(container, blob)
                self._deliver(subscription, event)
                seen[blob.name] = current[blob.name]
            for gone in set(seen) - set(current):
                del seen[gone]
            self._stopping.wait(subscription.poll_interval)

    def _blob_created_event(self, container: Any, blob: Any) -> dict[str, Any]:
        content = getattr(blob, "content_settings", None)
        blob_type = _enum_value(getattr(blob, "blob_type", None) or "BlockBlob")
        account = getattr(container, "account_name", None) or "devstoreaccount1"
        return {
            "topic": (
                f"/subscriptions/{ZERO_SUBSCRIPTION_ID}/resourceGroups/local/providers/"
                f"Microsoft.Storage/storageAccounts/{account}"
            ),
            "subject": f"/blobServices/default/containers/{container.container_name}/blobs/"
            f"{blob.name}",
            "eventType": "Microsoft.Storage.BlobCreated",
            # One id per blob version: hosts that watch the same container (several local
            # instances) emit the same event for a blob, which the service deduplicates,
            # as one storage subscription would deliver it once.
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{container.url}/{blob.name}#{_etag(blob)}")),
            "data": {
                "api": "PutBlob",
                "clientRequestId": str(uuid.uuid4()),
                "requestId": str(uuid.uuid4()),
                "eTag": _etag(blob),
                "contentType": getattr(content, "content_type", None) or "application/octet-stream",
                "contentLength": int(blob.size or 0),
                "blobType": blob_type,
                "url": container.get_blob_client(blob.name).url,
                "sequencer": self._next_sequencer(),
                "storageDiagnostics": {"batchId": str(uuid.uuid4())},
            },
            "dataVersion": "",
            "metadataVersion": "1",
            "eventTime": _event_time(_utcnow()),
        }

    def _next_sequencer(self) -> str:
        # Increasing within a host and across restarts (time based), 32 hex digits as in Azure.
        with self._sequencer_lock:
            self._last_sequencer = max(time.time_ns(), self._last_sequencer + 1)
            return f"{self._last_sequencer:032x}"

    def _deliver(self, subscription: BlobSubscription, event: dict[str, Any]) -> None:
        body = json.dumps([event]).encode("utf-8")
        delay = 0.2
        for attempt in range(1, subscription.max_delivery_attempts + 1):
            try:
                url = self.eventgrid_url(subscription.function_name)
            except HostError:
                return  # stopped
            request = urllib.request.Request(
                url,
                data=body,
                method="POST",
                headers={
                    "Content-Type": "application/json",
                    "aeg-event-type": "Notification",
                    "aeg-subscription-name": f"LOCAL-{subscription.container.upper()}",
                    "aeg-delivery-count": str(attempt - 1),
                    "aeg-data-version": "",
                    "aeg-metadata-version": "1",
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=300) as response:
                    response.read()
                return
            except urllib.error.HTTPError as error:
                status = error.code
                detail = error.read().decode("utf-8", errors="replace")
                if status < 500 and status not in (408, 429):
                    self._log.error(
                        "Event %s for %s was refused (%s %s); not retried",
                        event["id"],
                        event["subject"],
                        status,
                        detail,
                    )
                    return
                problem = f"{status} {detail}"
            except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
                problem = str(error)
            if attempt < subscription.max_delivery_attempts:
                self._log.warning(
                    "Delivery %s of event %s failed (%s); retrying in %.1f s",
                    attempt,
                    event["id"],
                    problem,
                    delay,
                )
                if self._stopping.wait(delay):
                    return
                delay *= 2
            else:
                self._log.error(
                    "Event %s for %s dropped after %s delivery attempts (last: %s); "
                    "Event Grid would dead-letter it",
                    event["id"],
                    event["subject"],
                    attempt,
                    problem,
                )

    # -- refusals ------------------------------------------------------------------------------

    def _report_refusal(
        self, request: _Request, status: int, reason: str, *, event_index: int | None = None
    ) -> None:
        """Hand a request the host refused to ``on_refused`` (the stack dead-letters it);
        a failing sink is logged, never answered."""
        self._log.warning(
            "Refused %s %s (%s): %s", request.method, request.path[:200], status, reason[:300]
        )
        if self.on_refused is None:
            return
        refusal = HostRefusal(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers={k: v for k, v in request.headers.items() if k not in _SECRET_HEADERS},
            body=request.body,
            status=status,
            reason=reason,
            event_index=event_index,
        )
        try:
            self.on_refused(refusal)
        except Exception:
            self._log.exception(
                "Could not keep the refused request %s %s", request.method, request.path
            )

    # -- request routing (called by the HTTP server threads) -----------------------------------

    def _route(self, request: _Request) -> _Response:
        lowered = request.path.lower()
        if lowered.rstrip("/") == EVENTGRID_WEBHOOK_PATH:
            return self._handle_eventgrid(request)
        if lowered.startswith(ADMIN_FUNCTIONS_PATH):
            return self._handle_admin(request)
        response = self._handle_http_trigger(request)
        if response is not None:
            return response
        return _Response.refuse(404, f"No function serves {request.method} {request.path}")


# -- HTTP plumbing -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Request:
    method: str
    url: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class _Response:
    status: int
    body: bytes
    headers: dict[str, str]
    refusal: str | None = None  # why the host itself refused the request

    @classmethod
    def refuse(
        cls, status: int, message: str, *, headers: Mapping[str, str] | None = None
    ) -> _Response:
        """A request the host refuses itself (not a function's answer): it is reported to
        the host's ``on_refused`` so it is kept, as the app keeps what it refuses."""
        text = cls.text(status, message, headers=headers)
        return cls(text.status, text.body, text.headers, refusal=message)

    @classmethod
    def text(
        cls, status: int, message: str, *, headers: Mapping[str, str] | None = None
    ) -> _Response:
        return cls(status, message.encode("utf-8"), {"Content-Type": _TEXT, **(headers or {})})

    @classmethod
    def json(cls, status: int, value: Any) -> _Response:
        return cls(status, json.dumps(value).encode("utf-8"), {"Content-Type": _JSON})

    @classmethod
    def from_function_value(cls, value: Any) -> _Response:
        if isinstance(value, func.HttpResponse):
            headers = dict(value.headers.items())
            if not any(name.lower() == "content-type" for name in headers):
                headers["Content-Type"] = f"{value.mimetype}; charset={value.charset}"
            return cls(int(value.status_code), value.get_body(), headers)
        if value is None:
            return cls(204, b"", {})
        if isinstance(value, bytes | bytearray):
            return cls(200, bytes(value), {"Content-Type": "application/octet-stream"})
        if isinstance(value, str):
            return cls(200, value.encode("utf-8"), {"Content-Type": _TEXT})
        return cls.json(200, value)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, host: LocalFunctionsHost, address: tuple[str, int]) -> None:
        self.functions_host = host
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "localdev-functions-host"
    timeout = 60  # an idle keep-alive connection is closed after this many seconds

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _dispatch(self) -> None:
        try:
            request = self._read_request()
        except ValueError as error:
            self._send(_Response.refuse(400, str(error)))
            return
        try:
            response = self.server.functions_host._route(request)
        except Exception as error:  # a bug in the host itself: answer, log, keep serving
            logger.exception("Local host failed on %s %s", request.method, request.path)
            response = _Response.refuse(500, f"Local host error: {error!r}")
        if response.refusal is not None:
            self.server.functions_host._report_refusal(request, response.status, response.refusal)
        self._send(response)

    def _read_request(self) -> _Request:
        split = urllib.parse.urlsplit(self.path)
        query: dict[str, str] = {}
        for name, values in urllib.parse.parse_qs(split.query, keep_blank_values=True).items():
            query[name] = ",".join(values)
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        host = (
            self.headers.get("Host")
            or f"{self.server.functions_host.host}:{self.server.server_address[1]}"
        )
        return _Request(
            method=self.command.upper(),
            url=f"http://{host}{self.path}",
            path=urllib.parse.unquote(split.path),
            query=query,
            headers=headers,
            body=self._read_body(),
        )

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size_line = self.rfile.readline(65537).split(b";", 1)[0].strip()
                try:
                    size = int(size_line, 16)
                except ValueError as error:
                    raise ValueError("Malformed chunked request body") from error
                if size == 0:
                    while self.rfile.readline(65537).strip():
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        try:
            return self.rfile.read(int(length))
        except ValueError as error:
            raise ValueError(f"Bad Content-Length {length!r}") from error

    def _send(self, response: _Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD" and response.body:
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)


# -- helpers -----------------------------------------------------------------------------------


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


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return "null" if value is None else f"a {type(value).__name__}"


def _names(functions: Mapping[str, Any]) -> str:
    return ", ".join(sorted(functions)) or "none"


def _require_loopback(host: str) -> None:
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"The local host only listens on loopback addresses, not {host!r}")


def _base_url(host: str, server: _Server) -> str:
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    return f"http://{shown}:{server.server_address[1]}"


def _etag(blob: Any) -> str:
    return str(blob.etag or "").strip('"')


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat()


def _event_time(moment: dt.datetime) -> str:
    # Azure writes seven fractional digits and a Z: 2017-06-26T18:41:00.9584103Z
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def _run_awaitable(awaitable: Any) -> Any:
    async def wait() -> Any:
        return await awaitable

    return asyncio.run(wait())


# -- command line ------------------------------------------------------------------------------

_DEVELOPMENT_STORAGE = "usedevelopmentstorage=true"


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m localdev.host",
        description=(
            "Serve the function app locally (HTTP, Event Grid and timer triggers) with Azurite "
            "for Blob storage, the way `func start` would. Stop it with Ctrl-C."
        ),
    )
    parser.add_argument(
        "--app", default="function_app:app", help="MODULE:ATTRIBUTE (default: function_app:app)"
    )
    parser.add_argument(
        "--settings",
        type=Path,
        default=Path("local.settings.json"),
        help="local.settings.json whose Values become app settings; the environment wins "
        "(default: ./local.settings.json, if present)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=7071, help="port (default 7071; 0: any free)")
    parser.add_argument(
        "--connection-string",
        help="use this Blob storage instead of starting Azurite",
    )
    parser.add_argument(
        "--azurite-location",
        type=Path,
        help="persist Azurite's blobs in this folder (default: in memory)",
    )
    parser.add_argument(
        "--storage-setting",
        action="append",
        default=None,
        metavar="NAME",
        help="app setting to point at the started Azurite when unset or "
        "UseDevelopmentStorage=true (repeatable; default: AzureWebJobsStorage)",
    )
    parser.add_argument(
        "--watch",
        action="append",
        default=[],
        metavar="CONTAINER[/PREFIX]=FUNCTION",
        help="deliver BlobCreated events for new blobs in CONTAINER to the Event Grid trigger "
        "FUNCTION (repeatable)",
    )
    parser.add_argument(
        "--deliver-existing",
        action="store_true",
        help="also deliver events for blobs already in watched containers",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    return parser.parse_args(argv)


def _parse_watch(text: str) -> tuple[str, str, str]:
    target, separator, function_name = text.partition("=")
    container, _, prefix = target.partition("/")
    if not separator or not container or not function_name:
        raise ValueError(f"--watch {text!r}: expected CONTAINER[/PREFIX]=FUNCTION")
    return container, prefix, function_name


def point_storage_settings(
    environ: MutableMapping[str, str],
    connection_string: str,
    names: Sequence[str],
    *,
    replace_all: bool,
) -> list[str]:
    """Point the app's storage settings at ``connection_string``; returns the names set.

    The started Azurite takes ``names`` that are unset or ``UseDevelopmentStorage=true``.
    A storage given with ``--connection-string`` (``replace_all``) replaces the storage
    everywhere: every name in ``names`` and RETRAIN_STORAGE_CONNECTION_STRING when set,
    and identity-based ``<name>__*`` settings are dropped, so the app and the blob watcher
    use the same storage (otherwise the app would keep its own setting, and a first call
    to an absent development storage hangs in the client's retries)."""
    changed = []
    targets = list(names)
    if (
        environ.get("RETRAIN_STORAGE_CONNECTION_STRING")
        and "RETRAIN_STORAGE_CONNECTION_STRING" not in targets
    ):
        targets.append("RETRAIN_STORAGE_CONNECTION_STRING")
    for name in targets:
        current = environ.get(name, "").replace(" ", "").lower()
        if replace_all or current in ("", _DEVELOPMENT_STORAGE):
            environ[name] = connection_string
            changed.append(name)
    if replace_all:
        for name in list(environ):
            if name.startswith(("RETRAIN_STORAGE__", *(f"{n}__" for n in names))):
                del environ[name]
    return changed


def load_local_settings(path: Path) -> dict[str, str]:
    """The ``Values`` of a local.settings.json file (empty if the file does not exist)."""
    if not path.exists():
        return {}
    document = json.loads(path.read_text(encoding="utf-8"))
    if document.get("IsEncrypted"):
        raise HostConfigurationError(f"{path} is encrypted; decrypt it or use plain values")
    values = document.get("Values") or {}
    if not isinstance(values, dict):
        raise HostConfigurationError(f"{path}: Values must be an object")
    return {str(name): "" if value is None else str(value) for name, value in values.items()}


def _import_app(spec: str) -> Any:
    module_name, _, attribute = spec.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attribute or "app")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if logging.getLogger().level > logging.DEBUG:
        logging.getLogger("azure").setLevel(logging.WARNING)  # one line per SDK request
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        watches = [_parse_watch(text) for text in args.watch]
        for name, value in load_local_settings(args.settings).items():
            if name in os.environ:
                logger.info(
                    "Skipping '%s' from local settings as it's already defined in the environment",
                    name,
                )
            else:
                os.environ[name] = value
    except (ValueError, HostError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    from localdev.azurite import Azurite, AzuriteError

    azurite: Azurite | None = None
    try:
        connection_string = args.connection_string
        if connection_string is None:
            azurite = Azurite(
                in_memory=args.azurite_location is None, workdir=args.azurite_location
            ).start()
            connection_string = azurite.connection_string
        for name in point_storage_settings(
            os.environ,
            connection_string,
            args.storage_setting or ["AzureWebJobsStorage"],
            replace_all=args.connection_string is not None,
        ):
            logger.info(
                "App setting %s -> %s",
                name,
                "the local Azurite" if azurite else "the given storage",
            )
        sys.path.insert(0, os.getcwd())
        app = _import_app(args.app)
        subscriptions = [
            BlobSubscription(
                connection_string,
                container,
                function_name,
                prefix=prefix,
                deliver_existing=args.deliver_existing,
            )
            for container, prefix, function_name in watches
        ]
        from localdev.stack import keep_refusals

        if os.environ.get("LOCALDEV_CRASH_AT") or os.environ.get("LOCALDEV_CLOCK_OFFSET"):
            from localdev.crash import arm
            from shared.bootstrap import get_service

            arm(get_service())

        host = LocalFunctionsHost(
            app,
            app_settings=dict(os.environ),
            host=args.host,
            port=args.port,
            blob_subscriptions=subscriptions,
            on_refused=keep_refusals(),
        )
        with host:
            print(f"Local Functions host: {host.base_url}   (Ctrl-C to stop)", flush=True)
            if azurite is not None:
                print(f"Azurite: {azurite.connection_string}", flush=True)
            while True:
                time.sleep(1)
    except KeyboardInterrupt:
        return 0
    except (HostError, AzuriteError, ValueError, ImportError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        if azurite is not None:
            azurite.stop()


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
