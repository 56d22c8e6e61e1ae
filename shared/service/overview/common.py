"""What the overview's modules share: reading loosely typed record fields."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.errors import InvalidInput
from shared.parsing.common import parse_time


def mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def time_of(value: Any) -> datetime | None:
    try:
        return parse_time(value)
    except InvalidInput:
        return None
