"""A step's code snapshot: its ``code:`` folder, merged with its ``additional_includes``.

Azure ML (azure-ai-ml's ``AdditionalIncludes``) uploads, for a component that lists
``additional_includes``, one code snapshot: the code folder's contents with each included
file or folder (a path relative to the component YAML's folder) copied beside them under
its own name. The job runs in that snapshot, so an included package is importable as if it
lived in the code folder. The local workspace does the same: :func:`code_snapshot` builds
the merged folder once per content (``<root>/<digest>/``) and the step runs in it; its
reuse fingerprint hashes the snapshot's files, so a change in an included folder makes the
step new, as a new code snapshot does on Azure ML.

Refused when the component is read (``definition.check_includes``), with the reason, as
the SDK refuses them: an include that does not exist, one whose name is already in the code
folder (the SDK: "A file already exists for additional include"), two includes with the
same name, and compressed-folder includes (``*.zip``: the SDK zips such a folder; not
needed here, so not built).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path

from localdev.workspace.plan import _SKIPPED_CODE_DIRS, _update_with_text, _update_with_tree


def snapshot_digest(code: Path, includes: Sequence[Path]) -> str:
    """The content of the merged snapshot: the code folder's files, then each include's
    files under its name (caches skipped)."""
    digest = hashlib.sha256()
    _update_with_text(digest, "code")
    _update_with_tree(digest, code, skip_caches=True)
    for include in includes:
        _update_with_text(digest, "include", include.name)
        _update_with_tree(digest, include, skip_caches=True)
    return digest.hexdigest()


def code_snapshot(code: Path, includes: Sequence[Path], root: Path) -> Path:
    """The folder the step runs in: ``code`` itself without includes; else the merged copy
    ``<root>/<digest>/`` (built once; concurrent builders keep the first)."""
    if not includes:
        return code
    target = root / snapshot_digest(code, includes)[:32]
    if target.is_dir():
        return target
    root.mkdir(parents=True, exist_ok=True)
    staging = root / f".staging-{uuid.uuid4().hex}"
    ignore = shutil.ignore_patterns(*_SKIPPED_CODE_DIRS, "*.pyc", "*.pyo")
    shutil.copytree(code, staging, ignore=ignore)
    for include in includes:
        if include.is_dir():
            shutil.copytree(include, staging / include.name, ignore=ignore)
        else:
            shutil.copy2(include, staging / include.name)
    try:
        os.rename(staging, target)
    except OSError:  # built meanwhile by another step: keep that one
        shutil.rmtree(staging, ignore_errors=True)
    return target
