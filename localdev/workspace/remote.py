"""A workspace process serving a folder (``python -m localdev.workspace.server``): finding
it and handing it a submission, so jobs outlive whoever submitted them."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

from localdev.workspace.jobs import read_json, to_run
from shared.errors import PipelineError
from shared.ports import PipelineRun, PipelineSubmission

SERVER_FILE = "server.json"


def live_server(root: Path) -> str | None:
    """The URL of the workspace process serving ``root``, if one answers."""
    document = read_json(Path(root) / SERVER_FILE)
    url = document.get("url") if document else None
    if not isinstance(url, str):
        return None
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            response.read()
    except (OSError, urllib.error.URLError):
        return None
    return url


def submit_to(url: str, submission: PipelineSubmission) -> PipelineRun:
    """Hand ``submission`` to the workspace process at ``url``."""
    body = json.dumps(
        {
            "run_key": submission.run_key,
            "model": submission.model,
            "inputs": dict(submission.inputs),
            "tags": dict(submission.tags),
            "experiment": submission.experiment,
            "pipeline": submission.pipeline,
        }
    ).encode()
    request = urllib.request.Request(
        f"{url}/jobs", data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            record = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise PipelineError(
            f"the local workspace at {url} refused run {submission.run_key}: "
            f"{exc.read().decode('utf-8', 'replace')[:500]}"
        ) from None
    except OSError as exc:
        raise PipelineError(f"the local workspace at {url} is unreachable: {exc}") from None
    return to_run(record)
