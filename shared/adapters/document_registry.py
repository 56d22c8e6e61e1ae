"""A model registry kept as JSON documents in a StateStore (the local stand-in for the
Azure ML model registry).

Layout, one document per fact::

    registry/<name>/versions/000001.json    a registered version and its lineage
    registry/<name>/aliases/production.json where an alias points (and where it pointed)

Both writes are conditional, so any number of app instances can share the store:
a version is written create-if-absent (two concurrent registrations race for the same
number, the loser retries with the next one) and an alias moves only with
compare-and-swap on the ETag its writer read.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from shared.errors import ConflictError, InvalidInput, NotFound
from shared.ports import JSON, AliasState, Clock, ModelVersion, StateStore

logger = logging.getLogger(__name__)

# Azure ML model names: letters, digits, '-', '_' and '.', starting with a letter or digit.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
_VERSION_FILE = re.compile(r"^(\d{6,})\.json$")


class DocumentModelRegistry:
    """The ``ModelRegistry`` port over a ``StateStore`` and a ``Clock``.

    ``max_attempts`` bounds how often ``register`` retries after losing a race for a
    version number (each loss means another writer registered a version meanwhile).
    """

    def __init__(self, store: StateStore, clock: Clock, *, max_attempts: int = 50) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._store = store
        self._clock = clock
        self._max_attempts = max_attempts

    # -- versions ---------------------------------------------------------------------

    def register(
        self,
        name: str,
        *,
        artifact_uri: str,
        tags: Mapping[str, str],
        lineage: Mapping[str, Any],
    ) -> ModelVersion:
        _check_name("model name", name)
        for _ in range(self._max_attempts):
            version = self._highest_version(name) + 1
            model = ModelVersion(
                name=name,
                version=version,
                artifact_uri=artifact_uri,
                tags=dict(tags),
                lineage=dict(lineage),
                created_at=self._clock.now().isoformat(),
            )
            try:
                self._store.create(_version_key(name, version), _version_document(model))
            except ConflictError:
                logger.info("version %s of model %s was taken meanwhile; retrying", version, name)
                continue
            logger.info("registered model %s version %s (%s)", name, version, artifact_uri)
            return model
        raise ConflictError(
            f"could not register a version of model {name!r}: lost the race for a version "
            f"number {self._max_attempts} times; retry later"
        )

    def get_version(self, name: str, version: int) -> ModelVersion:
        _check_name("model name", name)
        try:
            document, _ = self._store.get(_version_key(name, version))
        except NotFound:
            raise NotFound(f"model {name!r} has no version {version}") from None
        return _version_from_document(document)

    def list_versions(self, name: str) -> list[ModelVersion]:
        _check_name("model name", name)
        models = []
        for version in self._version_numbers(name):
            try:
                document, _ = self._store.get(_version_key(name, version))
            except NotFound:  # listed then deleted by hand: not a version any more
                continue
            models.append(_version_from_document(document))
        return models

    def _version_numbers(self, name: str) -> list[int]:
        prefix = f"registry/{name}/versions/"
        numbers = []
        for key in self._store.list_keys(prefix):
            match = _VERSION_FILE.match(key[len(prefix) :])
            if match:
                numbers.append(int(match.group(1)))
        return sorted(numbers)

    def _highest_version(self, name: str) -> int:
        numbers = self._version_numbers(name)
        return numbers[-1] if numbers else 0

    # -- aliases ----------------------------------------------------------------------

    def get_alias(self, name: str, alias: str) -> AliasState:
        _check_name("model name", name)
        _check_name("alias", alias)
        try:
            document, etag = self._store.get(_alias_key(name, alias))
        except NotFound:
            return AliasState(alias=alias, version=None, etag=None)
        return AliasState(alias=alias, version=int(document["version"]), etag=etag)

    def reconcile(self, name: str) -> None:
        """Nothing to repair: versions and aliases live in the same store."""

    def set_alias(self, name: str, alias: str, version: int, *, etag: str | None) -> AliasState:
        _check_name("model name", name)
        _check_name("alias", alias)
        self.get_version(name, version)  # NotFound for a version that was never registered
        key = _alias_key(name, alias)
        now = self._clock.now().isoformat()
        if etag is None:
            document: JSON = {
                "name": name,
                "alias": alias,
                "version": version,
                "previous_version": None,
                "updated_at": now,
            }
            try:
                new_etag = self._store.create(key, document)
            except ConflictError:
                raise ConflictError(
                    f"alias {alias!r} of model {name!r} is already set; read it and pass its etag"
                ) from None
            previous = None
        else:
            try:
                current, current_etag = self._store.get(key)
            except NotFound:
                raise ConflictError(
                    f"alias {alias!r} of model {name!r} is not set; pass etag=None to set it"
                ) from None
            if current_etag != etag:
                raise ConflictError(
                    f"alias {alias!r} of model {name!r} moved since it was read; "
                    "read it again and decide again"
                )
            previous = current.get("version")
            document = {
                "name": name,
                "alias": alias,
                "version": version,
                "previous_version": previous,
                "updated_at": now,
            }
            try:
                new_etag = self._store.replace(key, document, etag=etag)
            except ConflictError:
                raise ConflictError(
                    f"alias {alias!r} of model {name!r} moved since it was read; "
                    "read it again and decide again"
                ) from None
        logger.info("alias %s of model %s: %s -> %s", alias, name, previous, version)
        return AliasState(alias=alias, version=version, etag=new_etag)


def _check_name(what: str, value: str) -> None:
    if not _NAME.match(value):
        raise InvalidInput(
            f"{what} {value!r} is not valid: use letters, digits, '.', '-' and '_', "
            "starting with a letter or digit"
        )


def _version_key(name: str, version: int) -> str:
    if version < 1:
        raise NotFound(f"model {name!r} has no version {version}: versions start at 1")
    return f"registry/{name}/versions/{version:06d}.json"


def _alias_key(name: str, alias: str) -> str:
    return f"registry/{name}/aliases/{alias}.json"


def _version_document(model: ModelVersion) -> JSON:
    return {
        "name": model.name,
        "version": model.version,
        "artifact_uri": model.artifact_uri,
        "tags": dict(model.tags),
        "lineage": dict(model.lineage),
        "created_at": model.created_at,
    }


def _version_from_document(document: Mapping[str, Any]) -> ModelVersion:
    return ModelVersion(
        name=str(document["name"]),
        version=int(document["version"]),
        artifact_uri=str(document["artifact_uri"]),
        tags={str(k): str(v) for k, v in document.get("tags", {}).items()},
        lineage=dict(document.get("lineage", {})),
        created_at=str(document["created_at"]),
    )
