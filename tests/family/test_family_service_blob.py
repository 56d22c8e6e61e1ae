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
