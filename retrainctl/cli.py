"""The ``retrainctl`` commands. ``main(argv, service=...)`` takes a service built elsewhere
(tests pass one wired to fakes); by default it is built from the environment."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from shared.errors import ConflictError, InvalidInput, RetrainError
from shared.messages import (
    PauseRequested,
    PinRequested,
    PromoteRequested,
    ReleaseRequested,
    ReplayRequested,
    ResumeRequested,
    RollbackRequested,
    UnpinRequested,
)
from shared.parsing import parse_version_number
from shared.service import (
    Outcome,
    RetrainService,
    family_history,
    family_ops,
    family_overview,
)
from shared.service.family_requests import carry_out, parse_family_request

EPILOG = """\
The service is built from the app settings in the environment, as the Function App reads
them (RETRAIN_MODELS, RETRAIN_STORAGE_CONNECTION_STRING or AzureWebJobsStorage, ...; see
docs/settings.md). Every action is recorded in the model's ledger and promotion history.

examples:
  python -m retrainctl models
  python -m retrainctl versions co2
  python -m retrainctl rollback co2 3 --reason "v4 overshoots in Q1" --by ana
  python -m retrainctl promote co2 5 --reason "re-scored by hand" --expected-version 3
  python -m retrainctl pin co2 --reason "quarter-end freeze"
  python -m retrainctl unpin co2
  python -m retrainctl history co2
  python -m retrainctl pause co2 --reason "backfill under way"
  python -m retrainctl resume co2
  python -m retrainctl report --run co2-0123456789abcdef -o report.html
  python -m retrainctl report co2 5 -o v5.html
  python -m retrainctl runs co2 --limit 5
  python -m retrainctl run co2-0123456789abcdef
  python -m retrainctl steps co2-0123456789abcdef --lines 5
  python -m retrainctl steps co2-0123456789abcdef --step train --lines 200
  python -m retrainctl version co2 5
  python -m retrainctl compare co2 4 5
  python -m retrainctl deadletters
  python -m retrainctl deadletters on_blob_created/3f2a...   (one, with its payload)
  python -m retrainctl replay on_blob_created/3f2a... --reason "model configured now"
  python -m retrainctl quarantine
  python -m retrainctl release co2/2024-01.csv --reason "re-uploaded fixed"
  python -m retrainctl series stores --limit 20          (a family: what serves each series)
  python -m retrainctl series stores store-12            (one series and its history)
  python -m retrainctl run-series stores-0123456789abcdef --action refused
  python -m retrainctl family stores show   (last run per series: failed, refused, worst)
  python -m retrainctl family stores rollback --series store-12 --reason "spiky"
  python -m retrainctl family stores rollback --run-key stores-0123... --reason "bad run"
  python -m retrainctl family stores pin --series store-12 --reason "audit"
  python -m retrainctl family stores pin --reason "quarter-end freeze"   (the whole family)

exit status: 0 done, 1 refused or failed (the message says why; also a replay refused
again or a released file quarantined again, both recorded), 3 production moved
meanwhile (look again and decide again), 2 bad command line.
"""

# Outcomes of an action that was recorded but did not succeed.
NOT_DONE = frozenset({"replay_refused", "quarantined"})


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name available (some containers)
        return "retrainctl"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m retrainctl",
        description="Look at and steer the retraining service: models, versions, runs and "
        "their steps, promotion history, ledger, rollback, manual promotion, pin/unpin, "
        "pause/resume, dead letters (replay), quarantine (release), audit reports, and "
        "families: production per series, per-series verdicts, rollback and pins.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("models", help="configured models, production version, pin, gate policy")
    for name, text in (
        ("versions", "a model's registered versions (gate result, backtest MASE, production)"),
        ("history", "a model's promotion history: alias moves and pins, who and why"),
    ):
        commands.add_parser(name, help=text).add_argument("model")
    ledger = commands.add_parser("ledger", help="a model's decisions (triggers, gate, operator)")
    ledger.add_argument("model")
    ledger.add_argument("--limit", type=int, default=20, help="newest N entries (default 20)")

    for name, text in (
        ("rollback", "move production back to an earlier version (a family: see 'family')"),
        ("promote", "put any registered version into production by hand (not a family)"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("model")
        command.add_argument("version", type=_version, help="version number, e.g. 3 or v3")
        command.add_argument("--reason", required=True, help="why (kept in the history)")
        command.add_argument("--by", default=_user(), help="who asks (default: your user name)")
        command.add_argument(
            "--expected-version",
            type=_version,
            help="refuse unless production is still this version",
        )
    pin = commands.add_parser(
        "pin", help="hold production: automatic promotion only registers (a family: all its series)"
    )
    pin.add_argument("model")
    pin.add_argument("--reason", required=True)
    pin.add_argument("--by", default=_user())
    unpin = commands.add_parser("unpin", help="let automatic promotion move production again")
    unpin.add_argument("model")
    unpin.add_argument("--reason", default="unpinned")
    unpin.add_argument("--by", default=_user())
    pause = commands.add_parser("pause", help="stop retraining a model; arrivals are kept")
    pause.add_argument("model")
    pause.add_argument("--reason", default="paused")
    pause.add_argument("--by", default=_user())
    resume = commands.add_parser(
        "resume", help="retrain again; held arrivals replayed or dropped (the model's policy)"
    )
    resume.add_argument("model")
    resume.add_argument("--reason", default="resumed")
    resume.add_argument("--by", default=_user())

    runs = commands.add_parser("runs", help="a model's runs, newest first, with step progress")
    runs.add_argument("model")
    runs.add_argument("--limit", type=int, default=20, help="newest N runs (default 20)")
    run = commands.add_parser("run", help="a run's record and where its artifacts are")
    run.add_argument("run_key")
    steps = commands.add_parser("steps", help="a run's steps with their log tails")
    steps.add_argument("run_key")
    steps.add_argument("--step", help="only this step's log")
    steps.add_argument("--lines", type=int, help="log lines (default 5; 200 with --step)")
    version = commands.add_parser("version", help="a version's detail with its lineage")
    version.add_argument("model")
    version.add_argument("version", type=_version)
    compare = commands.add_parser(
        "compare", help="two versions' metrics, on the same windows when a run scored both"
    )
    compare.add_argument("model")
    compare.add_argument("first", type=_version)
    compare.add_argument("second", type=_version)
    letters = commands.add_parser(
        "deadletters", help="inputs that could not be processed (newest first), or one in full"
    )
    letters.add_argument("id", nargs="?", help="<source>/<digest>: show this one")
    letters.add_argument("--limit", type=int, default=20, help="newest N (default 20)")
    replay = commands.add_parser(
        "replay", help="replay a dead letter through its function's parser and handler"
    )
    replay.add_argument("id", help="<source>/<digest> (see deadletters)")
    replay.add_argument("--reason", required=True, help="why (kept in the ledger)")
    replay.add_argument("--by", default=_user())
    quarantine = commands.add_parser(
        "quarantine", help="quarantined data files (newest first), or one"
    )
    quarantine.add_argument("blob", nargs="?", help="show this file's record")
    release = commands.add_parser(
        "release", help="release a quarantined file: checked and decided on again as an arrival"
    )
    release.add_argument("blob")
    release.add_argument("--reason", required=True, help="why (kept in the ledger)")
    release.add_argument("--by", default=_user())

    series = commands.add_parser(
        "series", help="a family's production per series, or one series with its history"
    )
    series.add_argument("model")
    series.add_argument("series", nargs="?", help="one series id")
    series.add_argument("--after", help="list the series after this id (the next page)")
    series.add_argument(
        "--limit", type=int, help="series per page (default 100); one series: history entries (20)"
    )
    series.add_argument("--before", help="one series: the history before this cursor")
    run_series = commands.add_parser("run-series", help="a family run's verdict per series")
    run_series.add_argument("run_key")
    run_series.add_argument(
        "--action", choices=family_ops.SERIES_ACTIONS, help="only the series with this verdict"
    )
    run_series.add_argument("--after", help="the series after this id (the next page)")
    run_series.add_argument("--limit", type=int, default=1000, help="series per page (1000)")
    family = commands.add_parser(
        "family",
        help="show a family (its last run per series), or roll back or pin a family's "
        "series, a family run, or the whole family",
    )
    family.add_argument("model")
    family.add_argument("action", choices=("show", "rollback", "pin", "unpin"))
    family.add_argument(
        "--series", help="the series acted on (pin/unpin without it: the whole family)"
    )
    family.add_argument("--run-key", help="rollback: undo this run's promotions")
    family.add_argument("--version", type=_version, help="rollback a series to this version")
    family.add_argument(
        "--expected-version",
        type=_version,
        help="rollback --series: refused (exit 3) unless the series is on this version now",
    )
    family.add_argument("--reason", help="why (kept in the history; needed but for show)")
    family.add_argument("--limit", type=int, help="show: series listed (default 100)")
    family.add_argument("--by", default=_user())

    report = commands.add_parser(
        "report", help="write the HTML audit report of a run (--run KEY) or a version"
    )
    report.add_argument("model", nargs="?", help="model of the version")
    report.add_argument("version", nargs="?", type=_version, help="version number")
    report.add_argument("--run", help="run key instead of model and version")
    report.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")
    return parser


def _version(text: str) -> int:
    try:
        return parse_version_number(text)
    except RetrainError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _default_service() -> RetrainService:
    from shared.bootstrap import build_service
    from shared.settings import Settings

    return build_service(Settings.from_env())


def main(
    argv: Sequence[str] | None = None,
    *,
    service: RetrainService | None = None,
    out: TextIO | None = None,
) -> int:
    args = build_parser().parse_args(argv)
    out = out or sys.stdout
    try:
        service = service or _default_service()
        result = COMMANDS[args.command](service, args)
    except ConflictError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except RetrainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.command == "report":
        assert isinstance(result, str)
        if args.output:
            args.output.write_text(result, encoding="utf-8")
            print(f"wrote {args.output}", file=out)
        else:
            out.write(result)
    elif args.json:
        print(json.dumps(result, indent=2, default=str), file=out)
    else:
        print(_text(args.command, result), file=out)
    if args.command in ("replay", "release") and any(o["action"] in NOT_DONE for o in result):
        return 1
    return 0


def _outcome(outcomes: list[Outcome]) -> list[dict[str, Any]]:
    return [o.as_dict() for o in outcomes]


def _report(service: RetrainService, args: argparse.Namespace) -> str:
    if args.run:
        return service.run_report(args.run)
    if args.model is None or args.version is None:
        raise InvalidInput("report needs --run KEY, or MODEL and VERSION")
    return service.version_report(args.model, args.version)


def _steps(service: RetrainService, args: argparse.Namespace) -> Any:
    if args.step:
        lines = 200 if args.lines is None else args.lines
        return service.step_log(args.run_key, args.step, lines=lines)
    return service.run_steps(args.run_key, lines=5 if args.lines is None else args.lines)


def _series(service: RetrainService, args: argparse.Namespace) -> Any:
    if args.series and args.after:
        raise InvalidInput("--after pages the list of series; one series pages with --before")
    if not args.series and args.before:
        raise InvalidInput("--before pages one series' history: name the series")
    if args.series:
        return family_ops.get_series(
            service.context,
            args.model,
            args.series,
            limit=family_history.DEFAULT_PAGE if args.limit is None else args.limit,
            before=args.before,
        )
    return family_ops.family_production(
        service.context,
        args.model,
        after=args.after,
        limit=100 if args.limit is None else args.limit,
    )


def _family(service: RetrainService, args: argparse.Namespace) -> Any:
    if args.action == "show":
        limit = family_overview.SERIES_SHOWN if args.limit is None else args.limit
        return family_overview.family_overview(service.context, args.model, limit=limit)
    if args.action == "rollback" and (args.series is None) == (args.run_key is None):
        raise InvalidInput(
            f"family {args.model} rollback needs --series ID (that series, to its previous "
            "model or --version N) or --run-key KEY (every series that run promoted), "
            f"not {'both' if args.series else 'neither'}"
        )
    if not args.reason:
        raise InvalidInput(
            f"family {args.model} {args.action} needs --reason (kept in the history)"
        )
    body = {
        "series": args.series,
        "run_key": args.run_key,
        "version": args.version,
        "expected_version": args.expected_version,
        "reason": args.reason,
        "requested_by": args.by,
    }
    request = parse_family_request(
        args.model, args.action, {k: v for k, v in body.items() if v is not None}
    )
    return _outcome([carry_out(request, service.context)])


def _run(service: RetrainService, args: argparse.Namespace) -> Any:
    record = service.get_run(args.run_key)
    return {**record, "artifacts": service.run_artifacts(args.run_key)["artifacts"]}


COMMANDS: dict[str, Callable[[RetrainService, argparse.Namespace], Any]] = {
    "models": lambda s, a: s.list_models(),
    "versions": lambda s, a: s.list_versions(a.model),
    "history": lambda s, a: s.list_history(a.model),
    "ledger": lambda s, a: s.list_ledger(a.model, limit=a.limit),
    "rollback": lambda s, a: _outcome(
        s.handle(RollbackRequested(a.model, a.version, a.reason, a.by, a.expected_version))
    ),
    "promote": lambda s, a: _outcome(
        s.handle(PromoteRequested(a.model, a.version, a.reason, a.by, a.expected_version))
    ),
    "pin": lambda s, a: _outcome(s.handle(PinRequested(a.model, a.reason, a.by))),
    "unpin": lambda s, a: _outcome(s.handle(UnpinRequested(a.model, a.reason, a.by))),
    "pause": lambda s, a: _outcome(s.handle(PauseRequested(a.model, a.reason, a.by))),
    "resume": lambda s, a: _outcome(s.handle(ResumeRequested(a.model, a.reason, a.by))),
    "report": _report,
    "runs": lambda s, a: s.list_run_summaries(a.model, limit=a.limit),
    "run": _run,
    "steps": _steps,
    "version": lambda s, a: s.version_detail(a.model, a.version),
    "compare": lambda s, a: s.compare_versions(a.model, a.first, a.second),
    "deadletters": lambda s, a: (
        s.get_dead_letter(a.id) if a.id else s.list_dead_letters(limit=a.limit)
    ),
    "replay": lambda s, a: _outcome(s.handle(ReplayRequested(a.id, a.reason, a.by))),
    "quarantine": lambda s, a: s.get_quarantined(a.blob) if a.blob else s.list_quarantine(),
    "release": lambda s, a: _outcome(s.handle(ReleaseRequested(a.blob, a.reason, a.by))),
    "series": _series,
    "run-series": lambda s, a: family_ops.run_series(
        s.context, a.run_key, action=a.action, after=a.after, limit=a.limit
    ),
    "family": _family,
}


def _v(version: Any) -> str:
    return f"v{version}" if version is not None else "-"


def _model_line(model: Mapping[str, Any]) -> str:
    """A model's line in ``models``: its production version, or a family's series."""
    if "series_in_production" in model:
        pinned = model.get("family_pinned") or model.get("pinned")
        return (
            f"{model['name']:<16} family ({', '.join(model['series_columns'])}): "
            f"{model['series_in_production']} series in production{' PINNED' if pinned else ''}"
        )
    return (
        f"{model['name']:<16} production {_v(model['production_version']):<6}"
        f"{' PINNED' if model['pinned'] else ''}"
    )


def _text(command: str, result: Any) -> str:
    """A short human-readable rendering of a command's result."""
    if command == "models":
        return "\n".join(f"{_model_line(m)}\n  gate: {m['gate_policy']}" for m in result)
    if command == "versions":
        lines = ["version  gate      backtest MASE  production  run key"]
        for v in result:
            mase = f"{v['mase']:.3f}" if isinstance(v.get("mase"), int | float) else "-"
            lines.append(
                f"{_v(v['version']):<8} {v['tags'].get('gate', '?'):<9} {mase:<14} "
                f"{'yes' if v['production'] else '':<11} {v['tags'].get('run_key')}"
            )
        return "\n".join(lines)
    if command == "history":
        pin = result["pin"]
        lines = [
            f"{result['model']}: production {_v(result['production_version'])}"
            + (f", pinned by {pin['by']}: {pin['reason']}" if pin else "")
        ]
        for h in result["history"]:
            lines.append(
                f"{h['at']}  {h['action']:<14} {_v(h['from_version']):>5} -> "
                f"{_v(h['to_version']):<5} by {h['by']}: {h['reason']}"
            )
        return "\n".join(lines)
    if command == "ledger":
        return "\n".join(
            f"{e['at']}  {e.get('kind', ''):<8} {e['action']:<14} "
            f"{e.get('run_key') or '':<22} {e['reason']}"
            for e in result
        )
    text = _text_more(command, result)
    if text is not None:
        return text
    return "\n".join(f"{o['action'].upper()}: {o['reason']}" for o in result)


def _secs(value: Any) -> str:
    return f"{value:.1f}s" if isinstance(value, int | float) else "-"


def _text_more(command: str, result: Any) -> str | None:
    """Text for the run, version and recovery views (None: not one of them)."""
    if command == "runs":
        lines = ["run key                    status      version  elapsed   steps  trigger"]
        for r in result:
            steps = r.get("steps")
            done = f"{steps['completed']}/{steps['total']}" if steps else "-"
            lines.append(
                f"{r['run_key']:<26} {r.get('status') or '-':<11} "
                f"{_v(r.get('model_version')):<8} {_secs(r.get('elapsed_s')):<9} "
                f"{done:<6} {r.get('trigger') or '-'}"
            )
            if r.get("family"):
                lines.append(f"    family: {_family_counts(r['family'])}")
        return "\n".join(lines)
    if command == "steps" and "lines" in result:
        return "\n".join(result["lines"])
    if command == "steps":
        if not result["available"]:
            return f"{result['run_key']}: the backend cannot describe this run's steps"
        blocks = []
        for step in result["steps"]:
            reused = " (reused)" if step.get("reused") else ""
            head = f"{step['name']:<10} {step['status']:<10} {_secs(step.get('duration_s'))}"
            blocks.append(head + reused)
            blocks.extend(f"    {line}" for line in step.get("log_tail") or [])
        return "\n".join(blocks)
    if command in ("run", "version", "compare"):
        return json.dumps(result, indent=2, default=str)
    if command == "deadletters" and isinstance(result, dict):
        return json.dumps(result, indent=2, default=str)
    if command == "deadletters":
        return "\n".join(
            f"{d.get('received_at')}  {d['id']}\n    {d.get('error_type')}: {d.get('reason')}"
            + (f"  [replayed {d['replays']}x]" if d.get("replays") else "")
            for d in result
        )
    if command == "series" and "series" in result:
        pin = result.get("pinned")
        lines = [
            f"{result['model']}: {result['series_count']} series in production"
            + (f", family pinned by {pin['by']}: {pin['reason']}" if pin else ""),
            "series                   version  data end    pinned  run key",
        ]
        for s in result["series"]:
            lines.append(
                f"{s['unique_id']:<24} {_v(s.get('version')):<8} "
                f"{str(s.get('data_end') or '-')[:10]:<11} {'yes' if s.get('pinned') else '':<7} "
                f"{s.get('run_key')}"
            )
        if result.get("next_after"):
            lines.append(f"(more: --after {result['next_after']})")
        return "\n".join(lines)
    if command == "series":
        return _one_series_text(result)
    if command == "run-series":
        return _run_series_text(result)
    if command == "family" and "series_in_production" in result:
        return _family_text(result)
    if command == "quarantine" and isinstance(result, dict):
        return json.dumps(result, indent=2, default=str)
    if command == "quarantine":
        return "\n".join(
            f"{q.get('at')}  {q['blob']} ({q.get('model') or 'no model'})\n    {q.get('reason')}"
            for q in result
        )
    return None


def _family_counts(counts: Any) -> str:
    """A family run's counts in a line, with its worst series."""
    names = ("trained", "promoted", "refused", "registered_only", "failed", "excluded", "missing")
    done = ", ".join(f"{counts[k]} {k.replace('_', ' ')}" for k in names if counts.get(k))
    worst = counts.get("worst")
    return f"{counts.get('series_total')} series: {done or 'none trained'}" + (
        f"; worst {worst['unique_id']} ({worst['window']} MASE {worst['mase']})" if worst else ""
    )


def _one_series_text(view: Any) -> str:
    """``series MODEL ID``: what serves the series, then its history, oldest first."""
    pointer = view.get("production")
    if pointer is None:
        serving = "no production model"
    else:
        serving = (
            f"production {_v(pointer.get('version'))} (run {pointer.get('run_key')}, data end "
            f"{str(pointer.get('data_end') or '-')[:10]}, by {pointer.get('by')})"
        )
        if pointer.get("key") == "refreshed":
            serving += ", the champion refreshed on that run's data"
        if pointer.get("pinned"):
            serving += (
                f", pinned by {pointer['pinned'].get('by')}: {pointer['pinned'].get('reason')}"
            )
    family_pin = view.get("family_pinned")
    if family_pin:
        serving += f"; family pinned by {family_pin.get('by')}: {family_pin.get('reason')}"
    lines = [f"{view['unique_id']} of {view['model']}: {serving}"]
    if view.get("history_older"):
        lines.append(f"(older: {view['history_older']})")
    for h in view.get("history") or []:
        lines.append(
            f"{h['at']}  {h['action']:<10} {_v(h.get('from_version')):>5} -> "
            f"{_v(h.get('to_version')):<5} by {h['by']}: {h.get('reason')}"
        )
    if view.get("history_before"):
        lines.append(f"(older entries: --before {view['history_before']})")
    return "\n".join(lines)


def _run_series_text(view: Any) -> str:
    """``run-series KEY``: each series' verdict in a line."""
    lines = [
        f"run {view['run_key']} ({_v(view.get('version'))}): {view['series_count']} series",
        "series                   status    verdict     MASE      reason",
    ]
    for uid, v in view["series"].items():
        error = v.get("error") or {}
        mase = f"{error['mase']:.3f}" if isinstance(error.get("mase"), int | float) else "-"
        lines.append(
            f"{uid:<24} {v.get('status') or '-':<9} {v.get('action') or '-':<11} {mase:<9} "
            f"{v.get('reason')}"
        )
    if view.get("next_after"):
        lines.append(f"(more: --after {view['next_after']})")
    return "\n".join(lines)


def _family_text(view: Any) -> str:
    """``family <model> show``: production, the last run's counts, worst and failed series,
    and the series table (what needs a look first)."""
    serving = ", ".join(f"v{v} x {n}" for v, n in view["versions_serving"].items())
    pin = view.get("pinned")
    lines = [
        f"{view['model']}: {view['series_in_production']} series in production"
        + (f" ({serving})" if serving else "")
        + (f", family pinned by {pin['by']}: {pin['reason']}" if pin else "")
    ]
    run = view.get("run")
    if run is None:
        return "\n".join([*lines, "no family run finalised yet"])
    counts = dict(run["counts"], worst=None)
    lines.append(f"last run {run['run_key']} ({_v(run.get('version'))}): {_family_counts(counts)}")
    for w in view["worst"]:
        lines.append(
            f"worst: {w['unique_id']} {w['window']} MASE {w['mase']} ({w['action']}, "
            f"production {_v(w.get('production_version'))})"
        )
    lines += [f"failed: {f['unique_id']}: {f['reason']}" for f in view["failed"]]
    lines.append("series                   verdict     MASE      production  reason")
    for r in view["series"]:
        mase = f"{r['mase']:.3f}" if isinstance(r.get("mase"), int | float) else "-"
        lines.append(
            f"{r['unique_id']:<24} {r['action']:<11} {mase:<9} "
            f"{_v(r.get('production_version')):<11} {r.get('reason')}"
        )
    if view["series_shown"] < view["series_total"]:
        lines.append(f"({view['series_shown']} of {view['series_total']} series shown; --limit)")
    return "\n".join(lines)
