"""The host's timers: each timer function fired on its schedule (past-due flagged as the
Functions host does), or on demand."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from azure.functions import meta
from azure.functions.timer import TimerRequestConverter

from localdev.host.base import HostBase
from localdev.host.common import (
    _PAST_DUE_TOLERANCE,
    HOST_API_REASON,
    FunctionInvocationError,
    InvocationResult,
    UnknownFunctionError,
    _iso,
    _names,
    _utcnow,
)
from localdev.host.functions import _TimerFunction


class Timers(HostBase):
    """The timer part of the host: fire timers on their schedules or on demand."""

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
