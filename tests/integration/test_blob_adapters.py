"""The Blob storage adapters against real Azurite: conditional writes hold."""

import threading

import pytest

from shared.adapters.blob import BlobArtifactStore, BlobDataStore, BlobStateStore
from shared.adapters.document_registry import DocumentModelRegistry
from shared.errors import ConflictError, NotFound
from tests.fakes import FakeClock

pytestmark = pytest.mark.azurite


def test_create_is_create_if_absent(new_container):
    store = BlobStateStore(new_container("state"))
    etag = store.create("runs/a.json", {"status": "Submitting"})
    assert etag
    with pytest.raises(ConflictError, match="already exists"):
        store.create("runs/a.json", {"status": "other"})
    assert store.get("runs/a.json") == ({"status": "Submitting"}, etag)


def test_replace_needs_the_current_etag(new_container):
    store = BlobStateStore(new_container("state"))
    first = store.create("runs/a.json", {"n": 1})
    second = store.replace("runs/a.json", {"n": 2}, etag=first)
    with pytest.raises(ConflictError, match="changed since it was read"):
        store.replace("runs/a.json", {"n": 3}, etag=first)
    assert store.get("runs/a.json") == ({"n": 2}, second)
    with pytest.raises(ConflictError):
        store.replace("runs/missing.json", {"n": 1}, etag=first)


def test_get_missing_and_list_keys(new_container):
    store = BlobStateStore(new_container("state"))
    with pytest.raises(NotFound, match=r"no state document 'x\.json'"):
        store.get("x.json")
    for key in ("ledger/b/2.json", "ledger/a/1.json", "runs/r.json"):
        store.create(key, {})
    assert store.list_keys("ledger/") == ["ledger/a/1.json", "ledger/b/2.json"]
    assert store.list_keys("nothing/") == []


def test_only_one_of_many_concurrent_creators_wins(new_container):
    store = BlobStateStore(new_container("state"))
    wins, losses = [], []

    def create(n: int) -> None:
        try:
            store.create("runs/contended.json", {"writer": n})
            wins.append(n)
        except ConflictError:
            losses.append(n)

    threads = [threading.Thread(target=create, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wins) == 1 and len(losses) == 7
    assert store.get("runs/contended.json")[0] == {"writer": wins[0]}


def test_registry_alias_compare_and_swap_on_azurite(new_container):
    registry = DocumentModelRegistry(BlobStateStore(new_container("state")), FakeClock())
    v1 = registry.register("co2", artifact_uri="u1", tags={}, lineage={})
    v2 = registry.register("co2", artifact_uri="u2", tags={}, lineage={})
    unset = registry.get_alias("co2", "production")
    moved = registry.set_alias("co2", "production", v1.version, etag=unset.etag)
    with pytest.raises(ConflictError):
        registry.set_alias("co2", "production", v2.version, etag=unset.etag)
    registry.set_alias("co2", "production", v2.version, etag=moved.etag)
    assert registry.get_alias("co2", "production").version == 2


def test_data_store_lists_committed_blobs_with_etags(new_container):
    container = new_container("data")
    container.upload_blob("co2/b.csv", b"x,y\n")
    container.upload_blob("co2/a.csv", b"x\n")
    container.upload_blob("other/c.csv", b"x\n")
    data = BlobDataStore(container)
    files = data.list_files("co2/")
    assert [(f.name, f.size) for f in files] == [("co2/a.csv", 2), ("co2/b.csv", 4)]
    assert all(f.etag for f in files)
    assert data.read_bytes("co2/b.csv") == b"x,y\n"
    with pytest.raises(NotFound):
        data.read_bytes("co2/zzz.csv")


def test_artifact_store_round_trip_and_uri(new_container):
    artifacts = BlobArtifactStore(new_container("art"), datastore="workspaceblobstore")
    artifacts.write_json("retrain/k/snapshot.json", {"files": []})
    assert artifacts.read_json("retrain/k/snapshot.json") == {"files": []}
    assert artifacts.uri("retrain/k/") == "azureml://datastores/workspaceblobstore/paths/retrain/k/"
    with pytest.raises(NotFound):
        artifacts.read_json("retrain/missing.json")


def test_artifact_store_reads_bytes_such_as_the_plot(new_container):
    container = new_container("art")
    container.upload_blob("retrain/k/metrics/forecast.png", b"\x89PNG\r\n")
    artifacts = BlobArtifactStore(container, datastore="workspaceblobstore")
    assert artifacts.read_bytes("retrain/k/metrics/forecast.png") == b"\x89PNG\r\n"
    with pytest.raises(NotFound):
        artifacts.read_bytes("retrain/k/metrics/missing.png")


def test_state_store_delete_is_quiet_when_the_document_is_gone(new_container):
    store = BlobStateStore(new_container("state"))
    store.create("active/k.json", {"run_key": "k"})
    store.delete("active/k.json")
    store.delete("active/k.json")
    assert store.list_keys("active/") == []
