from datetime import UTC, datetime

import pytest

from shared.errors import InvalidInput, UnknownModel
from shared.parsing import (
    parse_blob_created,
    parse_drift_alert,
    parse_retrain_request,
    parse_run_event,
    parse_time,
)
from shared.settings import ModelConfig
from tests import samples

MODELS = [ModelConfig(name="co2", prefix="co2/"), ModelConfig(name="sales-eu", prefix="sales/eu/")]


def test_blob_created_in_event_grid_schema_becomes_new_data():
    message = parse_blob_created(samples.blob_created(), container="data", models=MODELS)
    assert message.model == "co2"
    assert message.blob_name == "co2/2024-01.csv"
    assert message.api == "PutBlockList"
    assert message.size == 524288
    assert message.etag == '"0x8D4BCC2E4835CD0"'
    assert message.event_time == datetime(2017, 6, 26, 18, 41, 0, 958410, tzinfo=UTC)


def test_blob_created_as_cloud_event_reads_the_same():
    event = samples.blob_created("sales/eu/jan.csv")
    grid = parse_blob_created(event, container="data", models=MODELS)
    cloud = parse_blob_created(samples.as_cloud_event(event), container="data", models=MODELS)
    assert cloud == grid
    assert cloud.model == "sales-eu"


def test_unknown_prefix_names_the_blob_and_the_known_prefixes():
    with pytest.raises(UnknownModel, match=r"no model owns blob 'weather/x.csv'.*co2/"):
        parse_blob_created(samples.blob_created("weather/x.csv"), container="data", models=MODELS)


def test_blob_in_another_container_is_rejected():
    event = samples.blob_created(container="other")
    with pytest.raises(InvalidInput, match="container 'other'"):
        parse_blob_created(event, container="data", models=MODELS)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda e: e.pop("id"), "missing id"),
        (lambda e: e.update(eventType="Microsoft.Storage.BlobDeleted"), "BlobDeleted"),
        (lambda e: e.update(subject="/blobServices/default"), "does not name a blob"),
        (lambda e: e.update(data="oops"), "no data object"),
        (lambda e: e["data"].update(contentLength="big"), "contentLength"),
        (lambda e: e.update(eventTime="yesterday"), "ISO-8601"),
    ],
)
def test_malformed_blob_events_say_what_is_wrong(mutate, message):
    event = samples.blob_created()
    mutate(event)
    with pytest.raises(InvalidInput, match=message):
        parse_blob_created(event, container="data", models=MODELS)


def test_non_object_event_is_rejected():
    with pytest.raises(InvalidInput, match="JSON object"):
        parse_blob_created(["not", "an", "event"], container="data", models=MODELS)


def test_run_completed_event_carries_run_key_from_tags():
    message = parse_run_event(samples.run_event("co2-abc", run_key="co2-abc"))
    assert (message.run_id, message.run_key, message.status) == ("co2-abc", "co2-abc", "Completed")


def test_run_status_changed_failed():
    message = parse_run_event(samples.run_event("r1", run_key="co2-abc", status="Failed"))
    assert message.status == "Failed"


def test_foreign_run_has_no_run_key():
    assert parse_run_event(samples.run_event("someone-elses", run_key=None)).run_key is None


def test_status_changed_without_status_is_invalid():
    event = samples.run_event("r1", run_key="k", status="Failed")
    del event["data"]["runStatus"]
    with pytest.raises(InvalidInput, match="no runStatus"):
        parse_run_event(event)


def test_common_alert_names_model_by_custom_property():
    alert = parse_drift_alert(samples.common_alert(custom={"model": "sales-eu"}), models=MODELS)
    assert alert.model == "sales-eu"
    assert alert.source == "azure-monitor/Platform"
    assert not alert.resolved
    assert alert.alert_id.endswith("b9569717-bc32-442f-add5-83a997729330")


def test_common_alert_names_model_by_rule_name():
    alert = parse_drift_alert(samples.common_alert(rule="co2-forecast-drift"), models=MODELS)
    assert alert.model == "co2"


def test_resolved_common_alert_is_marked_resolved():
    alert = parse_drift_alert(samples.common_alert(condition="Resolved"), models=MODELS)
    assert alert.resolved


def test_common_alert_naming_no_model_explains_how_to_name_one():
    with pytest.raises(UnknownModel, match="custom property 'model'"):
        parse_drift_alert(samples.common_alert(rule="cpu-high"), models=MODELS)


def test_rule_names_pick_the_longest_model_name():
    models = [*MODELS, ModelConfig(name="sales", prefix="sales/all/")]
    alert = parse_drift_alert(samples.common_alert(rule="sales-eu-drift"), models=models)
    assert alert.model == "sales-eu"
    assert parse_drift_alert(samples.common_alert(rule="sales drift"), models=models).model == (
        "sales"
    )
    with pytest.raises(UnknownModel):
        parse_drift_alert(samples.common_alert(rule="wholesales-drift"), models=models)


def test_generic_resolved_flag_must_be_a_boolean():
    body = {"model": "co2", "resolved": "false"}
    assert parse_drift_alert(body, models=MODELS).resolved is False
    with pytest.raises(InvalidInput, match="'resolved' must be true or false"):
        parse_drift_alert(body | {"resolved": "maybe"}, models=MODELS)


def test_manual_force_flag():
    assert parse_retrain_request("co2", {"force": True}, models=MODELS).force


def test_generic_drift_json():
    alert = parse_drift_alert({"model": "co2", "reason": "PSI 0.4"}, models=MODELS)
    assert (alert.model, alert.source, alert.description) == ("co2", "generic", "PSI 0.4")


def test_unrecognised_drift_payload():
    with pytest.raises(InvalidInput, match="unrecognised drift alert"):
        parse_drift_alert({"hello": "world"}, models=MODELS)


def test_manual_request_for_unknown_model():
    with pytest.raises(UnknownModel, match="unknown model 'nope'"):
        parse_retrain_request("nope", None, models=MODELS)


def test_manual_request_defaults():
    request = parse_retrain_request("co2", None, models=MODELS)
    assert (request.requested_by, request.reason) == ("api", "manual retrain")


def test_parse_time_handles_seven_fraction_digits_and_naive_times():
    assert parse_time("2019-03-22T13:58:24.3713213Z") == datetime(
        2019, 3, 22, 13, 58, 24, 371321, tzinfo=UTC
    )
    assert parse_time("2019-03-22T13:58:24") == datetime(2019, 3, 22, 13, 58, 24, tzinfo=UTC)
    assert parse_time(None) is None


def test_run_event_keys_are_read_whatever_their_casing():
    event = samples.run_event("job-1", run_key="co2-abc", status="Failed")
    event["data"] = {
        "RunId": "job-1",
        "RunStatus": "FAILED",
        "RunTags": {"retrain_run_key": "co2-abc"},
        "ExperimentName": "retrain",
    }
    message = parse_run_event(event)
    assert (message.run_id, message.status, message.run_key) == ("job-1", "Failed", "co2-abc")
    assert message.experiment == "retrain"
