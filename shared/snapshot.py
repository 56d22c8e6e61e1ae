"""Data snapshots and run keys.

A snapshot is the exact list of data blobs (name and ETag) a run trains on. The run key
is a deterministic function of the model and the snapshot, so every trigger that sees
the same data (a duplicate delivery, a schedule tick with nothing new, a drift alert)
arrives at the same key and collapses into one run.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from shared.ports import DataFile


@dataclass(frozen=True)
class Snapshot:
    model: str
    prefix: str
    files: tuple[DataFile, ...]

    @property
    def id(self) -> str:
        digest = hashlib.sha256()
        for f in sorted(self.files, key=lambda f: f.name):
            digest.update(f"{f.name}\t{f.etag}\n".encode())
        return digest.hexdigest()[:16]

    @property
    def empty(self) -> bool:
        return not self.files

    def manifest(self) -> dict[str, Any]:
        """The JSON the prep step reads to know exactly which files to use."""
        return {
            "model": self.model,
            "prefix": self.prefix,
            "snapshot_id": self.id,
            "files": [{"name": f.name, "etag": f.etag, "size": f.size} for f in self.files],
        }


def run_key(snapshot: Snapshot) -> str:
    """``<model>-<snapshot id>``: a valid Azure ML job name, the same for the same data."""
    return f"{snapshot.model}-{snapshot.id}"
