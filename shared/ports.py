"""The small interfaces the service depends on, and the values that cross them.

Each port has a real implementation per backend (``shared/adapters``) and a small fake in
the tests. Naming follows the Azure SDK guidelines: ``get_x`` raises ``NotFound`` when
missing, ``list_x`` returns an empty list, conditional writes take ``etag`` and raise
``ConflictError`` when they lose.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

JSON = dict[str, Any]


class Clock(Protocol):
    """Where the service gets the time; a fake clock makes policy tests exact."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class StateStore(Protocol):
    """Durable JSON documents addressed by key ("runs/<run key>.json", ...).

    Every write that decides something is conditional, so two instances of the app can
    never both take the same decision: ``create`` succeeds for exactly one writer and
    ``replace`` only while the document still has the ETag the writer read.
    """

    def create(self, key: str, document: Mapping[str, Any]) -> str:
        """Write a new document and return its ETag; ``ConflictError`` if it exists."""
        ...

    def get(self, key: str) -> tuple[JSON, str]:
        """Return the document and its ETag; ``NotFound`` if absent."""
        ...

    def replace(self, key: str, document: Mapping[str, Any], *, etag: str) -> str:
        """Overwrite the document if its ETag is still ``etag``; return the new ETag.

        Raises ``ConflictError`` when someone else wrote it first.
        """
        ...

    def list_keys(self, prefix: str) -> list[str]:
        """Keys under ``prefix`` in lexicographic order; empty when none."""
        ...

    def delete(self, key: str) -> None:
        """Remove the document; nothing happens when it is absent."""
        ...


@dataclass(frozen=True)
class DataFile:
    """One data blob as seen when a snapshot is taken."""

    name: str
    etag: str
    size: int


class DataStore(Protocol):
    """The container where new data lands, one prefix per model."""

    def list_files(self, prefix: str) -> list[DataFile]:
        """Committed blobs under ``prefix``, sorted by name; empty when none."""
        ...

    def read_bytes(self, name: str) -> bytes:
        """The blob's content; ``NotFound`` if absent."""
        ...

    def read_range(self, name: str, start: int, end: int) -> tuple[bytes, int]:
        """Bytes ``start`` to ``end`` (exclusive) of the blob, cut to its size, and the
        blob's size (one ranged read: a Parquet footer is checked without reading the
        file); ``NotFound`` if absent."""
        ...


class ArtifactStore(Protocol):
    """Where pipeline runs read their inputs and write their outputs (the Azure ML
    datastore), addressed by path inside it.

    ``uri`` gives the ``azureml://datastores/<name>/paths/<path>`` form the pipeline
    takes as an input, so the same paths work on Azure ML and locally.
    """

    def write_json(self, path: str, document: Mapping[str, Any]) -> None: ...

    def read_json(self, path: str) -> JSON:
        """The JSON document at ``path``; ``NotFound`` if absent."""
        ...

    def read_bytes(self, path: str) -> bytes:
        """The file at ``path`` (e.g. a run's forecast.png); ``NotFound`` if absent."""
        ...

    def uri(self, path: str) -> str: ...

    def copy(self, source: str, destination: str) -> None:
        """Copy the file at ``source`` to ``destination`` inside the datastore, server-side
        (no bytes through the app); overwrites ``destination``. ``NotFound`` if ``source``
        is absent. Used to hand a family's champion models files to its next run."""
        ...


# Run states as Azure ML names them.
RUN_TERMINAL_STATES = frozenset({"Completed", "Failed", "Canceled"})

# The published pipelines a submission names (``PipelineSubmission.pipeline``).
RETRAIN_PIPELINE = "retrain"
FAMILY_PIPELINE = "family"
PIPELINES = frozenset({RETRAIN_PIPELINE, FAMILY_PIPELINE})


@dataclass(frozen=True)
class PipelineSubmission:
    """What the service asks the training pipeline to do for one run key."""

    run_key: str
    model: str
    inputs: Mapping[str, str | int | float]
    tags: Mapping[str, str] = field(default_factory=dict)
    experiment: str = "retrain"
    # Which published pipeline: "retrain" (one series, pipeline.yml) or "family" (a model
    # with series_columns, family_pipeline.yml; on Azure ML its own batch endpoint).
    pipeline: str = RETRAIN_PIPELINE


@dataclass(frozen=True)
class PipelineRun:
    """A pipeline run as the backend reports it. ``outputs`` maps the pipeline's output
    names to URIs (``azureml://datastores/...``)."""

    run_id: str
    run_key: str
    status: str
    outputs: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in RUN_TERMINAL_STATES


class PipelineClient(Protocol):
    """Submits the published training pipeline and reports on its runs."""

    def submit(self, submission: PipelineSubmission) -> PipelineRun:
        """Start a run for ``submission.run_key``.

        Idempotent on the run key: submitting the same key again returns the existing
        run instead of starting a second one. Completion is announced asynchronously
        (an Azure ML ``RunCompleted`` / ``RunStatusChanged`` event).
        """
        ...

    def get_run(self, run_id: str) -> PipelineRun:
        """The run's current state; ``NotFound`` if unknown."""
        ...

    def find_run(self, run_key: str) -> PipelineRun | None:
        """The run started for ``run_key`` (found by its job name or tag), or None when
        the backend has none: how the service tells an ambiguous failed submit that did
        start a job from one that did not."""
        ...


@dataclass(frozen=True)
class PipelineStep:
    """One step (child job) of a pipeline run as the backend reports it. Times are ISO-8601
    UTC strings (None until known); ``reused`` when the backend reused an earlier step's
    outputs instead of running it."""

    name: str
    status: str
    started_at: str | None = None
    finished_at: str | None = None
    duration_s: float | None = None
    reused: bool = False
    error: str | None = None


@runtime_checkable
class RunInspector(Protocol):
    """What a backend can tell about a run's steps and logs, beyond ``PipelineClient``.

    Optional: the service asks ``isinstance(ctx.pipeline, RunInspector)`` and, when the
    backend is not one, answers that steps and logs are not available from it.
    """

    def get_steps(self, run_id: str) -> list[PipelineStep]:
        """The run's steps in pipeline order; ``NotFound`` if the run is unknown."""
        ...

    def get_log_tail(self, run_id: str, step: str, *, lines: int = 100) -> list[str]:
        """The last ``lines`` lines of the step's log (empty when it has none yet);
        ``NotFound`` if the run or step is unknown."""
        ...


@dataclass(frozen=True)
class ModelVersion:
    """A registered model version with the lineage that explains it."""

    name: str
    version: int
    artifact_uri: str
    tags: Mapping[str, str]
    lineage: Mapping[str, Any]
    created_at: str


@dataclass(frozen=True)
class AliasState:
    """Where an alias points (``version`` None when unset) and the ETag to move it."""

    alias: str
    version: int | None
    etag: str | None


class ModelRegistry(Protocol):
    """Registered model versions and the aliases (``production``) that pick one."""

    def register(
        self,
        name: str,
        *,
        artifact_uri: str,
        tags: Mapping[str, str],
        lineage: Mapping[str, Any],
    ) -> ModelVersion:
        """Register the next version of ``name``."""
        ...

    def get_version(self, name: str, version: int) -> ModelVersion:
        """``NotFound`` if absent."""
        ...

    def list_versions(self, name: str) -> list[ModelVersion]:
        """Oldest first; empty when the model has none."""
        ...

    def get_alias(self, name: str, alias: str) -> AliasState:
        """The alias's state; an unset alias has version and etag None."""
        ...

    def set_alias(self, name: str, alias: str, version: int, *, etag: str | None) -> AliasState:
        """Compare-and-swap: point ``alias`` at ``version`` only if it still has ``etag``
        (``None``: only if the alias is unset). ``ConflictError`` when it moved."""
        ...

    def reconcile(self, name: str) -> None:
        """Repair what a crash between two writes may have left inconsistent (e.g. a
        workspace's production tag that disagrees with the alias); called by the sweep."""
        ...
