"""What every part of the settings shares: the app's folder, the placeholder check,
NCRONTAB and folder checks."""

from __future__ import annotations

import os
import re
from pathlib import Path

APP_ROOT = Path(__file__).resolve().parent.parent.parent
MODEL_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}$")
# A value still holding an example's placeholder ("<your-workspace>", "changeme") is a problem.
PLACEHOLDER = re.compile(r"^(<.*>|changeme|todo|xxx+)$", re.IGNORECASE)
BACKENDS = ("local", "azureml")
INVOKE_FORMS = ("batch_endpoint", "v1_pipeline_endpoint")
# Set by the platform in a deployed Function App (never by the local host or Core Tools).
AZURE_HOST_MARKERS = ("WEBSITE_INSTANCE_ID",)


def check_ncrontab(name: str, expression: str, problems: list[str]) -> None:
    from croniter import croniter

    fields = expression.split()
    if len(fields) != 6:
        problems.append(
            f"{name}={expression!r} must be an NCRONTAB expression with six fields "
            "(second minute hour day month day-of-week), e.g. '0 0 3 * * *'"
        )
    elif not croniter.is_valid(expression, second_at_beginning=True):
        problems.append(f"{name}={expression!r} is not a valid NCRONTAB expression")


def check_writable(name: str, folder: Path, problems: list[str]) -> None:
    """The folder exists (or can be made) and this process may write in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        problems.append(f"{name}={str(folder)!r} cannot be created: {exc.strerror or exc}")
        return
    if not os.access(folder, os.W_OK):
        problems.append(f"{name}={str(folder)!r} is not writable by this process")
