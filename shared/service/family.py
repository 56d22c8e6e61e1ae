"""Families (a model declared with ``series_columns``): what the service submits, and the
per-series production pointers it keeps.

A family run trains every series of the model in one pipeline run (``family_pipeline.yml``,
docs/many-series.md). The registry gets **one version per family run** (its ``models``
folder: one file per shard); what serves each series is a **pointer per series** in one
state document, ``family/<model>/production.json``::

    {"schema": "family-production/1", "model": "stores",
     "pinned": null | {"by", "reason", "at"},          # the whole family held
     "last_completed": {"run_key", "version", "data_end", "at"} | null,
     "series": {"<unique_id>": {
         "version": 7, "run_key": "<R>", "model_file": "shard-00005.pkl",
         "key": absent | "refreshed",   # which record of the models file serves it
         "data_end": iso, "since": iso, "by": "gate" | "<operator>",
         "pinned": null | {"by", "reason", "at"},
         "previous": null | {"version", "run_key", "model_file", "data_end"}}},
     "history": {"<unique_id>": "<bucket>/<name>"}}   # each series' newest history entry

``model_file`` is relative to ``retrain/<run key>/models/``; ``key`` says which of its
records serves the series: absent, the run's own fit (``models``); ``"refreshed"``, the
champion the run's gate kept, its stored parameters applied to the run's data (the
``refreshed`` records), so that a refused series is still served up to its last
observation. The document moves only by
ETag compare-and-swap, and inside it each series moves only when its pointer is still the
champion that series was compared with (see ``shared.service.family_finalise``), so one
conditional write moves any number of series while keeping the per-series guarantee; a
loser re-reads and re-decides per series.

Submission: the family pipeline's inputs are the model literals, ``series_columns``
(joined by ","), ``previous`` (the output root of the family's last completed run: its
unchanged series are carried over, not fitted) and ``champions`` (a folder prepared here:
``champions.json`` and the champion series' models files, copied server-side from the
runs that produced them).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from shared.errors import ConflictError, NotFound
from shared.ports import FAMILY_PIPELINE, JSON, PipelineSubmission
from shared.service.context import Context
from shared.settings import ModelConfig

# A pointer (and a champions.json entry) with this key names the models file's "refreshed"
# record of the series, not its fit.
REFRESHED = "refreshed"

log = logging.getLogger(__name__)

PRODUCTION_SCHEMA = "family-production/1"
CHAMPIONS_SCHEMA = "family-champions/1"
RESULT_SCHEMA = "family-result/1"
RESULTS_FILE = "results/parallel_run_step.txt"
PREP_FILE = "prepared/prep.json"
# Literal inputs of family_pipeline.yml taken from the model's configuration.
FAMILY_LITERALS = (
    "frequency",
    "season_length",
    "horizon",
    "time_column",
    "value_column",
    "max_gap",
    "time_budget",
    "backtest_folds",
    "backtest_horizon",
    "transform",
)
CAS_ATTEMPTS = 10


def is_family(record: Mapping[str, Any], ctx: Context) -> bool:
    """Whether run record ``record`` is a family run (recorded at submit; else the model's
    configuration says so)."""
    if record.get("pipeline") is not None:
        return record.get("pipeline") == FAMILY_PIPELINE
    config = ctx.models.get(str(record.get("model")))
    return bool(config is not None and config.series_columns)


def production_key(model: str) -> str:
    return f"family/{model}/production.json"


def champions_path(key: str) -> str:
    return f"retrain/{key}/champions/"


def run_root(key: str) -> str:
    return f"retrain/{key}/"


def empty_production(model: str) -> JSON:
    return {
        "schema": PRODUCTION_SCHEMA,
        "model": model,
        "pinned": None,
        "last_completed": None,
        "series": {},
    }


def read_production(ctx: Context, model: str) -> tuple[JSON, str | None]:
    """The family's production document and its ETag (None: never written)."""
    try:
        document, etag = ctx.state.get(production_key(model))
    except NotFound:
        return empty_production(model), None
    document.setdefault("series", {})
    return document, etag


def write_production(ctx: Context, model: str, document: JSON, etag: str | None) -> str:
    """Compare-and-swap the production document (create when ``etag`` is None);
    ``ConflictError`` when someone wrote it first."""
    document["updated_at"] = ctx.clock.now().isoformat()
    if etag is None:
        return ctx.state.create(production_key(model), document)
    return ctx.state.replace(production_key(model), document, etag=etag)


def change_production(
    ctx: Context,
    model: str,
    change: Any,
    *,
    before_write: Callable[[JSON], None] | None = None,
) -> tuple[JSON, Any]:
    """Apply ``change(document) -> result`` and write it by compare-and-swap, re-reading
    and re-applying when another writer came first. ``change`` decides per series on the
    document it is given, so a retry re-decides against the newer pointers. Returns the
    written document and ``change``'s result; a result of ``None`` writes nothing.
    ``before_write(document)`` runs after each ``change`` that writes, before the swap
    (the series' history chain is written there: ``shared.service.family_history``)."""
    for _ in range(CAS_ATTEMPTS):
        document, etag = read_production(ctx, model)
        result = change(document)
        if result is None:
            return document, None
        if before_write is not None:
            before_write(document)
        try:
            write_production(ctx, model, document, etag)
            return document, result
        except ConflictError:
            continue
    raise ConflictError(
        f"the production pointers of family {model} kept changing; gave up after "
        f"{CAS_ATTEMPTS} tries (the retry finishes the job)"
    )


# ------------------------------------------------------------------------------ submission


def family_submission(
    single: PipelineSubmission, record: Mapping[str, Any], config: ModelConfig, ctx: Context
) -> PipelineSubmission:
    """The family pipeline's submission for run ``single.run_key`` (built from the single
    series one: same data, manifest and tags), with ``previous`` and ``champions`` when the
    family has them. Prepares the champions folder (idempotent: an existing
    ``champions.json`` is reused, so a resubmit sends what the first submit sent) and
    notes the pipeline and champion count in the run record."""
    key = single.run_key
    literals = config.pipeline_inputs()
    inputs: dict[str, str | int | float] = {
        "data": single.inputs["data"],
        "manifest": single.inputs["manifest"],
        "series_columns": ",".join(config.series_columns),
        **{name: literals[name] for name in FAMILY_LITERALS if name in literals},
    }
    if "rerun_salt" in single.inputs:  # a forced run: every step's inputs differ, no reuse
        inputs["rerun_salt"] = single.inputs["rerun_salt"]
    production, _ = read_production(ctx, config.name)
    last = production.get("last_completed")
    previous = str(last["run_key"]) if isinstance(last, Mapping) and last.get("run_key") else None
    if previous:
        inputs["previous"] = ctx.artifacts.uri(run_root(previous))
    champions = prepare_champions(key, production, ctx)
    if champions["series"]:
        inputs["champions"] = ctx.artifacts.uri(champions_path(key))
    ctx.update_run(
        key,
        {
            "pipeline": FAMILY_PIPELINE,
            "family_inputs": {
                "previous": previous,
                "champions": len(champions["series"]),
                "champions_missing": len(champions.get("missing") or {}),
            },
        },
    )
    return PipelineSubmission(
        run_key=key,
        model=single.model,
        inputs=inputs,
        tags=dict(single.tags),
        experiment=single.experiment,
        pipeline=FAMILY_PIPELINE,
    )


def prepare_champions(key: str, production: Mapping[str, Any], ctx: Context) -> JSON:
    """Write ``retrain/<key>/champions/``: each production series' models file copied from
    the run that produced it (``<champion run>/<shard>.pkl``, once per file) and
    ``champions.json`` naming them, written last so its presence means the copies are
    there. A champion whose file is gone is listed under ``missing`` with the reason (the
    finalisation then refuses that series instead of judging it as a first model)."""
    folder = champions_path(key)
    try:
        return ctx.artifacts.read_json(folder + "champions.json")
    except NotFound:
        pass
    series: dict[str, JSON] = {}
    missing: dict[str, str] = {}
    copied: dict[str, str | None] = {}  # source -> error (None: copied)
    for uid, pointer in sorted((production.get("series") or {}).items()):
        if not isinstance(pointer, Mapping) or not pointer.get("run_key"):
            continue
        run, shard_file = str(pointer["run_key"]), str(pointer.get("model_file") or "")
        if not shard_file:
            missing[uid] = f"production v{pointer.get('version')} names no models file"
            continue
        source = f"retrain/{run}/models/{shard_file}"
        if source not in copied:
            try:
                ctx.artifacts.copy(source, f"{folder}{run}/{shard_file}")
                copied[source] = None
            except NotFound as exc:
                copied[source] = str(exc)
        if copied[source] is not None:
            missing[uid] = f"the champion's models file {source} is gone: {copied[source]}"
            continue
        series[uid] = {
            "run_key": run,
            "version": pointer.get("version"),
            "model_file": f"{run}/{shard_file}",
            "data_end": pointer.get("data_end"),
        }
        if pointer.get("key") == REFRESHED:
            series[uid]["key"] = REFRESHED
    document: JSON = {"schema": CHAMPIONS_SCHEMA, "series": series}
    if missing:
        document["missing"] = missing
        log.warning(
            "run %s: %d champion series have no models file to compare with (refused at "
            "the gate): %s",
            key,
            len(missing),
            ", ".join(sorted(missing)[:5]),
        )
    ctx.artifacts.write_json(folder + "champions.json", document)
    return document


def pointer_brief(pointer: Any) -> JSON | None:
    """What a series' pointer names (kept as the next pointer's ``previous``), or None."""
    if not isinstance(pointer, Mapping):
        return None
    brief = {k: pointer.get(k) for k in ("version", "run_key", "model_file", "data_end")}
    if pointer.get("key"):  # "refreshed": the champion refreshed on that run's data
        brief["key"] = pointer["key"]
    return brief
