"""``Microsoft.Storage.BlobDeleted`` as Azure documents it ("Azure Blob Storage as an Event
Grid source"): no ETag and no length in its data, a ``sequencer`` ordering events on one
name; in the Event Grid schema and as a CloudEvent."""

from __future__ import annotations

from typing import Any

from tests import samples


def blob_deleted(
    name: str = "co2/2024-01.csv",
    *,
    container: str = "data",
    event_id: str = "4c2359fe-001e-00ba-0e04-58586806d298",
    api: str = "DeleteBlob",
    sequencer: str = "0000000000000281000000000002F5CA000000000000001C",
) -> dict[str, Any]:
    return {
        "topic": samples.TOPIC,
        "subject": f"/blobServices/default/containers/{container}/blobs/{name}",
        "eventType": "Microsoft.Storage.BlobDeleted",
        "eventTime": "2017-11-07T20:09:22.5674003Z",
        "id": event_id,
        "data": {
            "api": api,
            "requestId": "4c2359fe-001e-00ba-0e04-585868000000",
            "contentType": "text/csv",
            "blobType": "BlockBlob",
            "url": f"https://my-storage-account.blob.core.windows.net/{container}/{name}",
            "sequencer": sequencer,
            "storageDiagnostics": {"batchId": "b68529f3-68cd-4744-baa4-3c0498ec19f0"},
        },
        "dataVersion": "",
        "metadataVersion": "1",
    }


def cloud_blob_deleted(name: str, **kwargs: Any) -> dict[str, Any]:
    return samples.as_cloud_event(blob_deleted(name, **kwargs))
