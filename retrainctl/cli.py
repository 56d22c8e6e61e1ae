"""The ``retrainctl`` commands. ``main(argv, service=...)`` takes a service built elsewhere
(tests pass one wired to fakes); by default it is built from the environment."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from shared.errors import ConflictError, InvalidInput, RetrainError
from shared.messages import (
    PauseRequested,
    PinRequested,
    PromoteRequested,
    ResumeRequested,
    RollbackRequested,
    UnpinRequested,
)
from shared.parsing import parse_version_number
from shared.service import Outcome, RetrainService

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

exit status: 0 done, 1 refused or failed (the message says why), 3 production moved
meanwhile (look again and decide again), 2 bad command line.
"""


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name available (some containers)
        return "retrainctl"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m retrainctl",
        description="Look at and steer the retraining service: models, versions, promotion "
        "history, ledger, rollback, manual promotion, pin/unpin, pause/resume, audit reports.",
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
        ("rollback", "move production back to an earlier version"),
        ("promote", "put any registered version into production by hand"),
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
    pin = commands.add_parser("pin", help="hold production: automatic promotion only registers")
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
    return 0


def _outcome(outcomes: list[Outcome]) -> list[dict[str, Any]]:
    return [o.as_dict() for o in outcomes]


def _report(service: RetrainService, args: argparse.Namespace) -> str:
    if args.run:
        return service.run_report(args.run)
    if args.model is None or args.version is None:
        raise InvalidInput("report needs --run KEY, or MODEL and VERSION")
    return service.version_report(args.model, args.version)


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
}


def _v(version: Any) -> str:
    return f"v{version}" if version is not None else "-"


def _text(command: str, result: Any) -> str:
    """A short human-readable rendering of a command's result."""
    if command == "models":
        return "\n".join(
            f"{m['name']:<16} production {_v(m['production_version']):<6}"
            f"{' PINNED' if m['pinned'] else ''}\n  gate: {m['gate_policy']}"
            for m in result
        )
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
    return "\n".join(f"{o['action'].upper()}: {o['reason']}" for o in result)
