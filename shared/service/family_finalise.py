"""Finalisation of a completed family run: gate, registration and promotion per series.

Reads the run's ``results/parallel_run_step.txt`` (one row per series that reached the
fit step, ``"schema": "family-result/1"``) and ``prepared/prep.json`` (which series prep
excluded, and why), then:

1. **Gate, per series**: ``shared.gate.judge`` unchanged, with the model's gate policy,
   on the row's ``gate_metrics`` (the evaluate step's metrics.json shape, schema 2),
   ``champion_present`` when the series had a champion in the run's ``champions.json``.
   A row without ``gate_metrics`` cannot be judged and is refused with that reason (fail
   closed: nothing is invented); so is a series whose champion's models file was gone
   when the run was submitted.
2. **Registration, one version per family run** (not per series): the run's ``models``
   folder, one file per shard (at most ``shard_count`` files, 64 at 5,000 series, against
   Azure ML's 1,500 files per version; one version per run against its 5,000,000 versions
   per workspace, where one per series would spend 5,000 a run). Idempotent on the run key.
3. **Promotion, per series**: a series whose gate passed moves its production pointer
   (``shared.service.family``) to this run's version only if the family and the series
   are not pinned, its pointer is still the champion it was compared with (none for a
   first model), and its data does not end before the pointer's (an older snapshot never
   replaces a newer one). All moves of the run are one compare-and-swap of the pointer
   document; a loser re-reads and re-decides each series against the newer pointers.
4. **Records**: the full verdicts in ``retrain/<key>/gate/verdicts.json``; the run record's
   ``family`` summary (trained, reused, failed with reasons, excluded by prep, missing,
   refused, promoted, registered only, worst series by error); ONE ledger entry (kind
   ``gate``) holding every series' verdict in brief; each moved series' history (its
   chain, written before the pointers move: ``shared.service.family_history``) and the
   family's history entry for the moves.

Every step is safe to repeat (a retry after a crash finds the version, sees the series
that already point at it and writes the history entry if it is missing).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.errors import InvalidInput, NotFound
from shared.gate import Check, GatePolicy, Verdict, judge
from shared.parsing import parse_time
from shared.ports import JSON, ModelVersion
from shared.service.context import Context
from shared.service.family import (
    PREP_FILE,
    REFRESHED,
    RESULTS_FILE,
    champions_path,
    change_production,
    pointer_brief,
    run_root,
)
from shared.service.family_history import Chain, record_family_entry
from shared.service.family_summary import brief, describe, summarise, verdicts_document
from shared.service.outcome import Outcome
from shared.service.promotion import GATE_ACTOR, earlier_version, gate_policy, get_pin

log = logging.getLogger(__name__)

VERDICTS_FILE = "gate/verdicts.json"
FAMILY_PROMOTED = "promoted"


SERIES_ACTIONS = ("promoted", "registered", "refused", "failed", "excluded", "missing")
"""What a family run did with each series (a verdict's ``action``)."""


@dataclass
class SeriesResult:
    """One series' fate in a family run."""

    unique_id: str
    status: str  # ok | failed | excluded | missing
    reason: str | None = None
    row: Mapping[str, Any] = field(default_factory=dict)
    verdict: Verdict | None = None
    champion: Mapping[str, Any] | None = None
    action: str = ""  # one of SERIES_ACTIONS
    why: str = ""
    refreshed: bool = False  # refused, and production now serves the champion refreshed

    @property
    def data_end(self) -> str | None:
        value = self.row.get("data_end")
        return value if isinstance(value, str) else None


def read_rows(text: str) -> tuple[dict[str, JSON], int]:
    """The result rows by series id (a later ``ok`` row wins over a ``failed`` one of the
    same series, e.g. a retried batch) and how many lines could not be read."""
    rows: dict[str, JSON] = {}
    unreadable = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            unreadable += 1
            continue
        if not isinstance(row, dict) or not isinstance(row.get("unique_id"), str):
            unreadable += 1
            continue
        uid = row["unique_id"]
        if uid in rows and rows[uid].get("status") == "ok" and row.get("status") != "ok":
            continue
        rows[uid] = row
    return rows, unreadable


def cannot_judge(reason: str, policy: GatePolicy) -> Verdict:
    """A refusal for a series the gate could not be asked about."""
    return Verdict((Check("gate_metrics", None, None, "fail", reason),), policy.describe())


def judge_series(
    row: Mapping[str, Any],
    champion: Mapping[str, Any] | None,
    missing_champion: str | None,
    policy: GatePolicy,
) -> Verdict:
    """The gate's verdict on one series' row (see the module docstring)."""
    if missing_champion is not None:
        return cannot_judge(f"cannot judge: {missing_champion}", policy)
    metrics = row.get("gate_metrics")
    if not isinstance(metrics, Mapping):
        error = row.get("gate_error")
        why = (
            f"the fit step could not compute them: {error}"
            if error
            else "a fit step without the per-series backtest and champion re-scoring"
        )
        return cannot_judge(f"cannot judge: the result row has no gate_metrics ({why})", policy)
    return judge(metrics, policy, champion_present=champion is not None)


def finalise_family(model: str, key: str, record: Mapping[str, Any], ctx: Context) -> Outcome:
    """Gate, register and promote per series the completed family run ``key``."""
    root = run_root(key)
    try:
        rows, unreadable = read_rows(
            ctx.artifacts.read_bytes(root + RESULTS_FILE).decode("utf-8", "replace")
        )
    except NotFound as exc:
        error = f"run {key} completed without per-series results: {exc}"
        ctx.update_run(key, {"status": "Failed", "error": error, "finalised": True})
        outcome = Outcome(model, "failed", error, run_key=key)
        ctx.ledger(model, "run", outcome)
        return outcome
    try:
        prep: JSON | None = ctx.artifacts.read_json(root + PREP_FILE)
    except NotFound:
        prep = None
    champions = _champions(key, record, ctx)
    policy = gate_policy(ctx, model)
    results = _series(rows, prep, champions, policy)
    trained = [r for r in results.values() if r.status == "ok"]
    if not trained:
        return _nothing_trained(model, key, results, unreadable, ctx)
    version = earlier_version(model, key, record, ctx) or _register(
        model, key, record, results, ctx
    )
    ctx.update_run(key, {"model_version": version.version})
    _promote(model, key, version, results, ctx)
    summary = summarise(results, version=version.version, unreadable=unreadable)
    summary["verdicts_uri"] = ctx.artifacts.uri(root + VERDICTS_FILE)
    ctx.artifacts.write_json(root + VERDICTS_FILE, verdicts_document(key, version, results))
    promoted = summary["promoted"]
    reason = describe(summary)
    action = "promoted" if promoted else "rejected" if not summary["passed"] else "registered"
    ctx.update_run(
        key,
        {
            "status": "Completed",
            "family": summary,
            "promoted": promoted > 0,
            "promotion": reason,
            "finalised": True,
        },
    )
    outcome = Outcome(
        model,
        action,
        reason,
        run_key=key,
        details={"version": version.version, "promoted": promoted, "refused": summary["refused"]},
    )
    ctx.ledger(model, "gate", outcome, family=summary, series=brief(results))
    log.info("%s: %s v%s: %s", model, action.upper(), version.version, reason)
    return outcome


def _champions(key: str, record: Mapping[str, Any], ctx: Context) -> JSON:
    inputs = record.get("family_inputs") or {}
    if not (inputs.get("champions") or inputs.get("champions_missing")):
        return {"series": {}}
    try:
        return ctx.artifacts.read_json(champions_path(key) + "champions.json")
    except NotFound:
        # Submitted with champions that are gone now: every such series fails closed.
        return {"series": {}, "lost": True}


def _series(
    rows: Mapping[str, JSON],
    prep: Mapping[str, Any] | None,
    champions: Mapping[str, Any],
    policy: GatePolicy,
) -> dict[str, SeriesResult]:
    results: dict[str, SeriesResult] = {}
    listed = prep.get("series") if isinstance(prep, Mapping) else None
    for entry in listed if isinstance(listed, list) else []:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("unique_id"), str):
            continue
        uid = entry["unique_id"]
        if entry.get("status") == "excluded":
            results[uid] = SeriesResult(uid, "excluded", str(entry.get("reason")))
        elif uid not in rows:
            reason = "prep passed it, but the fit step wrote no row (its shard failed for good)"
            results[uid] = SeriesResult(uid, "missing", reason)
    known = champions.get("series") or {}
    missing = champions.get("missing") or {}
    for uid, row in rows.items():
        if row.get("status") != "ok":
            results[uid] = SeriesResult(uid, "failed", str(row.get("reason")), row=row)
            continue
        champion = known.get(uid)
        lost = missing.get(uid)
        if champions.get("lost"):
            lost = "the run's champions.json is gone"
        result = SeriesResult(uid, "ok", row=row, champion=champion)
        result.verdict = judge_series(row, champion, lost, policy)
        results[uid] = result
    for result in results.values():
        if result.status != "ok":
            result.action, result.why = result.status, str(result.reason)
        elif result.verdict is not None and not result.verdict.passed:
            result.action, result.why = "refused", result.verdict.reason
    return results


def _register(
    model: str,
    key: str,
    record: Mapping[str, Any],
    results: Mapping[str, SeriesResult],
    ctx: Context,
) -> ModelVersion:
    root = run_root(key)
    folder = ctx.artifacts.uri(root + "models/")
    ok = [r for r in results.values() if r.status == "ok"]
    passed = sum(1 for r in ok if r.verdict is not None and r.verdict.passed)
    ends = [r.data_end for r in ok if r.data_end]
    tags = {
        "run_key": key,
        "family": "true",
        "gate": f"{passed} of {len(ok)} series passed",
        "series": str(len(ok)),
        "code_version": ctx.code_version,
        "model_folder": folder,
    }
    if ends:
        tags["data_end"] = max(ends)
    summary = summarise(results, version=None, unreadable=0)
    return ctx.registry.register(
        model,
        artifact_uri=folder,
        tags=tags,
        lineage={
            "run_key": key,
            "family": True,
            "model_folder": folder,
            "pipeline_run_id": record.get("pipeline_run_id"),
            "job_output": "models",
            "snapshot": record.get("snapshot"),
            "snapshot_manifest_uri": ctx.artifacts.uri(root + "snapshot.json"),
            "trigger": record.get("trigger"),
            "results_uri": ctx.artifacts.uri(root + RESULTS_FILE),
            "prep_uri": ctx.artifacts.uri(root + PREP_FILE),
            "verdicts_uri": ctx.artifacts.uri(root + VERDICTS_FILE),
            "champions_uri": ctx.artifacts.uri(champions_path(key)),
            "data_end": max(ends) if ends else None,
            "summary": {k: v for k, v in summary.items() if not isinstance(v, list)},
            # Not ``pipeline_definition_sha256``: the service hashes pipeline.yml only, and
            # this version came from family_pipeline.yml.
            "code_version": ctx.code_version,
        },
    )


def _time(value: Any) -> datetime | None:
    try:
        return parse_time(value) if isinstance(value, str) else None
    except InvalidInput:
        return None


def _identity(pointer: Any) -> tuple[str, int] | None:
    if not isinstance(pointer, Mapping) or not pointer.get("run_key"):
        return None
    return str(pointer["run_key"]), int(pointer.get("version") or 0)


def _blocked(result: SeriesResult, pointer: Any, family_pin: Any, model_pin: Any) -> str | None:
    """Why this series' pointer must not move to the run, or None."""
    if isinstance(family_pin, Mapping):
        return f"the family is pinned by {family_pin.get('by')} ({family_pin.get('reason')})"
    if isinstance(model_pin, Mapping):
        return f"production is pinned by {model_pin.get('by')} ({model_pin.get('reason')})"
    if isinstance(pointer, Mapping) and isinstance(pointer.get("pinned"), Mapping):
        pin = pointer["pinned"]
        return f"the series is pinned at v{pointer.get('version')} by {pin.get('by')}"
    operator = isinstance(pointer, Mapping) and pointer.get("by") != GATE_ACTOR
    if operator and result.row.get("reused"):  # e.g. the fit an operator rolled back from
        return (
            f"an operator ({(pointer or {}).get('by')}) set its production; a fit carried "
            "over unchanged from an earlier run does not override that"
        )
    expected = _identity(result.champion)
    current = _identity(pointer)
    if current != expected:
        before = f"v{expected[1]} ({expected[0]})" if expected else "none"
        now = f"v{current[1]} ({current[0]})" if current else "none"
        return f"its production moved from {before} to {now} since this run started"
    mine, theirs = _time(result.data_end), _time((pointer or {}).get("data_end"))
    if mine is not None and theirs is not None and mine < theirs:
        return (
            f"its data ends {mine.date()}, before production's ({theirs.date()}): an older "
            "snapshot never replaces a newer one"
        )
    return None


def _promote(
    model: str,
    key: str,
    version: ModelVersion,
    results: Mapping[str, SeriesResult],
    ctx: Context,
) -> None:
    """Move the pointers of the series that passed and refresh those refused that can be
    (one compare-and-swap, each moved series' history chain written just before it), then
    write the family's history entry (also when a repeated finalisation finds the moves
    made)."""
    candidates = [
        r for r in results.values() if r.status == "ok" and r.verdict and r.verdict.passed
    ]
    refusals = [r for r in results.values() if r.action == "refused" and _refreshed(r)]
    model_pin = get_pin(ctx, model)
    now = ctx.clock.now().isoformat()
    mine = (key, version.version)
    ends = [r.data_end for r in results.values() if r.status == "ok" and r.data_end]
    data_end = max(ends) if ends else None
    decided: dict[str, str] = {}
    chain = Chain(model, now)

    def change(document: JSON) -> bool | None:
        nonlocal chain
        decided.clear()
        chain = Chain(model, now)  # a fresh one per attempt (see family_history)
        series = document.setdefault("series", {})
        where = {"family_pin": document.get("pinned"), "model_pin": model_pin}
        for result in candidates:
            target = {"model_file": result.row.get("model_file"), "data_end": result.data_end}
            decided[result.unique_id] = _move(series, result, target, mine, now, **where)
            if decided[result.unique_id] == "moved":
                moved = {"from": series[result.unique_id]["previous"]}
                chain.add(document, result.unique_id, moved, _promoted(result, version))
        for result in refusals:
            fresh = _refreshed(result) or {}
            target = {
                "model_file": fresh.get("model_file"),
                "key": REFRESHED,
                "data_end": fresh.get("data_end"),
            }
            decided[result.unique_id] = _move(series, result, target, mine, now, **where)
            if decided[result.unique_id] == "moved":
                moved = {"from": series[result.unique_id]["previous"], "refreshed": True}
                reason = result.why + _refresh_words(result, version)
                chain.add(document, result.unique_id, moved, reason)
        last = document.get("last_completed")
        if _newer_than(data_end, last) and (last or {}).get("run_key") != key:
            document["last_completed"] = {
                "run_key": key,
                "version": version.version,
                "data_end": data_end,
                "at": now,
            }
            return True
        return True if "moved" in decided.values() else None

    def before_write(document: JSON) -> None:
        if chain.moves:
            refreshed = sum(1 for m in chain.moves.values() if m["series_change"].get("refreshed"))
            chain.write(ctx, _promoted_entry(key, version, len(chain.moves), refreshed))

    document, written = change_production(ctx, model, change, before_write=before_write)
    if written is not None:
        chain.settle(ctx)  # the swap named this chain: its pending marker goes
    for result in refusals:
        what = decided.get(result.unique_id, "")
        if what in ("moved", "already"):
            result.why += _refresh_words(result, version)
            result.refreshed = True
        else:
            result.why += f"; not refreshed: {what}"
    refreshable = {r.unique_id for r in refusals}
    for result in results.values():
        if result.action == "refused" and result.champion and result.unique_id not in refreshable:
            result.why += "; not refreshed: the fit step kept no refreshed champion for it"
    for result in candidates:
        what = decided.get(result.unique_id, "")
        gate = result.verdict.reason if result.verdict is not None else ""
        if what in ("moved", "already"):
            result.action, result.why = "promoted", _promoted(result, version)
        else:
            result.action, result.why = "registered", f"{gate}; registered only: {what}"
    _ensure_history(model, key, version, document, ctx)


def _promoted(result: SeriesResult, version: ModelVersion) -> str:
    gate = result.verdict.reason if result.verdict is not None else ""
    return f"{gate}; production -> v{version.version}"


def _refresh_words(result: SeriesResult, version: ModelVersion) -> str:
    old = _identity(result.champion)
    return (
        f"; production refreshed: v{old[1] if old else '?'}'s parameters applied to "
        f"this run's data (v{version.version}, {REFRESHED})"
    )


def _promoted_entry(key: str, version: ModelVersion, moved: int, refreshed: int) -> JSON:
    """What the history entry of a run's moves says (the family's and each series')."""
    reason = f"{moved - refreshed} series passed the gate against their own champions"
    if refreshed:
        reason += (
            f"; {refreshed} refused series now served by their champion refreshed on "
            "this run's data (its parameters, the state brought up to date)"
        )
    return {
        "action": FAMILY_PROMOTED,
        "by": GATE_ACTOR,
        "reason": reason,
        "from_version": None,
        "to_version": version.version,
        "run_key": key,
        "family": True,
    }


def _move(
    series: JSON,
    result: SeriesResult,
    target: JSON,
    mine: tuple[str, int],
    now: str,
    *,
    family_pin: Any,
    model_pin: Any,
) -> str:
    """Point ``result``'s series at ``target`` (a record of this run's version ``mine``:
    its fit, or with ``key`` "refreshed" its champion refreshed) unless it must not move;
    returns "moved", "already" (a repeat found it done) or why not. A refresh also needs a
    production model whose data this run's is more recent than."""
    pointer = series.get(result.unique_id)
    if _identity(pointer) == mine:
        return "already"
    why = _blocked(result, pointer, family_pin, model_pin)
    refresh = target.get("key") == REFRESHED
    if why is None and refresh:
        if not isinstance(pointer, Mapping):
            why = "it has no production model"
        elif not _later(target.get("data_end"), pointer.get("data_end")):
            why = "production's data is as recent as this run's"
    if why is not None:
        return why
    series[result.unique_id] = {
        "version": mine[1],
        "run_key": mine[0],
        **target,
        "since": now,
        "by": GATE_ACTOR,
        "pinned": None,
        "previous": pointer_brief(pointer),
    }
    if refresh and isinstance(pointer, Mapping):
        series[result.unique_id]["refreshed_from"] = {
            k: pointer.get(k) for k in ("version", "run_key", "key")
        }
    return "moved"


def _refreshed(result: SeriesResult) -> Mapping[str, Any] | None:
    """The fit step's refreshed champion of a refused series (its stored parameters applied
    to this run's data, kept in the run's models file under ``refreshed``), or None."""
    if result.champion is None:
        return None
    gate = result.row.get("gate_metrics")
    fresh = gate.get("champion_refreshed") if isinstance(gate, Mapping) else None
    if not isinstance(fresh, Mapping) or fresh.get("key") != REFRESHED:
        return None
    return fresh if isinstance(fresh.get("model_file"), str) and fresh["model_file"] else None


def _later(mine: Any, theirs: Any) -> bool:
    """Whether data ending ``mine`` is more recent than ``theirs`` (unknown: not)."""
    a, b = _time(mine), _time(theirs)
    return a is not None and (b is None or a > b)


def _newer_than(data_end: str | None, last: Any) -> bool:
    """Whether a run whose data ends ``data_end`` may become the family's last completed
    run (the next run's ``previous``) instead of ``last``."""
    if not isinstance(last, Mapping):
        return True
    mine, theirs = _time(data_end), _time(last.get("data_end"))
    if theirs is None:
        return True
    return mine is not None and mine >= theirs


def _ensure_history(
    model: str,
    key: str,
    version: ModelVersion,
    document: Mapping[str, Any],
    ctx: Context,
) -> None:
    """Write the family's history entry for the pointers the gate moved to this run's
    version (each series' own entries were written before the move:
    ``shared.service.family_history``), create-only at a name made of the move's time
    and the run key, so a repeated finalisation writes it if an earlier attempt did not,
    and never twice, without reading the history."""
    moves: dict[str, dict[str, JSON]] = {}  # the moves' time -> series -> change
    for uid, pointer in (document.get("series") or {}).items():
        if (
            isinstance(pointer, Mapping)
            and pointer.get("run_key") == key
            and pointer.get("version") == version.version
            and pointer.get("by") == GATE_ACTOR
            and isinstance(pointer.get("since"), str)
        ):
            change: JSON = {"from": pointer.get("previous")}
            if pointer.get("key") == REFRESHED:
                change["refreshed"] = True
            moves.setdefault(pointer["since"], {})[uid] = change
    for at, moved in sorted(moves.items()):
        refreshed = sum(1 for entry in moved.values() if entry.get("refreshed"))
        record_family_entry(
            ctx,
            model,
            at=at,
            tag=f"{FAMILY_PROMOTED}:{key}",
            entry=_promoted_entry(key, version, len(moved), refreshed),
            series=moved,
        )


def _nothing_trained(
    model: str, key: str, results: Mapping[str, SeriesResult], unreadable: int, ctx: Context
) -> Outcome:
    summary = summarise(results, version=None, unreadable=unreadable)
    reason = f"run {key} trained no series: {describe(summary)}"
    ctx.update_run(
        key,
        {
            "status": "Completed",
            "family": summary,
            "promoted": False,
            "promotion": reason,
            "error": reason,
            "finalised": True,
        },
    )
    outcome = Outcome(model, "failed", reason, run_key=key)
    ctx.ledger(model, "gate", outcome, family=summary, series=brief(results))
    return outcome
