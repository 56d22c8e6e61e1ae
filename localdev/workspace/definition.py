"""The pipeline definition: an Azure ML CLI v2 pipeline job YAML, the command components it
references and its inline parallel jobs, parsed with PyYAML (not azure-ai-ml, so it stays
fast to import) into typed values, with every problem reported against the file that has it."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
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
_OWN_INPUT = re.compile(r"^\$\{\{\s*inputs\.([A-Za-z_][\w]*)\s*\}\}$")
_OWN_OUTPUT = re.compile(r"^\$\{\{\s*outputs\.([A-Za-z_][\w]*)\s*\}\}$")


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
class ParallelSettings:
    """What an Azure ML parallel job (``type: parallel``, ``task.type: run_function``)
    declares: the input split into mini-batches (a ``uri_folder``: ``mini_batch_size``
    files per batch), the entry script run by each worker (``init()`` once, ``run(batch)``
    per batch), its program arguments, where rows are appended, and the run settings
    (workers, per-batch timeout and retries, error thresholds, logging level)."""

    input_data: str
    mini_batch_size: int
    entry_script: str
    program_arguments: str
    append_row_to: str | None
    instance_count: int = 1
    max_concurrency_per_instance: int | None = None
    max_retries: int = 2
    timeout: float = 60.0
    mini_batch_error_threshold: int = -1
    error_threshold: int = -1
    logging_level: str = "INFO"


@dataclass(frozen=True)
class Component:
    """A command component (or an inline parallel job): its YAML text (hashed into step
    fingerprints), code folder (``None`` when it has no ``code:``), command template (the
    program arguments of a parallel job), inputs, outputs and, for a parallel job, its
    ``parallel`` settings."""

    source: str
    text: str
    code: Path | None
    command: str
    inputs: Mapping[str, ComponentInput]
    outputs: Mapping[str, str]
    deterministic: bool = True
    parallel: ParallelSettings | None = None
    # ``additional_includes``, resolved against the component YAML's folder: copied beside
    # the code folder's contents in the step's code snapshot (localdev.workspace.snapshot).
    additional_includes: tuple[Path, ...] = ()


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
    steps = [_step(path, str(name), spec, inputs) for name, spec in jobs.items()]
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


def _step(path: Path, name: str, spec: Any, pipeline_inputs: Mapping[str, PipelineInput]) -> Step:
    where = f"{path}: job {name!r}"
    if not isinstance(spec, dict):
        raise PipelineError(f"{where} is not a mapping")
    kind = spec.get("type", "command")
    if kind == "parallel":
        component = _parallel_component(path, name, spec, pipeline_inputs)
    elif kind == "command":
        component = _component(path, name, spec.get("component"))
    else:
        raise PipelineError(f"{where} has type {kind!r}; command and parallel jobs run")
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


_RUN_SETTING_KEYS = (
    "input_data",
    "mini_batch_size",
    "partition_keys",
    "resources",
    "max_concurrency_per_instance",
    "retry_settings",
    "mini_batch_error_threshold",
    "error_threshold",
    "logging_level",
)


def _parallel_component(
    path: Path, name: str, spec: dict[str, Any], pipeline_inputs: Mapping[str, PipelineInput]
) -> Component:
    """A parallel job read as a component: either a parallel component YAML
    (``component: ./components/x/x.yml`` holding ``type: parallel``, its inputs declared
    there; run settings given on the job override the component's), or an inline job (its
    inputs typed from what they are bound to). Outputs are uri_folders; the program
    arguments are checked like a command."""
    where = f"{path}: parallel job {name!r}"
    reference = spec.get("component")
    if reference is not None:
        if not isinstance(reference, str) or reference.startswith("azureml:"):
            raise PipelineError(
                f"{where}: the local workspace runs parallel component YAML files or inline "
                f"parallel jobs, not {reference!r}"
            )
        source_path = (path.parent / reference.removeprefix("file:")).resolve()
        text = _read_text(source_path)
        document = _load_yaml(source_path, text)
        if document.get("type") != "parallel":
            raise PipelineError(f"{source_path}: a parallel job needs a type: parallel component")
        overrides = {k: spec[k] for k in _RUN_SETTING_KEYS if k in spec}
        document = document | overrides
        text += "\n# job overrides\n" + yaml.safe_dump(overrides, sort_keys=True)
        source, base = str(source_path), source_path.parent
        inputs = {
            str(n): _declared_input(source, str(n), s)
            for n, s in (document.get("inputs") or {}).items()
        }
        for input_name in spec.get("inputs") or {}:
            if input_name not in inputs:
                raise PipelineError(
                    f"{where} binds input {input_name!r}, which {source} does not declare"
                )
    else:
        document, text = spec, yaml.safe_dump(spec, sort_keys=True)
        source, base = f"{path} (parallel job {name!r})", path.parent
        inputs = {
            str(n): _inline_input(where, str(n), v, _binding(path, where, n, v), pipeline_inputs)
            for n, v in (spec.get("inputs") or {}).items()
        }
    outputs = {str(output): "uri_folder" for output in (document.get("outputs") or {})}
    for output_name in spec.get("outputs") or {}:
        if output_name not in outputs:
            raise PipelineError(f"{where} binds output {output_name!r}, which is not declared")
    settings, code, arguments = _parallel_settings(source, document, inputs, outputs)
    return Component(
        source=source,
        text=text,
        code=(base / code.removeprefix("file:")).resolve(),
        command=arguments,
        inputs=inputs,
        outputs=outputs,
        parallel=settings,
    )


def _declared_input(source: str, name: str, spec: Any) -> ComponentInput:
    spec = spec if isinstance(spec, dict) else {"type": "string", "default": spec}
    kind = str(spec.get("type", "string"))
    if kind not in URI_TYPES | LITERAL_TYPES:
        raise PipelineError(f"{source}: input {name!r} has type {kind!r}, not run locally")
    enum = spec.get("enum")
    return ComponentInput(
        name=name,
        type=kind,
        default=spec.get("default"),
        optional=bool(spec.get("optional", False)),
        enum=tuple(enum) if isinstance(enum, list) else None,
        min=spec.get("min"),
        max=spec.get("max"),
    )


def _parallel_settings(
    where: str,
    document: Mapping[str, Any],
    inputs: Mapping[str, ComponentInput],
    outputs: Mapping[str, str],
) -> tuple[ParallelSettings, str, str]:
    """The run settings, task code folder and program arguments of a parallel job."""
    if document.get("partition_keys"):
        raise PipelineError(
            f"{where}: partition_keys needs an mltable input, which the local workspace does "
            "not run; split a uri_folder by files with mini_batch_size instead"
        )
    task = document.get("task")
    if not isinstance(task, dict) or task.get("type", "run_function") != "run_function":
        raise PipelineError(f"{where}: needs a task of type run_function")
    entry_script = task.get("entry_script")
    if not isinstance(entry_script, str) or not entry_script:
        raise PipelineError(f"{where}: task has no entry_script")
    code = task.get("code")
    if not isinstance(code, str) or not code:
        raise PipelineError(f"{where}: task has no code folder")
    match = _OWN_INPUT.match(str(document.get("input_data", "")))
    if match is None or match.group(1) not in inputs:
        raise PipelineError(f"{where}: input_data must be ${{{{inputs.NAME}}}} of a declared input")
    if inputs[match.group(1)].type != "uri_folder":
        raise PipelineError(
            f"{where}: input_data {match.group(1)!r} must be a uri_folder locally (mltable is "
            "not run)"
        )
    size = document.get("mini_batch_size", 1)
    if isinstance(size, str) and size.strip().isdigit():
        size = int(size)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise PipelineError(
            f"{where}: mini_batch_size {size!r} must be a number of files locally (sizes such "
            "as '10kb' apply to mltable inputs)"
        )
    append = task.get("append_row_to")
    append_to: str | None = None
    if append is not None:
        found = _OWN_OUTPUT.match(str(append))
        if found is None or found.group(1) not in outputs:
            raise PipelineError(f"{where}: append_row_to must be ${{{{outputs.NAME}}}}")
        append_to = found.group(1)
    arguments = str(task.get("program_arguments") or "")
    _check_command(where, arguments, inputs, outputs)
    retry = document.get("retry_settings") or {}
    resources = document.get("resources") or {}
    concurrency = document.get("max_concurrency_per_instance")
    settings = ParallelSettings(
        input_data=match.group(1),
        mini_batch_size=size,
        entry_script=entry_script,
        program_arguments=arguments,
        append_row_to=append_to,
        instance_count=_positive(
            where, "resources.instance_count", resources.get("instance_count", 1)
        ),
        max_concurrency_per_instance=(
            None
            if concurrency is None
            else _positive(where, "max_concurrency_per_instance", concurrency)
        ),
        max_retries=int(retry.get("max_retries", 2)),
        timeout=float(retry.get("timeout", 60)),
        mini_batch_error_threshold=int(document.get("mini_batch_error_threshold", -1)),
        error_threshold=int(document.get("error_threshold", -1)),
        logging_level=str(document.get("logging_level", "INFO")).upper(),
    )
    return settings, code, arguments


def _inline_input(
    where: str,
    name: str,
    value: Any,
    binding: Binding,
    pipeline_inputs: Mapping[str, PipelineInput],
) -> ComponentInput:
    """An inline job's input, typed by what it is bound to (declared types win)."""
    if isinstance(value, dict) and value.get("type"):
        kind = str(value["type"])
        if kind not in URI_TYPES | LITERAL_TYPES:
            raise PipelineError(f"{where}: input {name!r} has type {kind!r}, not run locally")
        return ComponentInput(name=name, type=kind, optional=bool(value.get("optional", False)))
    if isinstance(binding, StepOutput):
        return ComponentInput(name=name, type="uri_folder")
    if isinstance(binding, ParentInput):
        declared = pipeline_inputs.get(binding.name)
        if declared is None:
            # Only data inputs are left undeclared (a pipeline job's YAML cannot mark an
            # input optional, and a uri_folder without a path cannot be declared), so an
            # undeclared binding is an optional uri_folder given at submission.
            return ComponentInput(name=name, type="uri_folder", optional=True)
        if declared.type is not None:
            return ComponentInput(name=name, type=declared.type)
        value = declared.value
    else:
        value = binding.value
    if isinstance(value, bool):
        kind = "boolean"
    elif isinstance(value, int | float):  # a number: 10 in the YAML may be 2.5 at submission
        kind = "number"
    else:
        kind = "string"
    return ComponentInput(name=name, type=kind)


def _positive(where: str, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise PipelineError(f"{where}: {key} must be a positive integer, got {value!r}")
    return value


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
    folder = (base / str(code).removeprefix("file:")).resolve() if code else None
    return Component(
        source=source,
        text=text,
        code=folder,
        command=command,
        inputs=inputs,
        outputs=outputs,
        deterministic=bool(document.get("is_deterministic", True)),
        additional_includes=_additional_includes(source, document, base, folder),
    )


def _additional_includes(
    source: str, document: dict[str, Any], base: Path, code: Path | None
) -> tuple[Path, ...]:
    """A component's ``additional_includes`` (paths relative to its YAML's folder, as
    azure-ai-ml resolves them), checked as Azure ML checks them."""
    listed = document.get("additional_includes") or []
    if not isinstance(listed, list) or not all(isinstance(i, str) and i for i in listed):
        raise PipelineError(f"{source}: additional_includes must be a list of paths")
    includes = tuple((base / item).resolve() for item in listed)
    check_includes(source, code, includes)
    return includes


def check_includes(source: str, code: Path | None, includes: Sequence[Path]) -> None:
    """``PipelineError`` for includes Azure ML would refuse (see the module docstring)."""
    if includes and code is None:
        raise PipelineError(f"{source}: additional_includes needs a code folder")
    names: dict[str, Path] = {}
    for include in includes:
        if include.suffix == ".zip":
            raise PipelineError(
                f"{source}: additional include {include} is a compressed folder (.zip), "
                "which the local workspace does not build"
            )
        if not include.exists():
            raise PipelineError(f"{source}: additional include {include} does not exist")
        if include.name in names:
            raise PipelineError(
                f"{source}: additional includes {names[include.name]} and {include} "
                f"have the same name {include.name!r}"
            )
        names[include.name] = include
        if code is not None and (code / include.name).exists():
            raise PipelineError(
                f"{source}: a file already exists for additional include {include} "
                f"({code / include.name})"
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
