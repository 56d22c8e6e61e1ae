"""The demo: the whole retraining loop on the local stack, narrated.

Monthly Mauna Loa CO2 (shipped inside statsmodels) arrives in batches as CSV blobs in
Azurite. Each blob becomes an Event Grid BlobCreated delivery to the Function App, the
trigger policy decides, the training pipeline runs in the local workspace (prep, ARIMA
order search, evaluate), the RunCompleted event comes back, the gate decides and the
model is registered and promoted. Then a schedule tick, a drift alert and a bad file show
the other paths. Everything stays on this machine.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import time
from pathlib import Path

from localdev.datasets import co2_monthly, series_csv
from localdev.stack import LocalStack, start_stack
from shared.ports import JSON
from shared.settings import APP_ROOT

log = logging.getLogger("demo")

MODEL = {
    "name": "co2",
    "prefix": "co2/",
    "frequency": "MS",
    "season_length": 12,
    "horizon": 24,
}
BATCHES = (("1958", "1985"), ("1986", "1993"), ("1994", "2001"))


def co2_batches() -> list[tuple[str, str]]:
    """(blob name, CSV text) per batch of the monthly CO2 series."""
    monthly = co2_monthly()
    batches = []
    for number, (start, end) in enumerate(BATCHES, start=1):
        part = monthly.loc[start:end]
        name = f"co2/batch-{number}-{part.index[0]:%Y%m}-{part.index[-1]:%Y%m}.csv"
        batches.append((name, series_csv(part)))
    return batches


def heading(text: str) -> None:
    print(f"\n=== {text}", flush=True)


def show_run(record: JSON) -> None:
    if record.get("status") != "Completed":
        print(f"    run {record['run_key']} {record['status']}: {record.get('error')}")
        return
    metrics = record.get("metrics") or {}
    model = metrics.get("model") or {}
    print(
        f"    model: ARIMA{tuple(model.get('order') or ())}"
        f"{tuple(model.get('seasonal_order') or ())} trend={model.get('trend')}"
    )
    backtest = metrics.get("backtest") or {}
    print(
        f"    backtest ({backtest.get('folds')} folds x {backtest.get('horizon')} steps), "
        "MASE / RMSE:"
    )
    for who in ("candidate", "champion", "baseline"):
        section = (metrics.get(who) or {}).get("backtest")
        if section:
            print(f"      {who:<10} {section['mase']:.3f} / {section['rmse']:.3f}")
    if metrics.get("champion_error"):
        print(f"      champion could not be re-scored: {metrics['champion_error']}")
    print(f"    gate: {record['gate']['reason']}")
    promoted = "PROMOTED to production" if record["promoted"] else "not promoted"
    print(f"    registered co2 v{record['model_version']}: {promoted}")
    print(f"    audit report: GET {record.get('report_url')}")


def trigger_decision(stack: LocalStack, number: int) -> JSON:
    """The model's ``number``-th trigger decision (1-based) once it is in the ledger (the
    gate's entries, written when a run is finalised, are not counted)."""
    found: list[JSON] = stack.wait_for(
        f"trigger decision {number} of co2",
        lambda: (
            (decisions := [e for e in stack.ledger("co2") if e.get("kind") == "trigger"])
            and len(decisions) >= number
            and decisions
        ),
        timeout=60,
    )
    return found[number - 1]


def run_demo(stack: LocalStack, *, run_timeout: float) -> int:
    seen = 0  # trigger decisions so far
    for number, (name, text) in enumerate(co2_batches(), start=1):
        rows = text.count("\n") - 1
        heading(f"Batch {number} of data arrives: {name} ({rows} months)")
        stack.upload(name, text)
        seen += 1
        decision = trigger_decision(stack, seen)
        print(f"    trigger policy: {decision['action'].upper()}: {decision['reason']}")
        if decision["action"] != "retrain":
            continue
        print(f"    training pipeline run {decision['run_key']} (progress in the log lines)")
        record = stack.wait_for_run(decision["run_key"], timeout=run_timeout)
        show_run(record)

    heading("A schedule tick fires (NCRONTAB from RETRAIN_SCHEDULE)")
    stack.host.fire_timer("on_schedule")
    seen += 1
    tick = trigger_decision(stack, seen)
    print(f"    trigger policy: {tick['action'].upper()}: {tick['reason']}")

    heading("A drift alert arrives (Azure Monitor common alert schema) at POST /api/drift")
    status, body = stack.request("POST", "/api/drift", drift_alert())
    outcome = body["outcomes"][0] if status == 202 else body
    print(f"    HTTP {status}; trigger policy: {outcome['action'].upper()}: {outcome['reason']}")

    heading("A bad file arrives: co2/batch-4-broken.csv with a non-numeric value")
    stack.upload("co2/batch-4-broken.csv", "timestamp,value\n2002-01-01,371.2\n2002-02-01,n/a\n")
    letters = stack.wait_for(
        "the dead letter",
        lambda: stack.service.state.list_keys("deadletter/"),
        timeout=60,
    )
    letter = stack.service.state.get(letters[-1])[0]
    print(f"    dead-lettered as {letters[-1]}")
    print(f"    reason: {letter['reason']}")
    print("    the file is quarantined: later snapshots of co2 leave it out")

    heading("Where co2 stands")
    _, versions = stack.request("GET", "/api/models/co2/versions")
    print("    version  gate      MASE*   production  run key   (*backtest)")
    for v in versions["versions"]:
        mase = f"{v['mase']:.3f}" if v["mase"] is not None else "-"
        star = "yes" if v["production"] else ""
        gate = v["tags"].get("gate", "?")
        print(f"    v{v['version']:<7} {gate:<9} {mase:<7} {star:<11} {v['tags'].get('run_key')}")
    _, ledger = stack.request("GET", "/api/models/co2/ledger")
    print(f"    audit ledger: {len(ledger['ledger'])} decisions (GET /api/models/co2/ledger)")
    production = next((v for v in versions["versions"] if v["production"]), None)
    if production is None:
        print("\nNo version of co2 reached production.")
        return 1
    print(f"\nDone: co2 v{production['version']} is in production.")
    return 0


def drift_alert() -> JSON:
    return {
        "schemaId": "azureMonitorCommonAlertSchema",
        "data": {
            "essentials": {
                "alertId": "/subscriptions/00000000-0000-0000-0000-000000000000/providers/"
                "Microsoft.AlertsManagement/alerts/demo-drift-1",
                "alertRule": "co2-forecast-error",
                "severity": "Sev3",
                "signalType": "Metric",
                "monitorCondition": "Fired",
                "monitoringService": "Platform",
                "firedDateTime": "2026-11-23T10:00:00.0000000Z",
                "description": "forecast MAPE above 2% for 3 days",
            },
            "alertContext": {},
            "customProperties": {"model": "co2"},
        },
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/demo.sh",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=APP_ROOT / ".local" / "demo",
        help="where the workspace (job folders, logs, forecast plots) goes; emptied first "
        "(default: .local/demo)",
    )
    parser.add_argument(
        "--time-budget",
        type=int,
        default=60,
        help="seconds the order search may take per run (default: 60)",
    )
    parser.add_argument(
        "--run-timeout", type=float, default=900, help="seconds to wait for one pipeline run"
    )
    parser.add_argument(
        "--verbose", action="store_true", help="also show the host's and Azure SDK's logs"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="    %(asctime)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    quiet = logging.INFO if args.verbose else logging.WARNING
    for noisy in ("azure", "localdev.host", "localdev.azurite", "shared.bootstrap"):
        logging.getLogger(noisy).setLevel(quiet)
    # The narration prints each decision; the ledger's own line for it only with --verbose.
    logging.getLogger("shared.service.context").setLevel(quiet)
    if args.workdir.exists():
        shutil.rmtree(args.workdir)
    args.workdir.mkdir(parents=True)
    started = time.monotonic()
    heading("Starting the local stack: Azurite, the Functions host, the local Azure ML workspace")
    stack = start_stack(args.workdir, models=[MODEL | {"time_budget": args.time_budget}])
    print(f"    Functions host at {stack.host.base_url}; functions:")
    for name, trigger in sorted(stack.host.function_names.items()):
        print(f"      {name:<22} {trigger}")
    try:
        code = run_demo(stack, run_timeout=args.run_timeout)
    except (TimeoutError, KeyboardInterrupt) as exc:
        print(f"\ndemo stopped: {exc or 'interrupted'}", file=sys.stderr)
        code = 1
    finally:
        stack.close()
    print(f"Job folders, logs and forecast plots: {args.workdir / 'workspace' / 'jobs'}")
    print(f"Total time {time.monotonic() - started:.0f} s.")
    return code


if __name__ == "__main__":
    sys.exit(main())
