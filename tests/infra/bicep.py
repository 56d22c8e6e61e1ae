"""The Bicep files of infra/ as data, through checkov's own Bicep parser (pycep), so the
tests read what checkov and the deployment read."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pycep import BicepParser

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"


@functools.cache
def _parser() -> BicepParser:
    return BicepParser()  # builds its grammar: about a second, so once


@functools.cache
def parse(path: Path) -> dict[str, Any]:
    """One Bicep file: globals, parameters, variables, resources, modules, outputs."""
    return dict(_parser().parse(file_path=path))


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


def text(node: Any) -> str:
    """A parsed expression written back compactly: ``a.b``, ``a::b``, ``f(x, y)``,
    literals as themselves."""
    if isinstance(node, dict) and "operator" in node:
        op = node["operator"]
        left, right = (text(v) for v in op["operands"].values())
        if op["type"] == "property_accessor":
            return f"{left}.{right}"
        if op["type"] == "nested_resource_accessor":
            return f"{left}::{right}"
        return f"{op['type']}({left}, {right})"
    if isinstance(node, dict) and "function" in node:
        fn = node["function"]
        args = ", ".join(text(v) for v in fn["parameters"].values() if v is not None)
        return f"{fn['type']}({args})"
    return str(node)


@dataclass(frozen=True)
class Resource:
    file: str  # relative to infra/
    symbol: str
    type: str
    existing: bool
    conditional: bool
    config: dict[str, Any]

    @property
    def properties(self) -> dict[str, Any]:
        return dict(self.config.get("properties") or {})


def resources(path: Path) -> list[Resource]:
    found = []
    for symbol, raw in parse(path).get("resources", {}).items():
        config = raw["config"]
        conditional = "condition" in config
        if conditional:  # `= if (...) { ... }` nests the body one level down
            config = config["config"]
        found.append(
            Resource(
                file=str(path.relative_to(INFRA)),
                symbol=symbol,
                type=raw["type"],
                existing=bool(raw.get("existing")),
                conditional=conditional,
                config=config,
            )
        )
    return found


def declared() -> list[Resource]:
    """Every resource the templates create (not ``existing`` references)."""
    return [r for path in bicep_files() for r in resources(path) if not r.existing]


def union_object(node: Any) -> dict[str, Any]:
    """The literal object(s) merged by ``union(a, {...}, ...)`` (identifiers skipped)."""
    if isinstance(node, dict) and node.get("function", {}).get("type") == "union":
        merged: dict[str, Any] = {}
        for arg in node["function"]["parameters"].values():
            merged.update(union_object(arg))
        return merged
    return dict(node) if isinstance(node, dict) else {}
