"""Read-only views for the HTTP API and the local tools."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from shared.errors import ConflictError, InvalidInput, NotFound
from shared.parsing.common import check_run_key, parse_time
from shared.ports import JSON, ModelVersion, PipelineStep, RunInspector
from shared.service import audit
from shared.service.context import Context, expand_ledger
from shared.service.family import read_production
from shared.service.policystate import policy_key
from shared.service.promotion import PRODUCTION, get_pin
from shared.service.promotion import list_history as _history

log = logging.getLogger(__name__)

# Ledger entries read at once: each is one blob read, the page's cost.
_LEDGER_READERS = 8


# A page of runs or dead letters: each is one blob read.
MAX_PAGE = 500
# What a run key adds to its model's name: the snapshot id, then the attempt.
_RUN_SUFFIX = re.compile(r"[0-9a-f]{16}(?:-r[0-9]+)?")
# Dead letters listed keep this much of their payload (the full one: get_dead_letter).
_PREVIEW = 200


def _read_all(ctx: Context, keys: list[str]) -> list[JSON | None]:
    """The documents at ``keys`` in order (None for one gone meanwhile), a few at a time."""

    def read(key: str) -> JSON | None:
        try:
            return ctx.state.get(key)[0]
        except NotFound:
            return None

    if len(keys) <= 1:
        return [read(key) for key in keys]
    with ThreadPoolExecutor(min(_LEDGER_READERS, len(keys))) as pool:
        return list(pool.map(read, keys))


def _stamp(value: Any) -> str:
    """A record's time as a fixed-width UTC name part that sorts as the time does."""
    try:
        moment = parse_time(value)
    except InvalidInput:
        moment = None
    return "00000000T000000000000Z" if moment is None else f"{moment:%Y%m%dT%H%M%S%fZ}"


def _newest(
    ctx: Context,
    index: str,
    items: Mapping[str, str],
    time_of: Callable[[JSON], Any],
    limit: int,
) -> list[tuple[str, JSON]]:
    """The ``limit`` newest of ``items`` (id -> state key), newest first, through
    a time index kept under ``index`` (``<index><UTC time>~<id>.json``, one empty-ish
    document per item, whose NAME orders it).

    The records' own keys do not sort by time (a run key is a data hash), so the first
    listing that meets an item reads its record once and indexes it (create-if-absent:
    concurrent listings agree); after that a page costs two listings of names and one
    read per item returned, whatever the history's length. Index entries of records no
    longer listed are ignored, and deleted when a page meets one whose record is gone.
    """
    if limit <= 0:
        return []
    indexed: dict[str, str] = {}
    for key in ctx.state.list_keys(index):
        name = key.removeprefix(index).removesuffix(".json")
        item = name.partition("~")[2]
        if item in items:
            indexed[item] = key
    fresh: dict[str, JSON] = {}
    missing = [item for item in items if item not in indexed]
    for item, record in zip(missing, _read_all(ctx, [items[i] for i in missing]), strict=True):
        if record is None:
            continue
        key = f"{index}{_stamp(time_of(record))}~{item}.json"
        with contextlib.suppress(ConflictError):
            ctx.state.create(key, {"id": item, "key": items[item]})
        indexed[item] = key
        fresh[item] = record
    page = sorted(indexed.items(), key=lambda pair: pair[1], reverse=True)[:limit]
    wanted = [item for item, _ in page if item not in fresh]
    read = dict(zip(wanted, _read_all(ctx, [items[i] for i in wanted]), strict=True))
    found: list[tuple[str, JSON]] = []
    for item, key in page:
        record = fresh.get(item) or read.get(item)
        if record is None:
            ctx.state.delete(key)
            continue
        found.append((item, record))
    return found


def _known_run_key(run_key: str) -> str:
    """The run key, or NotFound when it cannot be one (it never reaches storage)."""
    try:
        return check_run_key(run_key)
    except InvalidInput as exc:
        raise NotFound(str(exc)) from None


def get_run(ctx: Context, run_key: str) -> JSON:
    return ctx.state.get(f"runs/{_known_run_key(run_key)}.json")[0]


def list_models(ctx: Context) -> list[JSON]:
    return [
        {
            "name": m.name,
            "prefix": m.prefix,
            "frequency": m.frequency,
            "horizon": m.horizon,
            "production_version": ctx.registry.get_alias(m.name, PRODUCTION).version,
            "pinned": get_pin(ctx, m.name) is not None,
            "gate_policy": m.gate_policy(ctx.gate).describe(),
            **(_family_brief(ctx, m.name, m.series_columns) if m.series_columns else {}),
        }
        for m in ctx.models.values()
    ]


def _family_brief(ctx: Context, model: str, columns: tuple[str, ...]) -> JSON:
    """A family's line in the model list: its series columns and how many series are in
    production (the registry alias is not used for families: ``shared.service.family``)."""
    document, _ = read_production(ctx, model)
    return {
        "series_columns": list(columns),
        "series_in_production": len(document.get("series") or {}),
        "family_pinned": document.get("pinned") is not None,
    }


def list_versions(ctx: Context, model: str) -> list[JSON]:
    if model not in ctx.models:
        raise NotFound(f"unknown model {model!r}")
    production = ctx.registry.get_alias(model, PRODUCTION).version
    return [
        {
            "version": v.version,
            "created_at": v.created_at,
            "tags": dict(v.tags),
            "artifact_uri": v.artifact_uri,
            "production": v.version == production,
            "mase": _backtest_mase(v.lineage.get("metrics")),
            "report_url": f"/api/models/{model}/versions/{v.version}/report",
        }
        for v in ctx.registry.list_versions(model)
    ]


def list_ledger(ctx: Context, model: str, *, limit: int | None = None) -> list[JSON]:
    """The model's decisions, oldest first; with ``limit``, only the newest ones.

    One listing of the names, then one read per record returned (a few at a time), so a
    page costs its own size, whatever the history's. A record holding several decisions
    (``decisions``) is read as each of them (``limit`` counts decisions, and may read
    fewer of them than records hold).
    """
    if model not in ctx.models:
        raise NotFound(f"unknown model {model!r}")
    listed = ctx.state.list_keys(f"ledger/{model}/")
    keys = listed
    if limit is not None:
        keys = keys[-limit:] if limit > 0 else []
    if len(keys) <= 1:
        records = [ctx.state.get(key)[0] for key in keys]
    else:
        with ThreadPoolExecutor(min(_LEDGER_READERS, len(keys))) as pool:
            records = list(pool.map(lambda key: ctx.state.get(key)[0], keys))
    if limit is None or limit > 0:
        records += _journaled(ctx, model, listed, dict(zip(keys, records, strict=True)))
    entries = expand_ledger(records)
    return entries[-limit:] if limit is not None and limit > 0 else entries


def _journaled(ctx: Context, model: str, listed: list[str], read: Mapping[str, JSON]) -> list[JSON]:
    """The records of the model's ledger journal not yet moved into the ledger (decisions
    the arrival path wrote with the policy state, ``shared/service/decisions.py``), so a
    reader sees every decision at once. A journal entry is in the ledger when its key is
    listed or a listed record made from the journal names it (a flush writes one record
    under its first entry's key); reading the head and those records costs the journal's
    size, not the ledger's."""
    try:
        head = ctx.state.get(policy_key(model))[0]
    except NotFound:
        return []
    journal = [j for j in head.get("journal") or () if isinstance(j, Mapping) and "key" in j]
    if not journal:
        return []
    keys = {str(j["key"]) for j in journal}
    done: set[str] = set()
    for key in listed:
        if key in keys:
            record = read[key] if key in read else ctx.state.get(key)[0]
            done |= {str(k) for k in record.get("journal") or ()} | {key}
    return [dict(j["record"]) for j in journal if str(j["key"]) not in done]


def _backtest_mase(metrics: Any) -> Any:
    """The candidate's backtest MASE (schema 2), or its holdout MASE (older metrics)."""
    candidate = metrics.get("candidate") if isinstance(metrics, dict) else None
    if not isinstance(candidate, dict):
        return None
    backtest = candidate.get("backtest")
    return backtest.get("mase") if isinstance(backtest, dict) else candidate.get("mase")


def list_history(ctx: Context, model: str) -> JSON:
    """The model's promotion history (alias moves, pins), oldest first, and its pin."""
    if model not in ctx.models:
        raise NotFound(f"unknown model {model!r}")
    return {
        "model": model,
        "production_version": ctx.registry.get_alias(model, PRODUCTION).version,
        "pin": get_pin(ctx, model),
        "history": _history(ctx, model),
    }


def run_report(ctx: Context, run_key: str) -> str:
    return audit.run_report(ctx, _known_run_key(run_key))


def version_report(ctx: Context, model: str, version: int) -> str:
    if model not in ctx.models:
        raise NotFound(f"unknown model {model!r}")
    return audit.version_report(ctx, model, version)


def _check_page(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be a whole number from 0 to {MAX_PAGE}, got {limit!r}")
    return limit


def list_runs(ctx: Context, model: str, *, limit: int = 50) -> list[JSON]:
    """The model's runs, newest first (by the record's ``created_at``): each run record
    with its ``run_key``. At most ``limit`` (0 to ``MAX_PAGE``); a page costs two listings
    of names and one read per run returned (the time index ``index/runs/<model>/``, see
    ``_newest``)."""
    if model not in ctx.models:
        raise NotFound(f"unknown model {model!r}")
    _check_page(limit)
    base = f"runs/{model}-"
    keys = {
        key.removeprefix("runs/").removesuffix(".json"): key
        for key in ctx.state.list_keys(base)
        if _RUN_SUFFIX.fullmatch(key.removeprefix(base).removesuffix(".json"))
    }
    page = _newest(ctx, f"index/runs/{model}/", keys, lambda r: r.get("created_at"), limit)
    return [{**record, "run_key": run_key} for run_key, record in page]


def _dead_letter_id(key: str) -> str:
    """``<source>/<digest>`` of ``deadletter/<source>/<digest>.json``."""
    return key.removeprefix("deadletter/").removesuffix(".json")


def list_dead_letters(ctx: Context, *, limit: int = 50) -> list[JSON]:
    """Inputs that could not be processed, newest first (by ``received_at``), at most
    ``limit``: each with its ``id`` (``<source>/<digest>``, for get/replay) and a preview
    of its payload instead of the payload (``get_dead_letter`` has it all)."""
    _check_page(limit)
    keys = {_dead_letter_id(key): key for key in ctx.state.list_keys("deadletter/")}
    page = _newest(ctx, "index/deadletter/", keys, lambda r: r.get("received_at"), limit)
    return [_dead_letter_summary(item, record) for item, record in page]


def _dead_letter_summary(item: str, record: JSON) -> JSON:
    summary = {k: v for k, v in record.items() if k not in ("payload", "payload_base64")}
    payload = record.get("payload")
    if payload is None and record.get("payload_base64") is not None:
        payload = "(binary, base64) " + str(record["payload_base64"])
    summary["payload_preview"] = None if payload is None else str(payload)[:_PREVIEW]
    summary["replays"] = len(record.get("replays") or [])
    return {"id": item, **summary}


def get_dead_letter(ctx: Context, dead_letter_id: str) -> JSON:
    """One dead letter in full (its payload verbatim), with its ``id``; NotFound if absent."""
    source, _, digest = dead_letter_id.partition("/")
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,128}", source) or not re.fullmatch(
        r"[0-9a-f]{8,64}", digest
    ):
        raise NotFound(f"no dead letter {dead_letter_id[:200]!r}")
    record = ctx.state.get(f"deadletter/{source}/{digest}.json")[0]
    return {"id": dead_letter_id, **record}


def model_of_blob(ctx: Context, blob: str) -> str | None:
    """The configured model whose data prefix holds ``blob`` (the longest prefix wins)."""
    owners = [m for m in ctx.models.values() if blob.startswith(m.prefix)]
    return max(owners, key=lambda m: len(m.prefix)).name if owners else None


def get_quarantined(ctx: Context, blob: str) -> JSON:
    """One quarantined file's record with its model; NotFound when it is not quarantined."""
    try:
        record = ctx.state.get(f"quarantine/{blob}.json")[0]
    except (NotFound, InvalidInput, ValueError):
        raise NotFound(f"{blob[:200]!r} is not quarantined") from None
    return {**record, "model": model_of_blob(ctx, str(record.get("blob", "")))}


def list_quarantine(ctx: Context) -> list[JSON]:
    """Quarantined data files, newest first (by ``at``): each record (``blob``,
    ``etag``, ``reason``, ``at``) with the ``model`` whose prefix holds it (None when no
    configured model does any more). One read per file: quarantine stays small."""
    keys = ctx.state.list_keys("quarantine/")
    records = [r for r in _read_all(ctx, keys) if r is not None]
    listed = [{**r, "model": model_of_blob(ctx, str(r.get("blob", "")))} for r in records]
    return sorted(listed, key=lambda r: _stamp(r.get("at")), reverse=True)


# ------------------------------------------------------------------ runs in detail

# The most log lines one request returns.
MAX_LOG_LINES = 2000
_ARTIFACTS = {
    "snapshot": "snapshot.json",
    "prepared": "prepared/",
    "model": "model/",
    "metrics": "metrics/metrics.json",
    "forecast_plot_svg": "metrics/forecast.svg",
    "forecast_plot_png": "metrics/forecast.png",
}


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _inspector(ctx: Context) -> RunInspector | None:
    if ctx.inspector is not None:
        return ctx.inspector
    return ctx.pipeline if isinstance(ctx.pipeline, RunInspector) else None


def _step_json(step: PipelineStep) -> JSON:
    return dataclasses.asdict(step)


# Step states that may still change (a finalised run's NotStarted steps never will).
_ACTIVE_STEP = frozenset(
    {"Running", "Queued", "Preparing", "Starting", "Provisioning", "Finalizing", "CancelRequested"}
)
_STEP_FIELDS = frozenset(f.name for f in dataclasses.fields(PipelineStep))


def _steps_of(ctx: Context, record: JSON) -> list[PipelineStep] | None:
    """The run's steps from the backend; None when it cannot say (no job yet, a backend
    without ``RunInspector``, the job unknown to it, or the backend failing: logged).

    A finalised run's steps no longer change: the first answer whose steps have all
    ended is kept under ``index/steps/<run key>.json`` and read from there after, so a
    list of finished runs costs one state read per run, not backend calls.
    """
    inspector, run_id = _inspector(ctx), record.get("pipeline_run_id")
    if inspector is None or not run_id:
        return None
    cache = f"index/steps/{record.get('run_key')}.json"
    if record.get("finalised"):
        with contextlib.suppress(NotFound):
            kept = ctx.state.get(cache)[0].get("steps") or []
            return [PipelineStep(**{k: v for k, v in s.items() if k in _STEP_FIELDS}) for s in kept]
    try:
        steps = inspector.get_steps(str(run_id))
    except NotFound:
        return None
    except Exception as exc:  # a listing must not fail for one run's backend trouble
        log.warning("the steps of run %s could not be read: %s", record.get("run_key"), exc)
        return None
    ended = not any(s.status in _ACTIVE_STEP for s in steps)
    if record.get("finalised") and steps and ended:
        with contextlib.suppress(ConflictError):
            ctx.state.create(cache, {"steps": [_step_json(s) for s in steps]})
    return steps


def _elapsed(ctx: Context, record: JSON) -> float | None:
    """Seconds from the run record's creation to its last change (to now while open)."""
    try:
        start = parse_time(record.get("created_at"))
        end = parse_time(record.get("updated_at")) if record.get("finalised") else ctx.clock.now()
    except InvalidInput:
        return None
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 3)


def run_summary(ctx: Context, record: JSON, steps: list[PipelineStep] | None) -> JSON:
    """What a list of runs shows for one: status, trigger, outcome, elapsed time and
    step progress (``steps`` None: the backend cannot say)."""
    gate = _mapping(record.get("gate"))
    trigger = _mapping(record.get("trigger"))
    progress = None
    if steps is not None:
        progress = {
            "total": len(steps),
            "completed": sum(s.status == "Completed" for s in steps),
            "running": [s.name for s in steps if s.status == "Running"],
            "failed": [s.name for s in steps if s.status == "Failed"],
            "durations_s": {s.name: s.duration_s for s in steps},
        }
    key = str(record.get("run_key"))
    return {
        "run_key": key,
        "model": record.get("model"),
        "status": record.get("status"),
        "finalised": bool(record.get("finalised")),
        "created_at": record.get("created_at"),
        "updated_at": record.get("updated_at"),
        "elapsed_s": _elapsed(ctx, record),
        "trigger": trigger.get("kind"),
        "trigger_reason": trigger.get("reason"),
        "pipeline_run_id": record.get("pipeline_run_id"),
        "model_version": record.get("model_version"),
        "promoted": record.get("promoted"),
        "gate_passed": gate.get("passed") if gate else None,
        "family": family_counts(record.get("family")),
        "error": record.get("error"),
        "steps": progress,
        "links": run_links(key),
    }


def family_counts(summary: Any) -> JSON | None:
    """A family run's counts for a list of runs, and its worst series by error (None for
    a single-series run)."""
    if not isinstance(summary, dict):
        return None
    keys = (
        "series_total",
        "trained",
        "promoted",
        "refused",
        "registered_only",
        "failed",
        "excluded",
        "missing",
    )
    worst = summary.get("worst")
    first = worst[0] if isinstance(worst, list) and worst else None
    return {k: summary.get(k) for k in keys} | {"worst": first}


def run_links(run_key: str) -> JSON:
    """The API's pages about one run."""
    return {
        "run": f"/api/runs/{run_key}",
        "steps": f"/api/runs/{run_key}/steps",
        "artifacts": f"/api/runs/{run_key}/artifacts",
        "report": f"/api/runs/{run_key}/report",
        "plot": f"/api/runs/{run_key}/plot",
    }


def list_run_summaries(ctx: Context, model: str, *, limit: int = 50) -> list[JSON]:
    """``list_runs`` as summaries with step progress (one backend question per run)."""
    records = list_runs(ctx, model, limit=limit)
    return [run_summary(ctx, record, _steps_of(ctx, record)) for record in records]


def _check_lines(lines: int) -> int:
    if isinstance(lines, bool) or not isinstance(lines, int) or not 0 <= lines <= MAX_LOG_LINES:
        raise InvalidInput(f"lines must be a whole number from 0 to {MAX_LOG_LINES}")
    return lines


def run_steps(ctx: Context, run_key: str, *, lines: int = 20) -> JSON:
    """The run's steps as the backend reports them, each with the last ``lines`` lines of
    its log; ``available`` False (and no steps) when the backend cannot say."""
    _check_lines(lines)
    record = get_run(ctx, run_key)
    steps = _steps_of(ctx, record)
    inspector = _inspector(ctx)
    listed: list[JSON] = []
    for step in steps or []:
        tail: list[str] = []
        if inspector is not None and lines:
            with contextlib.suppress(NotFound):
                tail = inspector.get_log_tail(
                    str(record["pipeline_run_id"]), step.name, lines=lines
                )
        listed.append({**_step_json(step), "log_tail": tail})
    return {
        "run_key": run_key,
        "status": record.get("status"),
        "pipeline_run_id": record.get("pipeline_run_id"),
        "available": steps is not None,
        "steps": listed,
    }


def step_log(ctx: Context, run_key: str, step: str, *, lines: int = 200) -> JSON:
    """The last ``lines`` lines of one step's log; NotFound when the backend cannot say."""
    _check_lines(lines)
    record = get_run(ctx, run_key)
    inspector, run_id = _inspector(ctx), record.get("pipeline_run_id")
    if inspector is None or not run_id:
        raise NotFound(f"run {run_key} has no step logs the backend can give")
    tail = inspector.get_log_tail(str(run_id), step, lines=lines)
    return {"run_key": run_key, "step": step, "lines": tail}


def run_artifacts(ctx: Context, run_key: str) -> JSON:
    """Where the run's inputs and outputs are in the artifact datastore (URIs as the
    pipeline takes them) and its audit report."""
    record = get_run(ctx, run_key)
    base = f"retrain/{run_key}/"
    return {
        "run_key": run_key,
        "status": record.get("status"),
        "artifacts": {name: ctx.artifacts.uri(base + path) for name, path in _ARTIFACTS.items()},
        "links": run_links(run_key),
    }


def run_plot(ctx: Context, run_key: str) -> tuple[bytes, str]:
    """The run's forecast plot and its media type (the SVG titled with the gate's verdict
    once finalised, else the PNG); NotFound when the run wrote none."""
    found = audit.run_plot(ctx, get_run(ctx, run_key))
    if found is None:
        raise NotFound(f"run {run_key} wrote no forecast plot")
    return found


# ------------------------------------------------------------------ versions


def _version(ctx: Context, model: str, version: int) -> ModelVersion:
    if model not in ctx.models:
        raise NotFound(f"unknown model {model!r}")
    return ctx.registry.get_version(model, version)


def version_detail(ctx: Context, model: str, version: int) -> JSON:
    """A registered version: tags, artifact, lineage (run, snapshot, trigger, champion,
    pipeline job), the gate's verdict, its metrics' headline numbers and windows, and
    whether it is in production."""
    found = _version(ctx, model, version)
    lineage = dict(found.lineage)
    metrics = lineage.pop("metrics", None)
    production = ctx.registry.get_alias(model, PRODUCTION).version
    run_key = found.tags.get("run_key") or lineage.get("run_key")
    return {
        "model": model,
        "version": found.version,
        "created_at": found.created_at,
        "production": found.version == production,
        "artifact_uri": found.artifact_uri,
        "tags": dict(found.tags),
        "lineage": lineage,
        "metrics": _headline(metrics),
        "links": {
            "report": f"/api/models/{model}/versions/{found.version}/report",
            **({"run": f"/api/runs/{run_key}"} if run_key else {}),
        },
    }


_METRICS = ("mase", "smape", "rmse", "mae", "coverage")


def _section(section: Any) -> JSON | None:
    """A metrics section's holdout and backtest numbers (schema 2; older: flat)."""
    if not isinstance(section, dict):
        return None
    picked: JSON = {}
    for window in ("holdout", "backtest"):
        values = section.get(window)
        if isinstance(values, dict):
            picked[window] = {m: values.get(m) for m in _METRICS}
    if not picked:
        picked["holdout"] = {m: section.get(m) for m in _METRICS}
    return picked


def _windows(metrics: Any) -> JSON | None:
    if not isinstance(metrics, dict):
        return None
    backtest = _mapping(metrics.get("backtest"))
    return {
        "holdout_start": metrics.get("holdout_start"),
        "holdout_end": metrics.get("holdout_end"),
        "data_end": metrics.get("data_end"),
        "backtest_origins": list(backtest.get("origins") or []),
        "backtest_horizon": backtest.get("horizon"),
    }


def _headline(metrics: Any) -> JSON | None:
    if not isinstance(metrics, dict):
        return None
    return {
        "schema": metrics.get("schema"),
        "windows": _windows(metrics),
        "candidate": _section(metrics.get("candidate")),
        "baseline": _section(metrics.get("baseline")),
        "champion": _section(metrics.get("champion")),
    }


def compare_versions(ctx: Context, model: str, first: int, second: int) -> JSON:
    """Two versions' metrics, on comparable windows where the service has them.

    Metrics computed on different windows do not compare, so the answer says which
    basis it uses:

    - ``same_windows``: the newer version's run evaluated the other one as its champion,
      so both were scored by the same evaluation on the same holdout and backtest folds
      (the run's ``candidate`` and ``champion`` sections);
    - ``own_windows``: no run scored both; each version's numbers are from its own run's
      windows (listed), and only the scale-free MASE says anything across them.
    """
    if first == second:
        raise InvalidInput("compare needs two different versions")
    a, b = _version(ctx, model, first), _version(ctx, model, second)
    for newer, older in ((b, a), (a, b)):
        metrics = newer.lineage.get("metrics")
        champion = newer.lineage.get("champion")
        scored = isinstance(metrics, dict) and isinstance(metrics.get("champion"), dict)
        if scored and isinstance(champion, dict) and champion.get("version") == older.version:
            assert isinstance(metrics, dict)
            sections = {
                newer.version: _section(metrics.get("candidate")),
                older.version: _section(metrics.get("champion")),
            }
            return {
                "model": model,
                "basis": "same_windows",
                "scored_by_run": newer.tags.get("run_key") or newer.lineage.get("run_key"),
                "windows": _windows(metrics),
                "versions": [
                    {"version": v.version, "metrics": sections[v.version]} for v in (a, b)
                ],
                "baseline": _section(metrics.get("baseline")),
            }
    return {
        "model": model,
        "basis": "own_windows",
        "note": "no run scored both versions on the same windows; MASE is relative to each "
        "window's seasonal-naive error, the other metrics are in the series' units",
        "versions": [
            {
                "version": v.version,
                "windows": _windows(v.lineage.get("metrics")),
                "metrics": _section((v.lineage.get("metrics") or {}).get("candidate")),
            }
            for v in (a, b)
        ],
    }
