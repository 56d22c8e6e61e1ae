"""Azure ML's drift events over Event Grid: v2 model monitoring's ``RunStatusChanged``
carrying ``azureml_modelmonitor_threshold_breached`` and the v1 ``DatasetDriftDetected``.

Subscribe the workspace's RunStatusChanged (and DatasetDriftDetected) to this function as
well as RunCompleted/RunStatusChanged to ``on_run_completed`` (docs/policy.md): each takes
its own share and leaves the rest, so one subscription per function is enough.
"""

import logging

import azure.functions as func

from functions._delivery import deliver, event_to_dict
from shared.parsing.drift import is_azureml_drift_event, parse_azureml_drift_event

log = logging.getLogger(__name__)
bp = func.Blueprint()


@bp.function_name("on_azureml_event")
@bp.event_grid_trigger(arg_name="event")
def on_azureml_event(event: func.EventGridEvent) -> None:
    raw = event_to_dict(event)
    if not is_azureml_drift_event(raw):
        log.info(
            "on_azureml_event: %s %s is no drift signal; left to on_run_completed",
            raw.get("eventType") or raw.get("type"),
            raw.get("id"),
        )
        return
    deliver(
        "on_azureml_event",
        raw,
        lambda s: parse_azureml_drift_event(raw, models=list(s.models.values())),
    )
