"""Telemetry: one structured log record per decision and four custom metrics, exported to
Application Insights through OpenTelemetry (``azure-monitor-opentelemetry``) when
``APPLICATIONINSIGHTS_CONNECTION_STRING`` is set.

Without it, metrics are a no-op and decision records are DEBUG lines on the console (the
handlers' own INFO lines stay as they are). With it, ``configure`` sets up the Azure
Monitor distro once per process (imported only then, so importing the Function App stays
cheap), and decision records are INFO records whose ``extra`` fields (model, run_key,
kind, decision, trigger, version, invocation_id) land in ``customDimensions``; e.g.

    traces | where customDimensions.model == "co2" and customDimensions.kind == "gate"

Metrics (``customMetrics``): ``retrain.runs.started``, ``retrain.run.duration`` (seconds,
from the run record's creation to its gate verdict or failure), ``retrain.gate.verdicts``
(attribute ``verdict``: pass or refuse) and ``retrain.events.dead_lettered`` (attribute
``source``).
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.metrics import Meter

log = logging.getLogger(__name__)
decisions = logging.getLogger(f"{__name__}.decisions")

SERVICE_NAME = "retrain-service"
EXPORTED_LOGGER = "shared"  # the service's loggers; not the Azure SDKs' request logs
GATE_PASSED = frozenset({"promoted", "registered"})
GATE_REFUSED = frozenset({"rejected"})

_lock = threading.Lock()


class _Instruments:
    def __init__(self, meter: Meter) -> None:
        self.runs_started = meter.create_counter(
            "retrain.runs.started", unit="{run}", description="retraining runs started"
        )
        self.run_duration = meter.create_histogram(
            "retrain.run.duration",
            unit="s",
            description="from a run's submission to its gate verdict or failure",
        )
        self.gate_verdicts = meter.create_counter(
            "retrain.gate.verdicts", unit="{verdict}", description="promotion gate verdicts"
        )
        self.dead_lettered = meter.create_counter(
            "retrain.events.dead_lettered",
            unit="{event}",
            description="inputs the service could not process and kept as dead letters",
        )


_instruments: _Instruments | None = None


def enabled() -> bool:
    """Whether telemetry is exported (``configure`` or ``enable`` ran)."""
    return _instruments is not None


def configure(connection_string: str | None, *, client_id: str | None = None) -> bool:
    """Export to Application Insights when ``connection_string`` is given; once per process.

    Local authentication is off on the Application Insights resource, so the exporter
    authenticates with Entra ID: the user-assigned identity ``client_id`` (else whatever
    ``DefaultAzureCredential`` finds, which on Azure reads ``AZURE_CLIENT_ID``). Returns
    whether telemetry is on. Failures are logged, never raised: telemetry must not stop
    the service.
    """
    if not connection_string:
        return enabled()
    with _lock:
        if _instruments is not None:
            return True
        try:
            from azure.monitor.opentelemetry import configure_azure_monitor
            from opentelemetry import metrics
            from opentelemetry.sdk.resources import Resource

            from shared.adapters.azure.workspace import default_credential

            configure_azure_monitor(
                connection_string=connection_string,
                credential=default_credential(client_id),
                logger_name=EXPORTED_LOGGER,
                resource=Resource.create({"service.name": SERVICE_NAME}),
                enable_live_metrics=False,
            )
            meter = metrics.get_meter(__name__)
        except Exception:
            log.exception("telemetry: Azure Monitor could not be configured; continuing without")
            return False
    enable(meter)
    log.info("telemetry: exporting decisions and metrics to Application Insights")
    return True


def enable(meter: Meter) -> None:
    """Record metrics with ``meter`` and log decisions at INFO (``configure`` calls this;
    tests pass an OpenTelemetry SDK meter with an in-memory reader)."""
    global _instruments
    _instruments = _Instruments(meter)
    decisions.setLevel(logging.INFO)


def disable() -> None:
    """Back to the no-op (tests)."""
    global _instruments
    _instruments = None
    decisions.setLevel(logging.NOTSET)


def invocation_id() -> str | None:
    """The current Functions invocation's id, read from the Python worker when it is the
    one running us (never imported here); None elsewhere."""
    for name in ("azure_functions_runtime.utils.executor", "azure_functions_worker.dispatcher"):
        variable = getattr(sys.modules.get(name), "invocation_id_cv", None)
        value = variable.get(None) if variable is not None else None
        if value:
            return str(value)
    for name in ("azure_functions_runtime.bindings.context", "azure_functions_worker.dispatcher"):
        local = getattr(sys.modules.get(name), "_invocation_id_local", None)
        value = getattr(local, "invocation_id", None)
        if value:
            return str(value)
    return None


def decision(
    *,
    model: str,
    kind: str,
    action: str,
    reason: str,
    run_key: str | None = None,
    details: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    run_started_at: datetime | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Log one ledger decision as a structured record and count it in the metrics.
    Returns the record's fields (as they reach ``customDimensions``)."""
    details = details or {}
    extra = extra or {}
    fields: dict[str, Any] = {
        "model": model,
        "kind": kind,
        "decision": action,
        "run_key": run_key or "",
        "trigger": str(extra.get("trigger") or ""),
        "version": str(details.get("version") or ""),
        "invocation_id": invocation_id() or "",
    }
    level = logging.INFO if enabled() else logging.DEBUG
    decisions.log(
        level,
        "decision %s %s: %s%s: %s",
        model,
        kind,
        action,
        f" (run {run_key})" if run_key else "",
        reason,
        extra=fields,
    )
    instruments = _instruments
    if instruments is None:
        return fields
    attributes = {"model": model}
    if kind == "trigger" and action == "retrain":
        instruments.runs_started.add(1, attributes)
    if kind == "gate" and action in GATE_PASSED | GATE_REFUSED:
        verdict = "pass" if action in GATE_PASSED else "refuse"
        instruments.gate_verdicts.add(1, {**attributes, "verdict": verdict})
    if kind in ("gate", "run") and run_started_at is not None and now is not None:
        status = "failed" if action == "failed" else "completed"
        seconds = max((now - run_started_at).total_seconds(), 0.0)
        instruments.run_duration.record(seconds, {**attributes, "status": status})
    return fields


def dead_lettered(source: str, *, retryable: bool) -> None:
    """Count one dead-lettered input (called where the service keeps a dead letter)."""
    instruments = _instruments
    if instruments is not None:
        instruments.dead_lettered.add(1, {"source": source, "retryable": str(retryable).lower()})
