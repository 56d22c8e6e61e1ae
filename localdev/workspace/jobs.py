"""Job records of the local workspace: job names, the ``job.json`` document, its file.

``jobs/<run id>/job.json`` is a run's whole state (status, inputs, steps, outputs), written
atomically, read by any process that serves or watches the folder.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from localdev.workspace.definition import PipelineDefinition
from shared.errors import PipelineError
from shared.ports import PipelineRun, PipelineSubmission

# Azure ML job names: letters, digits, '-' and '_', starting with a letter or digit.
_JOB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")


class RunFailed(PipelineError):
    """A run failed; the message says which step or input and why."""


def experiment_id(experiment_name: str) -> str:
    """A stable id for an experiment name (Azure ML assigns a GUID per experiment)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"azureml://experiments/{experiment_name}"))


def utc_now() -> str:
    return datetime.now(UTC).isoformat()


def new_record(
    run_id: str, submission: PipelineSubmission, definition: PipelineDefinition
) -> dict[str, Any]:
    """A queued run's ``job.json``."""
    return {
        "run_id": run_id,
        "run_key": submission.run_key,
        "model": submission.model,
        "experiment": submission.experiment,
        "tags": dict(submission.tags),
        "inputs": dict(submission.inputs),
        "pipeline": str(definition.path),
        "pipeline_name": submission.pipeline,
        "pipeline_sha256": definition.sha256,
        "status": "Queued",
        "error": None,
        "outputs": {},
        "submitted_at": utc_now(),
        "started_at": None,
        "finished_at": None,
        "duration_s": None,
        "steps": {
            step.name: {"status": "NotStarted", "reused": False} for step in definition.steps
        },
    }


def to_run(record: Mapping[str, Any]) -> PipelineRun:
    """The port's view of a job record."""
    return PipelineRun(
        run_id=str(record["run_id"]),
        run_key=str(record["run_key"]),
        status=str(record["status"]),
        outputs=dict(record.get("outputs") or {}),
        error=record.get("error"),
    )


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from ``path``; None when it is missing, unreadable or not an object."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def write_json_atomically(path: Path, document: Mapping[str, Any]) -> None:
    """Write ``document`` to ``path`` so that readers see the old or the new file, whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    temporary.write_text(json.dumps(document, indent=2, default=str), encoding="utf-8")
    os.replace(temporary, path)
