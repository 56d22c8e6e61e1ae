"""Audit reports: one self-contained HTML page per run and per registered version that
an auditor can read without us.

A run's page answers "why is (or isn't) this model in production?": the triggers that
caused the run (ledger entries with its run key), the data snapshot (files and ETags),
the champion it was compared with, every gate check with value, threshold and result,
the decision and the gate policy in words, the metrics, the forecast plot (embedded as
base64 from the artifact datastore), the registered version's lineage and the model's
promotion history for that version. A version's page adds the version's own facts.

Everything that comes from data is escaped (``html.escape``); the page loads nothing
from elsewhere.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from shared.errors import NotFound
from shared.ports import JSON, ModelVersion
from shared.service.context import Context, expand_ledger
from shared.service.overview.versions import METRIC_NAMES, comparable_metrics
from shared.service.promotion import PRODUCTION, list_history, registered_version

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.pass { color: #06621f; font-weight: bold; } .fail { color: #a40000; font-weight: bold; }
.skip { color: #666; } pre { background: #f7f7f7; padding: .8em; overflow-x: auto; }
.decision { font-size: 1.1em; padding: .6em; border-left: 4px solid #888; background: #fafafa; }
"""


def _e(value: Any) -> str:
    if value is None:
        return "—"
    return html.escape(str(value), quote=True)


def _num(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _e(value)
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A table; ``rows`` hold HTML already escaped."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _facts(pairs: Iterable[tuple[str, Any]]) -> str:
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in pairs)
    return f"<table>{rows}</table>"


def _json(value: Any) -> str:
    return f"<pre>{_e(json.dumps(value, indent=2, sort_keys=True, default=str))}</pre>"


def _page(title: str, sections: Sequence[str], ctx: Context) -> str:
    generated = ctx.clock.now().isoformat()
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{_e(title)}</h1>" + "".join(sections) + f"<p><small>generated {_e(generated)} by "
        "the retraining service (shared/service/audit.py)</small></p></body></html>\n"
    )


# --------------------------------------------------------------------------- sections


def _decision(record: Mapping[str, Any]) -> str:
    gate = record.get("gate") or {}
    if record.get("promoted"):
        verdict = "PROMOTED to production"
    elif record.get("model_version") is not None:
        verdict = "registered, NOT promoted"
    else:
        verdict = f"not registered ({record.get('status')})"
    return (
        "<h2>Decision</h2>"
        f"<p class='decision'><b>{_e(verdict)}</b><br>{_e(record.get('promotion'))}</p>"
        + (f"<p>{_e(record.get('error'))}</p>" if record.get("error") else "")
        + f"<p><b>Gate policy:</b> {_e(gate.get('policy'))}</p>"
    )


def _checks(gate: Mapping[str, Any]) -> str:
    checks = gate.get("checks") or []
    if not checks:
        return "<h2>Gate checks</h2><p>The gate did not run for this run.</p>"
    rows = [
        (
            _e(c.get("name")),
            f"<span class='num'>{_num(c.get('value'))}</span>",
            f"<span class='num'>{_num(c.get('threshold'))}</span>",
            f"<span class='{_e(c.get('result'))}'>{_e(c.get('result'))}</span>",
            _e(c.get("sentence")),
        )
        for c in checks
        if isinstance(c, Mapping)
    ]
    overall = "passed" if gate.get("passed") else "rejected"
    return f"<h2>Gate checks (overall: {_e(overall)})</h2>" + _table(
        ("check", "value", "threshold", "result", "what it means"), rows
    )


def _triggers(entries: Sequence[JSON]) -> str:
    if not entries:
        return "<h2>Triggers</h2><p>No trigger decision names this run.</p>"
    rows = [
        (_e(e.get("at")), _e(e.get("action")), _e(e.get("trigger")), _e(e.get("reason")))
        for e in entries
    ]
    return "<h2>Triggers that caused the run</h2>" + _table(
        ("at", "decision", "trigger", "reason"), rows
    )


def _snapshot(snapshot: Any) -> str:
    if not isinstance(snapshot, Mapping):
        return "<h2>Data snapshot</h2><p>No snapshot recorded.</p>"
    files = [f for f in snapshot.get("files") or [] if isinstance(f, Mapping)]
    rows = [(_e(f.get("name")), _e(f.get("etag")), _num(f.get("size"))) for f in files]
    return (
        f"<h2>Data snapshot {_e(snapshot.get('snapshot_id'))}</h2>"
        f"<p>{len(files)} file(s) under prefix {_e(snapshot.get('prefix'))}:</p>"
        + _table(("file", "ETag", "bytes"), rows)
    )


def _metrics(metrics: Any) -> str:
    if not isinstance(metrics, Mapping):
        return "<h2>Metrics</h2><p>No metrics were read for this run.</p>"
    rows = [
        (
            _e(row["model"]),
            _e(row["window"]),
            *[f"<span class='num'>{_num(row[m])}</span>" for m in METRIC_NAMES],
        )
        for row in comparable_metrics(metrics)
    ]
    backtest = metrics.get("backtest")
    if not isinstance(backtest, Mapping):
        backtest = {}
    facts = _facts(
        [
            ("metrics schema", metrics.get("schema")),
            ("data ends", metrics.get("data_end")),
            ("holdout", f"{metrics.get('holdout_start')} to {metrics.get('holdout_end')}"),
            ("backtest folds", backtest.get("folds")),
            ("backtest horizon", backtest.get("horizon")),
            ("backtest origins", ", ".join(map(str, backtest.get("origins") or []))),
            ("champion error", metrics.get("champion_error")),
            ("candidate model", json.dumps(metrics.get("model"), default=str)),
            ("champion model", json.dumps(metrics.get("champion_model"), default=str)),
        ]
    )
    return (
        "<h2>Metrics</h2>"
        + (_table(("model", "window", *METRIC_NAMES), rows) if rows else "")
        + facts
    )


# The evaluate step's SVG plot leaves its top line for the verdict, which only the gate
# knows: the text of this element (pipeline_defs/components/evaluate/src/evaluate.py).
VERDICT_ID = "retrain-verdict"
_VERDICT_TEXT = re.compile(
    r'(<g id="' + VERDICT_ID + r'">\s*<text\b[^>]*>)([^<]*)(</text>)', re.DOTALL
)
_VERDICT_CHARS = 110  # what fits the plot's width at its font size


def verdict_line(record: Mapping[str, Any]) -> str | None:
    """The plot's verdict line for a finalised run record: the decision (promoted,
    registered or rejected, and the version) and the gate's reason, cut to one line."""
    gate = record.get("gate")
    if not isinstance(gate, Mapping) or not record.get("finalised"):
        return None
    version = record.get("model_version")
    decision = (
        "PROMOTED"
        if record.get("promoted")
        else "REFUSED"
        if not gate.get("passed")
        else "REGISTERED, NOT PROMOTED"
    )
    line = f"verdict: {decision}" + (f" v{version}" if version is not None else "")
    line += f" - {record.get('promotion') or gate.get('reason') or ''}"
    return line if len(line) <= _VERDICT_CHARS else line[: _VERDICT_CHARS - 1] + "…"


def titled_plot(svg: str, verdict: str) -> str | None:
    """The SVG plot with its verdict line set to ``verdict`` (escaped); None when the
    SVG has no verdict line (an older evaluate step)."""
    if _VERDICT_TEXT.search(svg) is None:
        return None
    escaped = html.escape(verdict, quote=False)
    return _VERDICT_TEXT.sub(lambda m: m.group(1) + escaped + m.group(3), svg, count=1)


def run_plot(ctx: Context, record: Mapping[str, Any]) -> tuple[bytes, str] | None:
    """The run's forecast plot and its media type: the SVG titled with the verdict when
    the run is finalised and the step wrote one, else the PNG as written; None if none."""
    folder = f"retrain/{record.get('run_key')}/metrics/"
    verdict = verdict_line(record)
    if verdict is not None:
        try:
            svg = ctx.artifacts.read_bytes(folder + "forecast.svg").decode("utf-8")
        except (NotFound, UnicodeDecodeError):
            svg = None
        titled = titled_plot(svg, verdict) if svg is not None else None
        if titled is not None:
            return titled.encode("utf-8"), "image/svg+xml"
    try:
        return ctx.artifacts.read_bytes(folder + "forecast.png"), "image/png"
    except NotFound:
        return None


def _plot(record: Mapping[str, Any], ctx: Context) -> str:
    found = run_plot(ctx, record)
    if found is None:
        return "<h2>Forecast plot</h2><p>The run wrote no forecast plot.</p>"
    data = base64.b64encode(found[0]).decode("ascii")
    return (
        "<h2>Forecast plot</h2>"
        f"<img alt='forecast plot of run {_e(record.get('run_key'))}' style='max-width:100%' "
        f"src='data:{found[1]};base64,{data}'>"
    )


def _lineage(version: ModelVersion | None) -> str:
    if version is None:
        return "<h2>Lineage</h2><p>No model version was registered for this run.</p>"
    lineage = {k: v for k, v in version.lineage.items() if k not in ("metrics", "gate")}
    return (
        f"<h2>Lineage of {_e(version.name)} v{version.version}</h2>"
        + _facts(
            [
                ("artifact", version.artifact_uri),
                ("registered at", version.created_at),
                ("tags", json.dumps(dict(version.tags), sort_keys=True)),
            ]
        )
        + "<p>Lineage as registered (metrics and gate verdict are shown above):</p>"
        + _json(lineage)
    )


def _history(entries: Sequence[JSON], title: str) -> str:
    if not entries:
        return f"<h2>{_e(title)}</h2><p>No promotion history involves it.</p>"
    rows = [
        (
            _e(e.get("at")),
            _e(e.get("action")),
            _e(e.get("by")),
            _e(_v(e.get("from_version"))),
            _e(_v(e.get("to_version"))),
            _e(e.get("reason")),
        )
        for e in entries
    ]
    return f"<h2>{_e(title)}</h2>" + _table(("at", "action", "by", "from", "to", "why"), rows)


def _v(version: Any) -> str:
    return f"v{version}" if version is not None else "none"


def _involves(entry: Mapping[str, Any], run_key: str | None, version: int | None) -> bool:
    if run_key is not None and entry.get("run_key") == run_key:
        return True
    return version is not None and version in (entry.get("from_version"), entry.get("to_version"))


# --------------------------------------------------------------------------- pages


def _run_sections(ctx: Context, record: JSON, version: ModelVersion | None) -> list[str]:
    key, model = str(record["run_key"]), str(record["model"])
    ledger = expand_ledger(ctx.state.get(k)[0] for k in ctx.state.list_keys(f"ledger/{model}/"))
    triggers = [e for e in ledger if e.get("run_key") == key and e.get("kind") == "trigger"]
    champion = record.get("champion")
    number = version.version if version is not None else record.get("model_version")
    history = [e for e in list_history(ctx, model) if _involves(e, key, number)]
    return [
        _facts(
            [
                ("model", model),
                ("run key", key),
                ("status", record.get("status")),
                ("pipeline run id", record.get("pipeline_run_id")),
                ("started", record.get("created_at")),
                ("last update", record.get("updated_at")),
                ("registered version", _v(number) if number is not None else None),
                (
                    "compared with champion",
                    f"v{champion.get('version')} (run {champion.get('run_key')})"
                    if isinstance(champion, Mapping)
                    else "none: first model, compared with seasonal naive",
                ),
            ]
        ),
        _decision(record),
        _checks(record.get("gate") or {}),
        _triggers(triggers),
        _snapshot(record.get("snapshot")),
        _metrics(record.get("metrics")),
        _plot(record, ctx),
        _lineage(version),
        _history(history, "Promotion history of this run's version"),
    ]


def run_report(ctx: Context, run_key: str) -> str:
    """The HTML audit report of one run; ``NotFound`` for an unknown run key."""
    record = ctx.state.get(f"runs/{run_key}.json")[0]
    model = str(record.get("model"))
    version = None
    if record.get("model_version") is not None:
        try:
            version = ctx.registry.get_version(model, int(record["model_version"]))
        except NotFound:
            version = registered_version(model, run_key, ctx)
    sections = _run_sections(ctx, record, version)
    return _page(f"Retraining run {run_key} of model {model}", sections, ctx)


def version_report(ctx: Context, model: str, version: int) -> str:
    """The HTML audit report of one registered version; ``NotFound`` if unknown."""
    if model not in ctx.models:
        raise NotFound(f"unknown model {model!r}")
    registered = ctx.registry.get_version(model, version)
    production = ctx.registry.get_alias(model, PRODUCTION).version
    run_key = registered.tags.get("run_key") or registered.lineage.get("run_key")
    header = _facts(
        [
            ("model", model),
            ("version", f"v{version}"),
            (
                "in production now",
                "yes" if production == version else f"no (production: {_v(production)})",
            ),
            ("gate", registered.tags.get("gate")),
            ("run key", run_key),
            ("registered at", registered.created_at),
        ]
    )
    try:
        record = ctx.state.get(f"runs/{run_key}.json")[0] if run_key else None
    except NotFound:
        record = None
    if record is not None:
        sections = [header, *_run_sections(ctx, record, registered)]
    else:
        history = [e for e in list_history(ctx, model) if _involves(e, None, version)]
        sections = [
            header,
            "<p>The run record of this version is not available; its lineage follows.</p>",
            _checks(registered.lineage.get("gate") or {}),
            _metrics(registered.lineage.get("metrics")),
            _lineage(registered),
            _history(history, "Promotion history of this version"),
        ]
    return _page(f"Model {model} v{version}", sections, ctx)
