"""What publishing would create, computed from the files in pipeline_defs/ alone (pure).

Every workspace asset publish registers is versioned by the content hash of what defines
it, so "is it already there?" is one GET of that version and a second publish of the same
files changes nothing:

- environment  ``<conda name>@<hash>``: hash of conda.yml and the base image;
- code         ``<component>_code@<hash>``: hash of every file of the component's ``code:``
  folder (relative path and bytes; ``__pycache__`` and ``*.pyc`` left out);
- component    ``<component>@<hash>``: hash of the component YAML, its code hash and the
  environment hash (a new environment means new component versions);
- pipeline     ``<pipeline name>@<hash>``: hash of pipeline.yml and the step components'
  versions;
- deployment: hash of the pipeline component version and the deployment settings, kept in
  the deployment's ``content_sha256`` tag (a deployment has no version);
- endpoint: hash of its description, in its ``content_sha256`` tag.

Versions are the first 12 hex digits of the SHA-256; the full digest is recorded in the
``content_sha256`` tag of each resource. The YAML files keep their own ``version: "1"``
for the local backend; publish overrides it when registering.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

PIPELINE_DEFS = Path(__file__).resolve().parent.parent / "pipeline_defs"
CONTENT_TAG = "content_sha256"
VERSION_DIGITS = 12
DEFAULT_PIPELINE_NAME = "arima_retrain"
PIPELINE_FILE = "pipeline.yml"
FAMILY_PIPELINE_FILE = "family_pipeline.yml"
FAMILY_SUFFIX = "-family"  # the family endpoint: <endpoint>-family (the service's default)
FAMILY_PIPELINE_SUFFIX = "_family"
ENDPOINT_DESCRIPTIONS = {
    PIPELINE_FILE: (
        "Retraining pipeline endpoint: each invoke runs one retraining of one model "
        "(prep -> train -> evaluate), published by deploy.publish."
    ),
    FAMILY_PIPELINE_FILE: (
        "Family retraining pipeline endpoint: each invoke retrains every series of one family "
        "model (prep -> parallel fit with per-series gate evidence), published by deploy.publish."
    ),
}
CODE_BLOB_PREFIX = "retrain-publish/code"
_SKIPPED_DIRS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache"})
_SKIPPED_SUFFIXES = (".pyc", ".pyo")


class PlanError(ValueError):
    """pipeline_defs/ cannot be published as it is (the message says what to fix)."""


@dataclass(frozen=True)
class EnvironmentPlan:
    name: str
    image: str
    conda_file: Path
    sha256: str

    @property
    def version(self) -> str:
        return self.sha256[:VERSION_DIGITS]


@dataclass(frozen=True)
class CodePlan:
    """A component's ``code:`` folder, uploaded once per content hash and registered as a
    code asset (see deploy.apply for why publish uploads it itself)."""

    name: str
    folder: Path
    files: tuple[str, ...]  # paths in the code snapshot (includes under their own name)
    sha256: str
    # ``additional_includes`` (resolved): each one's files are in ``files`` under its name,
    # beside the code folder's, as azure-ai-ml merges them into one snapshot
    includes: tuple[Path, ...] = ()

    @property
    def version(self) -> str:
        return self.sha256[:VERSION_DIGITS]

    @property
    def blob_prefix(self) -> str:
        return f"{CODE_BLOB_PREFIX}/{self.name}/{self.version}"

    def source(self, relative: str) -> Path:
        """Where the snapshot's file ``relative`` is read from."""
        head, _, rest = relative.partition("/")
        for include in self.includes:
            if head == include.name:
                return include / rest if rest else include
        return self.folder / relative


@dataclass(frozen=True)
class ComponentPlan:
    name: str
    yaml_path: Path
    code: CodePlan
    sha256: str

    @property
    def version(self) -> str:
        return self.sha256[:VERSION_DIGITS]


@dataclass(frozen=True)
class PipelinePlan:
    name: str
    yaml_path: Path
    steps: tuple[tuple[str, str], ...]  # (node name, component name), in YAML order
    sha256: str

    @property
    def version(self) -> str:
        return self.sha256[:VERSION_DIGITS]


@dataclass(frozen=True)
class EndpointPlan:
    name: str
    description: str
    sha256: str


@dataclass(frozen=True)
class DeploymentPlan:
    name: str
    endpoint: str
    compute: str
    settings: tuple[tuple[str, str | bool], ...]
    description: str
    sha256: str


@dataclass(frozen=True)
class DatastorePlan:
    """An identity-based blob datastore for one of the app's containers, so the pipeline
    reads the data and writes its outputs where the service reads them."""

    name: str
    account: str
    container: str


@dataclass(frozen=True)
class Plan:
    environment: EnvironmentPlan
    components: tuple[ComponentPlan, ...]
    pipeline: PipelinePlan
    endpoint: EndpointPlan
    deployment: DeploymentPlan
    datastores: tuple[DatastorePlan, ...] = ()

    def component(self, name: str) -> ComponentPlan:
        for component in self.components:
            if component.name == name:
                return component
        raise KeyError(name)


def build_plan(
    root: Path = PIPELINE_DEFS,
    *,
    endpoint: str,
    deployment: str,
    compute: str,
    pipeline_name: str = DEFAULT_PIPELINE_NAME,
    datastores: tuple[DatastorePlan, ...] = (),
    pipeline_file: str = PIPELINE_FILE,
) -> Plan:
    """Read pipeline_defs/ and say which resources publish needs, each with its hash
    (``pipeline_file``: pipeline.yml, or family_pipeline.yml for :func:`build_plans`)."""
    pipeline_yaml = root / pipeline_file
    pipeline_doc = _load_yaml(pipeline_yaml)
    jobs = pipeline_doc.get("jobs")
    if not isinstance(jobs, dict) or not jobs:
        raise PlanError(f"{pipeline_yaml}: no jobs")

    component_files: dict[str, Path] = {}
    for node, job in jobs.items():
        reference = job.get("component") if isinstance(job, dict) else None
        if not isinstance(reference, str) or reference.startswith("azureml:"):
            raise PlanError(
                f"{pipeline_yaml}: job {node!r} must name a local component YAML "
                f"(component: ./components/...), got {reference!r}"
            )
        component_files[node] = (pipeline_yaml.parent / reference).resolve()

    docs = {path: _load_yaml(path) for path in dict.fromkeys(component_files.values())}
    environment = _environment_plan(docs)
    components = tuple(_component_plan(path, doc, environment) for path, doc in docs.items())
    by_path = {component.yaml_path: component for component in components}
    steps = tuple((node, by_path[path].name) for node, path in component_files.items())
    pipeline_sha = _digest(
        [pipeline_yaml.read_bytes(), pipeline_name.encode()]
        + [
            f"{node}={by_path[path].name}@{by_path[path].version}".encode()
            for node, path in component_files.items()
        ]
    )
    pipeline = PipelinePlan(pipeline_name, pipeline_yaml, steps, pipeline_sha)

    endpoint_description = ENDPOINT_DESCRIPTIONS.get(
        pipeline_file, f"Pipeline endpoint of {pipeline_file}, published by deploy.publish."
    )
    endpoint_plan = EndpointPlan(
        endpoint, endpoint_description, _digest([endpoint_description.encode()])
    )
    settings: tuple[tuple[str, str | bool], ...] = (
        ("default_compute", compute),
        ("continue_on_step_failure", False),
    )
    deployment_description = f"{pipeline_name}@{pipeline.version} on {compute}"
    deployment_sha = _digest(
        [
            f"{pipeline_name}@{pipeline.version}".encode(),
            repr(settings).encode(),
            deployment_description.encode(),
        ]
    )
    deployment_plan = DeploymentPlan(
        deployment, endpoint, compute, settings, deployment_description, deployment_sha
    )
    return Plan(environment, components, pipeline, endpoint_plan, deployment_plan, datastores)


def build_plans(
    root: Path = PIPELINE_DEFS,
    *,
    endpoint: str,
    deployment: str,
    compute: str,
    pipeline_name: str = DEFAULT_PIPELINE_NAME,
    datastores: tuple[DatastorePlan, ...] = (),
    family_endpoint: str | None = None,
) -> tuple[Plan, ...]:
    """The single-series pipeline's plan and, when ``root`` holds family_pipeline.yml, the
    family pipeline's: its own pipeline component (``<pipeline name>_family``) and batch
    endpoint (``family_endpoint``, default ``<endpoint>-family``, the name the service's
    ``RETRAIN_AZUREML_FAMILY_ENDPOINT`` defaults to) whose default deployment is
    ``deployment``. Components both use (prep, the environment) are the same versions."""
    plans = [
        build_plan(
            root,
            endpoint=endpoint,
            deployment=deployment,
            compute=compute,
            pipeline_name=pipeline_name,
            datastores=datastores,
        )
    ]
    if (root / FAMILY_PIPELINE_FILE).is_file():
        plans.append(
            build_plan(
                root,
                endpoint=family_endpoint or f"{endpoint}{FAMILY_SUFFIX}",
                deployment=deployment,
                compute=compute,
                pipeline_name=f"{pipeline_name}{FAMILY_PIPELINE_SUFFIX}",
                pipeline_file=FAMILY_PIPELINE_FILE,
            )
        )
    return tuple(plans)


def describe(plan: Plan) -> list[str]:
    """One line per resource, as --dry-run prints them."""
    env = plan.environment
    lines = [
        f"datastore {d.name} -> {d.account}/{d.container} (identity-based)" for d in plan.datastores
    ]
    lines.append(f"environment {env.name}@{env.version} (image {env.image})")
    for component in plan.components:
        code = component.code
        included = "".join(f" + {include.name}/" for include in code.includes)
        lines.append(
            f"code {code.name}@{code.version} "
            f"({len(code.files)} files from {code.folder.name}/{included})"
        )
        lines.append(f"component {component.name}@{component.version}")
    pipeline = plan.pipeline
    steps = ", ".join(f"{node}={name}" for node, name in pipeline.steps)
    lines.append(f"pipeline-component {pipeline.name}@{pipeline.version} ({steps})")
    lines.append(f"batch-endpoint {plan.endpoint.name}")
    deployment = plan.deployment
    lines.append(
        f"deployment {deployment.endpoint}/{deployment.name} "
        f"-> {pipeline.name}@{pipeline.version} on {deployment.compute}"
    )
    lines.append(f"default-deployment {deployment.endpoint} -> {deployment.name}")
    return lines


def _environment_plan(docs: Mapping[Path, dict[str, Any]]) -> EnvironmentPlan:
    found: set[tuple[str, Path]] = set()
    for path, doc in docs.items():
        environment = _task(doc).get("environment")
        if not isinstance(environment, dict) or not environment.get("image"):
            raise PlanError(f"{path}: environment must be inline with an image and a conda_file")
        conda = environment.get("conda_file")
        if not isinstance(conda, str):
            raise PlanError(f"{path}: environment.conda_file missing")
        found.add((str(environment["image"]), (path.parent / conda).resolve()))
    if len(found) != 1:
        raise PlanError(
            "every component must use the same environment (one image, one conda file); "
            f"found {sorted((image, str(conda)) for image, conda in found)}"
        )
    image, conda_file = found.pop()
    conda_doc = _load_yaml(conda_file)
    name = str(conda_doc.get("name") or "retrain-env")
    sha = _digest([image.encode(), conda_file.read_bytes()])
    return EnvironmentPlan(name, image, conda_file, sha)


def _component_plan(path: Path, doc: dict[str, Any], environment: EnvironmentPlan) -> ComponentPlan:
    name = doc.get("name")
    code = _task(doc).get("code")
    if not isinstance(name, str) or not isinstance(code, str):
        raise PlanError(f"{path}: a component needs a name and a local code: folder")
    folder = (path.parent / code).resolve()
    listed = doc.get("additional_includes") or []
    if not isinstance(listed, list) or not all(isinstance(i, str) and i for i in listed):
        raise PlanError(f"{path}: additional_includes must be a list of paths")
    includes = tuple((path.parent / item).resolve() for item in listed)
    files = list(_code_files(folder))
    if not files:
        raise PlanError(f"{path}: code folder {folder} has no files")
    for include in includes:
        if not include.exists():
            raise PlanError(f"{path}: additional include {include} does not exist")
        if (folder / include.name).exists():  # as azure-ai-ml refuses it
            raise PlanError(f"{path}: a file already exists for additional include {include}")
        if include.is_dir():
            files += [f"{include.name}/{relative}" for relative in _code_files(include)]
        else:
            files.append(include.name)
    code_plan = CodePlan(f"{name}_code", folder, tuple(sorted(files)), "", includes)
    code_sha = _digest(
        part
        for relative in code_plan.files
        for part in (relative.encode(), code_plan.source(relative).read_bytes())
    )
    code_plan = replace(code_plan, sha256=code_sha)
    sha = _digest([path.read_bytes(), code_sha.encode(), environment.sha256.encode()])
    return ComponentPlan(name, path, code_plan, sha)


def _task(doc: dict[str, Any]) -> dict[str, Any]:
    """Where a component names its code and environment: a parallel component's ``task``,
    else the component itself."""
    task = doc.get("task")
    if doc.get("type") == "parallel" and isinstance(task, dict):
        return task
    return doc


def _code_files(folder: Path) -> list[str]:
    if not folder.is_dir():
        raise PlanError(f"code folder {folder} does not exist")
    files = []
    for path in folder.rglob("*"):
        relative = path.relative_to(folder)
        if path.is_dir() or _SKIPPED_DIRS.intersection(relative.parts):
            continue
        if path.suffix in _SKIPPED_SUFFIXES:
            continue
        files.append(relative.as_posix())
    return sorted(files)


def _digest(parts: Iterable[bytes]) -> str:
    """SHA-256 over length-prefixed parts (so part boundaries cannot shift)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise PlanError(f"{path} does not exist") from error
    if not isinstance(loaded, dict):
        raise PlanError(f"{path}: not a YAML mapping")
    return loaded
