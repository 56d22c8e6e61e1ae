"""The forecast plot (PNG, and SVG whose verdict line the service fills in)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from .core import Evaluation


def model_label(model: dict[str, Any]) -> str:
    order, seasonal = model.get("order") or [], model.get("seasonal_order") or []
    if len(order) != 3:
        return "model"
    text = "ARIMA({},{},{})".format(*order)
    if len(seasonal) == 4 and seasonal[3] > 1:
        text += "({},{},{})[{}]".format(*seasonal)
    if model.get("trend") == "c":
        text += " + const"
    transform = model.get("transform")
    if isinstance(transform, dict) and transform.get("name") == "boxcox":
        lam = transform.get("lambda")
        text += " on log" if lam == 0 else f" on Box-Cox({lam})"
    return text


# The plot's verdict line, until the service fills it in (see the module docstring).
VERDICT_ID = "retrain-verdict"
VERDICT_PLACEHOLDER = "verdict: decided by the promotion gate after this step (see the run report)"


def plot_title(metrics: dict[str, Any], run_key: str | None) -> str:
    """Model, run and metrics; the verdict is a line of its own above (VERDICT_ID)."""
    head = model_label(metrics.get("model") or {})
    if run_key:
        head += f"  ·  run {run_key}"
    parts = []
    for name, key in (("candidate", "candidate"), ("champion", "champion"), ("naive", "baseline")):
        sec = metrics.get(key)
        if isinstance(sec, dict):
            parts.append(f"{name} {sec['holdout']['mase']:.3f} / {sec['backtest']['mase']:.3f}")
        elif key == "champion" and metrics.get("champion_error"):
            parts.append("champion not scored")
    backtest = metrics["backtest"]
    return (
        f"{head}\nMASE holdout / backtest ({backtest['folds']} folds x {backtest['horizon']}): "
        + ", ".join(parts)
    )


def plot(path: Path, evaluation: Evaluation, run_key: str | None = None) -> None:
    """The forecast plot as PNG at ``path`` and as SVG beside it (``.svg``), the SVG with
    its text kept as text so the verdict line can be filled in later."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    window = evaluation.holdout
    history = window.history
    tail = history.iloc[-max(4 * len(window.actual), 48) :]
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(10, 6.5), gridspec_kw={"height_ratios": [3, 1.4]}
    )
    top.plot(tail.index, tail.to_numpy(), color="0.4", label="history")
    top.plot(window.actual.index, window.actual.to_numpy(), color="black", label="holdout")
    lines = [
        ("candidate", evaluation.candidate, "tab:blue", "-"),
        ("champion", evaluation.champion, "tab:green", "-."),
        ("seasonal naive", evaluation.baseline, "tab:orange", "--"),
    ]
    for label, scored, color, style in lines:
        if scored is None:
            continue
        fc = scored.holdout
        top.plot(window.actual.index, fc.mean, style, color=color, label=label)
        top.fill_between(window.actual.index, fc.lower, fc.upper, color=color, alpha=0.12)
    top.legend(loc="upper left", fontsize=8)
    top.set_title(plot_title(evaluation.metrics, run_key), fontsize=9)
    origins = [pd.Timestamp(w.origin) for w in evaluation.folds]
    for label, scored, color, _ in lines:
        if scored is None:
            continue
        fold_mase = [f["mase"] for f in scored.section["folds"]]
        bottom.plot(origins, fold_mase, "o-", color=color, label=label)
    bottom.set_ylabel("MASE per fold")
    bottom.set_xlabel("backtest origin")
    bottom.axhline(1.0, color="0.7", linewidth=0.8)
    fig.text(
        0.5, 0.995, VERDICT_PLACEHOLDER, ha="center", va="top", fontsize=8.5, weight="bold"
    ).set_gid(VERDICT_ID)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=100)
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "retrain"}):
        fig.savefig(path.with_suffix(".svg"), format="svg", metadata={"Date": None})
    plt.close(fig)
