"""Recording the checks of queued files in the policy state (pure).

With ``check_on_arrival: false`` an arrival waits in ``pending`` with ``rows`` UNCHECKED
until its file is checked. The sweep checks such files a page at a time before their
launch, and a launch with more than a page of them checks one page and defers; either
way the results are kept in the state, so no file is read twice and the next try goes on
from where the last one stopped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from shared.policy.batch import etag_of
from shared.policy.engine import RECENT, UNCHECKED, ModelState, Request, Seen


def version_of(request: Request) -> tuple[str, str]:
    """The blob version a request names, as compared (``etag_of``)."""
    return str(request.blob), etag_of(str(request.etag))


def unchecked(requests: Sequence[Request]) -> list[Request]:
    """The arrivals among ``requests`` whose file is still to be checked, in order."""
    return [
        r for r in requests if r.kind == "arrival" and r.rows == UNCHECKED and r.blob and r.etag
    ]


def apply_checks(
    state: ModelState,
    results: Mapping[tuple[str, str], int | None],
    quarantined: Sequence[Seen] = (),
) -> ModelState:
    """``state`` with check results recorded in its pending requests: ``results`` maps a
    blob version to its data rows, or to None when it leaves the queue (its file failed
    its check, or is gone). Only requests still unchecked change (another instance may have
    launched or replaced them meanwhile); ``quarantined`` versions are remembered in
    ``recent`` (a redelivery of their event is then a duplicate)."""
    pending: list[Request] = []
    changed = False
    for r in state.pending:
        version = version_of(r) if r.kind == "arrival" and r.rows == UNCHECKED else None
        if version is not None and version in results:
            rows = results[version]
            changed = True
            if rows is None:
                continue
            r = dataclasses.replace(r, rows=rows)
        pending.append(r)
    if not changed and not quarantined:
        return state
    recent = (*state.recent, *quarantined)[-RECENT:] if quarantined else state.recent
    return dataclasses.replace(state, pending=tuple(pending), recent=recent)
