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

The parts: ``core`` (the host: loading, lifecycle, invoking, HTTP triggers, admin API),
``routes`` (route templates), ``schedules`` and ``timers``, ``eventgrid`` (the webhook and
its handshakes), ``watcher`` (blob subscriptions and their deliveries), ``server`` (HTTP
plumbing), ``functions`` (indexing the app), ``cli``; ``common`` holds what they share.
"""

from localdev.host.cli import load_local_settings, main, point_storage_settings
from localdev.host.common import (
    ADMIN_FUNCTIONS_PATH,
    EVENT_GRID_TRIGGER,
    EVENTGRID_WEBHOOK_PATH,
    HOST_API_REASON,
    HTTP_TRIGGER,
    TIMER_TRIGGER,
    ZERO_SUBSCRIPTION_ID,
    FunctionInvocationError,
    HostConfigurationError,
    HostError,
    HostRefusal,
    InvocationResult,
    UnknownFunctionError,
)
from localdev.host.core import LocalFunctionsHost
from localdev.host.routes import RouteTemplate
from localdev.host.schedules import (
    IntervalSchedule,
    NcrontabSchedule,
    Schedule,
    parse_schedule,
    resolve_setting_references,
)
from localdev.host.watcher import BlobSubscription

__all__ = [
    "ADMIN_FUNCTIONS_PATH",
    "EVENTGRID_WEBHOOK_PATH",
    "EVENT_GRID_TRIGGER",
    "HOST_API_REASON",
    "HTTP_TRIGGER",
    "TIMER_TRIGGER",
    "ZERO_SUBSCRIPTION_ID",
    "BlobSubscription",
    "FunctionInvocationError",
    "HostConfigurationError",
    "HostError",
    "HostRefusal",
    "IntervalSchedule",
    "InvocationResult",
    "LocalFunctionsHost",
    "NcrontabSchedule",
    "RouteTemplate",
    "Schedule",
    "UnknownFunctionError",
    "load_local_settings",
    "main",
    "parse_schedule",
    "point_storage_settings",
    "resolve_setting_references",
]
