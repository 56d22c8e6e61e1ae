"""Planning a run: every step input resolved to a rendered literal, a URI to fetch or an
upstream output; commands rendered; the digests that make up step fingerprints."""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localdev.workspace.definition import (
    _OPTIONAL_SEGMENT,
    _PLACEHOLDER,
    URI_TYPES,
    ComponentInput,
    LiteralBinding,
    ParentInput,
    PipelineDefinition,
    StepOutput,
    _is_remote,
)
from shared.errors import PipelineError

_SKIPPED_CODE_DIRS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"})


# -- resolving a submission into a plan -------------------------------------------------


@dataclass(frozen=True)
class _Value:
    text: str


@dataclass(frozen=True)
class _Uri:
    key: str
    source: str
    type: str


@dataclass(frozen=True)
class _Upstream:
    step: str
    output: str


_Resolved = _Value | _Uri | _Upstream
_Plan = dict[str, dict[str, _Resolved]]


def _plan(definition: PipelineDefinition, overrides: Mapping[str, Any]) -> _Plan:
    """Resolve every step input to a rendered value, a URI to fetch or an upstream output;
    absent optional inputs are left out. Raises ``PipelineError`` for bad values."""
    known = set(definition.inputs) | definition.parent_inputs_used()
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise PipelineError(f"the pipeline has no input(s) {unknown}; it takes {sorted(known)}")
    values: dict[str, Any] = {name: given.value for name, given in definition.inputs.items()}
    for name, override in overrides.items():
        declared = definition.inputs.get(name)
        if isinstance(override, str) and declared is not None and declared.type in URI_TYPES:
            override = (
                override if _is_remote(override) else str(Path(override).expanduser().resolve())
            )
        values[name] = override
    plan: _Plan = {}
    for step in definition.steps:
        resolved: dict[str, _Resolved] = {}
        for name, spec in step.component.inputs.items():
            where = f"job {step.name!r} input {name!r}"
            binding = step.inputs.get(name)
            key = f"{step.name}.{name}"
            value: Any = None
            if isinstance(binding, StepOutput):
                if spec.type != "uri_folder":
                    raise PipelineError(f"{where} is a {spec.type} but is bound to a step output")
                resolved[name] = _Upstream(binding.step, binding.output)
                continue
            if isinstance(binding, ParentInput):
                value = values.get(binding.name)
                key = binding.name
            elif isinstance(binding, LiteralBinding):
                value = binding.value
                if spec.type in URI_TYPES and isinstance(value, str) and not _is_remote(value):
                    value = str((definition.path.parent / value).resolve())
            if value is None:
                value = spec.default
            if value is None:
                if spec.optional:
                    continue
                bound = (
                    f" (pipeline input {binding.name!r} is not set)"
                    if isinstance(binding, ParentInput)
                    else ""
                )
                raise PipelineError(f"{where} is required and has no value{bound}")
            if spec.type in URI_TYPES:
                if not isinstance(value, str):
                    raise PipelineError(f"{where} is a {spec.type} and needs a path, not {value!r}")
                resolved[name] = _Uri(key=key, source=value, type=spec.type)
            else:
                resolved[name] = _Value(_render_literal(where, spec, value))
        plan[step.name] = resolved
    return plan


def _render_literal(where: str, spec: ComponentInput, value: Any) -> str:
    """The text a literal takes on the command line, after checking it fits its type."""
    kind = spec.type
    number: float | None = None
    if kind == "string":
        text = str(value)
    elif kind == "boolean":
        if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
            value = value.strip().lower() == "true"
        if not isinstance(value, bool):
            raise PipelineError(f"{where} must be a boolean, got {value!r}")
        text = str(value)
    elif kind == "integer":
        if (isinstance(value, float) and value.is_integer()) or (
            isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value)
        ):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise PipelineError(f"{where} must be an integer, got {value!r}")
        number, text = value, str(value)
    else:  # number
        if isinstance(value, str):
            try:
                value = float(value) if not re.fullmatch(r"\s*[-+]?\d+\s*", value) else int(value)
            except ValueError:
                raise PipelineError(f"{where} must be a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PipelineError(f"{where} must be a number, got {value!r}")
        number, text = value, repr(value) if isinstance(value, float) else str(value)
    if spec.enum is not None and value not in spec.enum and text not in map(str, spec.enum):
        raise PipelineError(f"{where} must be one of {list(spec.enum)}, got {value!r}")
    if number is not None and spec.min is not None and number < spec.min:
        raise PipelineError(f"{where} must be at least {spec.min}, got {number}")
    if number is not None and spec.max is not None and number > spec.max:
        raise PipelineError(f"{where} must be at most {spec.max}, got {number}")
    return text


def render_command(
    template: str, inputs: Mapping[str, str], outputs: Mapping[str, str]
) -> list[str]:
    """The argv of a component command, as Azure ML builds it: ``$[[ ... ]]`` segments are
    kept only when every input they mention is given, then the command is split like a
    shell would and ``${{inputs.x}}`` / ``${{outputs.y}}`` are replaced inside each word
    (so a path with spaces stays one argument)."""

    def segment(match: re.Match[str]) -> str:
        body = match.group(1)
        given = all(
            kind == "outputs" or name in inputs for kind, name in _PLACEHOLDER.findall(body)
        )
        return body if given else ""

    def normalise(match: re.Match[str]) -> str:
        return "${{" + f"{match.group(1)}.{match.group(2)}" + "}}"

    def substitute(match: re.Match[str]) -> str:
        kind, name = match.groups()
        table = inputs if kind == "inputs" else outputs
        if name not in table:
            raise PipelineError(f"the command uses {kind}.{name}, which has no value")
        return table[name]

    text = _PLACEHOLDER.sub(normalise, _OPTIONAL_SEGMENT.sub(segment, template))
    return [_PLACEHOLDER.sub(substitute, word) for word in shlex.split(text)]


# -- fingerprints -----------------------------------------------------------------------


def _update_with_tree(digest: Any, root: Path, *, skip_caches: bool = False) -> None:
    """Feed every file under ``root`` (relative path and bytes) into ``digest``."""
    if root.is_file():
        _update_with_file(digest, root.name, root)
        return
    for path in sorted(_files_under(root, skip_caches=skip_caches)):
        _update_with_file(digest, path.relative_to(root).as_posix(), path)


def _files_under(root: Path, *, skip_caches: bool) -> Iterator[Path]:
    for directory, subdirs, files in os.walk(root):
        if skip_caches:
            subdirs[:] = [d for d in subdirs if d not in _SKIPPED_CODE_DIRS]
        for name in files:
            if skip_caches and name.endswith((".pyc", ".pyo")):
                continue
            yield Path(directory) / name


def _update_with_file(digest: Any, name: str, path: Path) -> None:
    encoded = name.encode()
    digest.update(b"F%d:" % len(encoded) + encoded)
    digest.update(b"%d:" % path.stat().st_size)
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)


def _update_with_text(digest: Any, *parts: str) -> None:
    for part in parts:
        encoded = part.encode()
        digest.update(b"T%d:" % len(encoded) + encoded)


# -- the workspace ----------------------------------------------------------------------
