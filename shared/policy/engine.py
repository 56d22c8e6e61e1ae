"""The trigger policy as a pure state machine: ``step(state, signal, now, policy)``.

Each model has one ``ModelState`` (kept by the service as ``policy/<model>.json`` and
written with an ETag-conditional replace, so two instances never both fire). A signal
(an arrival, a schedule tick, a drift signal, a manual request, the sweep's "time has
passed", the end of a run, pause, resume) yields the next state and one decision value:

- ``Retrain``: fire now; it carries every reason and event it covers. The service then
  takes the snapshot and the run key (``shared.policy.resolve``) and launches;
- ``Coalesced``: kept in the burst, fired when it is due (``due_at``);
- ``Queued``: kept until the active run ends or the cooldown passes;
- ``Held``: kept while the model is paused;
- ``Skip``: nothing to do, and why;
- ``Suppressed``: a drift signal that does not retrain (hysteresis, active run, cooldown,
  paused).

``None`` (only for ``Due`` and ``RunEnded``) means nothing was decided. No I/O, no clock:
``now`` is given.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.policy.config import TriggerPolicy

# A "firing" claim (the state says a run is being launched but no run key was recorded)
# older than this belongs to an instance that died; the sweep puts its requests back.
STUCK_FIRING = timedelta(minutes=15)


def _time(text: Any) -> datetime | None:
    return datetime.fromisoformat(text) if isinstance(text, str) and text else None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


# ------------------------------------------------------------------------------ state


@dataclass(frozen=True)
class Request:
    """One thing waiting to be decided into a run: a checked data blob (``kind``
    "arrival"), or a schedule tick, drift signal or manual request. ``fires``: whether it
    is a reason to start a run (False for arrivals dropped on resume or already judged
    insufficient: their data still joins the next run)."""

    kind: str
    reason: str
    at: datetime
    event: str | None = None
    blob: str | None = None
    etag: str | None = None
    size: int = 0
    rows: int = 0
    fires: bool = True

    def as_json(self) -> dict[str, Any]:
        return dict(self._json)

    @functools.cached_property
    def _json(self) -> dict[str, Any]:
        # Made once per request, by hand (dataclasses.asdict deep-copies): a state may hold
        # thousands of requests and is written on every decision.
        document: dict[str, Any] = {"kind": self.kind, "reason": self.reason}
        document["at"] = self.at.isoformat()
        for name in ("event", "blob", "etag"):
            value = getattr(self, name)
            if value is not None:
                document[name] = value
        document.update(size=self.size, rows=self.rows, fires=self.fires)
        return document

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Request:
        values = {k: v for k, v in document.items() if k in _REQUEST_FIELDS}
        return cls(**(values | {"at": _time(document["at"])}))


_REQUEST_FIELDS = frozenset(f.name for f in dataclasses.fields(Request))


@dataclass(frozen=True)
class Seen:
    """A blob version decided without joining the pending requests: quarantined, or
    announced again under another event id (kept so a redelivery of that event is told
    as such). The state keeps the newest ``RECENT`` of them."""

    blob: str
    etag: str
    event: str
    quarantined: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "blob": self.blob,
            "etag": self.etag,
            "event": self.event,
            "quarantined": self.quarantined,
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Seen:
        return cls(
            str(document["blob"]),
            str(document["etag"]),
            str(document.get("event") or ""),
            bool(document.get("quarantined")),
        )


RECENT = 256


@dataclass(frozen=True)
class ModelState:
    """What the policy remembers about one model between signals."""

    pending: tuple[Request, ...] = ()
    burst_started_at: datetime | None = None
    last_arrival_at: datetime | None = None
    active_run: str | None = None  # "" while a run is being launched (claimed)
    active_since: datetime | None = None
    firing: tuple[Request, ...] = ()  # what the active run covers (restored if it dies)
    base_run: str | None = None  # the run whose snapshot the next one extends
    last_run: str | None = None
    last_status: str | None = None
    last_ended_at: datetime | None = None
    cooldown_until: datetime | None = None
    retry_at: datetime | None = None  # an automatic retry of base_run's snapshot is due
    paused: Mapping[str, Any] | None = None
    drift_signals: tuple[datetime, ...] = ()
    recent: tuple[Seen, ...] = ()  # newest last, at most RECENT
    # ledger records written with the state, not yet in the ledger (the service's journal:
    # each {"key": ledger key, "record": record}); the policy never reads them
    journal: tuple[Mapping[str, Any], ...] = ()

    @property
    def running(self) -> bool:
        return self.active_run is not None

    def new_requests(self) -> tuple[Request, ...]:
        return tuple(r for r in self.pending if r.fires)

    def as_json(self) -> dict[str, Any]:
        return {
            "pending": [r._json for r in self.pending],  # shared, not copied: dumped as is
            "burst_started_at": _iso(self.burst_started_at),
            "last_arrival_at": _iso(self.last_arrival_at),
            "active_run": self.active_run,
            "active_since": _iso(self.active_since),
            "firing": [r._json for r in self.firing],
            "base_run": self.base_run,
            "last_run": self.last_run,
            "last_status": self.last_status,
            "last_ended_at": _iso(self.last_ended_at),
            "cooldown_until": _iso(self.cooldown_until),
            "retry_at": _iso(self.retry_at),
            "paused": dict(self.paused) if self.paused else None,
            "drift_signals": [s.isoformat() for s in self.drift_signals],
            "recent": [s.as_json() for s in self.recent],
            "journal": list(self.journal),
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> ModelState:
        return cls(
            pending=tuple(Request.from_json(r) for r in document.get("pending") or ()),
            burst_started_at=_time(document.get("burst_started_at")),
            last_arrival_at=_time(document.get("last_arrival_at")),
            active_run=document.get("active_run"),
            active_since=_time(document.get("active_since")),
            firing=tuple(Request.from_json(r) for r in document.get("firing") or ()),
            base_run=document.get("base_run"),
            last_run=document.get("last_run"),
            last_status=document.get("last_status"),
            last_ended_at=_time(document.get("last_ended_at")),
            cooldown_until=_time(document.get("cooldown_until")),
            retry_at=_time(document.get("retry_at")),
            paused=document.get("paused") or None,
            drift_signals=tuple(
                t for t in (_time(s) for s in document.get("drift_signals") or ()) if t
            ),
            recent=tuple(Seen.from_json(s) for s in document.get("recent") or ()),
            journal=tuple(j for j in document.get("journal") or () if isinstance(j, dict)),
        )


# ------------------------------------------------------------------------------ signals


# ``rows`` of an arrival decided from its event alone: its file is checked at launch.
UNCHECKED = -1


@dataclass(frozen=True)
class Arrival:
    """A committed data blob that passed the arrival check (``rows`` data rows), or whose
    check is left to its launch (``rows`` is ``UNCHECKED``)."""

    reason: str
    event: str
    blob: str
    etag: str
    size: int
    rows: int


@dataclass(frozen=True)
class Tick:
    reason: str


@dataclass(frozen=True)
class DriftSignal:
    reason: str
    event: str | None = None
    resolved: bool = False


@dataclass(frozen=True)
class Manual:
    reason: str
    force: bool = False


@dataclass(frozen=True)
class Due:
    """The sweep: time has passed; fire what has become due."""


@dataclass(frozen=True)
class RunEnded:
    """The active run ended. ``failure``: None (completed), "retryable", "data" or
    "canceled" (see ``classify_failure``); ``attempt``: which attempt on its snapshot."""

    run_key: str
    status: str
    failure: str | None = None
    attempt: int = 1


@dataclass(frozen=True)
class Pause:
    by: str
    reason: str


@dataclass(frozen=True)
class Resume:
    by: str
    reason: str


Signal = Arrival | Tick | DriftSignal | Manual | Due | RunEnded | Pause | Resume


# ------------------------------------------------------------------------------ decisions


@dataclass(frozen=True)
class Retrain:
    """Start a run now covering ``requests``. ``force``: a new attempt on the same data
    (step cache bypassed); ``retry``: the automatic retry of a failed attempt."""

    reason: str
    requests: tuple[Request, ...]
    force: bool = False
    retry: bool = False
    decision = "retrain"

    @property
    def events(self) -> tuple[str, ...]:
        return tuple(r.event for r in self.requests if r.event)

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(r.reason for r in self.requests if r.kind != "arrival") + (
            (_arrivals_in_words(self.requests),) if _arrivals(self.requests) else ()
        )


@dataclass(frozen=True)
class Coalesced:
    reason: str
    due_at: datetime
    decision = "coalesced"


@dataclass(frozen=True)
class Queued:
    reason: str
    behind: str | None = None
    decision = "queued"


@dataclass(frozen=True)
class Held:
    reason: str
    decision = "held"


@dataclass(frozen=True)
class Skip:
    reason: str
    decision = "skip"


@dataclass(frozen=True)
class Suppressed:
    reason: str
    decision = "suppressed"


Decision = Retrain | Coalesced | Queued | Held | Skip | Suppressed


def _arrivals(requests: tuple[Request, ...]) -> tuple[Request, ...]:
    return tuple(r for r in requests if r.kind == "arrival")


def _arrivals_in_words(requests: tuple[Request, ...]) -> str:
    blobs = [r.blob for r in _arrivals(requests) if r.blob]
    rows = sum(max(r.rows, 0) for r in _arrivals(requests))
    unchecked = sum(1 for r in _arrivals(requests) if r.rows == UNCHECKED)
    shown = ", ".join(blobs[:5]) + (f" and {len(blobs) - 5} more" if len(blobs) > 5 else "")
    swept = sum(1 for r in _arrivals(requests) if (r.event or "").startswith("sweep:"))
    found = f" ({swept} found by the sweep without an event)" if swept else ""
    counted = f"{rows} row(s)" + (f", {unchecked} checked at launch" if unchecked else "")
    return f"{len(blobs)} new blob(s) with {counted}{found}: {shown}"


# ------------------------------------------------------------------------------ the step


def step(
    state: ModelState,
    signal: Signal,
    *,
    now: datetime,
    policy: TriggerPolicy,
    new_blob: bool = False,
) -> tuple[ModelState, Decision | None]:
    """The next state and the decision for ``signal``. ``new_blob``: the caller knows no
    version of an arriving blob waits in ``pending`` (nothing to replace: the queue is not
    searched)."""
    if isinstance(signal, Pause):
        if state.paused:
            return state, Skip(f"already paused since {state.paused.get('since')}")
        paused = {"since": now.isoformat(), "by": signal.by, "reason": signal.reason}
        return dataclasses.replace(state, paused=paused), Held(
            f"paused by {signal.by}: {signal.reason}; arrivals are kept and decided on resume "
            f"({policy.on_resume})"
        )
    if isinstance(signal, Resume):
        return _resume(state, signal, now, policy)
    if isinstance(signal, RunEnded):
        return _run_ended(state, signal, now, policy)
    if isinstance(signal, Due):
        return _fire_if_due(state, now, policy)
    if isinstance(signal, Arrival):
        return _arrival(state, signal, now, policy, new_blob)
    if isinstance(signal, Tick):
        return _tick(state, signal, now, policy)
    if isinstance(signal, DriftSignal):
        return _drift(state, signal, now, policy)
    return _manual(state, signal, now, policy)


def _arrival(
    state: ModelState, signal: Arrival, now: datetime, policy: TriggerPolicy, new_blob: bool
) -> tuple[ModelState, Decision]:
    # A newer version of the same blob replaces the older one waiting in the burst.
    state = absorb(state, (signal,), now=now, new_blob=new_blob)
    if state.paused:
        return state, Held(f"model paused since {state.paused.get('since')}; kept until resume")
    if state.running:
        return state, Queued(_behind(state), state.active_run or None)
    return _fire_or_wait(state, now, policy)


def _request(signal: Arrival, now: datetime) -> Request:
    return Request(
        "arrival",
        signal.reason,
        now,
        event=signal.event,
        blob=signal.blob,
        etag=signal.etag,
        size=signal.size,
        rows=signal.rows,
    )


def _tick(
    state: ModelState, signal: Tick, now: datetime, policy: TriggerPolicy
) -> tuple[ModelState, Decision]:
    if state.paused:
        return state, Skip(f"model paused since {state.paused.get('since')}")
    new = _arrivals(state.new_requests())
    if not new:
        since = f"run {state.last_run} ({state.last_status})" if state.last_run else "the start"
        if state.running:
            return state, Skip(f"nothing new; {_behind(state)}")
        if policy.schedule_requires_new_data or state.base_run is None:
            return state, Skip(f"nothing new since {since}")
        state = _add(state, Request("tick", f"{signal.reason} (retrain without new data)", now))
        return _fire(state, now, policy, force=True)
    reason = f"{signal.reason}: {_arrivals_in_words(new)} since the last run"
    state = _add(state, Request("tick", reason, now))
    if state.running:
        return state, Queued(_behind(state), state.active_run or None)
    return _fire_or_wait(state, now, policy)


def _drift(
    state: ModelState, signal: DriftSignal, now: datetime, policy: TriggerPolicy
) -> tuple[ModelState, Decision]:
    if signal.resolved:
        return state, Skip("the alert was resolved; a resolved alert never retrains")
    if state.paused:
        return state, Suppressed(f"model paused since {state.paused.get('since')}")
    if state.running:
        return state, Suppressed(f"drift is not acted on while {_behind(state)}")
    if state.cooldown_until and now < state.cooldown_until:
        return state, Suppressed(f"in cooldown until {state.cooldown_until.isoformat()}")
    window = timedelta(seconds=policy.drift_window)
    signals = (*(s for s in state.drift_signals if now - s <= window), now)
    if len(signals) < policy.drift_signals:
        state = dataclasses.replace(state, drift_signals=signals)
        return state, Suppressed(
            f"drift signal {len(signals)} of {policy.drift_signals} needed within "
            f"{policy.drift_window:g}s"
        )
    state = dataclasses.replace(state, drift_signals=())
    state = _add(state, Request("drift", signal.reason, now, event=signal.event))
    return _fire_or_wait(state, now, policy, joining=True)


def _manual(
    state: ModelState, signal: Manual, now: datetime, policy: TriggerPolicy
) -> tuple[ModelState, Decision]:
    if state.paused:
        return state, Skip(f"model paused since {state.paused.get('since')}; resume it first")
    state = _add(state, Request("force" if signal.force else "manual", signal.reason, now))
    if state.running:
        return state, Queued(_behind(state), state.active_run or None)
    return _fire(state, now, policy, force=signal.force, manual=True)


def _resume(
    state: ModelState, signal: Resume, now: datetime, policy: TriggerPolicy
) -> tuple[ModelState, Decision | None]:
    if not state.paused:
        return state, Skip("the model is not paused")
    held = _arrivals(state.new_requests())
    state = dataclasses.replace(state, paused=None)
    who = f"resumed by {signal.by}: {signal.reason}"
    if policy.on_resume == "drop":
        pending = tuple(
            dataclasses.replace(r, fires=False) if r.kind == "arrival" else r for r in state.pending
        )
        state = dataclasses.replace(state, pending=pending, burst_started_at=None)
        return state, Skip(
            f"{who}; {len(held)} arrival(s) held while paused dropped as triggers (their data "
            "joins the next run)"
        )
    if not held:
        return state, Skip(f"{who}; nothing was held")
    state = dataclasses.replace(state, burst_started_at=now, last_arrival_at=now)
    if state.running:
        return state, Queued(f"{who}; {len(held)} held arrival(s) replayed: {_behind(state)}")
    state, decision = _fire_or_wait(state, now, policy)
    return state, dataclasses.replace(decision, reason=f"{who}; replaying: {decision.reason}")


def _run_ended(
    state: ModelState, signal: RunEnded, now: datetime, policy: TriggerPolicy
) -> tuple[ModelState, Decision | None]:
    if state.active_run not in (signal.run_key, ""):
        return state, None  # not the run this model is waiting for (already handled)
    cooldown = now + timedelta(seconds=policy.cooldown) if policy.cooldown else None
    retry_at = None
    if signal.failure == "retryable" and signal.attempt <= policy.max_retries:
        retry_at = now + timedelta(seconds=policy.retry_backoff * 2 ** (signal.attempt - 1))
    state = dataclasses.replace(
        state,
        active_run=None,
        active_since=None,
        firing=(),
        last_run=signal.run_key,
        last_status=signal.status,
        last_ended_at=now,
        cooldown_until=cooldown,
        retry_at=retry_at,
        drift_signals=(),
    )
    if state.paused or not state.new_requests():
        return state, None
    return _fire_if_due(state, now, policy, after_run=True)


def _fire_if_due(
    state: ModelState, now: datetime, policy: TriggerPolicy, *, after_run: bool = False
) -> tuple[ModelState, Decision | None]:
    """The sweep's question: is anything due now? Stale claims are released first."""
    if state.active_run == "" and state.active_since and now - state.active_since > STUCK_FIRING:
        state = dataclasses.replace(
            state,
            active_run=None,
            active_since=None,
            pending=(*state.firing, *state.pending),
            firing=(),
            burst_started_at=state.burst_started_at or now,
        )
    if state.paused or state.running:
        return state, None
    if state.cooldown_until and now < state.cooldown_until:
        return state, None
    new = state.new_requests()
    if not new:
        if state.retry_at and now >= state.retry_at:
            why = f"retrying after run {state.last_run} {str(state.last_status).lower()}"
            state = dataclasses.replace(state, retry_at=None)
            state = _add(state, Request("retry", why, now))
            return _fire(state, now, policy, retry=True)
        return state, None
    due = _due_at(state, policy)
    if now >= due or after_run or any(r.kind in ("manual", "force") for r in new):
        return _fire(state, now, policy)
    return state, None


def _fire_or_wait(
    state: ModelState, now: datetime, policy: TriggerPolicy, *, joining: bool = False
) -> tuple[ModelState, Decision]:
    if state.cooldown_until and now < state.cooldown_until:
        return state, Queued(f"in cooldown until {state.cooldown_until.isoformat()}")
    arrivals = _arrivals(state.new_requests())
    due = _due_at(state, policy)
    if arrivals and now < due:
        what = "joins the burst" if joining else "coalesced into the burst"
        return state, Coalesced(
            f"{what} of {len(arrivals)} new blob(s); fires at {due.isoformat()} unless more arrive",
            due,
        )
    return _fire(state, now, policy)


def _due_at(state: ModelState, policy: TriggerPolicy) -> datetime:
    arrivals = _arrivals(state.new_requests())
    if not arrivals or policy.quiet_period == 0:
        return datetime.min.replace(tzinfo=state.pending[0].at.tzinfo if state.pending else None)
    if policy.max_count and len(arrivals) >= policy.max_count:
        return arrivals[-1].at
    last = state.last_arrival_at or arrivals[-1].at
    first = state.burst_started_at or arrivals[0].at
    return min(
        last + timedelta(seconds=policy.quiet_period),
        first + timedelta(seconds=policy.max_wait),
    )


def _fire(
    state: ModelState,
    now: datetime,
    policy: TriggerPolicy,
    *,
    force: bool = False,
    retry: bool = False,
    manual: bool = False,
) -> tuple[ModelState, Decision]:
    requests = state.pending
    force = force or any(r.kind == "force" for r in requests)
    manual = manual or force or any(r.kind in ("manual", "force") for r in requests)
    arrivals = _arrivals(requests)
    rows = sum(max(r.rows, 0) for r in arrivals)
    if arrivals and policy.min_new_rows and rows < policy.min_new_rows and not manual:
        # Not enough yet: keep the data for the next run, stop firing until more arrives.
        kept = tuple(dataclasses.replace(r, fires=False) for r in arrivals)
        state = dataclasses.replace(state, pending=kept, burst_started_at=None)
        return state, Skip(
            f"only {rows} new observation(s) in {len(arrivals)} blob(s); at least "
            f"{policy.min_new_rows} needed before training"
        )
    state = dataclasses.replace(
        state,
        pending=(),
        burst_started_at=None,
        last_arrival_at=None,
        active_run="",
        active_since=now,
        firing=requests,
        retry_at=None if arrivals or force else state.retry_at,
    )
    decision = Retrain("", requests, force=force, retry=retry)
    return state, dataclasses.replace(decision, reason="; ".join(decision.reasons))


def _add(state: ModelState, request: Request) -> ModelState:
    return dataclasses.replace(state, pending=(*state.pending, request))


def _behind(state: ModelState) -> str:
    if state.active_run:
        return f"run {state.active_run} is active; kept until it ends"
    return "a run is being started; kept until it ends"


def absorb(
    state: ModelState, found: Sequence[Arrival], *, now: datetime, new_blob: bool = False
) -> ModelState:
    """Arrivals found without an event (the sweep, a manual request or tick catching up)
    join the state without a decision of their own; the signal that follows decides.
    ``new_blob``: no version of these blobs is pending (the queue is not searched)."""
    for signal in found:
        request = _request(signal, now)
        kept = (
            state.pending
            if new_blob
            else tuple(
                r for r in state.pending if not (r.kind == "arrival" and r.blob == signal.blob)
            )
        )
        state = dataclasses.replace(
            state,
            pending=(*kept, request),
            burst_started_at=state.burst_started_at or now,
            last_arrival_at=now,
        )
    return state


# ------------------------------------------------------------------------------ after firing


def launched(state: ModelState, run_key: str) -> ModelState:
    """The claimed run was launched as ``run_key`` (its snapshot is now the base)."""
    return dataclasses.replace(state, active_run=run_key, base_run=run_key)


def not_launched(
    state: ModelState, *, restore: bool, base: str | None = None, clear_base: bool = False
) -> ModelState:
    """The claimed run did not start (its snapshot was covered already: ``restore`` False;
    or launching failed and its requests must wait for the next try: ``restore`` True).
    ``base``: the run whose snapshot covered it, the next run's base (its data was judged;
    the next run extends it instead of leaving it out). ``clear_base``: no base at all (the
    snapshot was emptied: every file of it deleted)."""
    pending = (*state.firing, *state.pending) if restore else state.pending
    return dataclasses.replace(
        state,
        active_run=None,
        active_since=None,
        firing=(),
        pending=pending,
        base_run=None if clear_base else base or state.base_run,
    )


def classify_failure(status: str, error: str | None) -> str | None:
    """None for a completed run; "canceled"; "data" when the run failed on its data (the
    prep step, or an error naming invalid data); otherwise "retryable" (infrastructure,
    timeouts, a step crashing for reasons the data does not explain)."""
    if status == "Completed":
        return None
    if status == "Canceled":
        return "canceled"
    text = (error or "").lower()
    if (
        text.startswith("prep")
        or "invaliddata" in text
        or "step prep" in text
        or ("prep" in text and "data" in text)
    ):
        return "data"
    return "retryable"


@dataclass(frozen=True)
class Resolution:
    """What firing comes to once the snapshot is known (``shared.policy.resolve``)."""

    action: str  # new | resume | adopt | skip
    run_key: str | None
    reason: str
    attempt: int = 1
    extra: Mapping[str, Any] = field(default_factory=dict)
