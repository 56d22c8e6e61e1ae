"""A time budget for one invocation's storage calls.

Event Grid stops waiting for an answer after about 30 s; a function whose storage hangs
must answer (a 5xx, so Event Grid retries later) before that, whatever the number of
calls it makes. ``invocation_budget(seconds)`` sets a deadline for the calls made in its
``with`` block (in this thread); the storage client's ``BudgetPolicy``
(``shared.adapters.blob``) shortens each try's timeouts to what is left and stops
retrying once it is spent.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "storage_deadline", default=None
)

# Event Grid waits about 30 s; leave room to answer.
INVOCATION_BUDGET = 25.0


@contextlib.contextmanager
def invocation_budget(seconds: float = INVOCATION_BUDGET) -> Iterator[None]:
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def remaining() -> float | None:
    """Seconds left in the current budget; None outside one."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()
