"""The Azure-free service layer: what happens to each message.

``RetrainService.handle`` looks the message's type up in the routing table
(``shared.service.handlers.HANDLERS``) and calls its handler with the shared
``Context`` (ports and configuration):

- ``triggers``: new data, schedule ticks, drift alerts and manual requests go through the
  trigger policy; Retrain writes the run record and submits the pipeline;
- ``runs``: a pipeline run's status changes and completion (claimed once);
- ``promotion``: a completed run's gate verdict, registration and promotion;
- ``operator``: rollback, manual promotion, pin and unpin;
- ``recovery``: release a quarantined file, replay a dead letter;
- ``queries``: read-only views for the API, and the audit reports (``audit``).
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.messages import Message
from shared.ports import (
    JSON,
    ArtifactStore,
    Clock,
    DataStore,
    ModelRegistry,
    PipelineClient,
    StateStore,
)
from shared.service import queries
from shared.service.context import Context
from shared.service.handlers import HANDLERS
from shared.service.outcome import Outcome
from shared.settings import GatePolicy, ModelConfig

__all__ = ["Context", "Outcome", "RetrainService"]


class RetrainService:
    """Routes messages to their handlers and answers queries. Built by ``shared.bootstrap``."""

    def __init__(
        self,
        *,
        models: Sequence[ModelConfig],
        gate: GatePolicy,
        data_container: str,
        data_datastore: str,
        state: StateStore,
        data: DataStore,
        artifacts: ArtifactStore,
        pipeline: PipelineClient,
        registry: ModelRegistry,
        clock: Clock,
        code_version: str = "dev",
        pipeline_sha256: str = "",
    ) -> None:
        self.context = Context(
            models={m.name: m for m in models},
            gate=gate,
            data_container=data_container,
            data_datastore=data_datastore,
            state=state,
            data=data,
            artifacts=artifacts,
            pipeline=pipeline,
            registry=registry,
            clock=clock,
            code_version=code_version,
            pipeline_sha256=pipeline_sha256,
        )

    @property
    def models(self) -> dict[str, ModelConfig]:
        return self.context.models

    @property
    def clock(self) -> Clock:
        return self.context.clock

    @property
    def data_container(self) -> str:
        return self.context.data_container

    @property
    def state(self) -> StateStore:
        return self.context.state

    @property
    def pipeline(self) -> PipelineClient:
        return self.context.pipeline

    @property
    def registry(self) -> ModelRegistry:
        return self.context.registry

    def handle(self, message: Message) -> list[Outcome]:
        """Process one message; one outcome per model it concerned."""
        return HANDLERS[type(message)](message, self.context)

    def dead_letter(
        self, source: str, payload: str | bytes, error: Exception, *, retryable: bool = False
    ) -> str:
        """Keep an input that could not be processed, with the reason; returns its key."""
        return self.context.dead_letter(source, payload, error, retryable=retryable)

    # ---------------------------------------------------------------- queries

    def get_run(self, run_key: str) -> JSON:
        return queries.get_run(self.context, run_key)

    def list_models(self) -> list[JSON]:
        return queries.list_models(self.context)

    def list_versions(self, model: str) -> list[JSON]:
        return queries.list_versions(self.context, model)

    def list_ledger(self, model: str, *, limit: int | None = None) -> list[JSON]:
        """The model's decisions, oldest first; with ``limit``, only the newest ones."""
        return queries.list_ledger(self.context, model, limit=limit)

    def list_history(self, model: str) -> JSON:
        """The model's promotion history (alias moves, pins), oldest first, and its pin."""
        return queries.list_history(self.context, model)

    def list_runs(self, model: str, *, limit: int = 50) -> list[JSON]:
        """The model's runs, newest first (run record + ``run_key``), at most ``limit``."""
        return queries.list_runs(self.context, model, limit=limit)

    def list_dead_letters(self, *, limit: int = 50) -> list[JSON]:
        """Dead letters, newest first, with a payload preview, at most ``limit``."""
        return queries.list_dead_letters(self.context, limit=limit)

    def get_dead_letter(self, dead_letter_id: str) -> JSON:
        """One dead letter (``<source>/<digest>``) with its payload."""
        return queries.get_dead_letter(self.context, dead_letter_id)

    def get_quarantined(self, blob: str) -> JSON:
        """One quarantined file's record with its model."""
        return queries.get_quarantined(self.context, blob)

    def list_quarantine(self) -> list[JSON]:
        """Quarantined data files, newest first, with the model that owns each."""
        return queries.list_quarantine(self.context)

    def list_run_summaries(self, model: str, *, limit: int = 50) -> list[JSON]:
        """``list_runs`` as summaries: status, trigger, outcome, elapsed, step progress."""
        return queries.list_run_summaries(self.context, model, limit=limit)

    def run_steps(self, run_key: str, *, lines: int = 20) -> JSON:
        """The run's steps from the backend, each with the tail of its log."""
        return queries.run_steps(self.context, run_key, lines=lines)

    def step_log(self, run_key: str, step: str, *, lines: int = 200) -> JSON:
        """The last ``lines`` lines of one step's log."""
        return queries.step_log(self.context, run_key, step, lines=lines)

    def run_artifacts(self, run_key: str) -> JSON:
        """Where the run's inputs and outputs are, and its API pages."""
        return queries.run_artifacts(self.context, run_key)

    def run_plot(self, run_key: str) -> tuple[bytes, str]:
        """The run's forecast plot and its media type."""
        return queries.run_plot(self.context, run_key)

    def version_detail(self, model: str, version: int) -> JSON:
        """A registered version with its lineage, gate verdict and metrics."""
        return queries.version_detail(self.context, model, version)

    def compare_versions(self, model: str, first: int, second: int) -> JSON:
        """Two versions' metrics, on the same windows when a run scored both."""
        return queries.compare_versions(self.context, model, first, second)

    def run_report(self, run_key: str) -> str:
        """The run's audit report, a self-contained HTML page."""
        return queries.run_report(self.context, run_key)

    def version_report(self, model: str, version: int) -> str:
        """A registered version's audit report, a self-contained HTML page."""
        return queries.version_report(self.context, model, version)
