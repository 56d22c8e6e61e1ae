"""Read-only views for the HTTP API and the local tools."""

from __future__ import annotations

from shared.errors import NotFound
from shared.ports import JSON
from shared.service.context import Context
from shared.service.promotion import PRODUCTION


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
            "mase": (v.lineage.get("metrics") or {}).get("candidate", {}).get("mase"),
        }
        for v in ctx.registry.list_versions(model)
    ]


def list_ledger(ctx: Context, model: str, *, limit: int | None = None) -> list[JSON]:
    """The model's decisions, oldest first; with ``limit``, only the newest ones."""
    keys = ctx.state.list_keys(f"ledger/{model}/")
    if limit is not None:
        keys = keys[-limit:] if limit > 0 else []
    return [ctx.state.get(key)[0] for key in keys]
