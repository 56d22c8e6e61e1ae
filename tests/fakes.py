"""Small in-memory fakes of the ports that record what happened (no patching)."""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.errors import ConflictError, NotFound
from shared.ports import JSON


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **kwargs: float) -> None:
        self.current += timedelta(**kwargs)


class FakeStateStore:
    """Documents in a dict; ETags are a counter, as opaque as the real ones."""

    def __init__(self) -> None:
        self.documents: dict[str, tuple[JSON, str]] = {}
        self._etags = itertools.count(1)

    def _next_etag(self) -> str:
        return f'"0x{next(self._etags):04X}"'

    def create(self, key: str, document: Mapping[str, Any]) -> str:
        if key in self.documents:
            raise ConflictError(f"state document {key!r} already exists")
        etag = self._next_etag()
        self.documents[key] = (json.loads(json.dumps(document, default=str)), etag)
        return etag

    def get(self, key: str) -> tuple[JSON, str]:
        if key not in self.documents:
            raise NotFound(f"no state document {key!r}")
        document, etag = self.documents[key]
        return copy.deepcopy(document), etag

    def replace(self, key: str, document: Mapping[str, Any], *, etag: str) -> str:
        if key not in self.documents or self.documents[key][1] != etag:
            raise ConflictError(f"state document {key!r} changed since it was read")
        new_etag = self._next_etag()
        self.documents[key] = (json.loads(json.dumps(document, default=str)), new_etag)
        return new_etag

    def list_keys(self, prefix: str) -> list[str]:
        return sorted(k for k in self.documents if k.startswith(prefix))
