"""The trigger policy's configuration: one validated value per model.

``TriggerPolicy`` is built from the app-wide ``RETRAIN_POLICY_*`` settings, then each
model's ``"policy"`` object in ``RETRAIN_MODELS`` overrides single fields
(``shared.settings``). It validates itself at construction, and ``describe()`` says in words
what it will do (logged at start, shown by ``GET /api/models`` and in docs/policy.md).

Durations are seconds, given as numbers or as text with a unit: ``"90s"``, ``"5m"``,
``"2h"``, ``"1d"``. This module imports nothing of the service, so ``shared.settings`` can
use it.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.errors import ConfigurationError

RESUME_RULES = ("replay", "drop")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}

# Fields given as durations (seconds), as whole numbers, as flags, and the rest.
DURATION_FIELDS = (
    "quiet_period",
    "max_wait",
    "cooldown",
    "retry_backoff",
    "drift_window",
    "webhook_replay_window",
)
COUNT_FIELDS = (
    "max_count",
    "min_new_rows",
    "max_retries",
    "drift_signals",
    "forecast_error_min_points",
)
FLAG_FIELDS = ("schedule_requires_new_data", "check_on_arrival")


def parse_duration(value: Any) -> float:
    """Seconds from a number or ``"<n>[s|m|h|d]"``; ``ValueError`` otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (found := _DURATION.match(value)):
        seconds = float(found.group(1)) * _UNITS[found.group(2).lower()]
    else:
        raise ValueError(f"{value!r} is not a duration such as 300, '90s', '5m', '2h' or '1d'")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{value!r} is not a duration >= 0")
    return seconds


def _words(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


@dataclass(frozen=True)
class TriggerPolicy:
    """When a model retrains. Every field is documented in docs/policy.md.

    Coalescing: arrivals within a burst become one run, fired once the model has been
    quiet for ``quiet_period``, or ``max_count`` new blobs have arrived (0: no count
    limit), or ``max_wait`` has passed since the burst began; ``quiet_period`` 0 fires at
    once. One run per model at a time; ``cooldown`` after each run. Schedule ticks skip
    when nothing arrived (``schedule_requires_new_data``). ``min_new_rows``: automatic
    triggers skip until the new blobs hold at least this many rows. A run that failed for a
    retryable reason is retried ``max_retries`` times, ``retry_backoff`` doubling each time;
    one that failed on its data waits for new data. ``on_resume``: what to do with arrivals
    held while paused. Drift retrains after ``drift_signals`` signals within
    ``drift_window``; forecast-error drift fires when at least
    ``forecast_error_min_points`` new actuals score a mean absolute error above
    ``forecast_error_multiple`` times the production model's validation error (None: off).
    The generic drift webhook must be signed with ``webhook_secret`` (HMAC-SHA256) when it
    is set, within ``webhook_replay_window``. ``check_on_arrival`` (default true): each new
    blob is read and checked as its event is handled; false: an arrival is decided from its
    event alone and its file is checked when its snapshot launches (a bad file is then
    quarantined and left out of the run), unless something needs the file at once
    (``min_new_rows``, or forecast-error scoring against a production model).
    """

    quiet_period: float = 0.0
    max_count: int = 0
    max_wait: float = 3600.0
    cooldown: float = 0.0
    schedule_requires_new_data: bool = True
    min_new_rows: int = 0
    max_retries: int = 2
    retry_backoff: float = 600.0
    on_resume: str = "replay"
    drift_signals: int = 1
    drift_window: float = 3600.0
    forecast_error_multiple: float | None = 2.0
    forecast_error_min_points: int = 3
    webhook_secret: str | None = field(default=None, repr=False, compare=False)
    webhook_replay_window: float = 300.0
    check_on_arrival: bool = True

    def __post_init__(self) -> None:
        found = policy_problems(dataclasses.asdict(self), lambda name: name)
        if found:
            raise ConfigurationError("invalid trigger policy: " + "; ".join(found))

    def with_overrides(self, overrides: Mapping[str, Any]) -> TriggerPolicy:
        """This policy with the given fields replaced (values already converted)."""
        return dataclasses.replace(self, **dict(overrides))

    def describe(self) -> str:
        """The policy in words, for logs, audit records and ``GET /api/models``."""
        if self.quiet_period == 0:
            burst = "each arrival fires at once"
        else:
            count = f", or {self.max_count} new blobs" if self.max_count else ""
            burst = (
                f"arrivals coalesce until {_words(self.quiet_period)} of quiet{count}, "
                f"at most {_words(self.max_wait)} after the first"
            )
        parts = [
            burst,
            "one run at a time (later requests queue)",
            f"cooldown {_words(self.cooldown)}" if self.cooldown else "no cooldown",
            "schedule skips when nothing arrived"
            if self.schedule_requires_new_data
            else "schedule retrains even without new data",
            f"at least {self.min_new_rows} new rows" if self.min_new_rows else "any new rows",
            f"{self.max_retries} retries of a retryable failure, backoff "
            f"{_words(self.retry_backoff)} doubling; data failures wait for new data",
            f"on resume {self.on_resume} held arrivals",
            f"drift after {self.drift_signals} signal(s) within {_words(self.drift_window)}",
            "forecast-error drift off"
            if self.forecast_error_multiple is None
            else f"forecast-error drift above {self.forecast_error_multiple:g}x validation "
            f"error over >= {self.forecast_error_min_points} actuals",
            "generic webhook HMAC-signed"
            if self.webhook_secret
            else "generic webhook unsigned (function key only)",
        ]
        if not self.check_on_arrival:
            parts.append("new files checked when their run launches")
        return "; ".join(parts)


def policy_problems(values: Mapping[str, Any], name_of: Callable[[str], str]) -> list[str]:
    """Problems with ``values`` (TriggerPolicy fields, already converted), each naming the
    setting through ``name_of(field)``."""
    problems: list[str] = []
    known = {f.name for f in dataclasses.fields(TriggerPolicy)}
    for key in sorted(set(values) - known):
        problems.append(f"{name_of(key)} is not a trigger policy setting")
    for key in DURATION_FIELDS:
        value = values.get(key, 0.0)
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            problems.append(f"{name_of(key)} must be a duration >= 0, got {value!r}")
    for key in COUNT_FIELDS:
        value = values.get(key, 1)
        least = 1 if key in ("drift_signals", "forecast_error_min_points") else 0
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            problems.append(f"{name_of(key)} must be a whole number >= {least}, got {value!r}")
    for key in FLAG_FIELDS:
        if not isinstance(values.get(key, True), bool):
            problems.append(f"{name_of(key)} must be true or false, got {values[key]!r}")
    if values.get("on_resume", "replay") not in RESUME_RULES:
        problems.append(
            f"{name_of('on_resume')} must be one of {', '.join(RESUME_RULES)}, "
            f"got {values['on_resume']!r}"
        )
    multiple = values.get("forecast_error_multiple")
    if multiple is not None and (
        not isinstance(multiple, int | float) or isinstance(multiple, bool) or multiple <= 0
    ):
        problems.append(
            f"{name_of('forecast_error_multiple')} must be a number > 0 or null, got {multiple!r}"
        )
    wait, quiet = values.get("max_wait", 3600.0), values.get("quiet_period", 0.0)
    if (
        isinstance(wait, int | float)
        and isinstance(quiet, int | float)
        and quiet > 0
        and wait < quiet
    ):
        problems.append(
            f"{name_of('max_wait')} ({wait:g}s) must be at least {name_of('quiet_period')} "
            f"({quiet:g}s): a burst could never go quiet before its maximum wait"
        )
    secret = values.get("webhook_secret")
    if secret is not None and (not isinstance(secret, str) or len(secret) < 16):
        problems.append(f"{name_of('webhook_secret')} must be a secret of at least 16 characters")
    return problems


def convert(key: str, value: Any) -> Any:
    """A raw setting (text from an app setting, or JSON from RETRAIN_MODELS) as the type of
    field ``key``; ``ValueError`` saying what was expected."""
    if key in DURATION_FIELDS:
        return parse_duration(value)
    if key in COUNT_FIELDS:
        if isinstance(value, str) and value.strip().isdecimal() and value.strip().isascii():
            return int(value.strip())
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ValueError(f"{value!r} is not a whole number")
    if key in FLAG_FIELDS:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise ValueError(f"{value!r} is not true or false")
    if key == "forecast_error_multiple":
        if value is None or (isinstance(value, str) and value.strip().lower() in ("off", "none")):
            return None
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not a number")
        return float(value)
    if key == "on_resume" and isinstance(value, str):
        return value.strip().lower()
    return value
