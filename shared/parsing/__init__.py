"""Reading wire formats into messages. The only package that knows the JSON shapes of
Event Grid (Event Grid schema and CloudEvents 1.0), Azure Storage, Azure ML and Azure
Monitor. Anything it cannot read raises ``InvalidInput`` (or ``UnknownModel``) with a
message naming what was wrong.

One module per source: ``common`` (the envelope, times, body checks, names), ``storage``
(BlobCreated), ``azureml`` (run events), ``drift`` (alerts), ``requests`` (HTTP bodies).
"""

from shared.parsing.azureml import parse_run_event
from shared.parsing.common import (
    BLOB_CREATED,
    COMMON_ALERT_SCHEMA,
    FORCE_RERUN_TAG,
    MODEL_TAG,
    RUN_COMPLETED,
    RUN_KEY_TAG,
    RUN_STATUS_CHANGED,
    parse_time,
)
from shared.parsing.drift import parse_drift_alert
from shared.parsing.requests import (
    parse_limit,
    parse_pin_request,
    parse_retrain_request,
    parse_version_change,
    parse_version_number,
)
from shared.parsing.storage import parse_blob_created

__all__ = [
    "BLOB_CREATED",
    "COMMON_ALERT_SCHEMA",
    "FORCE_RERUN_TAG",
    "MODEL_TAG",
    "RUN_COMPLETED",
    "RUN_KEY_TAG",
    "RUN_STATUS_CHANGED",
    "parse_blob_created",
    "parse_drift_alert",
    "parse_limit",
    "parse_pin_request",
    "parse_retrain_request",
    "parse_run_event",
    "parse_time",
    "parse_version_change",
    "parse_version_number",
]
