"""The model's policy state as kept in storage, and what an instance caches beside it:
the state itself (a head read and written ETag-conditionally, and the append-only chunks
it names: ``shared/policy/stored.py``), what it knows as seen (``SeenIndex``), the
snapshot manifests of the base run and of every run of the model.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from shared.errors import ConflictError, NotFound
from shared.policy import ModelState, Request
from shared.policy.batch import SeenIndex, etag_of, next_index, quarantined_versions
from shared.policy.stored import (
    Layout,
    chunk_document,
    chunk_ids,
    chunk_requests,
    decode,
    encode,
)
from shared.service.context import Context
from shared.service.groupcommit import cache_for
from shared.settings import ModelConfig

log = logging.getLogger(__name__)


def policy_key(model: str) -> str:
    return f"policy/{model}.json"


S = TypeVar("S")
_Held = tuple[ModelState, str, Layout]  # a state as read or written: its ETag and layout


class _StateCache:
    """The last policy state this instance read or wrote per model, with its ETag: the
    next update writes against it directly (a conditional write fails if another
    instance wrote since, and the state is read again)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.states: dict[str, _Held] = {}
        # per model: the last state whose SeenIndex was derived, and the index
        self.index: dict[str, tuple[ModelState, SeenIndex]] = {}
        # chunks of stored requests by id (immutable), newest last
        self.chunks: OrderedDict[str, tuple[Request, ...]] = OrderedDict()

    CHUNKS = 4096

    def keep_chunk(self, chunk: str, requests: tuple[Request, ...]) -> None:
        with self.lock:
            self.chunks[chunk] = requests
            self.chunks.move_to_end(chunk)
            while len(self.chunks) > self.CHUNKS:
                self.chunks.popitem(last=False)


class _ManifestCache:
    """Snapshot manifests by run key (written once per run key, never changed)."""

    SIZE = 8

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.files: OrderedDict[str, dict[str, str]] = OrderedDict()


def cached_journals(ctx: Context) -> list[tuple[str, tuple[Mapping[str, Any], ...]]]:
    """(model, journal) of every policy state this instance holds with a journal."""
    cache = cache_for(ctx.state, "policy-states", _StateCache)
    with cache.lock:
        return [(name, held[0].journal) for name, held in cache.states.items() if held[0].journal]


def _index(config: ModelConfig, state: ModelState, ctx: Context) -> SeenIndex:
    """The ``SeenIndex`` of ``state``, derived from the one this instance kept for the
    state before it (a copy and the new requests), not rebuilt per decision."""
    cache = cache_for(ctx.state, "policy-states", _StateCache)
    with cache.lock:
        previous = cache.index.get(config.name)
    index = next_index(previous, state)
    with cache.lock:
        cache.index[config.name] = (state, index)
    return index


def _known(config: ModelConfig, ctx: Context) -> Callable[[str, tuple[str, str]], bool] | None:
    """Whether the cached state knows an event id or blob version as seen (None without a
    cached state). Quarantined versions are not known: they are read again (an operator
    may have released one)."""
    cache = cache_for(ctx.state, "policy-states", _StateCache)
    with cache.lock:
        held = cache.states.get(config.name)
    if held is None:
        return None
    state = held[0]
    index = _index(config, state, ctx)
    base = _base_files(state, ctx, cached_only=True)
    quarantined = quarantined_versions(state) if any(s.quarantined for s in state.recent) else ()

    def known(event: str, version: tuple[str, str]) -> bool:
        if index.has_event(event):
            return True
        return version not in quarantined and index.how(version, base) is not None

    return known


def _base_files(
    state: ModelState, ctx: Context, *, cached_only: bool = False, missing_ok: bool = False
) -> dict[str, str]:
    """name -> ETag of the files in the base run's snapshot (empty without a base run).
    ``missing_ok``: empty when its manifest is not written (the launch died before)."""
    if not state.base_run:
        return {}
    cache = cache_for(ctx.artifacts, "manifests", _ManifestCache)
    with cache.lock:
        files = cache.files.get(state.base_run)
    if files is not None or cached_only:
        return files or {}
    try:
        manifest = ctx.artifacts.read_json(f"retrain/{state.base_run}/snapshot.json")
    except NotFound:
        if missing_ok:
            return {}
        raise
    files = {str(f["name"]): str(f["etag"]) for f in manifest.get("files") or ()}
    with cache.lock:
        cache.files[state.base_run] = files
        while len(cache.files) > _ManifestCache.SIZE:
            cache.files.popitem(last=False)
    return files


class _RunFiles:
    """Per model: the runs whose snapshot manifests were read, and their files."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.read: dict[str, set[str]] = {}
        self.files: dict[str, set[tuple[str, str]]] = {}


def _run_files(config: ModelConfig, ctx: Context) -> set[tuple[str, str]]:
    """(name, ETag) of every file in the snapshot of any run of the model: one listing of
    its run records, and each snapshot's manifest read once per instance (attempts
    ``-r<n>`` share their first attempt's snapshot)."""
    pattern = re.compile(rf"runs/({re.escape(config.name)}-[0-9a-f]{{16}})(-r\d+)?\.json")
    keys = {
        m.group(1)
        for k in ctx.state.list_keys(f"runs/{config.name}-")
        if (m := pattern.fullmatch(k))
    }
    cache = cache_for(ctx.artifacts, "run-files", _RunFiles)
    with cache.lock:
        read = set(cache.read.get(config.name, ()))
    for key in sorted(keys - read):
        try:
            manifest = ctx.artifacts.read_json(f"retrain/{key}/snapshot.json")
        except NotFound:
            continue  # the launch died before writing it; read again next time
        found = {(str(f["name"]), etag_of(str(f["etag"]))) for f in manifest.get("files") or ()}
        with cache.lock:
            cache.read.setdefault(config.name, set()).add(key)
            cache.files.setdefault(config.name, set()).update(found)
    with cache.lock:
        return set(cache.files.get(config.name, ()))


def _read_state(config: ModelConfig, ctx: Context) -> ModelState:
    loaded = _load(config, ctx)
    if loaded is None:
        return ModelState()
    state, etag, layout = loaded
    _remember_state(config, ctx, state, etag, layout)
    return state


def chunk_key(model: str, chunk: str) -> str:
    return f"pending/{model}/{chunk}.json"


def _load(config: ModelConfig, ctx: Context, attempts: int = 5) -> _Held | None:
    """The stored state, its ETag and layout (None when there is none): the head, then
    each chunk it names that this instance has not read yet. A chunk gone meanwhile
    (a writer dropped it after the head changed) means the head is read again."""
    cache = cache_for(ctx.state, "policy-states", _StateCache)
    for _ in range(attempts):
        try:
            head, etag = ctx.state.get(policy_key(config.name))
        except NotFound:
            return None
        chunks: dict[str, tuple[Request, ...]] = {}
        try:
            for chunk in chunk_ids(head):
                with cache.lock:
                    held = cache.chunks.get(chunk)
                if held is None:
                    held = chunk_requests(ctx.state.get(chunk_key(config.name, chunk))[0])
                    cache.keep_chunk(chunk, held)
                chunks[chunk] = held
        except NotFound:
            continue
        state, layout = decode(head, chunks)
        return state, etag, layout
    raise ConflictError(f"policy state of {config.name} kept changing while read; try again")


def _remember_state(
    config: ModelConfig,
    ctx: Context,
    state: ModelState,
    etag: str | None,
    layout: Layout | None = None,
) -> None:
    cache = cache_for(ctx.state, "policy-states", _StateCache)
    with cache.lock:
        if etag is None:
            cache.states.pop(config.name, None)
        else:
            cache.states[config.name] = (state, etag, layout or Layout())


def _update_state(
    config: ModelConfig,
    change: Callable[[ModelState], tuple[ModelState, S]],
    ctx: Context,
    *,
    trust_cache: bool = True,
    attempts: int = 20,
) -> tuple[ModelState, S]:
    """Read-change-write the model's policy state, ETag-conditionally; retried when
    another instance wrote first (the change is recomputed on what it wrote).

    With ``trust_cache`` the change starts from the state this instance last read or
    wrote (no read): right for changes that always write (the conditional write finds a
    stale state out) and for arrivals, which a stale state can only take for new when
    they are not (a blob version seen stays seen). Signals that may decide "nothing to
    do" without writing (the sweep's "is anything due?", ticks) read the state first.

    The state is kept as a head and append-only chunks (``shared/policy/stored.py``): new
    chunks are created before the head that names them; chunks the new head no longer
    names are deleted after it is written.
    """
    key = policy_key(config.name)
    cache = cache_for(ctx.state, "policy-states", _StateCache)
    held: _Held | None = None
    if trust_cache:
        with cache.lock:
            held = cache.states.get(config.name)
    for _ in range(attempts):
        etag: str | None
        if held is None:
            held = _load(config, ctx)
            if held is not None:
                _remember_state(config, ctx, *held)
        if held is not None:
            state, etag, layout = held
        else:
            state, etag, layout = ModelState(), None, Layout()
        new_state, result = change(state)
        if new_state == state:
            return new_state, result
        encoded = encode(
            new_state,
            previous=(state, layout) if etag is not None else None,
            new_id=lambda: new_chunk_id(ctx.clock.now()),
        )
        try:
            for chunk, requests in encoded.chunks.items():
                ctx.state.create(chunk_key(config.name, chunk), chunk_document(requests))
                cache.keep_chunk(chunk, requests)
            if etag is None:
                written = ctx.state.create(key, encoded.head)
            else:
                written = ctx.state.replace(key, encoded.head, etag=etag)
        except ConflictError:
            held = None
            _remember_state(config, ctx, state, None)
            _drop_unnamed(config, set(encoded.chunks), ctx)
            continue
        _remember_state(config, ctx, new_state, written, encoded.layout)
        # no longer named by the head (the run they fired for ended)
        _drop_chunks(config, layout.chunks - encoded.layout.chunks, ctx)
        return new_state, result
    raise ConflictError(f"policy state of {config.name} kept changing; try again")


def _drop_unnamed(config: ModelConfig, chunks: set[str], ctx: Context) -> None:
    """After a lost conditional write, delete those of its new chunks that the stored head
    does not name. Usually none is named; but a write can land and still report a conflict
    (its answer lost, the client's retry then refused), and then the head names them: they
    must stay. When the head cannot be read, they are left (a chunk no head names is never
    read)."""
    try:
        head = ctx.state.get(policy_key(config.name))[0]
    except NotFound:
        named: set[str] = set()
    except Exception:
        log.warning("%s: policy head unreadable; new chunks left in place", config.name)
        return
    else:
        named = set(chunk_ids(head))
    _drop_chunks(config, chunks - named, ctx)


def _drop_chunks(config: ModelConfig, chunks: Iterable[str], ctx: Context) -> None:
    """Delete chunks no head names (best effort: one left behind is never read)."""
    for chunk in sorted(chunks):
        try:
            ctx.state.delete(chunk_key(config.name, chunk))
        except Exception:
            log.warning("%s: chunk %s of the policy state not deleted", config.name, chunk)


# ------------------------------------------------------------------------ orphan chunks

# A chunk no head names, written longer ago than this, is collected by the sweep. Its
# writer died between writing it and writing the head that names it: a live writer writes
# that head within its invocation's storage budget (25 s), so an hour leaves room for any
# clock skew between instances and for a paused process.
ORPHAN_AGE = timedelta(hours=1)
_TIMED_ID = re.compile(r"t([0-9a-f]{8,12})-[0-9a-f]{12}")


def new_chunk_id(now: datetime) -> str:
    """A chunk id that says when it was made: ``t<seconds since the epoch, hex>-<random>``
    (ids made before, 16 hex digits, say nothing)."""
    return f"t{int(now.timestamp()):x}-{uuid.uuid4().hex[:12]}"


def chunk_made_at(chunk: str) -> datetime | None:
    """When a chunk id was made, when the id says (``new_chunk_id``)."""
    match = _TIMED_ID.fullmatch(chunk)
    if match is None:
        return None
    return datetime.fromtimestamp(int(match.group(1), 16), tz=UTC)


class _Unnamed:
    """Per model: chunks without a time in their id, and when this instance first found
    them named by no head."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.first_seen: dict[str, dict[str, datetime]] = {}


def collect_orphan_chunks(config: ModelConfig, ctx: Context) -> list[str]:
    """Delete the model's chunks that no head names and that were made more than
    ``ORPHAN_AGE`` ago (an instance died between writing a chunk and the head naming it);
    returns their ids. One listing of ``pending/<model>/`` and one read of the head, which
    comes after the listing: a chunk listed and not named by the head read after it, made
    long enough ago, can no longer be named by any head (only its writer names a new chunk,
    right after making it). A chunk whose id carries no time (made before ids did) is
    collected once this instance has found it unnamed for ``ORPHAN_AGE``."""
    prefix = f"pending/{config.name}/"
    listed = [
        key[len(prefix) : -len(".json")]
        for key in ctx.state.list_keys(prefix)
        if key.endswith(".json") and "/" not in key[len(prefix) :]
    ]
    if not listed:
        return []
    try:
        named = set(chunk_ids(ctx.state.get(policy_key(config.name))[0]))
    except NotFound:
        named = set()
    now = ctx.clock.now()
    unnamed = cache_for(ctx.state, "unnamed-chunks", _Unnamed)
    with unnamed.lock:
        seen = unnamed.first_seen.setdefault(config.name, {})
        for chunk in list(seen):
            if chunk in named or chunk not in listed:
                del seen[chunk]
        old = []
        for chunk in listed:
            if chunk in named:
                continue
            made = chunk_made_at(chunk) or seen.setdefault(chunk, now)
            if now - made >= ORPHAN_AGE:
                old.append(chunk)
                seen.pop(chunk, None)
    if old:
        log.warning(
            "%s: %d chunk(s) of the policy state named by no head since %s or longer "
            "(an instance died between writing them and the head); deleting them",
            config.name,
            len(old),
            ORPHAN_AGE,
        )
        _drop_chunks(config, old, ctx)
    return old
