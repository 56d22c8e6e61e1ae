"""``LocalFunctionsHost``: loads the app, serves it, invokes its functions; the Event Grid,
timer and blob-watcher parts live in their own modules."""

from __future__ import annotations

import inspect
import json
import logging
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any

import azure.functions as func
from azure.functions import meta
from azure.functions.eventgrid import EventGridEventInConverter

from localdev.host.common import (
    _SECRET_HEADERS,
    _WATCHER_READY_TIMEOUT,
    ADMIN_FUNCTIONS_PATH,
    EVENT_GRID_TRIGGER,
    EVENTGRID_WEBHOOK_PATH,
    HOST_API_REASON,
    HTTP_TRIGGER,
    TIMER_TRIGGER,
    HostConfigurationError,
    HostError,
    HostRefusal,
    InvocationResult,
    _enum_value,
    _names,
    _run_awaitable,
)
from localdev.host.eventgrid import EventGridEndpoint
from localdev.host.functions import (
    _HttpFunction,
    _index,
    _Indexed,
    _LocalContext,
    _Out,
    _TimerFunction,
)
from localdev.host.routes import RouteTemplate
from localdev.host.schedules import parse_schedule, resolve_setting_references
from localdev.host.server import _base_url, _Request, _require_loopback, _Response, _Server
from localdev.host.timers import Timers
from localdev.host.watcher import BlobSubscription, BlobWatcher

THREAD_COUNT_SETTING = "PYTHON_THREADPOOL_THREAD_COUNT"
DEFAULT_INVOCATION_THREADS = 32


class LocalFunctionsHost(EventGridEndpoint, Timers, BlobWatcher):
    """Serve a ``func.FunctionApp`` locally: HTTP, Event Grid and timer triggers, plus blob
    subscriptions that turn new blobs in Azurite into BlobCreated deliveries.

    Everything is checked at construction (schedules, ``%SETTING%`` references, routes, the
    functions named by subscriptions), so a broken app fails before anything listens.
    ``start()`` binds ``host:port`` (``port=0``: a free port; loopback addresses only), then
    starts the timers and blob watchers; ``stop()`` stops them and the server. ``set_environ``
    copies ``app_settings`` into ``os.environ`` for the host's lifetime (the real host exposes
    app settings as environment variables); off by default because it is process-wide.

    Functions run on one host-wide pool of ``PYTHON_THREADPOOL_THREAD_COUNT`` threads (the
    app setting, else the environment variable, else 32), as the Python worker runs sync
    functions; the events of one Event Grid delivery are invoked on it at the same time.
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
        self.invocation_threads = _invocation_thread_count(self.app_settings)
        self._pool: ThreadPoolExecutor | None = None

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
        self._pool = ThreadPoolExecutor(self.invocation_threads, thread_name_prefix="invoke")
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
        if self._pool is not None:
            # Invocations still running finish on their threads; nothing new is taken.
            self._pool.shutdown(wait=False)
            self._pool = None
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

    def _invoke_all(
        self, function: _Indexed, trigger_values: Sequence[Any], reason: str
    ) -> list[InvocationResult]:
        """Invoke ``function`` once per trigger value, all at the same time on the host's
        pool (the Event Grid extension's ``ProcessEventsAsync``: one execution per event,
        awaited together); the results in the order of the values."""
        pool = self._pool
        if pool is None:
            raise HostError("the host is not running; call start() first")
        futures = [pool.submit(self._invoke, function, value, reason) for value in trigger_values]
        return [future.result() for future in futures]

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


def _invocation_thread_count(app_settings: Mapping[str, str]) -> int:
    """``PYTHON_THREADPOOL_THREAD_COUNT`` from the app settings, else the environment, else
    32 (the most the Python worker allows for sync functions)."""
    raw = app_settings.get(THREAD_COUNT_SETTING, os.environ.get(THREAD_COUNT_SETTING, ""))
    if not raw.strip():
        return DEFAULT_INVOCATION_THREADS
    try:
        count = int(raw)
    except ValueError:
        count = 0
    if count < 1:
        raise HostConfigurationError(
            f"{THREAD_COUNT_SETTING} must be a whole number of threads of at least 1, "
            f"got {raw[:50]!r}"
        )
    return count
