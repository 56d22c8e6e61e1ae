"""Operator actions: rollback, manual promotion, pin and unpin production.

Each is one message and one handler, recorded in the model's ledger (kind "operator")
and its promotion history. They are synchronous requests (HTTP API, ``retrainctl``):
what cannot be done raises ``InvalidInput`` (bad request), ``NotFound`` (no such model or
version) or ``ConflictError`` (production moved: read again and decide again), and
nothing is recorded.

- Rollback moves production to an earlier version (lower number than production);
  manual promotion to any other registered version, whatever its gate said (the reason
  is required and kept). Both are a compare-and-swap on the alias ETag read first, and
  optionally on ``expected_version`` (what the operator saw).
- A pin holds production: automatic promotion then registers only. The pin document is
  written first, then the alias is re-pointed at the same version, which moves its ETag:
  a promotion that read the alias before the pin loses its compare-and-swap, one that
  reads it after sees the pin. Operator moves are allowed while pinned and keep the pin.

A family (a model with ``series_columns``) has no production version: each series has
its own (``shared.service.family``). A rollback or manual promotion of a family is
refused with the family actions that do it per series or per run; a pin or unpin of a
family pins or unpins the whole family (``family_ops.set_family_pin``), and an unpin
also lifts a model pin (``pins/<model>.json``) set before, which the family's gate
honours too.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from shared.errors import ConflictError, InvalidInput, NotFound, UnknownModel
from shared.messages import (
    OperatorMessage,
    PinRequested,
    PromoteRequested,
    RollbackRequested,
    UnpinRequested,
)
from shared.service.context import Context
from shared.service.family import read_production
from shared.service.family_ops import set_family_pin
from shared.service.outcome import Outcome
from shared.service.promotion import PRODUCTION, get_pin, record_history

log = logging.getLogger(__name__)


def _known(model: str, ctx: Context) -> None:
    if model not in ctx.models:
        raise UnknownModel(f"unknown model {model!r}; configured models: {', '.join(ctx.models)}")


def _is_family(model: str, ctx: Context) -> bool:
    return bool(ctx.models[model].series_columns)


def _per_series(model: str, what: str) -> InvalidInput:
    return InvalidInput(
        f"{model} is a family: each series has its own production model, so the family has "
        f"no version to {what}. Roll one series back (or to a version: 'version') with "
        f'POST /api/models/{model}/family/rollback {{"series": "<id>"}} '
        f"(retrainctl family {model} rollback --series ID [--version N]), or undo a run's "
        f'promotions with {{"run_key": "<run key>"}} (--run-key KEY)'
    )


def _record(ctx: Context, outcome: Outcome, message: OperatorMessage) -> list[Outcome]:
    ctx.ledger(message.model, "operator", outcome, request=message.describe())
    log.info("%s: %s: %s", outcome.model, outcome.action.upper(), outcome.reason)
    return [outcome]


def handle_version_change(
    message: RollbackRequested | PromoteRequested, ctx: Context
) -> list[Outcome]:
    """Move production to the requested version (compare-and-swap)."""
    model, rollback = message.model, isinstance(message, RollbackRequested)
    _known(model, ctx)
    if _is_family(model, ctx):
        raise _per_series(model, "roll back to" if rollback else "promote")
    target = ctx.registry.get_version(model, message.version)  # NotFound: 404
    alias = ctx.registry.get_alias(model, PRODUCTION)
    current = f"v{alias.version}" if alias.version else "none"
    if message.expected_version is not None and alias.version != message.expected_version:
        raise ConflictError(
            f"production of {model} is {current}, not v{message.expected_version} as the "
            "request expected; look again and decide again"
        )
    if alias.version == target.version:
        raise InvalidInput(f"v{target.version} of {model} is already in production")
    if rollback and (alias.version is None or target.version > alias.version):
        raise InvalidInput(
            f"a rollback goes to an earlier version than production ({current}); "
            f"v{target.version} is not earlier: use promote"
        )
    ctx.registry.set_alias(model, PRODUCTION, target.version, etag=alias.etag)
    action = "rolled_back" if rollback else "manual_promote"
    run_key = target.tags.get("run_key") or target.lineage.get("run_key")
    gate = target.tags.get("gate", "unknown")
    record_history(
        ctx,
        model,
        action=action,
        by=message.requested_by,
        reason=message.reason,
        from_version=alias.version,
        to_version=target.version,
        run_key=run_key,
        gate=gate,
    )
    verb = "rolled back" if rollback else "promoted by hand"
    reason = (
        f"production: {current} -> v{target.version} {verb} by {message.requested_by} "
        f"(gate had {gate} it): {message.reason}"
    )
    details = {"from_version": alias.version, "to_version": target.version}
    return _record(ctx, Outcome(model, action, reason, run_key, details), message)


def handle_pin(message: PinRequested, ctx: Context) -> list[Outcome]:
    """Pin production where it is (a family: every series where it is)."""
    model = message.model
    _known(model, ctx)
    if _is_family(model, ctx):
        by, reason = message.requested_by, message.reason
        return [set_family_pin(ctx, model, pinned=True, by=by, reason=reason)]
    if ctx.registry.get_alias(model, PRODUCTION).version is None:
        raise InvalidInput(f"{model} has no production version to pin")
    if (pin := get_pin(ctx, model)) is not None:
        raise InvalidInput(
            f"{model} is already pinned at v{pin.get('version')} by {pin.get('by')} "
            f"since {pin.get('at')}: {pin.get('reason')}"
        )
    document = {
        "pinned": True,
        "by": message.requested_by,
        "reason": message.reason,
        "at": ctx.clock.now().isoformat(),
        "version": None,
    }
    etag = _write_pin(ctx, model, document)
    version = _bump_alias(ctx, model)
    ctx.state.replace(f"pins/{model}.json", document | {"version": version}, etag=etag)
    record_history(
        ctx,
        model,
        action="pinned",
        by=message.requested_by,
        reason=message.reason,
        from_version=version,
        to_version=version,
    )
    reason = f"production pinned at v{version} by {message.requested_by}: {message.reason}"
    outcome = Outcome(model, "pinned", reason, details={"version": version})
    return _record(ctx, outcome, message)


def handle_unpin(message: UnpinRequested, ctx: Context) -> list[Outcome]:
    """Release the pin: automatic promotion moves production again."""
    model = message.model
    _known(model, ctx)
    pin = get_pin(ctx, model)
    by, reason = message.requested_by, message.reason
    if _is_family(model, ctx):
        # A family's pin is in its pointer document; a model-wide pin document (written
        # before families had their own) is released with it, without a model version.
        outcomes = []
        if pin is None or read_production(ctx, model)[0].get("pinned"):
            outcomes.append(set_family_pin(ctx, model, pinned=False, by=by, reason=reason))
        if pin is not None:
            _write_pin(ctx, model, _unpinned(message, ctx, pin))
            why = f"the model-wide pin set by {pin.get('by')} released by {by}: {reason}"
            outcomes += _record(ctx, Outcome(model, "unpinned", why), message)
        return outcomes
    if pin is None:
        raise InvalidInput(f"{model} is not pinned")
    _write_pin(ctx, model, _unpinned(message, ctx, pin))
    version = ctx.registry.get_alias(model, PRODUCTION).version
    record_history(
        ctx,
        model,
        action="unpinned",
        by=message.requested_by,
        reason=message.reason,
        from_version=version,
        to_version=version,
    )
    reason = f"production (v{version}) unpinned by {message.requested_by}: {message.reason}"
    outcome = Outcome(model, "unpinned", reason, details={"version": version})
    return _record(ctx, outcome, message)


def _unpinned(message: UnpinRequested, ctx: Context, pin: Mapping[str, Any]) -> dict[str, object]:
    """The pin document once released (the pin it replaces kept in it)."""
    return {
        "pinned": False,
        "by": message.requested_by,
        "reason": message.reason,
        "at": ctx.clock.now().isoformat(),
        "previous_pin": dict(pin),
    }


def _write_pin(ctx: Context, model: str, document: dict[str, object]) -> str:
    """Create or replace the pin document (ETag-conditional); returns its new ETag."""
    key = f"pins/{model}.json"
    try:
        _, etag = ctx.state.get(key)
    except NotFound:
        return ctx.state.create(key, document)
    return ctx.state.replace(key, document, etag=etag)


def _bump_alias(ctx: Context, model: str, attempts: int = 5) -> int | None:
    """Re-point production at the version it has, moving its ETag (see module doc)."""
    for _ in range(attempts):
        alias = ctx.registry.get_alias(model, PRODUCTION)
        if alias.version is None:
            return None
        try:
            ctx.registry.set_alias(model, PRODUCTION, alias.version, etag=alias.etag)
            return alias.version
        except ConflictError:
            continue
    raise ConflictError(f"production of {model} kept moving; the pin is written, try again")
