"""What the service did with one message."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Outcome:
    """What the service did with one message, for logs, HTTP answers and tests."""

    model: str | None
    action: str  # retrain | skip | promoted | rejected | failed | status | ignored
    reason: str
    run_key: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "action": self.action,
            "reason": self.reason,
            "run_key": self.run_key,
            **({"details": dict(self.details)} if self.details else {}),
        }
