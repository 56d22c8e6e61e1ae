"""Deleted data blobs: later snapshots leave them out.

A run's snapshot is derived incrementally (the base run's manifest overlaid with the
blobs that arrived since: ``shared/service/triggers.py``), so a deleted blob would stay in
every later snapshot, and the next run's prep step would fail on a file that is gone. A
deletion is therefore recorded in the model's snapshot index like an arrival: a pending
arrival of the name with the ETag ``shared.snapshot.DELETED`` (``deletion``), which
replaces any version of the name waiting in the burst, and which the next snapshot turns
into the name's removal (``shared.snapshot.without_deleted``).

Because it changes the snapshot, a deletion is decided like an arrival, through the same
policy: coalesced into the burst (a bulk delete, or a delete and re-upload, becomes one
run), queued behind an active run, held while paused, subject to the cooldown. It adds no
observations, so with ``min_new_rows`` set it does not fire on its own: it waits for data
and joins the next run.

Two sources:

- ``Microsoft.Storage.BlobDeleted`` (``DataDeleted``, routed by ``on_blob_created``).
  Event Grid may deliver it late, after the name was uploaded again: the blob is looked up
  first, and a deletion of a name that exists is stale and skipped. A name the model's
  index does not hold (never arrived, quarantined, already removed) is skipped too. Each
  decision is one ledger entry; a redelivered event is a duplicate.
- The sweep: ``gone`` lists names the index holds that a listing of the prefix no longer
  has (their BlobDeleted never came), as deletions for the sweep to absorb with the blobs
  it found without an event.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Collection, Iterable

from shared.errors import ConflictError, InvalidInput, NotFound
from shared.messages import DataDeleted
from shared.policy import Arrival, ModelState
from shared.policy.engine import Request
from shared.service.context import Context
from shared.service.outcome import Outcome
from shared.settings import ModelConfig
from shared.snapshot import DELETED

log = logging.getLogger(__name__)


def handle_deletion(message: DataDeleted, ctx: Context) -> list[Outcome]:
    """Remove a deleted blob from the model's later snapshots (one ledger entry)."""
    config = ctx.models.get(message.model)
    if config is None:
        raise InvalidInput(f"unknown model {message.model!r}")
    event = f"eventgrid:{message.event_id}"
    what = message.describe()
    mark = _mark_key(event)
    if ctx.exists(mark):
        skip = Outcome(config.name, "skip", f"duplicate delivery ({what})")
        ctx.ledger(config.name, "trigger", skip, trigger=what, events=[event])
        return [skip]
    outcome = _remove(config, message.blob_name, event, what, ctx)
    with contextlib.suppress(ConflictError):
        ctx.state.create(
            mark, {"event": event, "seen_at": ctx.clock.now().isoformat(), "message": what}
        )
    return [outcome]


def _remove(config: ModelConfig, name: str, event: str, what: str, ctx: Context) -> Outcome:
    if _exists(name, ctx):
        reason = (
            f"blob {name} exists again (uploaded after this deletion, whose event came late); "
            "nothing removed"
        )
        return _skip(config, reason, what, event, ctx)
    state = _state(config, ctx)
    if any(_is_deletion(r, name) for r in (*state.pending, *state.firing)):
        return _skip(config, f"the deletion of {name} is recorded already", what, event, ctx)
    if name not in indexed(state, _base_names(state, ctx)):
        reason = (
            f"blob {name} is in none of the model's snapshots nor waiting to join one "
            "(never checked in, quarantined, or removed already); nothing to remove"
        )
        return _skip(config, reason, what, event, ctx)
    # Imported here: triggers' catch-up (the sweep) imports ``gone`` from this module.
    from shared.service.triggers import _decide

    signal = deletion_arrival(name, what, event)
    log.info("%s: %s leaves the model's next snapshot", config.name, name)
    return _decide(config, signal, ctx, trigger=what, events=[event])


def deletion_arrival(name: str, reason: str, event: str) -> Arrival:
    """A deletion as the policy takes it: an arrival of no version, with no rows."""
    return Arrival(reason, event, name, DELETED, 0, 0)


def indexed(state: ModelState, base_names: Iterable[str]) -> set[str]:
    """The names the model's next snapshot would hold: the base run's files and the
    arrivals waiting or being launched, minus the deletions among them (newest wins,
    as ``shared.snapshot.overlay`` applies them)."""
    names = set(base_names)
    for request in (*state.firing, *state.pending):
        if request.kind != "arrival" or not request.blob:
            continue
        if request.etag == DELETED:
            names.discard(request.blob)
        else:
            names.add(request.blob)
    return names


def gone(
    config: ModelConfig, state: ModelState, base_names: Iterable[str], listed: Collection[str]
) -> list[Arrival]:
    """For the sweep: the names the model's index holds that the listing of its prefix
    (``listed``: every blob name under it) no longer has, as deletions to absorb. Pure."""
    missing = sorted(n for n in indexed(state, base_names) if n.startswith(config.prefix))
    return [
        deletion_arrival(
            name,
            f"the sweep found {name} deleted (no BlobDeleted event came)",
            f"sweep:{name}@{DELETED}",
        )
        for name in missing
        if name not in listed
    ]


# ------------------------------------------------------------------------------ helpers


def _skip(config: ModelConfig, reason: str, what: str, event: str, ctx: Context) -> Outcome:
    outcome = Outcome(config.name, "skip", reason)
    ctx.ledger(config.name, "trigger", outcome, trigger=what, events=[event])
    return outcome


def _is_deletion(request: Request, name: str) -> bool:
    return request.kind == "arrival" and request.blob == name and request.etag == DELETED


def _exists(name: str, ctx: Context) -> bool:
    """Whether the data container holds ``name`` now (one listing of the exact name)."""
    return any(f.name == name for f in ctx.data.list_files(name))


def _state(config: ModelConfig, ctx: Context) -> ModelState:
    try:
        return ModelState.from_json(ctx.state.get(f"policy/{config.name}.json")[0])
    except NotFound:
        return ModelState()


def _base_names(state: ModelState, ctx: Context) -> set[str]:
    """The names in the base run's snapshot manifest (none without a base run, or when
    its manifest was never written: the launch died first)."""
    if not state.base_run:
        return set()
    try:
        manifest = ctx.artifacts.read_json(f"retrain/{state.base_run}/snapshot.json")
    except NotFound:
        return set()
    return {str(f["name"]) for f in manifest.get("files") or ()}


def _mark_key(event: str) -> str:
    """``events/<digest>.json``: the mark of a processed non-arrival event (as triggers.py
    marks drift alerts)."""
    return f"events/{hashlib.sha256(event.encode()).hexdigest()[:32]}.json"
