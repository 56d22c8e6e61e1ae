"""Tools the infra and worker tests run in virtual environments of their own, kept under
.local/tools/ and keyed by a hash of what is installed, so only the first run (or a
changed requirement) pays for the install. Checkov pins versions the app's own
environment cannot take (packaging<24 while pytest needs >=24), hence a separate venv."""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".local" / "tools"


def cached_venv(
    name: str,
    python: str,
    requirements: Sequence[str] = (),
    files: Sequence[Path] = (),
    timeout: float = 900,
) -> Path:
    """The python of a venv made with ``python`` holding ``requirements`` (pip
    specifiers) and each requirements file in ``files``; built once per content hash.
    Safe against concurrent test processes (a file lock; a marker written last)."""
    version = subprocess.run(
        [python, "-c", "import sys; print(sys.version)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    digest = hashlib.sha256(version.encode())
    for requirement in requirements:
        digest.update(requirement.encode() + b"\0")
    for path in files:
        digest.update(path.read_bytes() + b"\0")
    dest = TOOLS / f"{name}-{digest.hexdigest()[:16]}"
    venv_python = dest / "bin" / "python"
    marker = dest / ".complete"
    if marker.exists():
        return venv_python
    TOOLS.mkdir(parents=True, exist_ok=True)
    with (TOOLS / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists():
            return venv_python
        for stale in TOOLS.glob(f"{name}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        subprocess.run([python, "-m", "venv", str(dest)], check=True)
        install = [str(venv_python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        for path in files:
            install += ["-r", str(path)]
        subprocess.run(
            [*install, *requirements],
            check=True,
            timeout=timeout,
            stdout=subprocess.DEVNULL,
        )
        marker.write_text(version)
    return venv_python
