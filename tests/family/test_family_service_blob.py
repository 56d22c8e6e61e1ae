"""``BlobArtifactStore.copy`` against real Azurite: the champions folder's models files
are copied inside the storage account, not through the app."""

import pytest

from shared.adapters.blob import BlobArtifactStore
from shared.errors import NotFound

pytestmark = pytest.mark.azurite


def test_copy_is_server_side_and_overwrites(new_container):
    container = new_container("art")
    artifacts = BlobArtifactStore(container, datastore="workspaceblobstore")
    container.upload_blob("retrain/r1/models/shard-00001.pkl", b"fits of r1")
    destination = "retrain/r2/champions/r1/shard-00001.pkl"
    container.upload_blob(destination, b"stale")

    artifacts.copy("retrain/r1/models/shard-00001.pkl", destination)

    assert artifacts.read_bytes(destination) == b"fits of r1"
    copy = container.get_blob_client(destination).get_blob_properties().copy
    assert copy.status == "success" and copy.source.endswith("retrain/r1/models/shard-00001.pkl")


def test_copy_of_a_missing_file_is_not_found(new_container):
    artifacts = BlobArtifactStore(new_container("art"), datastore="workspaceblobstore")
    with pytest.raises(NotFound, match=r"no artifact 'retrain/r1/models/x\.pkl'"):
        artifacts.copy("retrain/r1/models/x.pkl", "retrain/r2/champions/r1/x.pkl")


def test_the_series_history_is_create_only_on_blob_storage(new_container):
    """Written twice (a finalisation repeated), each entry exists once; a page reads it."""
    from shared.adapters.blob import BlobStateStore
    from shared.service.family_history import record_move, series_page
    from tests.family.service_world import MODEL, FamilyWorld

    world = FamilyWorld()
    ctx = world.service.context
    ctx.state = BlobStateStore(new_container("state"))
    move = {
        "at": "2026-01-01T00:00:00.000001+00:00",
        "tag": "promoted:stores-0123456789abcdef",
        "entry": {"action": "promoted", "by": "gate", "reason": "2 series passed"},
        "series": {"a": {"from": None}, "12|A-7": {"from": None}},
        "reasons": {"a": "passed: a's own reason"},
    }
    assert record_move(ctx, MODEL, **move) == 3  # the family's entry and one per series
    assert record_move(ctx, MODEL, **move) == 0  # a repeat finds them all
    [entry], before = series_page(ctx, MODEL, "12|A-7")
    assert before is None and entry["unique_id"] == "12|A-7"
    assert entry["reason"] == "2 series passed"
    [own], _ = series_page(ctx, MODEL, "a")
    assert own["reason"] == "passed: a's own reason" and own["family_reason"] == "2 series passed"
    assert len(ctx.state.list_keys(f"history/{MODEL}/")) == 1
