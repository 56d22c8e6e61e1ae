"""Promotion: a completed run's metrics go through the gate (``shared.gate.judge``, the
one place a promotion is decided), the model version is registered with its lineage, and
the production alias moves when the gate passed and nothing newer or pinned stands in
the way.

The alias moves by compare-and-swap against the champion the candidate was compared
with (``record["champion"]``, kept in the run record at launch; unset for the first
model): if production points elsewhere now, the version is registered only. A run on a
snapshot whose data ends before the production version's never replaces it. While
production is pinned (``pins/<model>.json``, see ``shared.service.operator``) automatic
promotion only registers.

Every alias move writes a history document ``history/<model>/<time>-<id>.json`` (who or
what, when, why, from which version to which, run key).

**Refresh** (production stays current after a refusal): when the gate refuses the
candidate and production still points at the champion the run was compared with (and is
not pinned), the evaluate step's ``metrics/champion_refreshed/`` folder (the champion
brought up to the run's last observation: its specification re-estimated on all the run's
data, as a promoted candidate's final fit is, or its stored parameters applied when it
cannot be re-estimated; ``champion_refreshed.method`` says which, ``"ml"`` or
``"applied"``) is registered as a new version — tags ``run_key`` = ``<run key>-refresh``
(so it never collides with the candidate's registration of the same run), ``refresh_of`` =
the champion's version, ``gate`` = ``refresh`` — and production moves to it by
compare-and-swap (history action ``refresh``). The gate chose the champion's
specification; production forecasts from the last observation with parameters estimated
on all the data, instead of from the champion's old data end. A pinned production is
frozen: nothing is refreshed (the operator chose that version).

Every version has ``model_folder`` (tag and lineage): the datastore URI of its model
folder, which the next run takes as its ``champion`` input.

Every step is safe to repeat: registration first looks for a version already registered
for the run key, promotion is a compare-and-swap on the alias ETag read before
registering, and a promotion whose history document is missing gets it on the retry.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.errors import ConflictError, InvalidInput, NotFound
from shared.gate import GatePolicy, Verdict, judge
from shared.parsing import parse_time
from shared.ports import JSON, AliasState, ModelVersion
from shared.service.context import Context
from shared.service.outcome import Outcome

log = logging.getLogger(__name__)

PRODUCTION = "production"
GATE_ACTOR = "gate"


def run_report_path(run_key: str) -> str:
    """Where the API serves the run's audit report."""
    return f"/api/runs/{run_key}/report"


def gate_policy(ctx: Context, model: str) -> GatePolicy:
    """The model's gate policy: the app-wide one with the model's own settings."""
    config = ctx.models.get(model)
    return config.gate_policy(ctx.gate) if config is not None else ctx.gate


def get_pin(ctx: Context, model: str) -> JSON | None:
    """The model's pin when production is pinned, else None."""
    try:
        pin, _ = ctx.state.get(f"pins/{model}.json")
    except NotFound:
        return None
    return pin if pin.get("pinned") else None


def record_history(
    ctx: Context,
    model: str,
    *,
    action: str,
    by: str,
    reason: str,
    from_version: int | None,
    to_version: int | None,
    run_key: str | None = None,
    **extra: Any,
) -> JSON:
    """Append one entry to the model's promotion history and return it."""
    now = ctx.clock.now()
    entry = {
        "at": now.isoformat(),
        "model": model,
        "action": action,
        "by": by,
        "reason": reason,
        "from_version": from_version,
        "to_version": to_version,
        "run_key": run_key,
        **extra,
    }
    key = f"history/{model}/{now:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:8]}.json"
    ctx.state.create(key, entry)
    return entry


def list_history(ctx: Context, model: str) -> list[JSON]:
    """The model's alias moves and pins, oldest first."""
    return [ctx.state.get(key)[0] for key in ctx.state.list_keys(f"history/{model}/")]


def finalise_completed(model: str, key: str, record: Mapping[str, Any], ctx: Context) -> Outcome:
    """Gate, register and (when the gate passed and nothing stands in the way) promote
    the run's model."""
    try:
        metrics = ctx.artifacts.read_json(f"retrain/{key}/metrics/metrics.json")
    except NotFound as exc:
        ctx.update_run(key, {"status": "Failed", "error": str(exc), "finalised": True})
        outcome = Outcome(model, "failed", f"run {key} completed without metrics: {exc}", key)
        ctx.ledger(model, "run", outcome)
        return outcome
    champion = record.get("champion")
    policy = gate_policy(ctx, model)
    verdict = judge(metrics, policy, champion_present=champion is not None)
    log.debug("%s: gate for run %s %s", model, key, verdict.reason)
    report_url = run_report_path(key)
    alias = ctx.registry.get_alias(model, PRODUCTION)
    version = earlier_version(model, key, record, ctx) or _register(
        model, key, record, metrics, verdict, report_url, ctx
    )
    ctx.update_run(key, {"model_version": version.version})
    promoted, reason = _promote(model, key, metrics, verdict, champion, alias, version, ctx)
    refreshed: int | None = None
    if not verdict.passed:
        refreshed, note = refresh_production(model, key, record, metrics, verdict, alias, ctx)
        reason = f"{reason}; {note}" if note else reason
    action = "promoted" if promoted else "rejected" if not verdict.passed else "registered"
    ctx.update_run(
        key,
        {
            "status": "Completed",
            "metrics": metrics,
            "gate": verdict.as_record(),
            "promoted": promoted,
            "promotion": reason,
            "previous_champion": alias.version,
            "refreshed_version": refreshed,
            "report_url": report_url,
            "finalised": True,
        },
    )
    mase = ((metrics.get("candidate") or {}).get("backtest") or {}).get("mase")
    details = {"version": version.version, "backtest_mase": mase, "report_url": report_url}
    if refreshed is not None:
        details["refreshed_version"] = refreshed
    outcome = Outcome(model, action, reason, run_key=key, details=details)
    ctx.ledger(model, "gate", outcome, gate=verdict.as_record())
    log.info(
        "%s: %s v%s: %s (report: %s)", model, action.upper(), version.version, reason, report_url
    )
    warn_when_stuck(model, promoted, ctx)
    return outcome


REFUSALS_WORTH_A_WARNING = 3
_LEDGER_LOOKBACK = 50


def warn_when_stuck(model: str, promoted: bool, ctx: Context) -> None:
    """Log a warning a person notices when, after a run that did not promote, the model
    has no production version, or the gate refused its last ``REFUSALS_WORTH_A_WARNING``
    candidates in a row (read from the newest ledger entries). Never raises: it is a log
    line, not a decision."""
    if promoted:
        return
    try:
        if ctx.registry.get_alias(model, PRODUCTION).version is None:
            log.warning(
                "%s has no production version: no candidate has passed the gate yet "
                "(why: GET /api/models/%s/ledger)",
                model,
                model,
            )
            return
        refusals: list[str] = []
        for key in reversed(ctx.state.list_keys(f"ledger/{model}/")[-_LEDGER_LOOKBACK:]):
            entry = ctx.state.get(key)[0]
            if entry.get("kind") != "gate":
                continue
            if entry.get("action") != "rejected":
                return
            refusals.append(str(entry.get("reason")))
            if len(refusals) >= REFUSALS_WORTH_A_WARNING:
                log.warning(
                    "%s keeps refusing: the gate refused the last %d candidates in a row; "
                    "production stays as it is (latest: %s)",
                    model,
                    len(refusals),
                    refusals[0],
                )
                return
    except Exception:  # a warning must never break a finalisation
        log.debug("could not check whether %s is stuck", model, exc_info=True)


def _register(
    model: str,
    key: str,
    record: Mapping[str, Any],
    metrics: JSON,
    verdict: Verdict,
    report_url: str,
    ctx: Context,
) -> ModelVersion:
    folder = ctx.artifacts.uri(f"retrain/{key}/model/")
    tags = {
        "run_key": key,
        "gate": "passed" if verdict.passed else "rejected",
        "code_version": ctx.code_version,
        "model_folder": folder,
    }
    if isinstance(metrics.get("data_end"), str):
        tags["data_end"] = metrics["data_end"]
    return ctx.registry.register(
        model,
        artifact_uri=folder,
        tags=tags,
        lineage={
            "run_key": key,
            "model_folder": folder,
            "pipeline_run_id": record.get("pipeline_run_id"),
            "snapshot": record.get("snapshot"),
            "snapshot_manifest_uri": ctx.artifacts.uri(f"retrain/{key}/snapshot.json"),
            "trigger": record.get("trigger"),
            "champion": record.get("champion"),
            "data_end": metrics.get("data_end"),
            "metrics": metrics,
            "metrics_uri": ctx.artifacts.uri(f"retrain/{key}/metrics/"),
            "gate": verdict.as_record(),
            **_fits(key, metrics, ctx),
            "report_url": report_url,
            "pipeline_definition_sha256": ctx.pipeline_sha256,
            "code_version": ctx.code_version,
        },
    )


def _fits(key: str, metrics: Mapping[str, Any], ctx: Context) -> JSON:
    """The evaluation fit (scored by the gate) and the final fit (refit on all the data:
    what is registered and served), from the train step's model.json when it has them
    (without the order-search log, which stays in the artifact)."""
    path = f"retrain/{key}/model/model.json"
    try:
        fit = {k: v for k, v in ctx.artifacts.read_json(path).items() if k != "search"}
    except NotFound:
        fit = {}
    evaluation, final = fit.get("evaluation_fit"), fit.get("final_fit")
    return {
        "evaluation_fit": evaluation if isinstance(evaluation, dict) else metrics.get("model"),
        "final_fit": final if isinstance(final, dict) else (fit or None),
        "model_json_uri": ctx.artifacts.uri(path) if fit else None,
    }


def _promote(
    model: str,
    key: str,
    metrics: Mapping[str, Any],
    verdict: Verdict,
    champion: Any,
    alias: AliasState,
    version: ModelVersion,
    ctx: Context,
) -> tuple[bool, str]:
    """Move production to ``version`` if the gate passed and nothing stands in the way;
    (promoted, reason)."""
    if not verdict.passed:
        return False, verdict.reason
    if alias.version == version.version:  # a repeated finalisation moved it already
        _ensure_history(model, key, verdict, version, ctx)
        return True, f"{verdict.reason}; already in production"
    blocked = _blocked(model, metrics, champion, alias, ctx)
    if blocked:
        return False, f"{verdict.reason}; registered only: {blocked}"
    try:
        ctx.registry.set_alias(model, PRODUCTION, version.version, etag=alias.etag)
    except ConflictError:
        return False, (
            f"{verdict.reason}; registered only: the production alias moved while this run "
            "was being finalised"
        )
    previous = f"v{alias.version}" if alias.version else "none"
    record_history(
        ctx,
        model,
        action="promoted",
        by=GATE_ACTOR,
        reason=verdict.reason,
        from_version=alias.version,
        to_version=version.version,
        run_key=key,
        report_url=run_report_path(key),
    )
    return True, f"{verdict.reason}; production: {previous} -> v{version.version}"


def _blocked(
    model: str, metrics: Mapping[str, Any], champion: Any, alias: AliasState, ctx: Context
) -> str | None:
    """Why production must not move to this run's version, or None."""
    pin = get_pin(ctx, model)
    if pin is not None:
        return (
            f"production is pinned at v{pin.get('version')} by {pin.get('by')} "
            f"({pin.get('reason')})"
        )
    expected = champion.get("version") if isinstance(champion, Mapping) else None
    if alias.version != expected:
        before = f"v{expected}" if expected else "none"
        return f"production moved from {before} to v{alias.version} since this run started"
    if alias.version is not None:
        mine = _time(metrics.get("data_end"))
        production = ctx.registry.get_version(model, alias.version)
        theirs = _time((production.lineage.get("metrics") or {}).get("data_end"))
        if mine is not None and theirs is not None and mine < theirs:
            return (
                f"its data ends {mine.date()}, before production v{alias.version}'s "
                f"({theirs.date()}): an older snapshot never replaces a newer one"
            )
    return None


def _time(value: Any) -> datetime | None:
    try:
        return parse_time(value) if isinstance(value, str) else None
    except InvalidInput:
        return None


def _ensure_history(
    model: str, key: str, verdict: Verdict, version: ModelVersion, ctx: Context
) -> None:
    """A finalisation that moved the alias and died before writing history gets it now."""
    for entry in list_history(ctx, model):
        if entry.get("run_key") == key and entry.get("to_version") == version.version:
            return
    record_history(
        ctx,
        model,
        action="promoted",
        by=GATE_ACTOR,
        reason=verdict.reason,
        from_version=None,
        to_version=version.version,
        run_key=key,
        report_url=run_report_path(key),
        note="written on a repeated finalisation; the version it replaced was not recorded",
    )


def registered_version(model: str, key: str, ctx: Context) -> ModelVersion | None:
    """The version an earlier, interrupted finalisation registered for this run (for
    ``<run key>-refresh``: the run's refreshed champion)."""
    found = [v for v in ctx.registry.list_versions(model) if v.tags.get("run_key") == key]
    return found[-1] if found else None


def first_attempt(record: Mapping[str, Any]) -> bool:
    """Whether this is the first attempt at finalising the run (``finalise_attempt`` 1, set
    by the claim in ``shared.service.runs``): nothing was registered or moved for it yet."""
    return record.get("finalise_attempt") == 1


def earlier_version(
    model: str, key: str, record: Mapping[str, Any], ctx: Context
) -> ModelVersion | None:
    """The version an earlier attempt at this finalisation registered, if any. A first
    attempt has none and asks nothing; a repeat asks for the version its run record names,
    and only when an attempt died between registering and noting it lists the model's
    versions (which grow with every run)."""
    number = record.get("model_version")
    if isinstance(number, int) and not isinstance(number, bool):
        try:
            found = ctx.registry.get_version(model, number)
        except NotFound:
            found = None
        if found is not None and found.tags.get("run_key") == key:
            return found
    if first_attempt(record):
        return None
    return registered_version(model, key, ctx)


REFRESH_SUFFIX = "-refresh"
REFRESH_ACTION = "refresh"


def refresh_production(
    model: str,
    key: str,
    record: Mapping[str, Any],
    metrics: Mapping[str, Any],
    verdict: Verdict,
    alias: AliasState,
    ctx: Context,
) -> tuple[int | None, str | None]:
    """After the gate refused run ``key``'s candidate: register the champion refreshed on
    the run's data and move production to it, by compare-and-swap against the champion the
    run was compared with (``alias`` is the state read before registering). Returns (the
    version production now points at because of this run, or None; a note for the reason,
    or None when there was nothing to refresh). Safe to repeat."""
    champion = record.get("champion")
    expected = champion.get("version") if isinstance(champion, Mapping) else None
    refreshed = metrics.get("champion_refreshed")
    if expected is None or not isinstance(refreshed, Mapping):
        return None, None  # first model, or the champion could not be re-scored/refreshed
    folder = refreshed.get("folder")
    if not isinstance(folder, str) or not folder or "/" in folder.strip("/"):
        return None, f"not refreshed: metrics.json names no usable refreshed folder ({folder!r})"
    existing = (
        None  # a first attempt registered nothing yet: no need to list the versions
        if first_attempt(record)
        else registered_version(model, key + REFRESH_SUFFIX, ctx)
    )
    if existing is not None and alias.version == existing.version:
        _ensure_refresh_history(model, key, expected, existing, ctx)
        return existing.version, f"production refreshed: v{expected} -> v{existing.version}"
    pin = get_pin(ctx, model)
    if pin is not None:
        return None, f"not refreshed: production is pinned at v{pin.get('version')}"
    if alias.version != expected:
        return None, (
            f"not refreshed: production moved from v{expected} to {_v(alias.version)} since "
            "this run started"
        )
    production = ctx.registry.get_version(model, expected)
    mine, theirs = _time(metrics.get("data_end")), _time(_data_end(production))
    if mine is None:
        return None, "not refreshed: the run's metrics have no data_end"
    if theirs is not None and mine <= theirs:
        return None, (
            f"not refreshed: production v{expected}'s data already ends {theirs.date()} "
            f"(this run's: {mine.date()})"
        )
    path = f"retrain/{key}/metrics/{folder.strip('/')}/"
    try:
        ctx.artifacts.read_json(path + "model.json")
    except NotFound:
        return None, f"not refreshed: no model.json in {path}"
    version = existing or _register_refresh(
        model, key, record, metrics, verdict, production, path, ctx
    )
    try:
        ctx.registry.set_alias(model, PRODUCTION, version.version, etag=alias.etag)
    except ConflictError:
        return None, (
            f"refreshed champion registered as v{version.version} only: the production alias "
            "moved while this run was being finalised"
        )
    _record_refresh(model, key, expected, version, ctx, method=_refresh_method(metrics))
    return version.version, (
        f"production refreshed: v{expected} -> v{version.version} "
        f"({_refresh_words(metrics, expected)}, state to {mine.date()})"
    )


def _refresh_method(metrics: Mapping[str, Any]) -> str:
    """How the evaluate step refreshed the champion: "ml" (re-estimated) or "applied"
    (stored parameters; also for metrics written before the method was recorded)."""
    refreshed = metrics.get("champion_refreshed")
    method = refreshed.get("method") if isinstance(refreshed, Mapping) else None
    return "ml" if method == "ml" else "applied"


def _refresh_words(metrics: Mapping[str, Any], previous: int) -> str:
    if _refresh_method(metrics) == "ml":
        return f"v{previous}'s specification re-estimated on the run's data"
    return f"v{previous}'s parameters"


def _register_refresh(
    model: str,
    key: str,
    record: Mapping[str, Any],
    metrics: Mapping[str, Any],
    verdict: Verdict,
    production: ModelVersion,
    path: str,
    ctx: Context,
) -> ModelVersion:
    folder = ctx.artifacts.uri(path)
    data_end = str(metrics.get("data_end"))
    refresh_key = key + REFRESH_SUFFIX
    refreshed = metrics.get("champion_refreshed") or {}
    return ctx.registry.register(
        model,
        artifact_uri=folder,
        tags={
            "run_key": refresh_key,
            "refresh_of": str(production.version),
            "gate": REFRESH_ACTION,
            "code_version": ctx.code_version,
            "data_end": data_end,
            "model_folder": folder,
        },
        lineage={
            "run_key": refresh_key,
            "lineage": f"state refreshed from v{production.version} to data_end {data_end}",
            "refresh_method": _refresh_method(metrics),
            "refresh_of": production.version,
            "refresh_of_run_key": production.tags.get("run_key")
            or production.lineage.get("run_key"),
            "refreshed_by_run": key,
            # Not ``pipeline_run_id``: the Azure ML registry adapter registers a version
            # with one from that job's ``model`` output, the candidate's folder.
            "source_pipeline_run_id": record.get("pipeline_run_id"),
            "refused_candidate": {"run_key": key, "gate": verdict.as_record()},
            "snapshot": record.get("snapshot"),
            "snapshot_manifest_uri": ctx.artifacts.uri(f"retrain/{key}/snapshot.json"),
            "trigger": record.get("trigger"),
            "champion": record.get("champion"),
            "data_end": data_end,
            "params_end": refreshed.get("params_end") if isinstance(refreshed, Mapping) else None,
            # This version's own evidence is the run's champion section; no candidate.
            "metrics": {k: v for k, v in metrics.items() if k not in ("candidate", "model")},
            "metrics_uri": ctx.artifacts.uri(f"retrain/{key}/metrics/"),
            "model_folder": folder,
            "model_json_uri": ctx.artifacts.uri(path + "model.json"),
            "report_url": run_report_path(key),
            "pipeline_definition_sha256": ctx.pipeline_sha256,
            "code_version": ctx.code_version,
        },
    )


def _record_refresh(
    model: str,
    key: str,
    previous: int,
    version: ModelVersion,
    ctx: Context,
    *,
    method: str | None = None,
    **extra: Any,
) -> None:
    how = (
        f"v{previous}'s specification re-estimated on the run's data"
        if (method or version.lineage.get("refresh_method")) == "ml"
        else f"v{previous}'s parameters applied to the run's data, not re-estimated"
    )
    record_history(
        ctx,
        model,
        action=REFRESH_ACTION,
        by=GATE_ACTOR,
        reason=(
            f"the gate refused run {key}'s candidate; {how} (to {version.tags.get('data_end')})"
        ),
        from_version=previous,
        to_version=version.version,
        run_key=key,
        report_url=run_report_path(key),
        **extra,
    )


def _ensure_refresh_history(
    model: str, key: str, previous: int, version: ModelVersion, ctx: Context
) -> None:
    for entry in list_history(ctx, model):
        if entry.get("run_key") == key and entry.get("to_version") == version.version:
            return
    _record_refresh(model, key, previous, version, ctx, note="written on a repeated finalisation")


def _data_end(version: ModelVersion) -> Any:
    """Where a version's data ends: its lineage's ``data_end``, else its metrics'."""
    metrics = version.lineage.get("metrics")
    from_metrics = metrics.get("data_end") if isinstance(metrics, Mapping) else None
    return version.lineage.get("data_end") or from_metrics


def _v(version: int | None) -> str:
    return f"v{version}" if version is not None else "none"
