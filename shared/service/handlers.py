"""The routing table: which handler takes each message type.

Handlers are plain functions ``(message, context) -> list[Outcome]``, one module per
kind of message: ``triggers`` (new data, schedule, drift, manual), ``runs`` (run status
and completion, which hands a completed run to ``promotion``; the sweep that finalises
runs whose completion event never came), ``operator`` (rollback, manual promotion, pin,
unpin), ``recovery`` (release a quarantined file, replay a dead letter), ``deletions``
(a deleted data blob leaves later snapshots).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.messages import (
    DataDeleted,
    DriftAlerted,
    NewDataArrived,
    PauseRequested,
    PinRequested,
    PipelineRunCompleted,
    PromoteRequested,
    ReleaseRequested,
    ReplayRequested,
    ResumeRequested,
    RetrainRequested,
    RollbackRequested,
    ScheduleTicked,
    SweepTicked,
    UnpinRequested,
)
from shared.service.context import Context
from shared.service.deletions import handle_deletion
from shared.service.operator import handle_pin, handle_unpin, handle_version_change
from shared.service.outcome import Outcome
from shared.service.recovery import handle_release, handle_replay
from shared.service.runs import handle_run_event, handle_sweep
from shared.service.triggers import handle_pause, handle_schedule, handle_trigger

Handler = Callable[[Any, Context], list[Outcome]]


def _one_trigger(message: Any, ctx: Context) -> list[Outcome]:
    return [handle_trigger(message, ctx)]


HANDLERS: dict[type, Handler] = {
    NewDataArrived: _one_trigger,
    DriftAlerted: _one_trigger,
    RetrainRequested: _one_trigger,
    ScheduleTicked: handle_schedule,
    PipelineRunCompleted: handle_run_event,
    SweepTicked: handle_sweep,
    RollbackRequested: handle_version_change,
    PromoteRequested: handle_version_change,
    PinRequested: handle_pin,
    UnpinRequested: handle_unpin,
    PauseRequested: handle_pause,
    ResumeRequested: handle_pause,
    ReleaseRequested: handle_release,
    ReplayRequested: handle_replay,
    DataDeleted: handle_deletion,
}
