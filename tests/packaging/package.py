"""Packaging the Function App as Azure Functions Core Tools does (every file of the
project folder except what ``.funcignore`` excludes, gitignore syntax), and a fresh
virtual environment with only ``requirements.txt``, as Azure's remote build installs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pathspec

ROOT = Path(__file__).resolve().parents[2]


def package_files(root: Path = ROOT) -> list[Path]:
    """The files Core Tools would put in the package, relative to ``root``."""
    spec = pathspec.GitIgnoreSpec.from_lines((root / ".funcignore").read_text().splitlines())
    files: list[Path] = []
    for folder, subfolders, names in os.walk(root):
        here = Path(folder).relative_to(root)
        subfolders[:] = sorted(
            d for d in subfolders if d != ".git" and not spec.match_file(f"{here / d}/")
        )
        files.extend(here / n for n in sorted(names) if not spec.match_file(str(here / n)))
    return files


def build_package(dest: Path, root: Path = ROOT) -> Path:
    """Copy the package into ``dest`` and make every file and folder read-only, as a
    Function App running from a package sees its ``wwwroot``."""
    for relative in package_files(root):
        target = dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / relative, target)
    for folder, _, names in os.walk(dest):
        for name in names:
            os.chmod(Path(folder) / name, 0o444)
        os.chmod(folder, 0o555)
    return dest


def fresh_venv(dest: Path, requirements: Path) -> Path:
    """A new virtual environment with only ``requirements``; returns its python."""
    subprocess.run([sys.executable, "-m", "venv", str(dest)], check=True)
    python = dest / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "-r", str(requirements)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return python
