"""The pipeline definition: an Azure ML CLI v2 pipeline job YAML and the command
components it references, parsed with PyYAML (not azure-ai-ml, so it stays fast to import)
into typed values, with every problem reported against the file that has it."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from shared.errors import PipelineError

URI_TYPES = frozenset({"uri_folder", "uri_file"})
LITERAL_TYPES = frozenset({"string", "integer", "number", "boolean"})

_DATASTORE_URI = re.compile(r"^azureml://datastores/([^/]+)/paths/(.*)$")
_PARENT_INPUT = re.compile(r"^\$\{\{\s*parent\.inputs\.([A-Za-z_][\w]*)\s*\}\}$")
_PARENT_OUTPUT = re.compile(r"^\$\{\{\s*parent\.outputs\.([A-Za-z_][\w]*)\s*\}\}$")
_PARENT_JOB_OUTPUT = re.compile(
    r"^\$\{\{\s*parent\.jobs\.([A-Za-z_][\w-]*)\.outputs\.([A-Za-z_][\w]*)\s*\}\}$"
)
_PLACEHOLDER = re.compile(r"\$\{\{\s*(inputs|outputs)\.([A-Za-z_][\w]*)\s*\}\}")
_OPTIONAL_SEGMENT = re.compile(r"\$\[\[(.*?)\]\]", re.DOTALL)


# -- the pipeline definition ------------------------------------------------------------


@dataclass(frozen=True)
class ComponentInput:
    """One input a command component declares."""

    name: str
    type: str
    default: Any = None
    optional: bool = False
    enum: tuple[Any, ...] | None = None
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class Component:
    """A command component: its YAML text (hashed into step fingerprints), code folder
    (``None`` when it has no ``code:``), command template, inputs and outputs."""

    source: str
    text: str
    code: Path | None
    command: str
    inputs: Mapping[str, ComponentInput]
    outputs: Mapping[str, str]
    deterministic: bool = True


@dataclass(frozen=True)
class ParentInput:
    """A step input bound to ``${{parent.inputs.NAME}}``."""

    name: str


@dataclass(frozen=True)
class StepOutput:
    """A step input bound to ``${{parent.jobs.STEP.outputs.NAME}}``."""

    step: str
    output: str


@dataclass(frozen=True)
class LiteralBinding:
    """A step input given in the pipeline YAML itself (a value, a path or a URI)."""

    value: Any


Binding = ParentInput | StepOutput | LiteralBinding


@dataclass(frozen=True)
class Step:
    """A job of the pipeline: its component, input bindings and, for each component
    output, the pipeline output it is bound to (``None`` for intermediate outputs)."""

    name: str
    component: Component
    inputs: Mapping[str, Binding]
    outputs: Mapping[str, str | None]


@dataclass(frozen=True)
class PipelineInput:
    """A pipeline-level input: a literal value, or a path/URI when ``type`` is uri_*."""

    name: str
    type: str | None
    value: Any


@dataclass(frozen=True)
class PipelineOutput:
    """A pipeline-level output; ``path`` may hold ``${{name}}`` and ``${{output_name}}``."""

    name: str
    type: str
    path: str | None


@dataclass(frozen=True)
class PipelineDefinition:
    """A parsed pipeline job YAML; ``steps`` are in dependency order."""

    path: Path
    sha256: str
    experiment_name: str | None
    inputs: Mapping[str, PipelineInput]
    outputs: Mapping[str, PipelineOutput]
    steps: tuple[Step, ...]

    def parent_inputs_used(self) -> set[str]:
        return {
            binding.name
            for step in self.steps
            for binding in step.inputs.values()
            if isinstance(binding, ParentInput)
        }


def load_pipeline(path: Path) -> PipelineDefinition:
    """Parse an Azure ML CLI v2 pipeline job YAML and its command components.

    Raises ``PipelineError`` naming the file and the problem when the YAML is not a
    pipeline this workspace can run.
    """
    path = Path(path).resolve()
    text = _read_text(path)
    document = _load_yaml(path, text)
    if document.get("type", "pipeline") != "pipeline":
        raise PipelineError(f"{path}: type is {document.get('type')!r}, expected 'pipeline'")
    inputs = {
        str(name): _pipeline_input(path, str(name), spec)
        for name, spec in (document.get("inputs") or {}).items()
    }
    outputs = {
        str(name): _pipeline_output(path, str(name), spec)
        for name, spec in (document.get("outputs") or {}).items()
    }
    jobs = document.get("jobs")
    if not isinstance(jobs, dict) or not jobs:
        raise PipelineError(f"{path}: a pipeline needs at least one job under 'jobs:'")
    steps = [_step(path, str(name), spec) for name, spec in jobs.items()]
    ordered = _dependency_order(path, steps)
    bound = {out for step in steps for out in step.outputs.values() if out is not None}
    for name in outputs:
        if name not in bound:
            raise PipelineError(
                f"{path}: pipeline output {name!r} is not bound to any step output "
                f"(bind one with ${{{{parent.outputs.{name}}}}})"
            )
    experiment = document.get("experiment_name")
    return PipelineDefinition(
        path=path,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        experiment_name=str(experiment) if experiment else None,
        inputs=inputs,
        outputs=outputs,
        steps=tuple(ordered),
    )


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PipelineError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _load_yaml(path: Path, text: str) -> dict[str, Any]:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PipelineError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise PipelineError(f"{path} does not hold a YAML mapping")
    return document


def _pipeline_input(path: Path, name: str, spec: Any) -> PipelineInput:
    if not isinstance(spec, dict):
        return PipelineInput(name=name, type=None, value=spec)
    kind = spec.get("type")
    if kind is not None and kind not in URI_TYPES | LITERAL_TYPES:
        raise PipelineError(f"{path}: input {name!r} has type {kind!r}, not supported locally")
    if kind in URI_TYPES:
        value = spec.get("path")
        if isinstance(value, str) and not _is_remote(value):
            value = str((path.parent / value).resolve())
    else:
        value = spec.get("value", spec.get("default"))
    return PipelineInput(name=name, type=kind, value=value)


def _pipeline_output(path: Path, name: str, spec: Any) -> PipelineOutput:
    spec = spec if isinstance(spec, dict) else {}
    kind = str(spec.get("type", "uri_folder"))
    if kind != "uri_folder":
        raise PipelineError(f"{path}: output {name!r} has type {kind!r}; only uri_folder is run")
    out_path = spec.get("path")
    if out_path is not None and not _DATASTORE_URI.match(str(out_path)):
        raise PipelineError(
            f"{path}: output {name!r} path {out_path!r} is not an "
            "azureml://datastores/<datastore>/paths/<path> URI"
        )
    return PipelineOutput(name=name, type=kind, path=str(out_path) if out_path else None)


def _step(path: Path, name: str, spec: Any) -> Step:
    where = f"{path}: job {name!r}"
    if not isinstance(spec, dict):
        raise PipelineError(f"{where} is not a mapping")
    if spec.get("type", "command") != "command":
        raise PipelineError(f"{where} has type {spec.get('type')!r}; only command jobs run")
    component = _component(path, name, spec.get("component"))
    inputs: dict[str, Binding] = {}
    for input_name, value in (spec.get("inputs") or {}).items():
        if input_name not in component.inputs:
            raise PipelineError(
                f"{where} binds input {input_name!r}, which {component.source} does not declare"
            )
        inputs[str(input_name)] = _binding(path, where, input_name, value)
    outputs: dict[str, str | None] = dict.fromkeys(component.outputs)
    for output_name, value in (spec.get("outputs") or {}).items():
        if output_name not in component.outputs:
            raise PipelineError(
                f"{where} binds output {output_name!r}, which {component.source} does not declare"
            )
        if isinstance(value, str):
            match = _PARENT_OUTPUT.match(value)
            if not match:
                raise PipelineError(
                    f"{where}: output {output_name!r} must be ${{{{parent.outputs.NAME}}}}"
                )
            outputs[str(output_name)] = match.group(1)
        elif value is not None and not (isinstance(value, dict) and "path" not in value):
            raise PipelineError(
                f"{where}: output {output_name!r} with its own path is not supported locally; "
                "bind it to a pipeline output with a path instead"
            )
    return Step(name=name, component=component, inputs=inputs, outputs=outputs)


def _binding(path: Path, where: str, input_name: str, value: Any) -> Binding:
    if isinstance(value, dict):
        if "path" in value:
            value = value["path"]
        elif "value" in value:
            value = value["value"]
        else:
            raise PipelineError(f"{where}: input {input_name!r} gives neither path nor value")
    if isinstance(value, str):
        if match := _PARENT_INPUT.match(value):
            return ParentInput(match.group(1))
        if match := _PARENT_JOB_OUTPUT.match(value):
            return StepOutput(match.group(1), match.group(2))
        if "${{" in value:
            raise PipelineError(f"{where}: input {input_name!r} uses an unsupported expression")
    return LiteralBinding(value)


def _component(pipeline_path: Path, step: str, reference: Any) -> Component:
    where = f"{pipeline_path}: job {step!r}"
    if isinstance(reference, dict):
        return _parse_component(
            f"the inline component of job {step!r}",
            yaml.safe_dump(reference, sort_keys=True),
            reference,
            pipeline_path.parent,
        )
    if not isinstance(reference, str) or not reference:
        raise PipelineError(f"{where} has no component")
    if reference.startswith("azureml:"):
        raise PipelineError(
            f"{where} uses the registered component {reference!r}; the local workspace runs "
            "component YAML files only (component: ./components/<name>/<name>.yml)"
        )
    component_path = (pipeline_path.parent / reference.removeprefix("file:")).resolve()
    text = _read_text(component_path)
    return _parse_component(
        str(component_path), text, _load_yaml(component_path, text), component_path.parent
    )


def _parse_component(source: str, text: str, document: dict[str, Any], base: Path) -> Component:
    if document.get("type", "command") != "command":
        raise PipelineError(f"{source}: only command components can run locally")
    command = document.get("command")
    if not isinstance(command, str) or not command.strip():
        raise PipelineError(f"{source} has no command")
    inputs: dict[str, ComponentInput] = {}
    for name, spec in (document.get("inputs") or {}).items():
        spec = spec if isinstance(spec, dict) else {"type": "string", "default": spec}
        kind = str(spec.get("type", "string"))
        if kind not in URI_TYPES | LITERAL_TYPES:
            raise PipelineError(f"{source}: input {name!r} has type {kind!r}, not run locally")
        enum = spec.get("enum")
        inputs[str(name)] = ComponentInput(
            name=str(name),
            type=kind,
            default=spec.get("default"),
            optional=bool(spec.get("optional", False)),
            enum=tuple(enum) if isinstance(enum, list) else None,
            min=spec.get("min"),
            max=spec.get("max"),
        )
    outputs: dict[str, str] = {}
    for name, spec in (document.get("outputs") or {}).items():
        kind = str((spec or {}).get("type", "uri_folder")) if isinstance(spec, dict) else ""
        if kind != "uri_folder":
            raise PipelineError(f"{source}: output {name!r} must be a uri_folder")
        outputs[str(name)] = kind
    _check_command(source, command, inputs, outputs)
    code = document.get("code")
    return Component(
        source=source,
        text=text,
        code=(base / str(code).removeprefix("file:")).resolve() if code else None,
        command=command,
        inputs=inputs,
        outputs=outputs,
        deterministic=bool(document.get("is_deterministic", True)),
    )


def _check_command(
    source: str, command: str, inputs: Mapping[str, ComponentInput], outputs: Mapping[str, str]
) -> None:
    for kind, name in _PLACEHOLDER.findall(command):
        declared = inputs if kind == "inputs" else outputs
        if name not in declared:
            raise PipelineError(f"{source}: the command uses {kind}.{name}, which is not declared")
    outside = _OPTIONAL_SEGMENT.sub("", command)
    for kind, name in _PLACEHOLDER.findall(outside):
        if kind == "inputs" and inputs[name].optional:
            raise PipelineError(
                f"{source}: optional input {name!r} must be used inside $[[ ... ]] in the command"
            )


def _dependency_order(path: Path, steps: list[Step]) -> list[Step]:
    """Steps in dependency order; among steps that are ready, the YAML order wins."""
    by_name = {step.name: step for step in steps}
    needs: dict[str, set[str]] = {}
    for step in steps:
        needs[step.name] = set()
        for input_name, binding in step.inputs.items():
            if not isinstance(binding, StepOutput):
                continue
            upstream = by_name.get(binding.step)
            if upstream is None:
                raise PipelineError(
                    f"{path}: job {step.name!r} input {input_name!r} reads job "
                    f"{binding.step!r}, which the pipeline does not have"
                )
            if binding.output not in upstream.component.outputs:
                raise PipelineError(
                    f"{path}: job {step.name!r} input {input_name!r} reads output "
                    f"{binding.output!r}, which job {binding.step!r} does not have"
                )
            needs[step.name].add(binding.step)
    ordered: list[Step] = []
    done: set[str] = set()
    while len(ordered) < len(steps):
        ready = [s for s in steps if s.name not in done and needs[s.name] <= done]
        if not ready:
            cycle = sorted(set(by_name) - done)
            raise PipelineError(f"{path}: jobs {cycle} depend on each other in a cycle")
        ordered.append(ready[0])
        done.add(ready[0].name)
    return ordered


def _is_remote(value: str) -> bool:
    return value.startswith(("azureml:", "http://", "https://", "wasbs://", "abfss://"))
