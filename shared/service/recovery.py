"""Operator recovery: release a quarantined data file, replay a dead letter.

Both are synchronous operator requests (HTTP API, ``retrainctl``) recorded with who and
why: a ledger entry (kind ``operator``) for each model concerned, and for a replay an
entry in the dead letter's own ``replays`` list (kept even when no model could be named,
e.g. a payload refused again for naming none).

- **Release** (``ReleaseRequested``): the quarantine record and the blob version's
  ``seen`` mark are removed, the release is ledgered, and the blob's current version is
  handed to the service as a new arrival (``NewDataArrived``): checked and decided on
  by the normal trigger path. A file that still fails the check is quarantined again
  (the answer says so); one replaced meanwhile is the new version's arrival.
- **Replay** (``ReplayRequested``): the dead letter's payload is parsed by the parser of
  the function that received it (``shared.parsing.replay``) and the message handled by
  the same handler. Refused again: recorded, nothing else happens (the dead letter
  stays). Handled: recorded, and the dead letter marked ``resolved_at``/``resolved_by``
  (it is kept as the record of what happened). A failure that may pass (storage or the
  backend unreachable) is raised unrecorded, so the operator can simply try again.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from shared.errors import ConflictError, InvalidData, InvalidInput, NotFound
from shared.messages import NewDataArrived, ReleaseRequested, ReplayRequested
from shared.parsing.replay import parse_dead_letter
from shared.ports import JSON
from shared.service.context import Context
from shared.service.outcome import Outcome
from shared.service.queries import get_dead_letter, model_of_blob
from shared.snapshot import seen_key

log = logging.getLogger(__name__)

# What a parser may raise on input it did not foresee (as functions/_delivery treats
# them): the payload is refused, not retried.
_PARSER_FAULTS = (
    TypeError,
    ValueError,
    KeyError,
    AttributeError,
    IndexError,
    RecursionError,
    OverflowError,
    UnicodeError,
)
# The blob API a released file's arrival names (one that commits data).
RELEASE_API = "PutBlob"


def handle_release(message: ReleaseRequested, ctx: Context) -> list[Outcome]:
    """Release a quarantined file: the release outcome, then the arrival's outcomes."""
    from shared.service.handlers import HANDLERS

    blob, key = message.blob, f"quarantine/{message.blob}.json"
    try:
        quarantined = ctx.state.get(key)[0]
    except NotFound:
        raise NotFound(f"{blob!r} is not quarantined") from None
    model = model_of_blob(ctx, blob)
    if model is None:
        raise InvalidInput(f"no configured model's data prefix holds {blob!r}")
    current = next((f for f in ctx.data.list_files(blob) if f.name == blob), None)
    if current is None:
        raise NotFound(f"{blob!r} is no longer in the data container; nothing to release")
    ctx.state.delete(seen_key(model, blob, str(quarantined.get("etag", ""))))
    ctx.state.delete(key)
    released = Outcome(
        model,
        "released",
        f"quarantined file {blob} released by {message.requested_by}: {message.reason} "
        f"(it was quarantined at {quarantined.get('at')}: {quarantined.get('reason')})",
        details={"blob": blob, "quarantined": quarantined, "etag": current.etag},
    )
    ctx.ledger(
        model,
        "operator",
        released,
        request=message.describe(),
        requested_by=message.requested_by,
    )
    log.info("%s: RELEASED %s by %s: %s", model, blob, message.requested_by, message.reason)
    arrival = NewDataArrived(
        model=model,
        blob_name=blob,
        etag=current.etag,
        size=current.size,
        api=RELEASE_API,
        url=f"release:{blob}",
        event_id=f"release-{uuid.uuid4().hex}",
        event_time=ctx.clock.now(),
    )
    try:
        outcomes = HANDLERS[NewDataArrived](arrival, ctx)
    except InvalidData as exc:
        again = Outcome(model, "quarantined", f"{blob} failed its check again: {exc}")
        return [released, again]
    return [released, *outcomes]


def handle_replay(message: ReplayRequested, ctx: Context) -> list[Outcome]:
    """Replay a dead letter: the replay outcome(s), then the handled message's."""
    from shared.service.handlers import HANDLERS

    record = get_dead_letter(ctx, message.dead_letter)
    source = str(record.get("source"))
    error: str | None = None
    inner: list[Outcome] = []
    try:
        parsed = parse_dead_letter(
            record,
            container=ctx.data_container,
            models=list(ctx.models.values()),
            trust=ctx.trust,
            now=ctx.clock.now(),
        )
        inner = HANDLERS[type(parsed)](parsed, ctx)
    except InvalidInput as exc:
        error = f"{type(exc).__name__}: {exc}"
    except _PARSER_FAULTS as exc:
        error = f"the payload cannot be read ({type(exc).__name__}: {exc})"
    action = "replayed" if error is None else "replay_refused"
    result = "handled" if error is None else f"refused again: {error}"
    reason = (
        f"dead letter {message.dead_letter} ({source}) replayed by {message.requested_by}: "
        f"{message.reason}; {result}"
    )
    entry = {
        "at": ctx.clock.now().isoformat(),
        "by": message.requested_by,
        "reason": message.reason,
        "result": "handled" if error is None else "refused",
        "error": error,
        "outcomes": [o.as_dict() for o in inner],
    }
    _note_replay(ctx, message.dead_letter, entry, resolved=error is None)
    details = {"dead_letter": message.dead_letter, "source": source, "error": error}
    models = sorted({o.model for o in inner if o.model is not None})
    recorded = [Outcome(m, action, reason, details=details) for m in models] or [
        Outcome(None, action, reason, details=details)
    ]
    for outcome in recorded:
        if outcome.model is not None:
            ctx.ledger(
                outcome.model,
                "operator",
                outcome,
                request=message.describe(),
                requested_by=message.requested_by,
            )
    log.info("%s", reason)
    return [*recorded, *inner]


def _note_replay(
    ctx: Context, dead_letter: str, entry: JSON, *, resolved: bool, attempts: int = 5
) -> None:
    """Append ``entry`` to the dead letter's ``replays`` (ETag-conditional)."""
    key = f"deadletter/{dead_letter}.json"
    for _ in range(attempts):
        record, etag = ctx.state.get(key)
        replays: list[Any] = list(record.get("replays") or [])
        record["replays"] = [*replays, entry]
        if resolved:
            record["resolved_at"], record["resolved_by"] = entry["at"], entry["by"]
        try:
            ctx.state.replace(key, record, etag=etag)
            return
        except ConflictError:
            continue
    raise ConflictError(f"dead letter {dead_letter} kept changing; the replay was done")
