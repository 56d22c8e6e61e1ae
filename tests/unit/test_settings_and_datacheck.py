import json

import pytest

from shared.datacheck import check_csv
from shared.errors import ConfigurationError, InvalidData
from shared.settings import Settings

MODELS = json.dumps([{"name": "co2", "prefix": "co2/", "horizon": 24}])


def env(**overrides: str) -> dict[str, str]:
    return {
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "RETRAIN_MODELS": MODELS,
    } | overrides


def test_defaults_and_models():
    settings = Settings.from_env(env())
    assert settings.backend == "local"
    assert settings.schedule == "0 0 3 * * *"
    [model] = settings.models
    assert (model.name, model.prefix, model.horizon, model.season_length) == ("co2", "co2/", 24, 12)


def test_every_problem_is_listed_at_once():
    with pytest.raises(ConfigurationError) as error:
        Settings.from_env(
            {
                "RETRAIN_MODELS": '[{"name": "Bad Name", "prefix": "/x"}]',
                "RETRAIN_SCHEDULE": "0 3 * * *",
                "RETRAIN_BACKEND": "azureml",
                "RETRAIN_GATE_MAX_MASE": "abc",
            }
        )
    text = str(error.value)
    for expected in (
        "RETRAIN_STORAGE_CONNECTION_STRING",
        "must be lowercase",
        "must look like 'name/'",
        "six fields",
        "AZUREML_WORKSPACE is not set",
        "must be a number",
    ):
        assert expected in text


AZURE = {"WEBSITE_INSTANCE_ID": "abc123", "AzureWebJobsStorage__accountName": "retrainsa"}
WORKSPACE = {
    "AZUREML_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000001",
    "AZUREML_RESOURCE_GROUP": "rg",
    "AZUREML_WORKSPACE": "ws",
}


def test_on_azure_the_default_backend_is_azure_ml_with_identity_based_storage():
    settings = Settings.from_env({"RETRAIN_MODELS": MODELS} | AZURE | WORKSPACE)
    assert settings.on_azure and settings.backend == "azureml"
    assert settings.azureml is not None and settings.azureml.workspace == "ws"
    assert settings.azureml.endpoint == "retrain-pipeline"
    assert settings.storage.connection_string is None
    assert settings.storage.blob_service_uri == "https://retrainsa.blob.core.windows.net"


def test_the_family_endpoint_defaults_to_the_publish_name_and_can_be_set():
    default = Settings.from_env({"RETRAIN_MODELS": MODELS} | AZURE | WORKSPACE)
    assert default.azureml is not None
    assert (default.azureml.family_endpoint, default.azureml.family_deployment) == (None, None)
    named = Settings.from_env(
        {"RETRAIN_MODELS": MODELS}
        | AZURE
        | WORKSPACE
        | {
            "RETRAIN_AZUREML_FAMILY_ENDPOINT": "panels",
            "RETRAIN_AZUREML_FAMILY_DEPLOYMENT": "blue",
        }
    )
    assert named.azureml is not None
    assert (named.azureml.family_endpoint, named.azureml.family_deployment) == ("panels", "blue")


def test_datastore_names_are_settable_on_azure_only():
    azure = Settings.from_env(
        {"RETRAIN_MODELS": MODELS, "RETRAIN_ARTIFACT_DATASTORE": "retrainartifacts"}
        | AZURE
        | WORKSPACE
    )
    assert azure.artifact_datastore == "retrainartifacts"
    assert azure.data_datastore == "trainingdata"
    with pytest.raises(ConfigurationError, match="RETRAIN_ARTIFACT_DATASTORE can only be"):
        Settings.from_env(env(RETRAIN_ARTIFACT_DATASTORE="retrainartifacts"))


def test_the_connection_string_stays_out_of_reprs_and_logs():
    settings = Settings.from_env(env(AzureWebJobsStorage="AccountKey=c2VjcmV0;"))
    assert "c2VjcmV0" not in repr(settings)


def test_a_user_assigned_identity_is_taken_from_the_storage_setting():
    settings = Settings.from_env(
        {
            "RETRAIN_MODELS": MODELS,
            "RETRAIN_STORAGE__blobServiceUri": "https://sa.blob.core.windows.net",
            "RETRAIN_STORAGE__credential": "managedidentity",
            "RETRAIN_STORAGE__clientId": "11111111-2222-3333-4444-555555555555",
            "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        }
    )
    assert settings.storage.source == "RETRAIN_STORAGE__*"
    assert settings.storage.managed_identity_client_id == "11111111-2222-3333-4444-555555555555"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"RETRAIN_BACKEND": "local"}, "RETRAIN_BACKEND=local cannot run inside a deployed"),
        ({"AZUREML_WORKSPACE": ""}, "AZUREML_WORKSPACE is not set"),
        ({"RETRAIN_INVOKE": "v1_pipeline_endpoint"}, "needs RETRAIN_V1_PIPELINE_ENDPOINT_URL"),
        ({"RETRAIN_INVOKE": "carrier-pigeon"}, "RETRAIN_INVOKE='carrier-pigeon' must be one of"),
        ({"AzureWebJobsStorage__credential": "key"}, "__credential must be 'managedidentity'"),
        ({"RETRAIN_BACKEND": "sagemaker"}, "RETRAIN_BACKEND='sagemaker' is not a backend"),
    ],
)
def test_settings_that_cannot_work_on_azure_are_refused_by_name(overrides, message):
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env({"RETRAIN_MODELS": MODELS} | AZURE | WORKSPACE | overrides)


def test_a_local_workspace_folder_that_cannot_be_written_is_refused(tmp_path):
    # (a file where a folder should be: root may write anywhere, so permissions cannot
    # show it on a CI box that runs as root)
    blocker = tmp_path / "app"
    blocker.write_text("a read-only package would refuse the same way")
    with pytest.raises(
        ConfigurationError, match=r"RETRAIN_LOCAL_WORKSPACE_DIR=.*cannot be created"
    ):
        Settings.from_env(env(RETRAIN_LOCAL_WORKSPACE_DIR=str(blocker / "workspace")))


@pytest.mark.parametrize(
    ("models", "message"),
    [
        ("not json", "not valid JSON"),
        ("[]", "non-empty JSON list"),
        ('[{"name": "a", "prefix": "a/", "colour": "red"}]', "unknown field"),
        ('[{"name": "a", "prefix": "a/"}, {"name": "a", "prefix": "b/"}]', "more than once"),
        ('[{"name": "a", "prefix": "a/"}, {"name": "b", "prefix": "a/b/"}]', "overlap"),
        ('[{"name": "a", "prefix": "a/", "horizon": 0}]', "horizon must be a positive"),
    ],
)
def test_model_list_problems(models, message):
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env(env(RETRAIN_MODELS=models))


def test_placeholder_values_fail_fast():
    with pytest.raises(ConfigurationError, match="placeholder"):
        Settings.from_env(env(AzureWebJobsStorage="<your connection string>"))


def test_invalid_ncrontab_field():
    with pytest.raises(ConfigurationError, match="not a valid NCRONTAB"):
        Settings.from_env(env(RETRAIN_SCHEDULE="0 0 25 * * *"))


def check(text: str) -> int:
    return check_csv(text.encode(), name="co2/x.csv", time_column="timestamp", value_column="value")


def test_datacheck_counts_rows_and_accepts_empty_values():
    assert check("timestamp,value\n2024-01-01,1.5\n2024-02-01,\n") == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("time,value\n2024-01-01,1\n", "missing column(s) timestamp; header is time, value"),
        ("timestamp,value\n2024-01-01,1\n2024-02-01,abc\n", "row 3: value 'abc' is not a number"),
        ("timestamp,value\nJan 2024,1\n", "row 2: timestamp 'Jan 2024' is not an ISO-8601"),
        ("timestamp,value\n", "no data rows"),
        ("timestamp,value\n2024-01-01,inf\n", "infinite"),
    ],
)
def test_datacheck_names_the_problem(text, message):
    with pytest.raises(InvalidData, match=message.replace("(", r"\(").replace(")", r"\)")):
        check(text)


def test_datacheck_rejects_non_csv_and_non_utf8():
    with pytest.raises(InvalidData, match="only CSV"):
        check_csv(b"x", name="co2/x.parquet", time_column="t", value_column="v")
    with pytest.raises(InvalidData, match="not UTF-8"):
        check_csv(b"\xff\xfe\x00", name="co2/x.csv", time_column="t", value_column="v")
