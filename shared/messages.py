"""What the triggers hand to the service: small frozen values, free of any wire format.

Only ``shared.parsing`` knows the Event Grid, CloudEvents, Azure Monitor and Azure ML
JSON shapes these are read from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# The blob APIs that commit data; other BlobCreated events (e.g. ADLS CreateFile, which
# creates an empty file before the data is flushed) do not mean new data.
COMMITTING_BLOB_APIS = frozenset({"PutBlob", "PutBlockList", "CopyBlob", "FlushWithClose"})


@dataclass(frozen=True)
class NewDataArrived:
    model: str
    blob_name: str
    etag: str
    size: int
    api: str
    url: str
    event_id: str
    event_time: datetime | None

    def describe(self) -> str:
        return f"new data {self.blob_name} ({self.size} bytes, {self.api})"


@dataclass(frozen=True)
class ScheduleTicked:
    at: datetime
    past_due: bool = False

    def describe(self) -> str:
        late = " (past due)" if self.past_due else ""
        return f"schedule tick at {self.at.isoformat()}{late}"


@dataclass(frozen=True)
class DriftAlerted:
    model: str
    source: str
    alert_id: str
    description: str
    fired_at: datetime | None
    resolved: bool = False
    event_id: str = ""  # the Event Grid event id, when one delivered it

    def describe(self) -> str:
        state = "resolved" if self.resolved else "fired"
        name = self.alert_id or "(unnamed)"
        return f"drift alert {name} from {self.source} {state}: {self.description}"


@dataclass(frozen=True)
class RetrainRequested:
    model: str
    requested_by: str
    reason: str
    force: bool = False  # start a new attempt even if this snapshot was trained already

    def describe(self) -> str:
        forced = " (forced)" if self.force else ""
        return f"manual request by {self.requested_by}{forced}: {self.reason}"


@dataclass(frozen=True)
class PipelineRunCompleted:
    """An Azure ML run reached a terminal state (or changed state)."""

    run_id: str
    run_key: str | None
    status: str
    event_id: str
    experiment: str | None = None

    def describe(self) -> str:
        return f"pipeline run {self.run_id} {self.status}"


@dataclass(frozen=True)
class RollbackRequested:
    """An operator moves production back to an earlier version."""

    model: str
    version: int
    reason: str
    requested_by: str
    expected_version: int | None = None  # refuse unless production is this version now

    def describe(self) -> str:
        return f"rollback to v{self.version} by {self.requested_by}: {self.reason}"


@dataclass(frozen=True)
class PromoteRequested:
    """An operator puts a registered version into production by hand."""

    model: str
    version: int
    reason: str
    requested_by: str
    expected_version: int | None = None

    def describe(self) -> str:
        return f"manual promotion of v{self.version} by {self.requested_by}: {self.reason}"


@dataclass(frozen=True)
class PinRequested:
    """Hold production where it is: automatic promotion then only registers."""

    model: str
    reason: str
    requested_by: str

    def describe(self) -> str:
        return f"pin by {self.requested_by}: {self.reason}"


@dataclass(frozen=True)
class UnpinRequested:
    model: str
    reason: str
    requested_by: str

    def describe(self) -> str:
        return f"unpin by {self.requested_by}: {self.reason}"


@dataclass(frozen=True)
class PauseRequested:
    """Stop retraining a model for now: arrivals are kept and decided on resume."""

    model: str
    reason: str
    requested_by: str

    def describe(self) -> str:
        return f"pause by {self.requested_by}: {self.reason}"


@dataclass(frozen=True)
class ResumeRequested:
    """Retrain the model again; held arrivals are replayed or dropped (its policy says)."""

    model: str
    reason: str
    requested_by: str

    def describe(self) -> str:
        return f"resume by {self.requested_by}: {self.reason}"


@dataclass(frozen=True)
class SweepTicked:
    """The reconciliation timer fired: finalise runs whose completion event never came."""

    at: datetime

    def describe(self) -> str:
        return f"sweep at {self.at.isoformat()}"


@dataclass(frozen=True)
class ReleaseRequested:
    """An operator releases a quarantined data file: it is checked and decided on again
    as a new arrival of the blob (``shared.service.recovery``)."""

    blob: str
    reason: str
    requested_by: str

    def describe(self) -> str:
        return f"release of quarantined {self.blob} by {self.requested_by}: {self.reason}"


@dataclass(frozen=True)
class ReplayRequested:
    """An operator replays a dead letter (``<source>/<digest>``) through the parser and
    handler of the function that first received it (``shared.service.recovery``)."""

    dead_letter: str
    reason: str
    requested_by: str

    def describe(self) -> str:
        return f"replay of dead letter {self.dead_letter} by {self.requested_by}: {self.reason}"


@dataclass(frozen=True)
class DataDeleted:
    """A data blob was deleted (Event Grid ``Microsoft.Storage.BlobDeleted``): the model's
    later snapshots leave it out (``shared.service.deletions``). The event carries no ETag;
    ``sequencer`` orders events on one blob name."""

    model: str
    blob_name: str
    api: str
    url: str
    event_id: str
    event_time: datetime | None
    sequencer: str = ""

    def describe(self) -> str:
        return f"deleted data {self.blob_name} ({self.api or 'DeleteBlob'})"


TriggerMessage = NewDataArrived | ScheduleTicked | DriftAlerted | RetrainRequested
PauseMessage = PauseRequested | ResumeRequested
OperatorMessage = RollbackRequested | PromoteRequested | PinRequested | UnpinRequested
RecoveryMessage = ReleaseRequested | ReplayRequested
Message = (
    TriggerMessage
    | PipelineRunCompleted
    | SweepTicked
    | OperatorMessage
    | PauseMessage
    | RecoveryMessage
    | DataDeleted
)
