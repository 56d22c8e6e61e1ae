"""``AzureMLModelRegistry``: the ``ModelRegistry`` port with versions in the Azure ML
workspace's model registry and the production alias in our own blob store.

Versions. ``register`` creates ``Model(name, path="azureml://jobs/<job>/outputs/model",
type="custom_model")`` from the pipeline job that trained it (``lineage["pipeline_run_id"]``;
the artifact URI when there is no job; a family run names its output, ``models``, in
``lineage["job_output"]``), so Studio links the version to its job. Tags carry
what people filter on in Studio (run key, gate verdict, code version, snapshot id, job,
trigger, MASE); properties, which Azure ML keeps immutable, carry the lineage: the
artifact URI the service uses, the metrics and manifest URIs, the pipeline hash and the
lineage JSON itself when it fits in ``lineage_limit`` characters (otherwise a summary
without the per-fold error lists, marked ``retrain_lineage_complete=false``; the full
metrics stay at ``metrics_uri``). Registering a run key that is already registered
returns that version.

Aliases. Azure ML has no compare-and-swap on tags, so the alias that decides what is in
production stays where the local backend keeps it: a JSON document in the state store
(``registry/<name>/aliases/<alias>.json``), moved by ETag compare-and-swap by the same
code as ``DocumentModelRegistry`` (whose version check is pointed at the workspace). After
the alias moves, the versions' tags are made to agree (``<alias>: "true"`` on the new one,
removed from the old one) so Studio shows what is in production. A failure there is
logged and left to ``repair_mirror``, which the sweep runs: the blob alias is the truth,
the tag its mirror.

Concurrency caveat: the SDK numbers a new version as the container's ``nextVersion`` and
PUTs it unconditionally; two registrations of the same model racing in the same second
could both pick one number. ``register`` reads the version back and raises
``ConflictError`` if it is not its own, so the caller retries; the overwritten version is
re-registered on the other writer's retry.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import ResourceNotFoundError

from shared.adapters.azure.pipeline import _Client
from shared.adapters.azure.workspace import RetryPolicy, classify, describe
from shared.adapters.document_registry import DocumentModelRegistry
from shared.errors import ConflictError, NotFound, RegistryError
from shared.parsing import MODEL_TAG
from shared.ports import AliasState, Clock, ModelVersion, StateStore

if TYPE_CHECKING:
    from azure.ai.ml import MLClient

logger = logging.getLogger(__name__)

ALIAS_TAG_VALUE = "true"
P_ARTIFACT = "retrain_artifact_uri"
P_LINEAGE = "retrain_lineage"
P_COMPLETE = "retrain_lineage_complete"
_TAG_LIMIT = 256


class _WorkspaceAliases(DocumentModelRegistry):
    """``DocumentModelRegistry``'s alias documents and compare-and-swap, with the check
    that a version exists asked of the workspace instead of the document store."""

    def __init__(self, store: StateStore, clock: Clock, versions: AzureMLModelRegistry) -> None:
        super().__init__(store, clock)
        self._versions = versions

    def get_version(self, name: str, version: int) -> ModelVersion:
        return self._versions.get_version(name, version)


class AzureMLModelRegistry:
    """The ``ModelRegistry`` port over the workspace registry and the state store.

    ``ml_client`` is an ``MLClient`` or a factory for one; ``state`` and ``clock`` are the
    service's own (the alias documents live beside the run records).
    """

    def __init__(
        self,
        ml_client: MLClient | Callable[[], MLClient],
        *,
        state: StateStore,
        clock: Clock,
        retry: RetryPolicy | None = None,
        lineage_limit: int = 8000,
    ) -> None:
        self._client = _Client(ml_client)
        self._retry = retry or RetryPolicy()
        self._aliases = _WorkspaceAliases(state, clock, self)
        self._lineage_limit = lineage_limit

    # -- versions -------------------------------------------------------------------------

    def register(
        self,
        name: str,
        *,
        artifact_uri: str,
        tags: Mapping[str, str],
        lineage: Mapping[str, Any],
    ) -> ModelVersion:
        from azure.ai.ml.entities import Model

        run_key = str(tags.get("run_key") or lineage.get("run_key") or "")
        job = str(lineage.get("pipeline_run_id") or "")
        # A family run's version is its job's ``models`` output (``lineage["job_output"]``).
        output = str(lineage.get("job_output") or "model")
        model = Model(
            name=name,
            path=f"azureml://jobs/{job}/outputs/{output}" if job else artifact_uri,
            type="custom_model",
            description=f"retrained by run {run_key}" if run_key else None,
            tags=self._tags(name, tags, lineage),
            properties=self._properties(artifact_uri, lineage),
        )
        what = f"registration of model {name} for run {run_key or '?'}"
        last = None
        for attempt in range(1, self._retry.attempts + 1):
            if run_key:
                existing = self._find(name, run_key)
                if existing is not None:
                    logger.info("run %s is already %s version %s", run_key, name, existing.version)
                    return existing
            try:
                created = self._client.get().models.create_or_update(model)
            except Exception as exc:
                last = classify(exc)
                if not last.retry:
                    raise RegistryError(f"{what} failed: {last.summary}") from exc
                if attempt < self._retry.attempts:
                    self._retry.wait(attempt, last, what)
                continue
            version = _to_version(created)
            if run_key and version.tags.get("run_key") != run_key:
                raise ConflictError(
                    f"{name} version {version.version} was registered concurrently by run "
                    f"{version.tags.get('run_key')}; retry the registration of run {run_key}"
                )
            logger.info("registered %s version %s from %s", name, version.version, model.path)
            return version
        summary = last.summary if last else "no attempt was made"
        raise RegistryError(f"{what} failed {self._retry.attempts} times; last: {summary}")

    def get_version(self, name: str, version: int) -> ModelVersion:
        ml = self._client.get()
        try:
            model = self._retry.call(
                f"models.get {name}:{version}", lambda: ml.models.get(name, version=str(version))
            )
        except ResourceNotFoundError:
            raise NotFound(f"model {name!r} has no version {version}") from None
        except Exception as exc:
            raise RegistryError(
                f"could not read {name} version {version}: {describe(exc)}"
            ) from exc
        return _to_version(model)

    def list_versions(self, name: str) -> list[ModelVersion]:
        ml = self._client.get()
        try:
            models = self._retry.call(
                f"models.list {name}", lambda: list(ml.models.list(name=name))
            )
        except ResourceNotFoundError:
            return []
        except Exception as exc:
            raise RegistryError(f"could not list versions of {name}: {describe(exc)}") from exc
        return sorted((_to_version(m) for m in models), key=lambda v: v.version)

    # -- aliases --------------------------------------------------------------------------

    def get_alias(self, name: str, alias: str) -> AliasState:
        return self._aliases.get_alias(name, alias)

    def set_alias(self, name: str, alias: str, version: int, *, etag: str | None) -> AliasState:
        state = self._aliases.set_alias(name, alias, version, etag=etag)
        try:
            self.repair_mirror(name, alias)
        except Exception as exc:
            logger.warning(
                "alias %s of %s moved to version %s, but its tag mirror in the workspace "
                "was not updated (the sweep repairs it): %s",
                alias,
                name,
                version,
                describe(exc),
            )
        return state

    def reconcile(self, name: str) -> None:
        """The sweep's repair: the production tag follows the alias (a crash between
        moving the alias and tagging leaves them apart)."""
        self.repair_mirror(name)

    def repair_mirror(self, name: str, alias: str = "production") -> dict[int, str]:
        """Make the workspace versions' ``<alias>`` tags agree with the alias in the
        state store. Returns what changed: ``{version: "tagged" | "untagged"}``."""
        target = self._aliases.get_alias(name, alias).version
        changes: dict[int, str] = {}
        versions = self.list_versions(name)
        # Tag the new one first: for a moment two versions say "production", never none.
        ordered = sorted(versions, key=lambda v: v.version != target)
        for version in ordered:
            tagged = version.tags.get(alias) == ALIAS_TAG_VALUE
            if version.version == target and not tagged:
                self._retag(name, version.version, alias, add=True)
                changes[version.version] = "tagged"
            elif version.version != target and alias in version.tags:
                self._retag(name, version.version, alias, add=False)
                changes[version.version] = "untagged"
        if changes:
            logger.info("alias %s of %s mirrored onto the workspace: %s", alias, name, changes)
        return changes

    # -- helpers --------------------------------------------------------------------------

    def _find(self, name: str, run_key: str) -> ModelVersion | None:
        found = [v for v in self.list_versions(name) if v.tags.get("run_key") == run_key]
        return found[0] if found else None

    def _retag(self, name: str, version: int, alias: str, *, add: bool) -> None:
        ml = self._client.get()

        def update() -> None:
            model = ml.models.get(name, version=str(version))
            tags = dict(model.tags or {})
            if add:
                tags[alias] = ALIAS_TAG_VALUE
            else:
                tags.pop(alias, None)
            model.tags = tags
            ml.models.create_or_update(model)

        # A PUT of the whole version with its tags: repeating it is harmless.
        self._retry.call(f"tags of {name}:{version}", update)

    def _tags(
        self, name: str, tags: Mapping[str, str], lineage: Mapping[str, Any]
    ) -> dict[str, str]:
        snapshot = lineage.get("snapshot") or {}
        trigger = lineage.get("trigger") or {}
        metrics = lineage.get("metrics") or {}
        candidate = metrics.get("candidate") if isinstance(metrics, Mapping) else None
        mase = _mase(candidate)
        extra = {
            MODEL_TAG: name,
            "run_key": lineage.get("run_key"),
            "job": lineage.get("pipeline_run_id"),
            "snapshot_id": snapshot.get("snapshot_id") if isinstance(snapshot, Mapping) else None,
            "trigger": trigger.get("reason") if isinstance(trigger, Mapping) else None,
            "code_version": lineage.get("code_version"),
            "mase": f"{mase:.6g}" if mase is not None else None,
        }
        merged = {k: str(v) for k, v in extra.items() if v not in (None, "")}
        merged.update({str(k): str(v) for k, v in tags.items()})
        return {
            k: v if len(v) <= _TAG_LIMIT else v[: _TAG_LIMIT - 3] + "..." for k, v in merged.items()
        }

    def _properties(self, artifact_uri: str, lineage: Mapping[str, Any]) -> dict[str, str]:
        properties = {
            P_ARTIFACT: artifact_uri,
            "retrain_metrics_uri": lineage.get("metrics_uri"),
            "retrain_snapshot_manifest_uri": lineage.get("snapshot_manifest_uri"),
            "retrain_pipeline_sha256": lineage.get("pipeline_definition_sha256"),
            "retrain_code_version": lineage.get("code_version"),
        }
        full = json.dumps(lineage, sort_keys=True, default=str)
        complete = len(full) <= self._lineage_limit
        if not complete:
            full = json.dumps(_summary(lineage), sort_keys=True, default=str)
            if len(full) > self._lineage_limit:
                keep = ("run_key", "pipeline_run_id", "trigger", "metrics_uri", "code_version")
                full = json.dumps({k: lineage.get(k) for k in keep}, sort_keys=True, default=str)
        properties[P_LINEAGE] = full
        properties[P_COMPLETE] = "true" if complete else "false"
        return {k: str(v) for k, v in properties.items() if v not in (None, "")}


def _mase(section: Any) -> float | None:
    """The candidate's MASE in metrics schema 1 (``mase``) or 2 (``backtest.mase``)."""
    if not isinstance(section, Mapping):
        return None
    candidates = [section.get(part) for part in ("backtest", "holdout")]
    values = [c.get("mase") for c in candidates if isinstance(c, Mapping)]
    for value in [*values, section.get("mase")]:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def _summary(lineage: Mapping[str, Any]) -> dict[str, Any]:
    """The lineage without the long per-step error lists of its metrics."""
    heavy = {"folds", "holdout_errors", "errors", "origins"}

    def trim(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: trim(v) for k, v in value.items() if k not in heavy}
        if isinstance(value, list) and len(value) > 20:
            return f"<{len(value)} items>"
        return value

    return {k: trim(v) for k, v in lineage.items()}


def _to_version(model: Any) -> ModelVersion:
    properties = dict(getattr(model, "properties", None) or {})
    try:
        lineage = json.loads(properties.get(P_LINEAGE) or "{}")
    except ValueError:
        lineage = {}
    context = getattr(model, "creation_context", None)
    created: Any = getattr(context, "created_at", None)
    return ModelVersion(
        name=str(model.name),
        version=int(model.version),
        artifact_uri=str(properties.get(P_ARTIFACT) or model.path or ""),
        tags={str(k): str(v) for k, v in (model.tags or {}).items()},
        lineage=lineage if isinstance(lineage, dict) else {},
        created_at=created.isoformat() if hasattr(created, "isoformat") else str(created or ""),
    )
