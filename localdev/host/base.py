"""What the parts of the host (Event Grid webhook, timers, blob watcher) need from the
host itself, declared once so each part type-checks on its own."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from localdev.host.common import InvocationResult
from localdev.host.functions import _Indexed, _TimerFunction
from localdev.host.server import _Request


class HostBase:
    """Attributes and methods ``LocalFunctionsHost`` provides to its parts."""

    _log: logging.Logger
    _stopping: threading.Event
    _eventgrid: dict[str, _Indexed]
    _timers: dict[str, _TimerFunction]
    _sequencer_lock: threading.Lock
    _last_sequencer: int

    def _invoke(self, function: _Indexed, trigger_value: Any, reason: str) -> InvocationResult:
        raise NotImplementedError

    def _invoke_all(
        self, function: _Indexed, trigger_values: Sequence[Any], reason: str
    ) -> list[InvocationResult]:
        raise NotImplementedError

    def eventgrid_url(self, function_name: str) -> str:
        raise NotImplementedError

    def _report_refusal(
        self, request: _Request, status: int, reason: str, *, event_index: int | None = None
    ) -> None:
        raise NotImplementedError
