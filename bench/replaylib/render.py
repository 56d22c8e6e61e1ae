"""The printed table, the targets' lines and the progress line of each arrival."""

from __future__ import annotations

from typing import Any

from bench.replaylib.records import ArrivalRecord


def _fmt(value: float | None, width: int = 7) -> str:
    return f"{value:{width}.3f}" if value is not None else f"{'-':>{width}}"


TABLE_HEAD = (
    f"{'series':<22}{'arr':>4}{'runs':>5}{'prom':>5}{'repl':>5}{'ref':>5}{'fail':>5}"
    f"{'noprod':>7}{'worse':>6}{'refB':>5} |{'served':>8}{'model':>8}{'AutoAR':>8}{'naive':>8}"
)


def table_row(name: str, summary: dict[str, Any]) -> str:
    means = summary["mean_mase"]
    return (
        f"{name:<22}{summary['arrivals']:>4}{summary['runs']:>5}{summary['promotions']:>5}"
        f"{summary['promotions_replacing_champion']:>5}{summary['refusals']:>5}"
        f"{summary['failed']:>5}{summary['without_production']:>7}"
        f"{summary['worse_promotions']:>6}{summary['refused_better']:>5} |"
        f" {_fmt(means['served'])} {_fmt(means['served_model_only'])}"
        f" {_fmt(means['autoarima'])} {_fmt(means['naive'])}"
    )


def render(per_series: dict[str, dict[str, Any]], total: dict[str, Any]) -> str:
    lines = [TABLE_HEAD, "-" * len(TABLE_HEAD)]
    lines += [table_row(name, summary) for name, summary in per_series.items()]
    lines += ["-" * len(TABLE_HEAD), table_row("total", total)]
    lines += [
        "",
        "arr: arrivals (blobs); runs: runs started; prom: promotions; repl: promotions that",
        "replaced a champion; ref: refusals (completed, not promoted); fail: failed runs;",
        "noprod: arrivals left without a production model; worse: promotions worse than the",
        "replaced champion on the run's holdout (re-scored here); refB: refusals of a",
        "challenger that re-scored better than the champion kept. Mean MASE on the newly",
        "arrived points: served (the production model just before; seasonal naive when none),",
        "model (served, only arrivals with a production model), AutoAR (statsforecast",
        "AutoARIMA refitted on all earlier data at every arrival), naive (seasonal naive).",
    ]
    means = total["mean_mase"]
    for label, text in (
        ("promoted", "promoted at the previous arrival"),
        ("refreshed", "refreshed at the previous arrival (the gate refused the candidate)"),
        ("older", "older (later runs failed or left production as it was)"),
    ):
        group = total["served_by"][label]
        lines.append(
            f"served by a model {text}: {group['arrivals']} arrivals, served "
            f"{_fmt(group['served'], 0)}, AutoARIMA {_fmt(group['autoarima'], 0)}, "
            f"naive {_fmt(group['naive'], 0)}"
        )
    lines.append(
        f"model-only arrivals: {total['served_arrivals_with_model']} of "
        f"{total['scored_arrivals']} scored; on them AutoARIMA "
        f"{_fmt(means['autoarima_same_arrivals'], 0)}, "
        f"naive {_fmt(means['naive_same_arrivals'], 0)}"
    )
    return "\n".join(lines)


def render_targets(result: dict[str, dict[str, Any]], total: dict[str, Any]) -> str:
    no_worse, served = result["no_worse_promotions"], result["served_vs_autoarima"]
    unscored = total["promotions_replacing_champion"] - total["rescored_replacements"]
    note = f" ({unscored} replacement(s) could not be re-scored)" if unscored else ""
    means = total["mean_mase"]
    return "\n".join(
        [
            f"target: {no_worse['text']}: {no_worse['value']} of "
            f"{total['promotions_replacing_champion']} ({total['worse_promotions_by_5pct']} by "
            f"more than 5 %){note}: " + ("PASS" if no_worse["passed"] else "FAIL"),
            f"target: {served['text']}: served {_fmt(means['served'], 0)} vs AutoARIMA "
            f"{_fmt(means['autoarima'], 0)} (naive {_fmt(means['naive'], 0)}): "
            + ("PASS" if served["passed"] else "FAIL"),
        ]
    )


def progress_line(record: ArrivalRecord, total: int) -> str:
    head = f"  {record.series:<22} arrival {record.arrival:>2}/{total - 1:<2} "
    head += f"rows {record.rows[0]:>3}-{record.rows[1] - 1:<3} "
    if not record.ran:
        what = f"{record.decision or 'no decision'}: {record.reason}"
    elif not record.completed:
        what = f"run {record.status}: {record.reason[:80]}"
    elif record.promoted:
        was = f"v{record.production_before}" if record.production_before else "none"
        what = f"promoted v{record.version} (was {was})"
    else:
        what = f"refused v{record.version} (production v{record.production_after})"
    if record.rescored:
        what += (
            f"; holdout cand {record.candidate_holdout_mase:.3f} "
            f"champ {record.champion_holdout_mase:.3f}"
        )
    if record.scored:
        what += (
            f" | served {_fmt(record.served_mase, 0)} AutoARIMA {_fmt(record.autoarima_mase, 0)}"
            f" naive {_fmt(record.naive_mase, 0)}"
        )
    return f"{head}{what} ({record.seconds:.1f}s)"
