"""Read-only views for the HTTP API and the local tools."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from shared.errors import InvalidInput, NotFound
from shared.parsing.common import check_run_key
from shared.ports import JSON
from shared.service import audit
from shared.service.context import Context
from shared.service.promotion import PRODUCTION, get_pin
from shared.service.promotion import list_history as _history

# Ledger entries read at once: each is one blob read, the page's cost.
_LEDGER_READERS = 8


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
        }
        for m in ctx.models.values()
    ]


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

    One listing of the names, then one read per entry returned (a few at a time), so a
    page costs its own size, whatever the history's.
    """
    if model not in ctx.models:
        raise NotFound(f"unknown model {model!r}")
    keys = ctx.state.list_keys(f"ledger/{model}/")
    if limit is not None:
        keys = keys[-limit:] if limit > 0 else []
    if len(keys) <= 1:
        return [ctx.state.get(key)[0] for key in keys]
    with ThreadPoolExecutor(min(_LEDGER_READERS, len(keys))) as pool:
        return list(pool.map(lambda key: ctx.state.get(key)[0], keys))


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
