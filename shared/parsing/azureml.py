"""Azure ML run events (``RunCompleted``, ``RunStatusChanged``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.errors import InvalidInput
from shared.messages import (
    PipelineRunCompleted,
)
from shared.parsing.common import (
    RUN_COMPLETED,
    RUN_KEY_TAG,
    RUN_STATUS_CHANGED,
    envelope,
    event_data,
)

_RUN_STATES = {
    s.lower(): s
    for s in (
        *("NotStarted", "Queued", "Preparing", "Starting", "Running", "Finalizing"),
        *("Completed", "Failed", "Canceled", "CancelRequested"),
    )
}


def parse_run_event(event: Mapping[str, Any]) -> PipelineRunCompleted:
    """An Azure ML ``RunCompleted`` or ``RunStatusChanged`` event."""
    event_id, event_type, _subject, _time, raw = envelope(event)
    # Azure ML's sources disagree on the casing of these keys (runStatus, RunStatus...).
    data = {str(k).lower(): v for k, v in event_data(raw, event_type).items()}
    if event_type == RUN_COMPLETED:
        status = "Completed"
    elif event_type == RUN_STATUS_CHANGED:
        raw_status = str(data.get("runstatus") or "")
        if not raw_status:
            raise InvalidInput(f"{RUN_STATUS_CHANGED} event {event_id} has no runStatus")
        # Azure ML's documented example says "failed"; the service speaks "Failed".
        status = _RUN_STATES.get(raw_status.lower(), raw_status)
    else:
        raise InvalidInput(f"expected {RUN_COMPLETED} or {RUN_STATUS_CHANGED}, got {event_type!r}")
    run_id = data.get("runid")
    if not run_id:
        raise InvalidInput(f"{event_type} event {event_id} has no runId")
    # Our run key travels as a job tag (pipeline jobs, v1) or, for a batch endpoint's job,
    # which cannot carry tags, as a job property.
    run_key = None
    for where in ("runtags", "runproperties"):
        found = data.get(where)
        if isinstance(found, Mapping) and found.get(RUN_KEY_TAG):
            run_key = found[RUN_KEY_TAG]
            break
    return PipelineRunCompleted(
        run_id=str(run_id),
        run_key=str(run_key) if run_key else None,
        status=status,
        event_id=event_id,
        experiment=data.get("experimentname"),
    )
