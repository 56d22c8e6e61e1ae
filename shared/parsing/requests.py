"""Bodies of the HTTP API's requests: manual retrain, operator actions, recovery.

Every body is a JSON object whose fields are listed per request; a field not listed is
refused (``InvalidInput`` naming it), so a typo (``"resaon"``) never passes silently.

Who asks (``requested_by``): the signed-in user's name when the platform's
authentication sets the ``x-ms-client-principal-name`` header (App Service
authentication strips that header from incoming requests, so callers cannot forge it),
else the body's ``requested_by`` (``by`` is accepted as its alias). See
``with_requester``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shared.errors import InvalidInput
from shared.messages import (
    PinRequested,
    PromoteRequested,
    ReleaseRequested,
    ReplayRequested,
    RetrainRequested,
    RollbackRequested,
    UnpinRequested,
)
from shared.parsing.common import (
    body_object,
    flag,
    known_model,
    printable,
    required_text,
    whole_number,
)
from shared.settings import ModelConfig

# The header App Service authentication (Easy Auth) sets to the signed-in user's name.
PRINCIPAL_HEADER = "x-ms-client-principal-name"
REQUESTER = "requested_by"
REQUESTER_ALIAS = "by"


def with_requester(body: Any, principal: str | None) -> Any:
    """The body with who asks in ``requested_by``: ``by`` renamed to it (both at once is
    refused), and the authenticated ``principal`` (the header) put there when given,
    over whatever the body said. Bodies that are not objects are left to the parser."""
    if principal is not None and not principal.strip():
        principal = None
    if body is None:
        return {REQUESTER: principal.strip()} if principal else None
    if not isinstance(body, Mapping):
        return body
    data = dict(body)
    if REQUESTER_ALIAS in data:
        if REQUESTER in data:
            raise InvalidInput("give 'requested_by' or its alias 'by', not both")
        data[REQUESTER] = data.pop(REQUESTER_ALIAS)
    if principal:
        data[REQUESTER] = printable(principal.strip(), PRINCIPAL_HEADER, 256)
    return data


def only_fields(data: Mapping[str, Any], allowed: Sequence[str], what: str) -> None:
    """Refuse a body with a field not in ``allowed``, naming it."""
    for key in data:
        if key not in allowed:
            raise InvalidInput(
                f"{what} request body has an unknown field {str(key)[:80]!r}; "
                f"allowed: {', '.join(allowed)}"
            )


def parse_retrain_request(
    model: str, body: Any, *, models: Sequence[ModelConfig]
) -> RetrainRequested:
    """A manual retrain request: the model from the route, an optional JSON body
    ``{"requested_by": "...", "reason": "...", "force": false}``."""
    if body is None:
        body = {}
    if not isinstance(body, Mapping):
        raise InvalidInput("the request body must be a JSON object (or empty)")
    only_fields(body, ("requested_by", "reason", "force"), "the retrain")
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
    only_fields(
        data,
        ("version", "reason", "requested_by", "expected_version"),
        "the rollback" if rollback else "the promote",
    )
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
    only_fields(data, ("reason", "requested_by"), "the pin" if pin else "the unpin")
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


# ------------------------------------------------------------------ recovery requests


def parse_release_request(body: Any) -> ReleaseRequested:
    """Release a quarantined file: ``{"blob": "co2/b.csv", "reason": "...",
    "requested_by": "..."}``, all required (the release is recorded with who and why)."""
    data = body_object(body, "release")
    only_fields(data, ("blob", "reason", "requested_by"), "the release")
    return ReleaseRequested(
        blob=required_text(data, "blob", "a release"),
        reason=required_text(data, "reason", "a release"),
        requested_by=required_text(data, "requested_by", "a release"),
    )


def parse_replay_request(dead_letter: str, body: Any) -> ReplayRequested:
    """Replay a dead letter (``<source>/<digest>``): ``{"reason": "...",
    "requested_by": "..."}``, both required."""
    data = body_object(body, "replay")
    only_fields(data, ("reason", "requested_by"), "the replay")
    return ReplayRequested(
        dead_letter=dead_letter,
        reason=required_text(data, "reason", "a replay"),
        requested_by=required_text(data, "requested_by", "a replay"),
    )
