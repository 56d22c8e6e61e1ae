"""Bodies of the HTTP API's requests: manual retrain, operator actions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shared.errors import InvalidInput
from shared.messages import (
    PinRequested,
    PromoteRequested,
    RetrainRequested,
    RollbackRequested,
    UnpinRequested,
)
from shared.parsing.common import (
    body_object,
    flag,
    known_model,
    required_text,
    whole_number,
)
from shared.settings import ModelConfig


def parse_retrain_request(
    model: str, body: Any, *, models: Sequence[ModelConfig]
) -> RetrainRequested:
    """A manual retrain request: the model from the route, an optional JSON body
    ``{"requested_by": "...", "reason": "...", "force": false}``."""
    if body is None:
        body = {}
    if not isinstance(body, Mapping):
        raise InvalidInput("the request body must be a JSON object (or empty)")
    return RetrainRequested(
        model=known_model(model, models),
        requested_by=str(body.get("requested_by") or "api"),
        reason=str(body.get("reason") or "manual retrain"),
        force=flag(body, "force"),
    )


# The most ledger entries one request returns: each is one blob read.
MAX_LEDGER_PAGE = 500
DEFAULT_LEDGER_PAGE = 100


def parse_limit(raw: str | None) -> int:
    """The ledger's ``?limit=``: ASCII digits, 0 to ``MAX_LEDGER_PAGE`` (default
    ``DEFAULT_LEDGER_PAGE``); superscripts and other Unicode digits are refused."""
    if raw is None or raw == "":
        return DEFAULT_LEDGER_PAGE
    return whole_number(raw if raw.isascii() else f"{raw}?", "limit", most=MAX_LEDGER_PAGE)


# ------------------------------------------------------------------ operator requests


def parse_version_number(value: Any, key: str = "version") -> int:
    """A model version: a positive whole number (``3``, ``"3"`` or ``"v3"``)."""
    text = value.removeprefix("v") if isinstance(value, str) else None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif text is not None and text.isascii() and text.isdigit() and len(text) <= 9:
        number = int(text)
    else:
        raise InvalidInput(f"{key!r} must be a version number such as 3, got {value!r}")
    if number < 1:
        raise InvalidInput(f"{key!r} must be 1 or more, got {number}")
    if number > 10**9:
        raise InvalidInput(f"{key!r} must be at most 10**9, got {number}")
    return number


def parse_version_change(
    model: str, body: Any, *, models: Sequence[ModelConfig], rollback: bool
) -> RollbackRequested | PromoteRequested:
    """A rollback or manual promotion: ``{"version": 3, "reason": "...",
    "requested_by": "...", "expected_version": 5}`` (``expected_version`` optional: the
    production version the operator saw; refused if production moved since)."""
    what = "a rollback" if rollback else "a manual promotion"
    data = body_object(body, "rollback" if rollback else "promote")
    if "version" not in data:
        raise InvalidInput(f"{what} needs 'version': the version to put in production")
    expected = data.get("expected_version")
    kind = RollbackRequested if rollback else PromoteRequested
    return kind(
        model=known_model(model, models),
        version=parse_version_number(data["version"]),
        reason=required_text(data, "reason", what),
        requested_by=required_text(data, "requested_by", what),
        expected_version=(
            None if expected is None else parse_version_number(expected, "expected_version")
        ),
    )


def parse_pin_request(
    model: str, body: Any, *, models: Sequence[ModelConfig], pin: bool
) -> PinRequested | UnpinRequested:
    """Pin or unpin production: ``{"reason": "...", "requested_by": "..."}`` (an unpin's
    reason may be left out)."""
    what = "a pin" if pin else "an unpin"
    data = body_object({} if body is None and not pin else body, "pin" if pin else "unpin")
    if pin:
        reason = required_text(data, "reason", what)
    else:
        reason = str(data.get("reason") or "unpinned").strip() or "unpinned"
    kind = PinRequested if pin else UnpinRequested
    return kind(
        model=known_model(model, models),
        reason=reason,
        requested_by=required_text(data, "requested_by", what),
    )
