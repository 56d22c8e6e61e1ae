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


def seen_key(model: str, blob: str, etag: str) -> str:
    """``seen/<model>/<blob name>/<etag>.json``: the per-version index of checked blobs
    that earlier versions wrote for every arrival. No longer written: a blob version's
    arrival is remembered in the model's policy state (``shared/policy/batch.py``) and the
    snapshots of its runs; kept for readers that still remove old marks."""
    return f"seen/{model}/{blob}/{etag.strip(chr(34))}.json"


def parse_seen_key(model: str, key: str) -> tuple[str, str]:
    """(blob name, etag without quotes) of a ``seen_key``."""
    blob, _, etag = key.removeprefix(f"seen/{model}/").removesuffix(".json").rpartition("/")
    return blob, etag


def overlay(
    model: str, prefix: str, base: dict[str, Any] | None, files: list[DataFile]
) -> Snapshot:
    """The snapshot that extends ``base`` (a manifest, or None) with ``files`` (newer
    versions of a name replace older ones): derived from what the service has seen and
    checked, never from a listing of the prefix."""
    merged = {
        str(f["name"]): DataFile(str(f["name"]), str(f["etag"]), int(f.get("size") or 0))
        for f in (base or {}).get("files") or ()
    }
    for f in files:
        merged[f.name] = f
    return Snapshot(model=model, prefix=prefix, files=tuple(merged[n] for n in sorted(merged)))


# ------------------------------------------------------------------------------ deletions

# The ETag under which a deletion waits among a model's pending arrivals (no blob version
# has it: Azure ETags are quoted hex): the next snapshot leaves the name out.
DELETED = "deleted"


def deletion(name: str) -> DataFile:
    """A deleted blob as an entry of the snapshot index: overlaid on a manifest, it
    replaces the name's older version, and ``without_deleted`` then drops the name."""
    return DataFile(name, DELETED, 0)


def is_deletion(file: DataFile) -> bool:
    return file.etag == DELETED


def without_deleted(snapshot: Snapshot) -> Snapshot:
    """The snapshot with every name whose newest entry is a deletion removed: what a run
    trains on after blobs were deleted (``overlay`` of the base manifest and the pending
    arrivals, deletions among them, then this)."""
    kept = tuple(f for f in snapshot.files if not is_deletion(f))
    if len(kept) == len(snapshot.files):
        return snapshot
    return Snapshot(model=snapshot.model, prefix=snapshot.prefix, files=kept)
