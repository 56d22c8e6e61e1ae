"""Group commit: concurrent calls for the same key decided together, one writer at a time.

Event Grid delivers up to 50 events in one request and the Functions host invokes the
function for each of them at the same time (and several deliveries arrive at once). Each
invocation hands its item to ``GroupCommit.submit`` and waits: the first caller for a key
becomes its writer and commits everything waiting for that key in one go (one state
update); items that arrive meanwhile are committed by the next writer, one of the callers
waiting. No timer and no extra thread: a caller alone is committed at once, and the
batches grow with the load. Every caller returns only once its own item is committed
(or failed), so nothing is answered before it is kept.

Also the per-process caches the handlers keep beside their stores (``cache_for``): a
cache lives as long as the store object it belongs to, so two services in one process
(tests) never share one.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Slot(Generic[T, R]):
    """One caller's item and, once committed, its result or error."""

    __slots__ = ("error", "item", "result", "settled")

    def __init__(self, item: T) -> None:
        self.item = item
        self.result: R | None = None
        self.error: BaseException | None = None
        self.settled = False

    def settle(self, result: R | None = None, error: BaseException | None = None) -> None:
        if not self.settled:
            self.result, self.error, self.settled = result, error, True


class GroupCommit(Generic[T, R]):
    """``submit(key, item, commit)``: ``commit(slots)`` is called with every slot waiting
    for ``key`` (this caller's among them) and must settle each; a slot it leaves
    unsettled, or all of them when it raises, gets the error."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._waiting: dict[Hashable, list[Slot[T, R]]] = {}
        self._busy: set[Hashable] = set()

    def waiting(self, key: Hashable) -> int:
        """How many items wait for ``key``'s next commit (not the one under way)."""
        with self._cond:
            return len(self._waiting.get(key, ()))

    def submit(self, key: Hashable, item: T, commit: Callable[[Sequence[Slot[T, R]]], None]) -> R:
        slot: Slot[T, R] = Slot(item)
        with self._cond:
            self._waiting.setdefault(key, []).append(slot)
            while not slot.settled:
                if key in self._busy:
                    self._cond.wait()
                    continue
                self._busy.add(key)
                batch = self._waiting.pop(key, [])
                self._cond.release()
                try:
                    _commit(batch, commit)
                finally:
                    self._cond.acquire()
                    self._busy.discard(key)
                    self._cond.notify_all()
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]  # R, settled by commit


def _commit(batch: list[Slot[T, R]], commit: Callable[[Sequence[Slot[T, R]]], None]) -> None:
    try:
        commit(batch)
    except BaseException as exc:  # handed to every caller of the batch, raised there
        for slot in batch:
            slot.settle(error=exc)
        return
    for slot in batch:
        slot.settle(error=RuntimeError("the commit left this item undecided"))


_caches: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def cache_for(owner: Any, name: str, factory: Callable[[], T]) -> T:
    """The cache ``name`` kept beside ``owner`` (a store object), made on first use."""
    with _caches_lock:
        try:
            caches = _caches.setdefault(owner, {})
        except TypeError:  # not weakly referable: no cache beside it, a fresh one each time
            return factory()
        if name not in caches:
            caches[name] = factory()
        return caches[name]
