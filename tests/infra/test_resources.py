"""What infra/ declares, read from the Bicep files: every resource the retraining loop
needs, its security-relevant properties, the event subscriptions, the role assignments
and app settings the service accepts. A refactor that drops or weakens one fails here."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from function_app import create_app
from shared.settings import Settings
from tests.infra import bicep

MAIN = bicep.INFRA / "main.bicep"
EVENTS = bicep.INFRA / "events.bicep"
ROLES = {
    "storageBlobDataOwner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "storageBlobDataContributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "storageFileDataPrivilegedContributor": "69566ab7-960f-475b-8e7c-b3118f30c6bd",
    "azureMLDataScientist": "f6c7c914-8db3-469d-8ca1-694a8f32e121",
    "monitoringMetricsPublisher": "3913510d-42f4-4e42-8a64-420c390055eb",
}

IDENTITY = "Microsoft.ManagedIdentity/userAssignedIdentities"
CONTAINER = "Microsoft.Storage/storageAccounts/blobServices/containers"
EXPECTED_RESOURCES = {
    ("main.bicep", "rg", "Microsoft.Resources/resourceGroups"),
    ("modules/identity.bicep", "functionIdentity", IDENTITY),
    ("modules/identity.bicep", "computeIdentity", IDENTITY),
    ("modules/monitoring.bicep", "logAnalytics", "Microsoft.OperationalInsights/workspaces"),
    ("modules/monitoring.bicep", "applicationInsights", "Microsoft.Insights/components"),
    ("modules/storage.bicep", "storage", "Microsoft.Storage/storageAccounts"),
    ("modules/storage.bicep", "blobService", "Microsoft.Storage/storageAccounts/blobServices"),
    *(
        ("modules/storage.bicep", name, CONTAINER)
        for name in (
            "dataContainer",
            "stateContainer",
            "artifactContainer",
            "deploymentContainer",
            "deadLetterContainer",
        )
    ),
    ("modules/functionapp.bicep", "plan", "Microsoft.Web/serverfarms"),
    ("modules/functionapp.bicep", "functionApp", "Microsoft.Web/sites"),
    ("modules/functionapp.bicep", "functionApp__appSettings", "Microsoft.Web/sites/config"),
    ("modules/ml.bicep", "keyVault", "Microsoft.KeyVault/vaults"),
    ("modules/ml.bicep", "workspace", "Microsoft.MachineLearningServices/workspaces"),
    ("modules/ml.bicep", "compute", "Microsoft.MachineLearningServices/workspaces/computes"),
    ("modules/ml.bicep", "trainingData", "Microsoft.MachineLearningServices/workspaces/datastores"),
    (
        "modules/ml.bicep",
        "retrainArtifacts",
        "Microsoft.MachineLearningServices/workspaces/datastores",
    ),
    ("modules/eventgrid.bicep", "storageTopic", "Microsoft.EventGrid/systemTopics"),
    ("modules/eventgrid.bicep", "mlTopic", "Microsoft.EventGrid/systemTopics"),
    ("modules/eventgrid.bicep", "alertGroup", "Microsoft.Insights/actionGroups"),
    ("modules/eventgrid.bicep", "storageDeadLetters", "Microsoft.Insights/metricAlerts"),
    ("modules/eventgrid.bicep", "mlDeadLetters", "Microsoft.Insights/metricAlerts"),
    ("events.bicep", "blobCreated", "Microsoft.EventGrid/systemTopics/eventSubscriptions"),
    ("events.bicep", "runCompleted", "Microsoft.EventGrid/systemTopics/eventSubscriptions"),
    ("events.bicep", "azuremlDrift", "Microsoft.EventGrid/systemTopics/eventSubscriptions"),
    *(
        ("modules/rbac.bicep", name, "Microsoft.Authorization/roleAssignments")
        for name in (
            "functionStorage",
            "functionWorkspace",
            "functionTelemetry",
            "computeStorage",
            "workspaceBlob",
            "workspaceFile",
            "storageTopicDeadLetter",
            "mlTopicDeadLetter",
            "deployerWorkspace",
            "deployerStorage",
        )
    ),
}

# (principal, role, scope) of every role assignment: who may do what where.
EXPECTED_ROLE_ASSIGNMENTS = {
    ("functionPrincipalId", "storageBlobDataOwner", "storage"),
    ("functionPrincipalId", "azureMLDataScientist", "workspace"),
    ("functionPrincipalId", "monitoringMetricsPublisher", "applicationInsights"),
    ("computePrincipalId", "storageBlobDataContributor", "storage"),
    ("workspacePrincipalId", "storageBlobDataContributor", "storage"),
    ("workspacePrincipalId", "storageFileDataPrivilegedContributor", "storage"),
    ("storageTopicPrincipalId", "storageBlobDataContributor", "storage::blobService::deadLetter"),
    ("mlTopicPrincipalId", "storageBlobDataContributor", "storage::blobService::deadLetter"),
    ("deployerPrincipalId", "azureMLDataScientist", "workspace"),
    ("deployerPrincipalId", "storageBlobDataContributor", "storage"),
}


def by_symbol(file: str) -> dict[str, bicep.Resource]:
    return {r.symbol: r for r in bicep.resources(bicep.INFRA / file)}


def main_variable(name: str) -> object:
    return bicep.parse(MAIN)["variables"][name]["value"]


def test_every_file_parses_and_declares_exactly_the_expected_resources() -> None:
    declared = {(r.file, r.symbol, r.type) for r in bicep.declared()}
    assert declared - EXPECTED_RESOURCES == set(), "new resources: add them to this test"
    assert EXPECTED_RESOURCES - declared == set(), "resources were dropped"


def test_main_deploys_every_module_into_the_resource_group() -> None:
    modules = bicep.parse(MAIN)["modules"]
    assert {name: m["detail"]["path"] for name, m in modules.items()} == {
        "identity": "modules/identity.bicep",
        "monitoring": "modules/monitoring.bicep",
        "storage": "modules/storage.bicep",
        "ml": "modules/ml.bicep",
        "functionApp": "modules/functionapp.bicep",
        "events": "modules/eventgrid.bicep",
        "rbac": "modules/rbac.bicep",
    }
    for module in modules.values():
        assert module["config"]["scope"] == "rg"
        assert (bicep.INFRA / module["detail"]["path"]).is_file()


def test_storage_takes_no_shared_key_and_has_the_service_containers() -> None:
    storage = by_symbol("modules/storage.bicep")
    account = storage["storage"].properties
    assert account["allowSharedKeyAccess"] is False
    assert account["allowBlobPublicAccess"] is False
    assert account["minimumTlsVersion"] == "TLS1_2"
    for name in ("data", "state", "artifact", "deployment", "deadLetter"):
        assert storage[f"{name}Container"].properties["publicAccess"] == "None"
    containers = main_variable("containers")
    assert isinstance(containers, dict)
    assert containers["data"] == Settings.data_container
    assert containers["state"] == Settings.state_container
    assert containers["artifact"] == Settings.artifact_container
    assert {"deployment", "deadLetter"} <= containers.keys()


def test_function_app_is_python_on_flex_consumption_with_the_user_assigned_identity() -> None:
    app = by_symbol("modules/functionapp.bicep")
    assert app["plan"].config["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    site = app["functionApp"]
    assert site.config["kind"] == "functionapp,linux"
    assert site.config["identity"]["type"] == "UserAssigned"
    config = site.properties["functionAppConfig"]
    assert config["runtime"]["name"] == "python"
    assert config["deployment"]["storage"]["authentication"]["type"] == "UserAssignedIdentity"
    assert site.properties["httpsOnly"] is True
    allowed = bicep.parse(MAIN)["parameters"]["pythonVersion"]["decorators"]
    assert {"type": "allowed", "argument": ["3.11", "3.12", "3.13"]} in allowed


def test_telemetry_and_workspace_use_entra_ids_only() -> None:
    insights = by_symbol("modules/monitoring.bicep")["applicationInsights"].properties
    assert insights["DisableLocalAuth"] is True
    ml = by_symbol("modules/ml.bicep")
    assert ml["workspace"].properties["systemDatastoresAuthMode"] == "identity"
    assert ml["keyVault"].properties["enableRbacAuthorization"] is True
    compute = ml["compute"]
    assert compute.config["name"] == "computeName" and main_variable("computeName") == "cpu-cluster"
    assert compute.properties["disableLocalAuth"] is True
    assert compute.properties["properties"]["scaleSettings"]["minNodeCount"] == 0
    for symbol, name, container in (
        ("trainingData", "trainingdata", "dataContainerName"),
        ("retrainArtifacts", "retrainartifacts", "artifactContainerName"),
    ):
        datastore = ml[symbol]
        assert datastore.config["name"] == name
        assert datastore.properties["credentials"] == {"credentialsType": "None"}  # identity
        assert datastore.properties["containerName"] == container
    assert Settings.data_datastore == "trainingdata"


def test_system_topics_watch_the_storage_account_and_the_workspace() -> None:
    topics = by_symbol("modules/eventgrid.bicep")
    assert topics["storageTopic"].properties["topicType"] == "Microsoft.Storage.StorageAccounts"
    assert (
        topics["mlTopic"].properties["topicType"] == "Microsoft.MachineLearningServices.Workspaces"
    )
    for name in ("storageTopic", "mlTopic"):  # dead-letter with its own identity (no keys)
        assert topics[name].config["identity"]["type"] == "SystemAssigned"
    for alert, topic in (("storageDeadLetters", "storageTopic"), ("mlDeadLetters", "mlTopic")):
        props = topics[alert].properties
        assert [bicep.text(scope) for scope in props["scopes"]] == [f"{topic}.id"]
        [criterion] = props["criteria"]["allOf"]
        assert (criterion["metricName"], criterion["operator"], criterion["threshold"]) == (
            "DeadLetteredCount",
            "GreaterThan",
            0,
        )


def _event_grid_functions() -> set[str]:
    return {
        f"{f.get_function_name()}"
        for f in create_app().get_functions()
        if any(b.type == "eventGridTrigger" for b in f.get_bindings())
    }


@pytest.mark.parametrize(
    ("symbol", "function", "event_types"),
    [
        (
            "blobCreated",
            "on_blob_created",
            ["Microsoft.Storage.BlobCreated", "Microsoft.Storage.BlobDeleted"],
        ),
        (
            "runCompleted",
            "on_run_completed",
            [
                "Microsoft.MachineLearningServices.RunCompleted",
                "Microsoft.MachineLearningServices.RunStatusChanged",
            ],
        ),
        (
            "azuremlDrift",
            "on_azureml_event",
            [
                "Microsoft.MachineLearningServices.RunStatusChanged",
                "Microsoft.MachineLearningServices.DatasetDriftDetected",
            ],
        ),
    ],
)
def test_event_subscriptions_reach_the_functions_with_retries_and_dead_letters(
    symbol: str, function: str, event_types: list[str]
) -> None:
    subscription = by_symbol("events.bicep")[symbol].properties
    destination = subscription["destination"]
    assert destination["endpointType"] == "WebHook"
    url = destination["properties"]["endpointUrl"]
    assert f"functionName={function}&code=${{eventGridKey}}" in url
    assert function in _event_grid_functions()
    assert subscription["filter"]["includedEventTypes"] == event_types
    assert subscription["retryPolicy"] == "retryPolicy"
    assert subscription["deadLetterWithResourceIdentity"] == "deadLetter"
    variables = bicep.parse(EVENTS)["variables"]
    assert set(variables["retryPolicy"]["value"]) == {
        "maxDeliveryAttempts",
        "eventTimeToLiveInMinutes",
    }
    dead_letter = variables["deadLetter"]["value"]
    assert dead_letter["identity"] == {"type": "SystemAssigned"}
    assert dead_letter["deadLetterDestination"]["properties"]["blobContainerName"] == (
        "deadLetterContainerName"
    )


def test_every_event_grid_function_has_a_subscription() -> None:
    subscribed = {
        re.search(r"functionName=(\w+)", r.properties["destination"]["properties"]["endpointUrl"])[
            1
        ]  # type: ignore[index]
        for r in bicep.resources(EVENTS)
        if r.type.endswith("eventSubscriptions")
    }
    assert subscribed == _event_grid_functions()


def test_blob_subscription_filters_the_data_container_and_the_model_prefixes() -> None:
    blob_filter = by_symbol("events.bicep")["blobCreated"].properties["filter"]
    variables = bicep.parse(EVENTS)["variables"]
    assert blob_filter["subjectBeginsWith"] == "dataSubject"
    assert variables["dataSubject"]["value"] == (
        "/blobServices/default/containers/${dataContainerName}/blobs/"
    )
    [advanced] = blob_filter["advancedFilters"]
    assert advanced["operatorType"] == "StringBeginsWith" and advanced["key"] == "subject"
    assert advanced["values"] == "modelSubjects"
    assert "model.prefix" in json.dumps(variables["modelSubjects"])


def test_role_assignments_are_the_documented_least_privilege_set() -> None:
    roles = bicep.parse(bicep.INFRA / "modules/rbac.bicep")["variables"]["roles"]["value"]
    assert roles == ROLES
    found = set()
    for resource in bicep.resources(bicep.INFRA / "modules/rbac.bicep"):
        if resource.type != "Microsoft.Authorization/roleAssignments":
            continue
        props = resource.properties
        role = bicep.text(props["roleDefinitionId"]).rsplit("roles.", 1)[1].rstrip(")")
        found.add((props["principalId"], role, bicep.text(resource.config["scope"])))
        assert resource.config["name"]["function"]["type"] == "guid"  # idempotent names
    assert found == EXPECTED_ROLE_ASSIGNMENTS


def test_every_role_assignment_says_why() -> None:
    """A comment right above each assignment (the second of a pair shares the first's)."""
    shares_previous = {"workspaceFile", "mlTopicDeadLetter", "deployerStorage"}
    source = (bicep.INFRA / "modules/rbac.bicep").read_text().splitlines()
    pattern = re.compile(r"^resource (\w+) 'Microsoft.Authorization/roleAssignments@")
    explained = set()
    for number, line in enumerate(source):
        match = pattern.match(line)
        if match and source[number - 1].startswith("//"):
            explained.add(match[1])
    assigned = {s for _, s, t in EXPECTED_RESOURCES if t.endswith("roleAssignments")}
    assert explained == assigned - shares_previous
    docs = (bicep.ROOT / "docs" / "deploy.md").read_text()
    for role in ("Storage Blob Data Owner", "AzureML Data Scientist", "Monitoring Metrics"):
        assert role in docs


def _app_settings() -> dict[str, str]:
    """The Function App's settings as Bicep sets them, with deployment-time values
    (identity client ids, names derived from outputs) replaced by samples. pycep writes
    literals and identifiers alike, so a bare word is an identifier only when the file
    declares it."""
    site = by_symbol("modules/functionapp.bicep")["functionApp__appSettings"]
    module_params = bicep.parse(bicep.INFRA / "modules/functionapp.bicep")["parameters"]
    main = bicep.parse(MAIN)
    service = main["modules"]["functionApp"]["config"]["params"]["serviceSettings"]
    resolved: dict[str, str] = {}
    for settings, scope in (
        (service, {**main["parameters"], **main["variables"]}),
        (bicep.union_object(site.properties), module_params),
    ):
        for name, value in settings.items():
            if name == "RETRAIN_MODELS":
                value = main_variable("exampleModels")
            elif isinstance(value, str) and value in scope:
                value = scope[value].get("default", "sample1")
            elif bicep.text(value).split(".")[0] in scope:  # e.g. containers.artifact
                variable, _, key = bicep.text(value).partition(".")
                value = scope[variable].get("value", {}).get(key, "sample1")
            elif isinstance(value, str):
                value = re.sub(r"\$\{[^}]*\}", "x1", value)
            else:
                value = "sample1"  # an expression resolved at deployment
            resolved[name] = str(value)
    return resolved


def test_app_settings_are_identity_based_and_hold_no_secret() -> None:
    settings = _app_settings()
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert "AzureWebJobsStorage__accountName" in settings
    assert "AzureWebJobsStorage" not in settings  # no connection string form
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"].endswith("Authorization=AAD")
    for path in bicep.bicep_files():
        source = path.read_text()
        for secret in ("AccountKey=", "SharedAccessSignature", "listKeys(", "@secure"):
            if path == EVENTS and secret == "listKeys(":
                continue  # the webhook's system key, read inside ARM at deployment
            assert secret not in source, f"{path.name}: {secret}"
    assert (bicep.INFRA / "events.bicep").read_text().count("listKeys(") == 1


def test_the_service_accepts_the_app_settings_on_azure(tmp_path: Path) -> None:
    env = {**_app_settings(), "WEBSITE_INSTANCE_ID": "sample-instance"}
    settings = Settings.from_env(env)
    assert settings.on_azure and settings.backend == "azureml"
    assert settings.storage.connection_string is None  # identity-based
    assert settings.azureml is not None
    assert settings.azureml.managed_identity_client_id == env["AZURE_CLIENT_ID"]
    assert settings.schedule == "0 0 3 * * *" and settings.sweep_schedule == "0 */5 * * * *"
    assert (settings.data_datastore, settings.artifact_datastore) == (
        "trainingdata",
        "retrainartifacts",
    )
    assert settings.artifact_container == "retrain-artifacts"
    assert [m.name for m in settings.models] == ["co2"]
