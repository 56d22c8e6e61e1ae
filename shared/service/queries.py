"""Read-only views for the HTTP API and the local tools."""

from __future__ import annotations

from typing import Any

from shared.errors import NotFound
from shared.ports import JSON
from shared.service import audit
from shared.service.context import Context
from shared.service.promotion import PRODUCTION, get_pin
from shared.service.promotion import list_history as _history


def get_run(ctx: Context, run_key: str) -> JSON:
    return ctx.state.get(f"runs/{run_key}.json")[0]


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
    """The model's decisions, oldest first; with ``limit``, only the newest ones."""
    keys = ctx.state.list_keys(f"ledger/{model}/")
    if limit is not None:
        keys = keys[-limit:] if limit > 0 else []
    return [ctx.state.get(key)[0] for key in keys]


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
    return audit.run_report(ctx, run_key)


def version_report(ctx: Context, model: str, version: int) -> str:
    return audit.version_report(ctx, model, version)
