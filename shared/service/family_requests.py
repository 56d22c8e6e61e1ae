"""Operator requests on a family (HTTP API, ``retrainctl``): the body of
``POST /api/models/<model>/family/<action>`` parsed and carried out.

Actions: ``rollback`` (with ``series``: that series, to its previous model or to
``version``, optionally checked against ``expected_version``; with ``run_key``: every
series that run still serves), ``pin`` and ``unpin`` (with ``series``: that series; without:
the whole family). Every action needs ``reason`` and ``requested_by`` (or the platform's
principal header, resolved by the API before this).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.errors import InvalidInput
from shared.parsing.common import body_object, check_run_key, printable, required_text
from shared.parsing.requests import parse_version_number
from shared.service.context import Context
from shared.service.family_ops import (
    rollback_family,
    rollback_series,
    set_family_pin,
    set_series_pin,
)
from shared.service.outcome import Outcome

ACTIONS = ("rollback", "pin", "unpin")
FIELDS = ("series", "run_key", "version", "expected_version", "reason", "requested_by")
MAX_SERIES_ID = 512


@dataclass(frozen=True)
class FamilyRequest:
    """One parsed operator request on a family."""

    model: str
    action: str
    requested_by: str
    reason: str
    series: str | None = None
    run_key: str | None = None
    version: int | None = None
    expected_version: int | None = None


def parse_family_request(model: str, action: str, body: Any) -> FamilyRequest:
    """``InvalidInput`` naming what is wrong with the request."""
    if action not in ACTIONS:
        raise InvalidInput(f"no family action {action[:40]!r}; one of {', '.join(ACTIONS)}")
    data: Mapping[str, Any] = body_object(body, f"family {action}")
    unknown = [str(k)[:80] for k in data if k not in FIELDS]
    if unknown:
        raise InvalidInput(
            f"family {action} request body has an unknown field {unknown[0]!r}; "
            f"allowed: {', '.join(FIELDS)}"
        )
    what = f"family {action}"
    series = data.get("series")
    if series is not None:
        if not isinstance(series, str) or not series:
            raise InvalidInput(f"'series' must be a series id (a non-empty string), got {series!r}")
        printable(series, "series id", MAX_SERIES_ID)
    run_key = data.get("run_key")
    if run_key is not None:
        run_key = check_run_key(run_key)
    version = data.get("version")
    expected = data.get("expected_version")
    request = FamilyRequest(
        model=model,
        action=action,
        requested_by=printable(required_text(data, "requested_by", what), "requested_by", 256),
        reason=printable(required_text(data, "reason", what), "reason", 2000),
        series=series,
        run_key=run_key,
        version=None if version is None else parse_version_number(version),
        expected_version=(
            None if expected is None else parse_version_number(expected, "expected_version")
        ),
    )
    if action == "rollback" and (series is None) == (run_key is None):
        raise InvalidInput(
            "a family rollback names 'series' (that series, to its previous model or to "
            "'version') or 'run_key' (every series that run promoted), not "
            + ("both" if series is not None else "neither")
        )
    if (version is not None or expected is not None) and not (action == "rollback" and series):
        raise InvalidInput("'version' and 'expected_version' go with a rollback of one 'series'")
    if run_key is not None and action != "rollback":
        raise InvalidInput(f"'run_key' goes with a rollback, not with {action}")
    return request


def carry_out(request: FamilyRequest, ctx: Context) -> Outcome:
    """Do what ``request`` asks (see ``shared.service.family_ops``)."""
    by, reason, model = request.requested_by, request.reason, request.model
    if request.action == "rollback" and request.series is not None:
        return rollback_series(
            ctx,
            model,
            request.series,
            by=by,
            reason=reason,
            to_version=request.version,
            expected_version=request.expected_version,
        )
    if request.action == "rollback":
        return rollback_family(ctx, model, str(request.run_key), by=by, reason=reason)
    pinned = request.action == "pin"
    if request.series is not None:
        return set_series_pin(ctx, model, request.series, pinned=pinned, by=by, reason=reason)
    return set_family_pin(ctx, model, pinned=pinned, by=by, reason=reason)
