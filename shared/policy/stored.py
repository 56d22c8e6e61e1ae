"""How a model's policy state is kept: a small head document and append-only chunks.

The state holds every request waiting for the next run (``pending``) and those the active
run covers (``firing``): with a pipeline that runs for hours and data arriving all the
while, thousands. Written whole on every decision, the write (and its JSON encoding) grew
with the queue. Kept instead as:

- the head, ``policy/<model>.json``: everything but the requests, plus for each of
  ``pending`` and ``firing`` the ids of the chunks holding its first requests
  (``pending_chunks``, ``firing_chunks``) and its newest requests inline (``pending``,
  ``firing``: at most about ``CHUNK`` of them), and ``pending_count``;
- chunks, ``pending/<model>/<id>.json``: ``{"requests": [...]}``, written once (created
  before the head that names them), never changed.

A decision that appends requests writes only the head (and a chunk once the inline tail
passes ``CHUNK``); firing moves the pending chunks to ``firing`` by name. Only what
reorders or edits waiting requests (a launch that failed putting its requests back, a
burst too small to train on, a resume that drops held arrivals, a newer version of a blob
replacing its older one in the queue) writes the requests again, once.

A head without chunk ids (written before this layout) reads as before. Pure: the caller
reads and writes the documents.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.policy.engine import ModelState, Request

CHUNK = 64  # requests kept inline in the head before they are moved to a chunk


@dataclass(frozen=True)
class Part:
    """How one request list is kept: ``chunks`` (ids, in order) hold its first requests,
    the last ``inline`` requests are in the head."""

    chunks: tuple[str, ...] = ()
    inline: int = 0


@dataclass(frozen=True)
class Layout:
    """Where the requests of a stored state are (the head's chunk ids)."""

    pending: Part = Part()
    firing: Part = Part()

    @property
    def chunks(self) -> frozenset[str]:
        return frozenset((*self.pending.chunks, *self.firing.chunks))


@dataclass(frozen=True)
class Encoded:
    """A state as it is written: the head, the new chunks to create first (id ->
    requests), and the layout the head describes."""

    head: dict[str, Any]
    chunks: dict[str, tuple[Request, ...]]
    layout: Layout


def chunk_document(requests: Sequence[Request]) -> dict[str, Any]:
    return {"requests": [r.as_json() for r in requests]}


def chunk_requests(document: Mapping[str, Any]) -> tuple[Request, ...]:
    return tuple(Request.from_json(r) for r in document.get("requests") or ())


def _starts_with(items: Sequence[Request], prefix: Sequence[Request]) -> bool:
    if len(prefix) > len(items):
        return False
    # by identity first: a state derived from another shares its request objects
    return all(map(operator.is_, prefix, items)) or tuple(items[: len(prefix)]) == tuple(prefix)


def _keep(
    requests: tuple[Request, ...],
    previous: Sequence[tuple[tuple[Request, ...], Part]],
    new_id: Callable[[], str],
    chunks: dict[str, tuple[Request, ...]],
    chunk: int,
) -> tuple[Part, tuple[Request, ...]]:
    """The part for ``requests``, reusing the chunks of the longest previous list it
    extends; the inline tail moves to a new chunk once longer than ``chunk``."""
    best: tuple[tuple[Request, ...], Part] | None = None
    for items, part in previous:
        if (
            (items or part.chunks)
            and (best is None or len(items) > len(best[0]))
            and _starts_with(requests, items)
        ):
            best = (items, part)
    stored: tuple[str, ...] = ()
    if best is None:
        inline = requests
    else:
        items, part = best
        stored, inline = part.chunks, requests[len(items) - part.inline :]
    if len(inline) > chunk:
        key = new_id()
        chunks[key] = inline
        stored, inline = (*stored, key), ()
    return Part(stored, len(inline)), inline


def encode(
    state: ModelState,
    *,
    previous: tuple[ModelState, Layout] | None,
    new_id: Callable[[], str],
    chunk: int = CHUNK,
) -> Encoded:
    """The head and new chunks for ``state``, written after ``previous`` (the state as
    last read or written, and its layout; None when there is none)."""
    before: list[tuple[tuple[Request, ...], Part]] = []
    if previous is not None:
        old, layout = previous
        before = [(old.pending, layout.pending), (old.firing, layout.firing)]
    chunks: dict[str, tuple[Request, ...]] = {}
    pending, pending_inline = _keep(state.pending, before, new_id, chunks, chunk)
    firing, firing_inline = _keep(state.firing, before, new_id, chunks, chunk)
    head = state_head(state)
    head.update(
        pending=[r._json for r in pending_inline],
        pending_chunks=list(pending.chunks),
        pending_count=len(state.pending),
        firing=[r._json for r in firing_inline],
        firing_chunks=list(firing.chunks),
    )
    return Encoded(head, chunks, Layout(pending, firing))


def state_head(state: ModelState) -> dict[str, Any]:
    """The state's document without its requests (a shallow ``as_json``)."""
    empty = ModelState(
        **{
            **{f: getattr(state, f) for f in _FIELDS},
            "pending": (),
            "firing": (),
        }
    )
    return empty.as_json()


_FIELDS = tuple(f for f in ModelState.__dataclass_fields__ if f not in ("pending", "firing"))


def chunk_ids(head: Mapping[str, Any]) -> list[str]:
    """Every chunk the head names, pending first."""
    return [
        str(c) for c in (*(head.get("pending_chunks") or ()), *(head.get("firing_chunks") or ()))
    ]


def decode(
    head: Mapping[str, Any], chunks: Mapping[str, Sequence[Request]]
) -> tuple[ModelState, Layout]:
    """The state a head describes, given its chunks (``chunk_ids``) read; and its layout."""
    state = ModelState.from_json(head)  # the inline requests only

    def part(name: str, inline: tuple[Request, ...]) -> tuple[Part, tuple[Request, ...]]:
        ids = tuple(str(c) for c in head.get(f"{name}_chunks") or ())
        stored = tuple(r for c in ids for r in chunks[c])
        return Part(ids, len(inline)), (*stored, *inline)

    pending, pending_requests = part("pending", state.pending)
    firing, firing_requests = part("firing", state.firing)
    full = ModelState(
        **{f: getattr(state, f) for f in _FIELDS},
        pending=pending_requests,
        firing=firing_requests,
    )
    return full, Layout(pending, firing)
