"""Azure ML run events (``RunCompleted``, ``RunStatusChanged``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.errors import InvalidInput
from shared.messages import (
    PipelineRunCompleted,
)
from shared.parsing.common import (
    MAX_NAME,
    RUN_COMPLETED,
    RUN_ID,
    RUN_KEY_TAG,
    RUN_STATUS_CHANGED,
    check_run_key,
    envelope,
    event_data,
    printable,
)
from shared.parsing.trust import check_workspace
from shared.settings import TrustSettings

_RUN_STATES = {
    s.lower(): s
    for s in (
        *("NotStarted", "Queued", "Preparing", "Starting", "Running", "Finalizing"),
        *("Completed", "Failed", "Canceled", "CancelRequested"),
        *("Provisioning", "NotResponding", "Paused", "Unknown"),
    )
}


def parse_run_event(
    event: Mapping[str, Any], *, trust: TrustSettings | None = None
) -> PipelineRunCompleted:
    """An Azure ML ``RunCompleted`` or ``RunStatusChanged`` event.

    With ``trust``, the event's ``topic``/``source`` must be a trusted workspace
    (``Untrusted`` otherwise). The event is a hint: the service asks the backend for the
    run's real status before acting on it (``shared.service.runs``).
    """
    event_id, event_type, _subject, _time, raw = envelope(event)
    if event_type not in (RUN_COMPLETED, RUN_STATUS_CHANGED):
        raise InvalidInput(
            f"expected {RUN_COMPLETED} or {RUN_STATUS_CHANGED}, got {event_type[:200]!r}"
        )
    if trust is not None:
        check_workspace(event, trust)
    # Azure ML's sources disagree on the casing of these keys (runStatus, RunStatus...).
    data = {str(k).lower(): v for k, v in event_data(raw, event_type).items()}
    if event_type == RUN_COMPLETED:
        status = "Completed"
    else:
        raw_status = data.get("runstatus")
        if not raw_status:
            raise InvalidInput(f"{RUN_STATUS_CHANGED} event {event_id} has no runStatus")
        # Azure ML's documented example says "failed"; the service speaks "Failed".
        found = _RUN_STATES.get(raw_status.lower()) if isinstance(raw_status, str) else None
        if found is None:
            raise InvalidInput(
                f"{RUN_STATUS_CHANGED} event {event_id}: runStatus {str(raw_status)[:80]!r} "
                f"is not an Azure ML run status"
            )
        status = found
    run_id = data.get("runid")
    if not run_id:
        raise InvalidInput(f"{event_type} event {event_id} has no runId")
    if not isinstance(run_id, str) or RUN_ID.fullmatch(run_id) is None:
        raise InvalidInput(
            f"{event_type} event {event_id}: runId {str(run_id)[:80]!r} is not an Azure ML run id"
        )
    # Our run key travels as a job tag (pipeline jobs, v1) or, for a batch endpoint's job,
    # which cannot carry tags, as a job property.
    run_key = None
    for where in ("runtags", "runproperties"):
        found_in = data.get(where)
        if isinstance(found_in, Mapping) and found_in.get(RUN_KEY_TAG):
            run_key = check_run_key(found_in[RUN_KEY_TAG], f"{RUN_KEY_TAG} tag")
            break
    experiment = data.get("experimentname")
    return PipelineRunCompleted(
        run_id=run_id,
        run_key=run_key,
        status=status,
        event_id=event_id,
        experiment=(
            printable(experiment, "experimentName", MAX_NAME)
            if isinstance(experiment, str)
            else None
        ),
    )
