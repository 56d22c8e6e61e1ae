from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from shared.adapters.document_registry import DocumentModelRegistry
from shared.errors import ConflictError, InvalidInput, NotFound
from tests.fakes import FakeClock, FakeStateStore


class RacingStateStore(FakeStateStore):
    """A store where another app instance registers a version of the same model right
    before each of our first ``races`` version writes (it read the same highest number)."""

    def __init__(self, races: int) -> None:
        super().__init__()
        self.races = races
        self.lost: list[str] = []

    def create(self, key: str, document: Mapping[str, Any]) -> str:
        if self.races and "/versions/" in key and key not in self.documents:
            self.races -= 1
            other = dict(document, artifact_uri="azureml://other-instance")
            super().create(key, other)
            self.lost.append(key)
        return super().create(key, document)


def make(store: FakeStateStore | None = None) -> tuple[DocumentModelRegistry, FakeStateStore]:
    store = store if store is not None else FakeStateStore()
    return DocumentModelRegistry(store, FakeClock()), store


def register(registry: DocumentModelRegistry, name: str = "co2", uri: str = "azureml://m/1"):
    return registry.register(
        name, artifact_uri=uri, tags={"run_key": "k1"}, lineage={"run_id": "r1", "mase": 0.5}
    )


def test_versions_are_numbered_from_one_and_stored_as_documents():
    registry, store = make()

    first = register(registry, uri="azureml://m/1")
    second = register(registry, uri="azureml://m/2")

    assert (first.version, second.version) == (1, 2)
    assert sorted(store.documents) == [
        "registry/co2/versions/000001.json",
        "registry/co2/versions/000002.json",
    ]
    document, _ = store.get("registry/co2/versions/000002.json")
    assert document["artifact_uri"] == "azureml://m/2"
    assert document["lineage"] == {"run_id": "r1", "mase": 0.5}
    assert document["created_at"] == "2026-01-01T00:00:00+00:00"


def test_get_and_list_versions_round_trip():
    registry, _ = make()
    first = register(registry)
    second = register(registry, uri="azureml://m/2")

    assert registry.get_version("co2", 1) == first
    assert registry.list_versions("co2") == [first, second]
    assert registry.list_versions("other") == []


def test_models_are_numbered_independently():
    registry, _ = make()
    register(registry, name="co2")
    register(registry, name="co2")

    assert register(registry, name="sales").version == 1
    assert register(registry, name="co2x").version == 1  # not under the "co2" prefix


def test_get_version_that_does_not_exist_raises_not_found():
    registry, _ = make()
    register(registry)

    with pytest.raises(NotFound, match="no version 7"):
        registry.get_version("co2", 7)
    with pytest.raises(NotFound):
        registry.get_version("co2", 0)


def test_next_version_follows_the_highest_even_with_gaps():
    registry, store = make()
    register(registry)
    store.create("registry/co2/versions/000005.json", store.get(next(iter(store.documents)))[0])

    assert register(registry).version == 6


def test_a_registration_that_loses_the_race_takes_the_next_number():
    store = RacingStateStore(races=2)
    registry, _ = make(store)

    mine = register(registry, uri="azureml://mine")

    assert store.lost == [
        "registry/co2/versions/000001.json",
        "registry/co2/versions/000002.json",
    ]
    assert mine.version == 3
    assert [v.artifact_uri for v in registry.list_versions("co2")] == [
        "azureml://other-instance",
        "azureml://other-instance",
        "azureml://mine",
    ]


def test_registration_gives_up_after_bounded_attempts():
    store = RacingStateStore(races=100)
    registry = DocumentModelRegistry(store, FakeClock(), max_attempts=3)

    with pytest.raises(ConflictError, match="3 times"):
        register(registry)


def test_unset_alias_has_no_version_and_no_etag():
    registry, _ = make()

    state = registry.get_alias("co2", "production")

    assert (state.alias, state.version, state.etag) == ("production", None, None)


def test_set_alias_without_etag_creates_it():
    registry, store = make()
    register(registry)

    state = registry.set_alias("co2", "production", 1, etag=None)

    assert state.version == 1
    assert registry.get_alias("co2", "production") == state
    document, _ = store.get("registry/co2/aliases/production.json")
    assert document["version"] == 1
    assert document["previous_version"] is None


def test_set_alias_without_etag_fails_when_it_is_already_set():
    registry, _ = make()
    register(registry)
    register(registry)
    registry.set_alias("co2", "production", 1, etag=None)

    with pytest.raises(ConflictError, match="already set"):
        registry.set_alias("co2", "production", 2, etag=None)
    assert registry.get_alias("co2", "production").version == 1


def test_set_alias_with_current_etag_moves_it_and_remembers_the_previous_version():
    registry, store = make()
    register(registry)
    register(registry)
    first = registry.set_alias("co2", "production", 1, etag=None)

    moved = registry.set_alias("co2", "production", 2, etag=first.etag)

    assert moved.version == 2
    assert moved.etag != first.etag
    document, _ = store.get("registry/co2/aliases/production.json")
    assert document["previous_version"] == 1


def test_compare_and_swap_has_exactly_one_winner():
    registry, _ = make()
    for _ in range(3):
        register(registry)
    read_by_both = registry.set_alias("co2", "production", 1, etag=None)

    registry.set_alias("co2", "production", 2, etag=read_by_both.etag)
    with pytest.raises(ConflictError, match="moved since it was read"):
        registry.set_alias("co2", "production", 3, etag=read_by_both.etag)

    assert registry.get_alias("co2", "production").version == 2


def test_set_alias_with_etag_on_an_unset_alias_conflicts():
    registry, _ = make()
    register(registry)

    with pytest.raises(ConflictError, match="not set"):
        registry.set_alias("co2", "production", 1, etag='"0x0001"')


def test_set_alias_to_a_missing_version_raises_not_found():
    registry, store = make()
    register(registry)

    with pytest.raises(NotFound, match="no version 2"):
        registry.set_alias("co2", "production", 2, etag=None)
    assert "registry/co2/aliases/production.json" not in store.documents


def test_aliases_are_independent():
    registry, _ = make()
    register(registry)
    register(registry)

    registry.set_alias("co2", "production", 2, etag=None)
    registry.set_alias("co2", "staging", 1, etag=None)

    assert registry.get_alias("co2", "production").version == 2
    assert registry.get_alias("co2", "staging").version == 1


@pytest.mark.parametrize("name", ["", "a/b", "../x", "-lead", "has space"])
def test_names_that_would_escape_the_layout_are_rejected(name):
    registry, store = make()

    with pytest.raises(InvalidInput):
        registry.register(name, artifact_uri="x", tags={}, lineage={})
    with pytest.raises(InvalidInput):
        registry.get_alias("co2", name)
    assert store.documents == {}
