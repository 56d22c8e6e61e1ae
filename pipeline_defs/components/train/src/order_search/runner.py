"""Parallel execution of a batch of fits: the parent, helped by forked workers."""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import (
    FIRST_COMPLETED,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from typing import Any

from .constants import PARALLEL_MIN_SECONDS
from .fits import _Fit

logger = logging.getLogger(__name__)


class _Runner:
    """Runs a batch of fit tasks in the parent, helped by a pool for expensive batches.

    With ``kind="process"`` up to ``n_jobs - 1`` forked workers help and the parent computes
    too: workers take tasks from the front of the batch, the parent from the back. The pool is
    created lazily, for the first batch whose estimated cost (tasks x measured seconds per
    task of that kind) reaches ``PARALLEL_MIN_SECONDS``: forking and inter-process traffic
    cost tens of milliseconds, more than a whole search on a short series. ``kind="thread"``
    uses threads the same way (slower here: the CSS fits hold the GIL) and ``"serial"`` the
    parent only. Fork is used where the platform has it; elsewhere the runner is serial,
    because spawning fresh interpreters costs more than the whole search.
    """

    def __init__(self, n_jobs: int, kind: str) -> None:
        if kind not in ("process", "thread", "serial"):
            raise ValueError(f"executor must be 'process', 'thread' or 'serial'; got {kind!r}")
        if n_jobs <= 1 or (
            kind == "process" and "fork" not in multiprocessing.get_all_start_methods()
        ):
            kind = "serial"
        self.kind = kind
        self.n_jobs = n_jobs if kind != "serial" else 1
        self.parallel_batches = 0
        self._pool: Executor | None = None

    def map(
        self, fn: Callable[..., _Fit], args: list[tuple[Any, ...]], seconds_per_task: float
    ) -> list[_Fit]:
        """Results of ``fn(*a)`` for each ``a`` in ``args``, in order."""
        if (
            self.kind == "serial"
            or len(args) <= 1
            or seconds_per_task * len(args) < PARALLEL_MIN_SECONDS
        ):
            return [fn(*a) for a in args]
        self.parallel_batches += 1
        pool = self._ensure_pool()
        if self.kind == "thread":
            return list(pool.map(lambda a: fn(*a), args))
        return self._map_with_parent(pool, fn, args)

    def _ensure_pool(self) -> Executor:
        if self._pool is None:
            if self.kind == "process":
                ctx = multiprocessing.get_context("fork")
                self._pool = ProcessPoolExecutor(max_workers=self.n_jobs - 1, mp_context=ctx)
            else:
                self._pool = ThreadPoolExecutor(max_workers=self.n_jobs)
        return self._pool

    def _map_with_parent(
        self, pool: Executor, fn: Callable[..., _Fit], args: list[tuple[Any, ...]]
    ) -> list[_Fit]:
        results: list[_Fit | None] = [None] * len(args)
        pending = list(range(len(args)))
        running: dict[Future[_Fit], int] = {}
        workers = self.n_jobs - 1
        while pending or running:
            while pending and len(running) < workers and len(pending) > 1:
                i = pending.pop(0)
                running[pool.submit(fn, *args[i])] = i
            if pending:
                i = pending.pop()
                results[i] = fn(*args[i])
            elif running:
                wait(list(running), return_when=FIRST_COMPLETED)
            for fut in [f for f in running if f.done()]:
                i = running.pop(fut)
                try:
                    results[i] = fut.result()
                except Exception as exc:  # a dead worker: compute it here instead
                    logger.warning("worker failed (%s); fitting in the parent", exc)
                    results[i] = fn(*args[i])
        return [r for r in results if r is not None]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)
