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
    """A move's chain documents and the family's entry, on Blob storage: written twice (a
    repeat), each exists once; a series' page follows its chain."""
    from shared.adapters.blob import BlobStateStore
    from shared.service.family_history import Chain, record_family_entry, series_page
    from tests.family.service_world import MODEL, FamilyWorld

    world = FamilyWorld()
    ctx = world.service.context
    ctx.state = BlobStateStore(new_container("state"))
    document: dict = {"series": {}}
    entry = {"action": "promoted", "by": "gate", "reason": "2 series passed"}
    for at in ("2026-01-01T00:00:00+00:00", "2026-01-02T00:00:00+00:00"):
        chain = Chain(MODEL, at)
        chain.add(document, "a", {"from": None}, "passed: a's own reason")
        chain.add(document, "12|A-7", {"from": None})
        buckets = {cursor.split("/")[0] for cursor in document["history"].values()}
        assert chain.write(ctx, entry) == len(buckets)
        assert chain.write(ctx, entry) == 0  # a repeat finds them
    move = {"at": "2026-01-02T00:00:00+00:00", "tag": "promoted:stores-1", "entry": entry}
    assert record_family_entry(ctx, MODEL, **move, series={"a": {}, "12|A-7": {}}) is True
    assert record_family_entry(ctx, MODEL, **move, series={"a": {}, "12|A-7": {}}) is False
    page, before = series_page(ctx, MODEL, "12|A-7", document, limit=1)
    assert [e["at"] for e in page] == ["2026-01-02T00:00:00+00:00"] and before is not None
    older, start = series_page(ctx, MODEL, "12|A-7", document, before=before)
    assert [e["at"] for e in older] == ["2026-01-01T00:00:00+00:00"] and start is None
    [own, _] = series_page(ctx, MODEL, "a", document)[0]
    assert own["reason"] == "passed: a's own reason" and own["family_reason"] == "2 series passed"


def test_the_sweep_collects_a_lost_attempts_chain_on_blob_storage(new_container):
    """A finalisation that loses its compare-and-swap, on Blob storage: its pending marker
    and chain documents are listed, and the sweep an hour later deletes exactly them."""
    from shared.adapters.blob import BlobStateStore
    from shared.messages import SweepTicked
    from shared.service.family_history import ORPHAN_AGE, PENDING_PREFIX, bucket_of
    from shared.service.family_ops import get_series
    from tests.family.history_world import SERIES, counted_world, counting, run_year
    from tests.family.service_world import MODEL

    world = counted_world(BlobStateStore(new_container("state")))
    store = counting(world)
    run_year(world, 2002)
    store.conflicts = 1  # another writer moves the pointers first, once
    run_year(world, 2003)
    chains = f"family/{MODEL}/series-history/"
    before = set(store.list_keys(chains))
    assert len(store.list_keys(PENDING_PREFIX)) == 1  # the lost attempt's
    world.clock.advance(seconds=ORPHAN_AGE.total_seconds())
    world.service.handle(SweepTicked(at=world.clock.now()))
    removed = before - set(store.list_keys(chains))
    assert len(removed) == len({bucket_of(uid) for uid in SERIES})
    assert len({key.rsplit("/", 1)[1] for key in removed}) == 1  # one attempt's documents
    assert store.list_keys(PENDING_PREFIX) == []
    for uid in SERIES:
        assert [
            h["to_version"] for h in get_series(world.service.context, MODEL, uid)["history"]
        ] == [1, 2]
