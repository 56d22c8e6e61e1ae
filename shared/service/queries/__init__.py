"""Read-only views for the HTTP API and the local tools, one module per subject:

- ``runs``: one run, a model's runs (summaries with step progress), steps, logs,
  artifacts, report, plot;
- ``versions``: the model list, versions, promotion history, a version's detail, two
  versions compared;
- ``ledger``: a model's decisions, paged;
- ``inbox``: dead letters and quarantined files;
- ``common``: what they share (reading a few documents at a time, the time index that
  pages a listing, page checks).

Every public name is importable from here, as before the split.
"""

from __future__ import annotations

from shared.service.queries.common import MAX_PAGE
from shared.service.queries.inbox import (
    get_dead_letter,
    get_quarantined,
    list_dead_letters,
    list_quarantine,
    model_of_blob,
)
from shared.service.queries.ledger import LEDGER_MARGIN, list_ledger
from shared.service.queries.runs import (
    MAX_LOG_LINES,
    family_counts,
    get_run,
    list_run_summaries,
    list_runs,
    run_artifacts,
    run_links,
    run_plot,
    run_report,
    run_steps,
    run_summary,
    step_log,
)
from shared.service.queries.versions import (
    compare_versions,
    list_history,
    list_models,
    list_versions,
    version_detail,
    version_report,
)

__all__ = [
    "LEDGER_MARGIN",
    "MAX_LOG_LINES",
    "MAX_PAGE",
    "compare_versions",
    "family_counts",
    "get_dead_letter",
    "get_quarantined",
    "get_run",
    "list_dead_letters",
    "list_history",
    "list_ledger",
    "list_models",
    "list_quarantine",
    "list_run_summaries",
    "list_runs",
    "list_versions",
    "model_of_blob",
    "run_artifacts",
    "run_links",
    "run_plot",
    "run_report",
    "run_steps",
    "run_summary",
    "step_log",
    "version_detail",
    "version_report",
]
