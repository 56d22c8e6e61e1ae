"""A ``StateStore`` that counts the requests made to it, shared by the family tests and
``bench/family_finalise.py`` (which imports it, as other benches import ``tests.fakes``).

A listing counts as one request (Azure's List Blobs returns up to 5,000 names). Each
request is counted under its operation (``"create"``) and under the operation and what
it touched (``"create runs"``: the key's first segment; a series' history chain
document counts as ``"series history"``). Tests can also make it fail as storage would:
``crash(prefix, n)`` kills the ``n``-th create, replace or delete of a key starting with
``prefix`` (the process died before that write), and ``conflicts`` makes replaces of
``conflict_key`` lose, as to another writer.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from typing import Any

from shared.errors import ConflictError
from shared.ports import JSON, StateStore

WRITES = ("create", "replace", "delete")


def where(key: str) -> str:
    """What a request touched, for the counters."""
    return "series history" if "/series-history/" in key else key.split("/")[0]


class CountingStore:
    """Counts the requests made to ``inner`` (module docstring)."""

    def __init__(self, inner: StateStore, *, conflict_key: str | None = None) -> None:
        self.inner = inner
        self.requests: Counter[str] = Counter()
        self.crash_prefix: str | None = None
        self.crash_at = 0
        self.conflict_key = conflict_key
        self.conflicts = 0  # replaces of conflict_key still to lose
        self.lock = threading.Lock()  # the history is written a few requests at a time

    def crash(self, prefix: str, at: int = 1) -> None:
        """Kill the ``at``-th write (create, replace, delete) of a key under ``prefix``."""
        self.crash_prefix, self.crash_at = prefix, at

    def _count(self, op: str, key: str) -> None:
        with self.lock:
            self.requests[op] += 1
            self.requests[f"{op} {where(key)}"] += 1
            if op in WRITES and self.crash_prefix and key.startswith(self.crash_prefix):
                self.crash_at -= 1
                if self.crash_at == 0:
                    self.crash_prefix = None
                    raise RuntimeError(f"killed before the {op} of {key}")

    def create(self, key: str, document: Mapping[str, Any]) -> str:
        self._count("create", key)
        return str(self.inner.create(key, document))

    def get(self, key: str) -> tuple[JSON, str]:
        self._count("get", key)
        return self.inner.get(key)

    def replace(self, key: str, document: Mapping[str, Any], *, etag: str) -> str:
        self._count("replace", key)
        if self.conflicts and key == self.conflict_key:
            self.conflicts -= 1
            raise ConflictError(f"state document {key!r} changed since it was read")
        return str(self.inner.replace(key, document, etag=etag))

    def list_keys(self, prefix: str) -> list[str]:
        self._count("list", prefix)
        return self.inner.list_keys(prefix)

    def delete(self, key: str) -> None:
        self._count("delete", key)
        self.inner.delete(key)

    def total(self) -> int:
        """All requests counted."""
        return sum(n for op, n in self.requests.items() if " " not in op)
