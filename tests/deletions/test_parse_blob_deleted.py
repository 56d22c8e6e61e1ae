"""BlobDeleted read into ``DataDeleted`` (both schemas), and ``on_blob_created``'s parser
telling it from BlobCreated by its type."""

from __future__ import annotations

import pytest

from shared.errors import InvalidInput, UnknownModel
from shared.messages import DataDeleted, NewDataArrived
from shared.parsing.storage import parse_blob_deleted, parse_blob_event
from shared.settings import ModelConfig
from tests import samples
from tests.deletions.payloads import blob_deleted, cloud_blob_deleted

MODELS = (ModelConfig(name="co2", prefix="co2/"), ModelConfig(name="sales", prefix="sales/"))


@pytest.mark.parametrize("schema", [blob_deleted, cloud_blob_deleted])
def test_a_deleted_blob_names_its_model_blob_api_and_sequencer(schema):
    message = parse_blob_deleted(schema("sales/2024 März.csv"), container="data", models=MODELS)
    assert message == DataDeleted(
        model="sales",
        blob_name="sales/2024 März.csv",
        api="DeleteBlob",
        url="https://my-storage-account.blob.core.windows.net/data/sales/2024 März.csv",
        event_id="4c2359fe-001e-00ba-0e04-58586806d298",
        event_time=message.event_time,
        sequencer="0000000000000281000000000002F5CA000000000000001C",
    )
    assert message.event_time is not None and message.event_time.year == 2017
    assert message.describe() == "deleted data sales/2024 März.csv (DeleteBlob)"


def test_the_subject_and_the_percent_encoded_url_must_name_the_same_blob():
    event = blob_deleted("co2/a b.csv")
    event["data"]["url"] = "https://my-storage-account.blob.core.windows.net/data/co2/a%20b.csv"
    assert parse_blob_deleted(event, container="data", models=MODELS).blob_name == "co2/a b.csv"
    event["data"]["url"] = "https://my-storage-account.blob.core.windows.net/data/co2/other.csv"
    with pytest.raises(InvalidInput, match="does not name blob"):
        parse_blob_deleted(event, container="data", models=MODELS)


def test_deletions_outside_the_data_container_or_any_model_are_refused():
    with pytest.raises(InvalidInput, match="is in container 'logs'"):
        parse_blob_deleted(
            blob_deleted("co2/a.csv", container="logs"), container="data", models=MODELS
        )
    with pytest.raises(UnknownModel, match=r"no model owns blob 'other/a\.csv'"):
        parse_blob_deleted(blob_deleted("other/a.csv"), container="data", models=MODELS)
    with pytest.raises(InvalidInput, match=r"expected a Microsoft\.Storage\.BlobDeleted event"):
        parse_blob_deleted(samples.blob_created("co2/a.csv"), container="data", models=MODELS)


@pytest.mark.parametrize("cloud", [False, True])
def test_one_parser_reads_both_storage_events_by_their_type(cloud):
    created, deleted = samples.blob_created("co2/a.csv"), blob_deleted("co2/a.csv")
    if cloud:
        created, deleted = samples.as_cloud_event(created), samples.as_cloud_event(deleted)
    assert isinstance(parse_blob_event(created, container="data", models=MODELS), NewDataArrived)
    assert isinstance(parse_blob_event(deleted, container="data", models=MODELS), DataDeleted)
    other = dict(created, **({"type": "Microsoft.Storage.BlobTierChanged"} if cloud else {}))
    if not cloud:
        other["eventType"] = "Microsoft.Storage.BlobTierChanged"
    with pytest.raises(InvalidInput, match=r"expected a Microsoft\.Storage\.BlobCreated event"):
        parse_blob_event(other, container="data", models=MODELS)
