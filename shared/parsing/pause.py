"""Bodies of the pause and resume requests: ``{"reason": "...", "requested_by": "..."}``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared.messages import PauseRequested, ResumeRequested
from shared.parsing.common import body_object, known_model, required_text
from shared.parsing.requests import only_fields
from shared.settings import ModelConfig


def parse_pause_request(
    model: str, body: Any, *, models: Sequence[ModelConfig], pause: bool
) -> PauseRequested | ResumeRequested:
    """Pause or resume a model; ``requested_by`` is required, ``reason`` optional."""
    what = "pause" if pause else "resume"
    data = body_object({} if body is None else body, what)
    only_fields(data, ("reason", "requested_by"), f"the {what}")
    reason = str(data.get("reason") or f"{what}d").strip() or f"{what}d"
    kind = PauseRequested if pause else ResumeRequested
    return kind(
        model=known_model(model, models),
        reason=reason,
        requested_by=required_text(data, "requested_by", f"a {what}"),
    )
