"""Trigger handlers: new data, schedule ticks, drift signals, manual requests, pause and
resume, the end of a run, and the sweep's share (due bursts, arrivals whose event never
came).

Each turns its message into a policy signal and applies ``shared.policy.step`` to the
model's policy state (``policy/<model>.json``, written ETag-conditionally, so only one
instance can claim a model's next run). A ``Retrain`` is then resolved against the data
snapshot (``shared.policy.resolve``) and launched: the run record is written
create-if-absent (the run key is the lock) and the pipeline submitted. Every decision is
one ledger entry with the events it covered and the run it led to.

Arrivals (BlobCreated) that reach an instance at the same time are decided per model
together: one conditional write of the policy state for all of them (a group commit,
``shared/service/groupcommit.py``), duplicates recognised inside the state
(``shared/policy/batch.py``), one ledger record holding their decisions.

Snapshots are derived incrementally: an arrival names its blob, which is checked once;
a run's snapshot is the previous run's manifest overlaid with the blobs that arrived
since. No event lists the data prefix; the sweep lists it once per model to find blobs
whose event never came (seen: what the policy state knows, and the snapshots of the
model's runs).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from shared.datacheck import check_csv
from shared.errors import ConflictError, InvalidData, InvalidInput, NotFound, PipelineError
from shared.messages import (
    COMMITTING_BLOB_APIS,
    DriftAlerted,
    NewDataArrived,
    PauseRequested,
    ResumeRequested,
    RetrainRequested,
    ScheduleTicked,
    SweepTicked,
    TriggerMessage,
)
from shared.parsing import FORCE_RERUN_TAG, MODEL_TAG, RUN_KEY_TAG
from shared.policy import (
    Arrival,
    Coalesced,
    Decision,
    DriftSignal,
    Due,
    Manual,
    ModelState,
    Pause,
    Resume,
    Retrain,
    RunEnded,
    Signal,
    Tick,
    classify_failure,
    launched,
    not_launched,
    resolve,
    step,
)
from shared.policy.batch import (
    Incoming,
    decide_arrivals,
    etag_of,
    quarantined_versions,
    seen_events,
    seen_versions,
)
from shared.policy.engine import RECENT, Seen, Skip, absorb
from shared.policy.forecast import score_actuals
from shared.ports import JSON, DataFile, PipelineSubmission
from shared.service.context import Context
from shared.service.family import family_submission
from shared.service.groupcommit import GroupCommit, Slot, cache_for
from shared.service.outcome import Outcome
from shared.service.promotion import PRODUCTION
from shared.settings import ModelConfig
from shared.snapshot import Snapshot, overlay, run_key

log = logging.getLogger(__name__)


def policy_key(model: str) -> str:
    return f"policy/{model}.json"


# ------------------------------------------------------------------------------ entry points


def handle_schedule(tick: ScheduleTicked, ctx: Context) -> list[Outcome]:
    """A schedule tick asks every model; each retrains only if its data changed. A
    failure for one model is dead-lettered and does not stop the others (a timer
    invocation is not retried)."""
    outcomes = []
    for name in sorted(ctx.models):
        try:
            outcomes.append(handle_trigger(tick, ctx, model=name))
        except Exception as exc:
            ctx.dead_letter("on_schedule", f"{tick.describe()} for model {name}", exc)
            outcomes.append(Outcome(name, "failed", f"{type(exc).__name__}: {exc}"))
    return outcomes


def handle_trigger(message: TriggerMessage, ctx: Context, *, model: str | None = None) -> Outcome:
    """Decide on one trigger for one model, launch the run on Retrain, record why."""
    name = model or getattr(message, "model", None)
    config = ctx.models.get(str(name))
    if config is None:
        raise InvalidInput(f"unknown model {name!r}")
    if isinstance(message, NewDataArrived):
        return _arrival(message, config, ctx)
    event = _event_id(message)
    if event is not None and ctx.exists(_digest_key(event)):
        outcome = Outcome(config.name, "skip", f"duplicate delivery ({message.describe()})")
        return _record(config, outcome, message.describe(), [event], ctx)
    signal: Signal
    if isinstance(message, ScheduleTicked):
        signal = Tick(message.describe())
    elif isinstance(message, DriftAlerted):
        signal = DriftSignal(message.describe(), event=event, resolved=message.resolved)
    else:
        signal = Manual(message.describe(), force=message.force)
    outcome = _decide(config, signal, ctx, trigger=message.describe(), events=[event])
    if event is not None:
        _mark_seen(event, message.describe(), ctx)
    return outcome


def handle_pause(message: PauseRequested | ResumeRequested, ctx: Context) -> list[Outcome]:
    """Pause or resume a model (operator action); on resume the held arrivals are
    replayed or dropped as the model's policy says, and recorded either way."""
    config = ctx.models.get(message.model)
    if config is None:
        raise NotFound(f"unknown model {message.model!r}")
    kind = Pause if isinstance(message, PauseRequested) else Resume
    signal = kind(message.requested_by, message.reason)
    return [_decide(config, signal, ctx, trigger=message.describe(), events=[])]


def after_run(key: str, ctx: Context) -> list[Outcome]:
    """A run was finalised: tell the policy, which may fire what queued behind it. Never
    raises (finalisation is done; the sweep fires what this could not)."""
    try:
        record = ctx.state.get(f"runs/{key}.json")[0]
        config = ctx.models.get(str(record.get("model")))
        if config is None:
            return []
        return _run_ended(config, record, ctx)
    except Exception:
        log.exception("after run %s: the policy could not be told; the sweep will", key)
        return []


def on_sweep(message: SweepTicked, ctx: Context) -> list[Outcome]:
    """The sweep's share of the policy, per model: notice a run that ended without telling
    the policy, turn committed blobs the index has never seen into arrivals (one listing
    of the prefix and one of the index), and fire what has become due (bursts gone quiet,
    cooldowns over, retries whose backoff passed, stale claims)."""
    outcomes: list[Outcome] = []
    for name in sorted(ctx.models):
        config = ctx.models[name]
        try:
            outcomes += _sweep_model(config, message, ctx)
        except Exception as exc:
            log.exception("sweep: the policy of model %s could not be applied", name)
            outcomes.append(Outcome(name, "failed", f"sweep of model {name}: {exc}"))
    return outcomes


# ------------------------------------------------------------------------------ arrivals


@dataclass
class _Arriving:
    """One BlobCreated on its way to the model's group commit."""

    incoming: Incoming
    blob: DataFile
    content: bytes = b""
    gone: bool = False
    problem: InvalidData | None = None


# Arrivals reaching this instance at the same time are decided per model in one state
# update (shared/service/groupcommit.py).
_ARRIVALS: GroupCommit[_Arriving, Outcome] = GroupCommit()


def _arrival(message: NewDataArrived, config: ModelConfig, ctx: Context) -> Outcome:
    event = f"eventgrid:{message.event_id}"
    what = message.describe()
    if message.api not in COMMITTING_BLOB_APIS:
        outcome = Outcome(
            config.name, "skip", f"blob API {message.api!r} does not commit data; waiting for it"
        )
        _mark_seen(event, what, ctx)
        return _record(config, outcome, what, [event], ctx)
    blob = DataFile(message.blob_name, message.etag, message.size)
    item = _read_arrival(config, blob, event, what, ctx)
    outcome = _ARRIVALS.submit(
        (id(ctx.state), config.name),
        item,
        lambda slots: _commit_arrivals(config, slots, ctx),
    )
    if item.problem is not None:  # quarantined (and recorded): the input can never succeed
        raise item.problem
    return outcome


def _read_arrival(
    config: ModelConfig, blob: DataFile, event: str, what: str, ctx: Context
) -> _Arriving:
    """Read and check the blob, unless what this instance last saw of the model's state
    knows it already (a redelivery or a duplicate costs no read). A bad file is decided
    (and its quarantine record written) by the commit."""
    bare = Incoming(event, blob.name, blob.etag, what)
    known = _known(config, ctx)
    if known is not None and (event in known[1] or (blob.name, etag_of(blob.etag)) in known[0]):
        return _Arriving(bare, blob)
    try:
        content = ctx.data.read_bytes(blob.name)
        rows = check_csv(
            content,
            name=blob.name,
            time_column=config.time_column,
            value_column=config.value_column,
        )
    except InvalidData as exc:  # its quarantine record is written once it is decided so
        quarantined = Incoming(event, blob.name, blob.etag, what, quarantined=str(exc))
        return _Arriving(quarantined, blob, problem=exc)
    except NotFound:
        return _Arriving(bare, blob, gone=True)
    arrival = Arrival(what, event, blob.name, blob.etag, blob.size, rows)
    return _Arriving(Incoming(event, blob.name, blob.etag, what, arrival=arrival), blob, content)


def _commit_arrivals(
    config: ModelConfig, slots: Sequence[Slot[_Arriving, Outcome]], ctx: Context
) -> None:
    """Decide the arrivals waiting for one model: one state update for all of them (one
    conditional write; none when all were duplicates), then one ledger record, then the
    forecast error of the new files."""
    entries: list[_Entry] = []
    accepted: list[_Arriving] = []
    try:
        live = []
        for slot in slots:
            if slot.item.gone:
                # Not checked, so it joins no snapshot; if it comes back the sweep finds it.
                why = f"blob {slot.item.blob.name} was gone before it could be checked"
                log.warning("%s: %s", config.name, why)
                outcome = Outcome(config.name, "skip", why)
                slot.settle(
                    _record(
                        config,
                        outcome,
                        slot.item.incoming.reason,
                        [slot.item.incoming.event],
                        ctx,
                        into=entries,
                    )
                )
            else:
                live.append(slot)
        if not live:
            return
        incoming = [slot.item.incoming for slot in live]
        now = ctx.clock.now()
        state, decisions = _update_state(
            config,
            lambda s: decide_arrivals(
                s,
                incoming,
                base_files=_base_files(s, ctx, missing_ok=True),
                now=now,
                policy=config.policy,
                released=_released(s, incoming, ctx),
            ),
            ctx,
        )
        for slot, decision in zip(live, decisions, strict=True):
            item = slot.item
            if not decision.reason.startswith("quarantined"):
                item.problem = None  # a duplicate of a quarantined file: nothing to refuse
            elif item.problem is not None:
                try:
                    _quarantine_record(item.blob, item.problem, ctx)
                except Exception as exc:
                    slot.settle(error=exc)
                    continue
                log.warning("%s: QUARANTINED %s: %s", config.name, item.blob.name, item.problem)
            if item.incoming.arrival is not None and not isinstance(decision, Skip):
                accepted.append(item)
            try:
                outcome = _act(
                    config,
                    state,
                    decision,
                    ctx,
                    trigger=item.incoming.reason,
                    events=[item.incoming.event],
                    into=entries,
                )
            except Exception as exc:
                slot.settle(error=exc)
            else:
                slot.settle(outcome)
    finally:
        _write_ledger(config, entries, ctx)
    _forecast_errors(config, accepted, ctx)  # after the arrivals' own record


def _released(
    state: ModelState, incoming: Sequence[Incoming], ctx: Context
) -> set[tuple[str, str]]:
    """Versions among ``incoming`` the state remembers as quarantined whose quarantine
    record is gone or names another version: an operator released them (one read each,
    only for such versions)."""
    quarantined = quarantined_versions(state)
    released = set()
    for item in incoming:
        version = (item.blob, etag_of(item.etag))
        if version not in quarantined or version in released:
            continue
        try:
            record = ctx.state.get(f"quarantine/{item.blob}.json")[0]
        except NotFound:
            released.add(version)
            continue
        if etag_of(str(record.get("etag", ""))) != version[1]:
            released.add(version)
    return released


def _catch_up(
    config: ModelConfig, state: ModelState, ctx: Context, why: str
) -> tuple[list[Arrival], list[Seen]]:
    """Committed blobs under the model's prefix that were never seen (their event never
    came), checked. Seen: what the state knows (``seen_versions``) and every file of every
    run of the model (so a policy state lost or reset does not make old data new). Costs
    one listing of the prefix and one of the model's runs, plus each run's snapshot
    manifest once per instance. Returns the arrivals and the versions quarantined."""
    seen = seen_versions(state, _base_files(state, ctx, missing_ok=True))
    seen.update(dict.fromkeys(_run_files(config, ctx), ""))
    found: list[Arrival] = []
    quarantined: list[Seen] = []
    for blob in ctx.data.list_files(config.prefix):
        if (blob.name, etag_of(blob.etag)) in seen:
            continue
        what = f"{why} found {blob.name} ({blob.size} bytes) without an event"
        event = f"sweep:{blob.name}@{etag_of(blob.etag)}"
        try:
            content = ctx.data.read_bytes(blob.name)
            rows = check_csv(
                content,
                name=blob.name,
                time_column=config.time_column,
                value_column=config.value_column,
            )
        except InvalidData as exc:
            _quarantine_record(blob, exc, ctx)
            outcome = Outcome(config.name, "skip", f"quarantined: {exc}")
            _record(config, outcome, what, [event], ctx)
            log.warning("%s: QUARANTINED %s: %s", config.name, blob.name, exc)
            quarantined.append(Seen(blob.name, blob.etag, event, quarantined=True))
            continue
        except NotFound:
            continue  # gone since the listing
        found.append(Arrival(what, event, blob.name, blob.etag, blob.size, rows))
    return found, quarantined


def _absorb(config: ModelConfig, found: list[Arrival], ctx: Context) -> None:
    """Record blobs found without an event: each a ledger entry (the signal that follows
    decides on them together)."""
    entries: list[_Entry] = []
    for arrival in found:
        outcome = Outcome(config.name, "coalesced", f"{arrival.reason}; decided with the rest")
        _record(config, outcome, arrival.reason, [arrival.event], ctx, into=entries)
    _write_ledger(config, entries, ctx)


def _quarantine_record(blob: DataFile, exc: Exception, ctx: Context) -> None:
    """``quarantine/<blob>.json``: the latest version of the file that failed its check."""
    record = {
        "blob": blob.name,
        "etag": blob.etag,
        "reason": str(exc),
        "at": ctx.clock.now().isoformat(),
    }
    key = f"quarantine/{blob.name}.json"
    try:
        ctx.state.create(key, record)
    except ConflictError:  # an earlier version of the file was quarantined
        ctx.state.replace(key, record, etag=ctx.state.get(key)[1])


# ------------------------------------------------------------------------------ caches


_Entry = tuple[Outcome, str, list[str]]
S = TypeVar("S")


class _StateCache:
    """The last policy state this instance read or wrote per model, with its ETag: the
    next update writes against it directly (a conditional write fails if another
    instance wrote since, and the state is read again)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.states: dict[str, tuple[ModelState, str]] = {}
        # per model: the cached state these were derived from, its seen versions and events
        self.known: dict[str, tuple[ModelState, Any, set[str]]] = {}


class _ManifestCache:
    """Snapshot manifests by run key (written once per run key, never changed)."""

    SIZE = 8

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.files: OrderedDict[str, dict[str, str]] = OrderedDict()


def _known(config: ModelConfig, ctx: Context) -> tuple[Any, set[str]] | None:
    """The blob versions and event ids the cached state knows as seen (None without a
    cached state); derived once per state version, not per event."""
    cache = cache_for(ctx.state, "policy-states", _StateCache)
    with cache.lock:
        held = cache.states.get(config.name)
        derived = cache.known.get(config.name)
    if held is None:
        return None
    state = held[0]
    if derived is not None and derived[0] is state:
        return derived[1], derived[2]
    # quarantined versions are read again: an operator may have released one
    versions = seen_versions(state, _base_files(state, ctx, cached_only=True))
    for version in quarantined_versions(state):
        versions.pop(version, None)
    events = seen_events(state)
    with cache.lock:
        cache.known[config.name] = (state, versions, events)
    return versions, events


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


def _write_ledger(config: ModelConfig, entries: Sequence[_Entry], ctx: Context) -> None:
    """One ledger record for the decisions taken together: as ``Context.ledger`` writes it
    for one; for several, one record holding them all (``decisions``, each shaped as a
    record of its own), with every trigger and event at its top level."""
    from shared import telemetry

    if not entries:
        return
    if len(entries) == 1:
        outcome, trigger, events = entries[0]
        ctx.ledger(config.name, "trigger", outcome, trigger=trigger, events=events)
        return
    now = ctx.clock.now()
    at = now.isoformat()
    decisions = [
        {"at": at, "kind": "trigger", **o.as_dict(), "trigger": t, "events": e}
        for o, t, e in entries
    ]
    actions: dict[str, int] = {}
    for o, _, _ in entries:
        actions[o.action] = actions.get(o.action, 0) + 1
    run_keys = [o.run_key for o, _, _ in entries if o.run_key]
    record = {
        "at": at,
        "kind": "trigger",
        "model": config.name,
        "action": "batch",
        "reason": f"{len(entries)} decisions taken together: "
        + ", ".join(f"{n} {a}" for a, n in sorted(actions.items())),
        "run_key": run_keys[0] if run_keys else None,
        "trigger": "; ".join(t for _, t, _ in entries),
        "events": [event for _, _, e in entries for event in e],
        "decisions": decisions,
    }
    key = f"ledger/{config.name}/{now:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:8]}.json"
    ctx.state.create(key, record)
    for outcome, trigger, events in entries:
        ctx.log_decision(config.name, "trigger", outcome)
        telemetry.decision(
            model=config.name,
            kind="trigger",
            action=outcome.action,
            reason=outcome.reason,
            run_key=outcome.run_key,
            details=outcome.details,
            extra={"trigger": trigger, "events": events},
            now=now,
        )


# ------------------------------------------------------------------------------ deciding


def _decide(
    config: ModelConfig,
    signal: Signal,
    ctx: Context,
    *,
    trigger: str,
    events: Sequence[str | None],
) -> Outcome:
    """Apply the policy to the model's state, act on the decision, record it."""
    found: list[Arrival] = []
    quarantined: list[Seen] = []
    if isinstance(signal, Manual | Tick | DriftSignal):
        found, quarantined = _catch_up(config, _read_state(config, ctx), ctx, "the request")
    _absorb(config, found, ctx)
    state, decision = _apply(config, signal, ctx, found, quarantined)
    if decision is None:
        return Outcome(config.name, "none", "nothing to decide")
    return _act(config, state, decision, ctx, trigger=trigger, events=events)


def _apply(
    config: ModelConfig,
    signal: Signal,
    ctx: Context,
    found: Sequence[Arrival] = (),
    quarantined: Sequence[Seen] = (),
) -> tuple[ModelState, Decision | None]:
    """One policy step; ``found`` arrivals (without an event) join the state first, and
    ``quarantined`` versions found with them are remembered as seen."""
    now = ctx.clock.now()

    def change(s: ModelState) -> tuple[ModelState, Decision | None]:
        if quarantined:
            s = dataclasses.replace(s, recent=(*s.recent, *quarantined)[-RECENT:])
        return step(absorb(s, found, now=now), signal, now=now, policy=config.policy)

    return _update_state(config, change, ctx, trust_cache=False)


def _read_state(config: ModelConfig, ctx: Context) -> ModelState:
    try:
        document, etag = ctx.state.get(policy_key(config.name))
    except NotFound:
        return ModelState()
    state = ModelState.from_json(document)
    _remember_state(config, ctx, state, etag)
    return state


def _remember_state(config: ModelConfig, ctx: Context, state: ModelState, etag: str | None) -> None:
    cache = cache_for(ctx.state, "policy-states", _StateCache)
    with cache.lock:
        if etag is None:
            cache.states.pop(config.name, None)
        else:
            cache.states[config.name] = (state, etag)


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
    """
    key = policy_key(config.name)
    cache = cache_for(ctx.state, "policy-states", _StateCache)
    held: tuple[ModelState, str] | None = None
    if trust_cache:
        with cache.lock:
            held = cache.states.get(config.name)
    for _ in range(attempts):
        etag: str | None
        if held is not None:
            state, etag = held
        else:
            try:
                document, etag = ctx.state.get(key)
                state = ModelState.from_json(document)
            except NotFound:
                etag, state = None, ModelState()
            if etag is not None:
                _remember_state(config, ctx, state, etag)
        new_state, result = change(state)
        if new_state == state:
            return new_state, result
        try:
            if etag is None:
                written = ctx.state.create(key, new_state.as_json())
            else:
                written = ctx.state.replace(key, new_state.as_json(), etag=etag)
        except ConflictError:
            held = None
            _remember_state(config, ctx, state, None)
            continue
        _remember_state(config, ctx, new_state, written)
        return new_state, result
    raise ConflictError(f"policy state of {config.name} kept changing; try again")


def _act(
    config: ModelConfig,
    state: ModelState,
    decision: Decision,
    ctx: Context,
    *,
    trigger: str,
    events: Sequence[str | None],
    into: list[_Entry] | None = None,
) -> Outcome:
    if isinstance(decision, Retrain):
        return _fire(config, state, decision, ctx, trigger=trigger, into=into)
    details: dict[str, Any] = {}
    if isinstance(decision, Coalesced):
        details["due_at"] = decision.due_at.isoformat()
    behind = getattr(decision, "behind", None)
    outcome = Outcome(config.name, decision.decision, decision.reason, behind, details)
    # the decision's own line is the ledger's (Context.log_decision)
    log.debug("%s: %s %s: %s", config.name, decision.decision.upper(), trigger, decision.reason)
    return _record(config, outcome, trigger, events, ctx, into=into)


def _fire(
    config: ModelConfig,
    state: ModelState,
    decision: Retrain,
    ctx: Context,
    *,
    trigger: str,
    into: list[_Entry] | None = None,
) -> Outcome:
    """Resolve a claimed Retrain against the snapshot and launch it (or release the
    claim with the reason). The ledger entry lists every event the run covers."""
    events = list(decision.events)
    arrivals = [
        DataFile(str(r.blob), str(r.etag), r.size) for r in decision.requests if r.kind == "arrival"
    ]
    try:
        base = _base_files(state, ctx)
        snapshot = overlay(
            config.name,
            config.prefix,
            {"files": [{"name": n, "etag": e} for n, e in base.items()]},
            arrivals,
        )
        existing, attempts = _latest_run(snapshot, ctx)
        resolution = resolve(
            decision,
            snapshot=snapshot,
            existing=existing,
            attempts=attempts,
            now=ctx.clock.now(),
            policy=config.policy,
        )
    except Exception:
        _update_state(config, lambda s: (not_launched(s, restore=True), None), ctx)
        raise
    key = resolution.run_key
    if resolution.action == "skip" or key is None:
        # The run that covers this snapshot is the next run's base: its data was judged.
        _update_state(config, lambda s: (not_launched(s, restore=False, base=key), None), ctx)
        outcome = Outcome(config.name, "skip", resolution.reason, key)
        log.debug("%s: SKIP %s: %s", config.name, trigger, resolution.reason)
        return _record(config, outcome, trigger, events, ctx, into=into)
    _update_state(config, lambda s: (launched(s, key), None), ctx)
    if resolution.action == "adopt":
        outcome = Outcome(config.name, "skip", resolution.reason, key)
        return _record(config, outcome, trigger, events, ctx, into=into)
    # Said before the pipeline speaks (the local workspace logs its steps while submitting);
    # the ledger's line for this decision follows once the launch is recorded.
    log.info("%s: launching run %s to retrain on %s", config.name, key, resolution.reason)
    try:
        _launch(
            config,
            key,
            snapshot,
            decision,
            resolution.reason,
            ctx,
            resume=resolution.action == "resume",
            force=bool(resolution.extra.get("force")),
        )
    except PipelineError:
        # The run record says SubmitFailed; the sweep submits it again.
        outcome = Outcome(config.name, "retrain", f"{resolution.reason} (submit failed)", key)
        _record(config, outcome, trigger, events, ctx, into=into)
        raise
    except ConflictError:
        outcome = Outcome(config.name, "skip", f"run {key} was started concurrently", key)
        return _record(config, outcome, trigger, events, ctx, into=into)
    outcome = Outcome(config.name, "retrain", resolution.reason, key)
    log.debug("%s: RETRAIN as run %s, on %s", config.name, key, resolution.reason)
    return _record(config, outcome, trigger, events, ctx, into=into)


def _record(
    config: ModelConfig,
    outcome: Outcome,
    trigger: str,
    events: Sequence[str | None],
    ctx: Context,
    *,
    into: list[_Entry] | None = None,
) -> Outcome:
    """Record one decision in the ledger, or add it to ``into`` (written together)."""
    kept = [e for e in events if e]
    if into is not None:
        into.append((outcome, trigger, kept))
    else:
        ctx.ledger(config.name, "trigger", outcome, trigger=trigger, events=kept)
    return outcome


def _run_ended(config: ModelConfig, record: JSON, ctx: Context) -> list[Outcome]:
    key = str(record["run_key"])
    status = str(record.get("status"))
    signal = RunEnded(key, status, classify_failure(status, record.get("error")), _attempt_of(key))
    state, decision = _apply(config, signal, ctx)
    if state.retry_at and state.last_run == key:
        log.info("%s: run %s %s; retry due at %s", config.name, key, status, state.retry_at)
    if decision is None:
        return []
    return [_act(config, state, decision, ctx, trigger=f"run {key} ended ({status})", events=[])]


def _sweep_model(config: ModelConfig, message: SweepTicked, ctx: Context) -> list[Outcome]:
    outcomes: list[Outcome] = []
    state = _read_state(config, ctx)
    if state.active_run:
        try:
            record = ctx.state.get(f"runs/{state.active_run}.json")[0]
        except NotFound:
            record = {"run_key": state.active_run, "status": "Failed", "finalised": True}
        if record.get("finalised"):
            outcomes += _run_ended(config, record, ctx)
    found, quarantined = _catch_up(config, state, ctx, "the sweep")
    _absorb(config, found, ctx)
    state, decision = _apply(config, Due(), ctx, found, quarantined)
    if decision is not None:
        outcomes.append(_act(config, state, decision, ctx, trigger=message.describe(), events=[]))
    return outcomes


# ------------------------------------------------------------------------------ helpers


def _digest_key(text: str) -> str:
    return f"events/{hashlib.sha256(text.encode()).hexdigest()[:32]}.json"


def _event_id(message: TriggerMessage) -> str | None:
    """What identifies a delivery (listed in the ledger; its digest marks it processed):
    the Event Grid event id, or for an alert without one its id and condition (Azure
    Monitor: alertId + monitorCondition)."""
    if isinstance(message, NewDataArrived):
        return f"eventgrid:{message.event_id}"
    if isinstance(message, DriftAlerted):
        if message.event_id:
            return f"eventgrid:{message.event_id}"
        if message.alert_id:
            state = "resolved" if message.resolved else "fired"
            return f"alert:{message.model}:{message.alert_id}:{state}"
    return None  # an alert without an id cannot be told apart from a new one


def _mark_seen(event: str, what: str, ctx: Context) -> None:
    with contextlib.suppress(ConflictError):
        ctx.state.create(
            _digest_key(event),
            {"event": event, "seen_at": ctx.clock.now().isoformat(), "message": what},
        )


def _attempt(key: str, base: str) -> int:
    """1 for ``runs/<base>.json``, n for ``runs/<base>-r<n>.json``, 0 for other keys."""
    rest = key.removeprefix(f"runs/{base}").removesuffix(".json")
    if rest == "":
        return 1
    return int(rest[2:]) if rest.startswith("-r") and rest[2:].isdigit() else 0


def _attempt_of(key: str) -> int:
    head, _, tail = key.rpartition("-r")
    return int(tail) if head and tail.isdigit() else 1


def _latest_run(snapshot: Snapshot, ctx: Context) -> tuple[JSON | None, int]:
    """The newest run record of this snapshot (attempts ``-r2``, ``-r3``...) and how many
    attempts there are."""
    if snapshot.empty:
        return None, 0
    base = run_key(snapshot)
    keys = [k for k in ctx.state.list_keys(f"runs/{base}") if _attempt(k, base) > 0]
    if not keys:
        return None, 0
    latest = max(keys, key=lambda k: _attempt(k, base))
    return ctx.state.get(latest)[0], len(keys)


def _champion(model: str, ctx: Context) -> JSON | None:
    """The production version a new run is compared with: its version, run key and model
    folder in the artifact datastore (None for the first model). Kept in the run record,
    so promotion moves the alias only if it still points there."""
    alias = ctx.registry.get_alias(model, PRODUCTION)
    if alias.version is None:
        return None
    version = ctx.registry.get_version(model, alias.version)
    champion_key = version.tags.get("run_key") or version.lineage.get("run_key")
    # Every version names its model folder (a refreshed champion's is not retrain/<key>/model/);
    # versions registered before that was recorded are found by their run key.
    folder = version.tags.get("model_folder") or version.lineage.get("model_folder")
    if not folder and champion_key:
        folder = ctx.artifacts.uri(f"retrain/{champion_key}/model/")
    return {"version": alias.version, "run_key": champion_key, "model_uri": folder or None}


def _launch(
    config: ModelConfig,
    key: str,
    snapshot: Snapshot,
    decision: Retrain,
    reason: str,
    ctx: Context,
    *,
    resume: bool,
    force: bool,
) -> None:
    """Write the run record (the lock), then submit the pipeline under the run key.

    A resumed run (the earlier submit failed or never happened) takes over the existing
    record instead; submitting the same run key twice is harmless because the backend's
    submit is idempotent on it.
    """
    now = ctx.clock.now().isoformat()
    champion = _champion(config.name, ctx)
    # Listed as open before anything else: an instance dying between the writes below
    # leaves a run the sweep still sees (a marker without a record is simply dropped).
    mark_active(key, config.name, ctx)
    if resume:
        ctx.update_run(
            key,
            {"status": "Submitting", "resubmitted_at": now, "error": None, "champion": champion},
        )
    else:
        kinds = sorted({r.kind for r in decision.requests})
        record = {
            "run_key": key,
            "model": config.name,
            "status": "Submitting",
            "created_at": now,
            "updated_at": now,
            "trigger": {
                "kind": _trigger_kind(kinds),
                "reason": reason,
                "reasons": list(decision.reasons),
                "events": list(decision.events),
            },
            "snapshot": snapshot.manifest(),
            "champion": champion,
            "force": force,
        }
        ctx.state.create(f"runs/{key}.json", record)
    ctx.artifacts.write_json(f"retrain/{key}/snapshot.json", snapshot.manifest())
    submit(key, ctx)


_KINDS = {
    "arrival": "NewDataArrived",
    "tick": "ScheduleTicked",
    "drift": "DriftAlerted",
    "manual": "RetrainRequested",
    "force": "RetrainRequested",
    "retry": "Retry",
}


def _trigger_kind(kinds: list[str]) -> str:
    names = sorted({_KINDS.get(k, k) for k in kinds})
    return "+".join(names) if names else "RetrainRequested"


def mark_active(key: str, model: str, ctx: Context) -> None:
    """List the run under ``active/`` until it is finalised, so the sweep reads only the
    runs still open instead of every run ever started."""
    with contextlib.suppress(ConflictError):
        ctx.state.create(
            f"active/{key}.json",
            {"run_key": key, "model": model, "since": ctx.clock.now().isoformat()},
        )


def submit(key: str, ctx: Context) -> JSON:
    """Submit the pipeline for the run record ``key`` (its snapshot manifest is written
    already). A failed submit marks the record ``SubmitFailed`` and raises
    ``PipelineError``; the sweep submits it again.

    A forced run must be a real new attempt, but a batch endpoint's invoke cannot ask Azure
    ML to skip step reuse: it sends the optional literal input ``rerun_salt`` (its run key),
    which every step takes and ignores, so each step's inputs differ from any earlier run's
    and nothing is reused; resubmitting the same forced run sends the same salt, so what it
    finished already stays reusable. It is also tagged ``retrain_force_rerun``."""
    record = ctx.state.get(f"runs/{key}.json")[0]
    config = ctx.models[str(record["model"])]
    manifest_path = f"retrain/{key}/snapshot.json"
    inputs: dict[str, str | int | float] = {
        "data": f"azureml://datastores/{ctx.data_datastore}/paths/{config.prefix}",
        "manifest": ctx.artifacts.uri(manifest_path),
        **config.pipeline_inputs(),
        "run_key": key,
    }
    champion = record.get("champion") or {}
    if champion.get("model_uri"):  # absent for the first model
        inputs["champion"] = champion["model_uri"]
    tags = {RUN_KEY_TAG: key, MODEL_TAG: config.name}
    if record.get("force"):
        tags[FORCE_RERUN_TAG] = "true"
        inputs["rerun_salt"] = key
    submission = PipelineSubmission(run_key=key, model=config.name, inputs=inputs, tags=tags)
    if config.series_columns:  # a family: its own pipeline, inputs and champions folder
        submission = family_submission(submission, record, config, ctx)
    try:
        run = ctx.pipeline.submit(submission)
    except Exception as exc:
        ctx.update_run(key, {"status": "SubmitFailed", "error": str(exc)})
        raise PipelineError(f"could not submit the pipeline for run {key}: {exc}") from exc

    ctx.remember_job(run.run_id, key)

    def submitted(record: JSON) -> None:
        # The run may have finished (and been finalised) before this write lands.
        record["pipeline_run_id"] = run.run_id
        if record.get("status") in ("Submitting", "SubmitFailed"):
            record["status"] = run.status

    return ctx.update_run(key, submitted)


# ------------------------------------------------------------------------------ forecast error


class _Champions:
    """The production version per model as last looked up, and when."""

    TTL = timedelta(seconds=60)  # a promotion reaches forecast scoring within a minute

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: dict[str, tuple[datetime, JSON | None]] = {}


def _scoring_champion(config: ModelConfig, ctx: Context) -> JSON | None:
    """The champion whose forecast new data is scored against, looked up at most once a
    minute per model (not on every arrival: it changes only on promotion)."""
    cache = cache_for(ctx.registry, "champions", _Champions)
    now = ctx.clock.now()
    with cache.lock:
        held = cache.seen.get(config.name)
    if held is not None and timedelta(0) <= now - held[0] < _Champions.TTL:
        return held[1]
    champion = _champion(config.name, ctx)
    with cache.lock:
        cache.seen[config.name] = (now, champion)
    return champion


def _forecast_errors(config: ModelConfig, items: Sequence[_Arriving], ctx: Context) -> None:
    """Score the production model's stored forecast against the actuals in new blobs
    (the champion and its forecast read once for all of them); sustained error above the
    policy's multiple of its validation error becomes a drift signal, decided and recorded
    like any other. Never fails the arrivals."""
    multiple = config.policy.forecast_error_multiple
    if multiple is None or not items:
        return
    try:
        champion = _scoring_champion(config, ctx)
        if not champion or not champion.get("run_key"):
            return
        folder = f"retrain/{champion['run_key']}"
        forecast = ctx.artifacts.read_json(f"{folder}/model/forecast.json")
        if "validation_mae" not in forecast:
            metrics = ctx.artifacts.read_json(f"{folder}/metrics/metrics.json")
            forecast["validation_mae"] = metrics["candidate"]["backtest"]["mae"]
    except NotFound:
        return  # no stored forecast (a model trained before forecast.json existed)
    except Exception:
        log.exception("%s: the champion's forecast could not be read", config.name)
        return
    for item in items:
        blob = item.blob
        try:
            score = score_actuals(
                forecast,
                item.content,
                time_column=config.time_column,
                value_column=config.value_column,
                multiple=multiple,
                min_points=config.policy.forecast_error_min_points,
            )
            if score is None:
                continue
            log.info("%s: forecast error on %s: %s", config.name, blob.name, score.describe())
            if score.drifted:
                alert = DriftAlerted(
                    model=config.name,
                    source="forecast-error",
                    alert_id=f"{champion['run_key']}:{blob.name}:{blob.etag}",
                    description=score.describe(),
                    fired_at=ctx.clock.now(),
                )
                handle_trigger(alert, ctx)
        except Exception:
            log.exception("%s: forecast error of %s could not be scored", config.name, blob.name)


# Re-exported for handlers.py's routing table.
__all__ = [
    "RetrainRequested",
    "after_run",
    "handle_pause",
    "handle_schedule",
    "handle_trigger",
    "mark_active",
    "on_sweep",
    "submit",
]
