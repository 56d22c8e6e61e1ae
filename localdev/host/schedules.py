"""Timer triggers: NCRONTAB and TimeSpan schedules, %SETTING% references, and the
host's timers (fired on schedule, or on demand)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from croniter import croniter

from localdev.host.common import HostConfigurationError

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
