"""Typed settings: the only reader of the environment (Function App settings).

``Settings.from_env()`` reads and validates everything once, at start, and fails fast with
one ``ConfigurationError`` listing every problem. Every setting is documented in
docs/settings.md; the names are the app settings' names.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.errors import ConfigurationError
from shared.gate import GatePolicy, policy_problems
from shared.policy.config import TriggerPolicy
from shared.policy.config import convert as convert_policy_value
from shared.policy.config import policy_problems as trigger_policy_problems

APP_ROOT = Path(__file__).resolve().parent.parent
MODEL_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}$")
_PLACEHOLDER = re.compile(r"^(<.*>|changeme|todo|xxx+)$", re.IGNORECASE)
BACKENDS = ("local", "azureml")
INVOKE_FORMS = ("batch_endpoint", "v1_pipeline_endpoint")
# Set by the platform in a deployed Function App (never by the local host or Core Tools).
AZURE_HOST_MARKERS = ("WEBSITE_INSTANCE_ID",)


@dataclass(frozen=True)
class ModelConfig:
    """One forecasting model: where its data lands and the shape of its series."""

    name: str
    prefix: str
    frequency: str = "MS"
    season_length: int = 12
    horizon: int = 12
    time_column: str = "timestamp"
    value_column: str = "value"
    max_gap: int = 3
    time_budget: int = 60
    backtest_folds: int = 0  # 0: as many rolling-origin folds as fit (at most 6)
    backtest_horizon: int = 0  # 0: the model's horizon
    # This model's own gate settings over the app-wide RETRAIN_GATE_* ones, e.g.
    # {"min_improvement": 0.02, "significance": 0.1, "max_mase": null} (docs/settings.md).
    gate: Mapping[str, Any] = field(default_factory=dict, hash=False)
    # When this model retrains: RETRAIN_POLICY_* with this model's "policy" overrides
    # (docs/policy.md).
    policy: TriggerPolicy = field(default_factory=TriggerPolicy, hash=False)

    def gate_policy(self, default: GatePolicy) -> GatePolicy:
        """The gate policy for this model: ``default`` with this model's overrides."""
        return default.with_overrides(self.gate)

    def pipeline_inputs(self) -> dict[str, str | int]:
        """The pipeline's literal inputs for this model."""
        return {
            "frequency": self.frequency,
            "season_length": self.season_length,
            "horizon": self.horizon,
            "time_column": self.time_column,
            "value_column": self.value_column,
            "max_gap": self.max_gap,
            "time_budget": self.time_budget,
            "backtest_folds": self.backtest_folds,
            "backtest_horizon": self.backtest_horizon,
        }


@dataclass(frozen=True)
class Settings:
    """Everything the app is configured with. See docs/settings.md."""

    storage: StorageSettings
    models: tuple[ModelConfig, ...]
    schedule: str = "0 0 3 * * *"
    sweep_schedule: str = "0 */5 * * * *"
    backend: str = "local"
    data_container: str = "data"
    state_container: str = "retrain-state"
    artifact_container: str = "retrain-artifacts"
    data_datastore: str = "trainingdata"
    artifact_datastore: str = "workspaceblobstore"
    pipeline_path: Path = APP_ROOT / "pipeline_defs" / "pipeline.yml"
    local_workspace_dir: Path = APP_ROOT / ".local" / "workspace"
    local_events_url: str | None = None
    code_version: str = "dev"
    gate: GatePolicy = field(default_factory=GatePolicy)
    azureml: AzureMLSettings | None = None
    on_azure: bool = False
    telemetry_connection_string: str | None = None  # APPLICATIONINSIGHTS_CONNECTION_STRING
    trust: TrustSettings = field(default_factory=lambda: TrustSettings())

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate the app settings; one error lists every problem."""
        env = os.environ if environ is None else environ
        problems: list[str] = []

        def get(name: str, default: str | None = None) -> str | None:
            value = env.get(name, default)
            if value is not None and _PLACEHOLDER.match(value.strip()):
                problems.append(f"{name} still has the placeholder value {value!r}")
                return None
            return value

        storage = _storage_settings(get, problems)
        on_azure = any(env.get(marker) for marker in AZURE_HOST_MARKERS)
        trigger_policy = _trigger_policy(get, problems)
        models = _parse_models(get("RETRAIN_MODELS"), problems, trigger_policy, get)
        schedule = get("RETRAIN_SCHEDULE", cls.schedule) or cls.schedule
        _check_ncrontab("RETRAIN_SCHEDULE", schedule, problems)
        sweep_schedule = get("RETRAIN_SWEEP_SCHEDULE", cls.sweep_schedule) or cls.sweep_schedule
        _check_ncrontab("RETRAIN_SWEEP_SCHEDULE", sweep_schedule, problems)
        default_backend = "azureml" if on_azure else "local"
        backend = get("RETRAIN_BACKEND", default_backend) or default_backend
        azureml: AzureMLSettings | None = None
        if backend not in BACKENDS:
            problems.append(
                f"RETRAIN_BACKEND={backend!r} is not a backend; choose one of {', '.join(BACKENDS)}"
            )
        elif backend == "azureml":
            azureml = _azureml_settings(get, problems)
        elif on_azure:
            problems.append(
                "RETRAIN_BACKEND=local cannot run inside a deployed Function App: it trains in "
                "the app's own process, which has no pandas or statsmodels and a read-only app "
                "folder; use RETRAIN_BACKEND=azureml (the default on Azure)"
            )
        else:
            for name, default in (
                ("RETRAIN_DATA_DATASTORE", cls.data_datastore),
                ("RETRAIN_ARTIFACT_DATASTORE", cls.artifact_datastore),
            ):
                if env.get(name) not in (None, "", default):
                    problems.append(
                        f"{name} can only be changed for RETRAIN_BACKEND=azureml: locally the "
                        f"pipeline's outputs and the local workspace use {default!r}"
                    )
            _check_writable(
                "RETRAIN_LOCAL_WORKSPACE_DIR",
                Path(get("RETRAIN_LOCAL_WORKSPACE_DIR") or cls.local_workspace_dir),
                problems,
            )
        gate = _gate_policy(get, problems)
        events_url = get("RETRAIN_LOCAL_EVENTS_URL")
        if events_url and not events_url.startswith(("http://127.", "http://localhost")):
            problems.append(
                f"RETRAIN_LOCAL_EVENTS_URL must be a loopback URL of the local host, "
                f"got {events_url!r}"
            )
        trust = _trust_settings(get, storage, azureml, problems)
        if problems:
            raise ConfigurationError("invalid app settings:\n  - " + "\n  - ".join(problems))
        assert storage is not None and gate is not None
        optional: dict[str, Any] = {}
        for attr, name in (
            ("data_container", "RETRAIN_DATA_CONTAINER"),
            ("state_container", "RETRAIN_STATE_CONTAINER"),
            ("artifact_container", "RETRAIN_ARTIFACT_CONTAINER"),
            ("code_version", "RETRAIN_CODE_VERSION"),
            ("data_datastore", "RETRAIN_DATA_DATASTORE"),
            ("artifact_datastore", "RETRAIN_ARTIFACT_DATASTORE"),
        ):
            if env.get(name):
                optional[attr] = env[name]
        for attr, name in (
            ("pipeline_path", "RETRAIN_PIPELINE_PATH"),
            ("local_workspace_dir", "RETRAIN_LOCAL_WORKSPACE_DIR"),
        ):
            if env.get(name):
                optional[attr] = Path(env[name])
        return cls(
            storage=storage,
            azureml=azureml,
            on_azure=on_azure,
            models=models,
            schedule=schedule,
            sweep_schedule=sweep_schedule,
            backend=backend,
            local_events_url=events_url or None,
            gate=gate,
            telemetry_connection_string=env.get("APPLICATIONINSIGHTS_CONNECTION_STRING") or None,
            trust=trust,
            **optional,
        )


# App setting -> GatePolicy field, and how to read it ("" or unset keeps the default;
# for RETRAIN_GATE_SIGNIFICANCE "0"/"off" and for RETRAIN_GATE_MAX_MASE "" mean none).
GATE_SETTINGS = {
    "min_improvement": "RETRAIN_GATE_MIN_IMPROVEMENT",
    "first_model_min_improvement": "RETRAIN_GATE_FIRST_MODEL_MIN_IMPROVEMENT",
    "significance": "RETRAIN_GATE_SIGNIFICANCE",
    "test": "RETRAIN_GATE_TEST",
    "loss": "RETRAIN_GATE_LOSS",
    "max_mase": "RETRAIN_GATE_MAX_MASE",
}
_GATE_TEXT_FIELDS = ("test", "loss")
_GATE_OPTIONAL_FIELDS = ("significance", "max_mase")


def _gate_policy(get: Any, problems: list[str]) -> GatePolicy | None:
    """The app-wide gate policy from RETRAIN_GATE_*; problems name the setting."""
    values: dict[str, Any] = {}
    unreadable = False
    for attr, name in GATE_SETTINGS.items():
        raw = get(name)
        if raw is None or not raw.strip():
            continue
        text = raw.strip()
        if attr in _GATE_TEXT_FIELDS:
            values[attr] = text.lower()
        elif attr in _GATE_OPTIONAL_FIELDS and text.lower() in ("none", "off", "null"):
            values[attr] = None
        else:
            try:
                values[attr] = float(text)
            except ValueError:
                problems.append(f"{name} must be a number, got {raw!r}")
                unreadable = True
    found = policy_problems(values, lambda attr: GATE_SETTINGS.get(attr, attr))
    problems.extend(found)
    return None if found or unreadable else GatePolicy(**values)


def _gate_field(where: str, attr: str) -> str:
    return f"{where}.gate.{attr}"


def _check_ncrontab(name: str, expression: str, problems: list[str]) -> None:
    from croniter import croniter

    fields = expression.split()
    if len(fields) != 6:
        problems.append(
            f"{name}={expression!r} must be an NCRONTAB expression with six fields "
            "(second minute hour day month day-of-week), e.g. '0 0 3 * * *'"
        )
    elif not croniter.is_valid(expression, second_at_beginning=True):
        problems.append(f"{name}={expression!r} is not a valid NCRONTAB expression")


_MODEL_FIELDS = {f for f in ModelConfig.__dataclass_fields__}


def _parse_models(
    raw: str | None,
    problems: list[str],
    trigger_policy: TriggerPolicy | None = None,
    get: Any = None,
) -> tuple[ModelConfig, ...]:
    if not raw:
        problems.append(
            'RETRAIN_MODELS is not set: give a JSON list such as [{"name": "co2", '
            '"prefix": "co2/", "frequency": "MS", "season_length": 12, "horizon": 24}]'
        )
        return ()
    try:
        items = json.loads(raw)
    except ValueError as exc:
        problems.append(f"RETRAIN_MODELS is not valid JSON: {exc}")
        return ()
    if not isinstance(items, list) or not items:
        problems.append("RETRAIN_MODELS must be a non-empty JSON list of model objects")
        return ()
    models: list[ModelConfig] = []
    for index, item in enumerate(items):
        where = f"RETRAIN_MODELS[{index}]"
        if not isinstance(item, dict):
            problems.append(f"{where} must be an object")
            continue
        unknown = set(item) - _MODEL_FIELDS
        if unknown:
            problems.append(f"{where} has unknown field(s) {sorted(unknown)}")
            continue
        gate = item.get("gate", {})
        if gate is None:
            gate = {}
        if not isinstance(gate, dict):
            problems.append(f"{where}.gate must be an object of gate settings, got {gate!r}")
            continue
        gate_problems = policy_problems(gate, functools.partial(_gate_field, where))
        if gate_problems:
            problems.extend(gate_problems)
            continue
        policy = _model_policy(where, item.get("policy"), trigger_policy, get, problems)
        if policy is None:
            continue
        try:
            model = ModelConfig(**(item | {"gate": gate, "policy": policy}))
        except TypeError as exc:
            problems.append(f"{where}: {exc}")
            continue
        if not MODEL_NAME.match(str(model.name)):
            problems.append(
                f"{where}.name {model.name!r} must be lowercase letters, digits and hyphens"
            )
        if not str(model.prefix).endswith("/") or model.prefix.startswith("/"):
            problems.append(f"{where}.prefix {model.prefix!r} must look like 'name/'")
        for number in (
            *("season_length", "horizon", "max_gap", "time_budget"),
            *("backtest_folds", "backtest_horizon"),
        ):
            value = getattr(model, number)
            least = 0 if number in ("max_gap", "backtest_folds", "backtest_horizon") else 1
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                what = "a whole number >= 0" if least == 0 else "a positive integer"
                problems.append(f"{where}.{number} must be {what}, got {value!r}")
        models.append(model)
    names = [m.name for m in models]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"RETRAIN_MODELS names model {name!r} more than once")
    prefixes = sorted(m.prefix for m in models)
    for first, second in itertools.pairwise(prefixes):
        if second.startswith(first):
            problems.append(f"RETRAIN_MODELS prefixes {first!r} and {second!r} overlap")
    return tuple(models)


# ---------------------------------------------------------------- trigger policy

# App setting of each app-wide TriggerPolicy default (docs/policy.md).
POLICY_SETTINGS = {
    name: f"RETRAIN_POLICY_{name.upper()}"
    for name in TriggerPolicy.__dataclass_fields__
    if name != "webhook_secret"
} | {"webhook_secret": "RETRAIN_DRIFT_WEBHOOK_SECRET"}


def _trigger_policy(get: Any, problems: list[str]) -> TriggerPolicy:
    """The app-wide trigger policy from RETRAIN_POLICY_* (and the webhook secret)."""
    values: dict[str, Any] = {}
    for attr, name in POLICY_SETTINGS.items():
        raw = get(name)
        if raw is None or not raw.strip():
            continue
        try:
            values[attr] = convert_policy_value(attr, raw.strip())
        except ValueError as exc:
            problems.append(f"{name}: {exc}")
    found = trigger_policy_problems(values, lambda attr: POLICY_SETTINGS.get(attr, attr))
    if found:
        problems.extend(found)
        return TriggerPolicy()
    return TriggerPolicy(**values)


def _model_policy(
    where: str,
    raw: Any,
    default: TriggerPolicy | None,
    get: Any,
    problems: list[str],
) -> TriggerPolicy | None:
    """A model's policy: ``default`` with its ``"policy"`` overrides; a secret is never
    written into RETRAIN_MODELS: ``"webhook_secret_setting"`` names the app setting."""
    base = default or TriggerPolicy()
    if raw is None:
        return base
    if not isinstance(raw, dict):
        problems.append(f"{where}.policy must be an object of policy settings, got {raw!r}")
        return None
    overrides: dict[str, Any] = {}
    before = len(problems)
    for key, value in raw.items():
        if key == "webhook_secret_setting":
            secret = get(str(value)) if get is not None else None
            if not secret:
                problems.append(f"{where}.policy.webhook_secret_setting names {value!r}, unset")
            overrides["webhook_secret"] = secret
            continue
        if key == "webhook_secret":
            problems.append(
                f"{where}.policy.webhook_secret: do not put a secret in RETRAIN_MODELS; name "
                "an app setting with webhook_secret_setting"
            )
            continue
        try:
            overrides[key] = convert_policy_value(key, value)
        except (TypeError, ValueError) as exc:
            problems.append(f"{where}.policy.{key}: {exc}")
    merged = {f: getattr(base, f) for f in TriggerPolicy.__dataclass_fields__} | overrides
    problems.extend(trigger_policy_problems(merged, lambda attr: f"{where}.policy.{attr}"))
    if len(problems) > before:
        return None
    return base.with_overrides(overrides)


@dataclass(frozen=True)
class StorageSettings:
    """How to reach the Blob storage account: a connection string (Azurite, or an account
    key), or an identity-based connection (``<prefix>__blobServiceUri`` or
    ``<prefix>__accountName``, with ``__credential=managedidentity`` and ``__clientId`` for
    a user-assigned identity), as the Functions host reads ``AzureWebJobsStorage``."""

    source: str
    connection_string: str | None = field(default=None, repr=False)  # may hold a key
    blob_service_uri: str | None = None
    managed_identity_client_id: str | None = None

    def describe(self) -> str:
        if self.connection_string is not None:
            return f"connection string from {self.source}"
        who = (
            f"managed identity {self.managed_identity_client_id}"
            if self.managed_identity_client_id
            else "DefaultAzureCredential"
        )
        return f"{self.blob_service_uri} with {who} (from {self.source})"


_STORAGE_PREFIXES = ("RETRAIN_STORAGE", "AzureWebJobsStorage")


def _storage_settings(get: Any, problems: list[str]) -> StorageSettings | None:
    """The app's own storage setting first (RETRAIN_STORAGE_CONNECTION_STRING or the
    identity-based RETRAIN_STORAGE__*), then the host's AzureWebJobsStorage(__*)."""
    for prefix in _STORAGE_PREFIXES:
        name = "RETRAIN_STORAGE_CONNECTION_STRING" if prefix == "RETRAIN_STORAGE" else prefix
        connection = get(name)
        if connection:
            return StorageSettings(source=name, connection_string=connection)
        uri, account = get(f"{prefix}__blobServiceUri"), get(f"{prefix}__accountName")
        if uri or account:
            credential = (get(f"{prefix}__credential") or "").lower()
            client_id = get(f"{prefix}__clientId")
            if credential not in ("", "managedidentity"):
                problems.append(
                    f"{prefix}__credential must be 'managedidentity' (or unset), got {credential!r}"
                )
            if client_id and credential != "managedidentity":
                problems.append(f"{prefix}__clientId needs {prefix}__credential=managedidentity")
            if uri and not uri.startswith("https://"):
                problems.append(f"{prefix}__blobServiceUri must be an https URL, got {uri!r}")
            return StorageSettings(
                source=f"{prefix}__*",
                blob_service_uri=uri or f"https://{account}.blob.core.windows.net",
                managed_identity_client_id=client_id or None,
            )
    problems.append(
        "no storage account is configured: set RETRAIN_STORAGE_CONNECTION_STRING or "
        "AzureWebJobsStorage (a connection string), or the identity-based "
        "AzureWebJobsStorage__accountName / __blobServiceUri (the service keeps its state in "
        "Blob storage)"
    )
    return None


@dataclass(frozen=True)
class AzureMLSettings:
    """The Azure ML workspace and the published pipeline the service invokes."""

    subscription_id: str
    resource_group: str
    workspace: str
    endpoint: str = "retrain-pipeline"
    deployment: str | None = None
    invoke: str = "batch_endpoint"
    v1_endpoint_url: str | None = None
    managed_identity_client_id: str | None = None

    def describe(self) -> str:
        target = (
            f"v1 pipeline endpoint {self.v1_endpoint_url}"
            if self.invoke == "v1_pipeline_endpoint"
            else f"batch endpoint {self.endpoint}"
            + (f" (deployment {self.deployment})" if self.deployment else " (its default)")
        )
        return f"workspace {self.workspace} in {self.resource_group}, {target}"


def _azureml_settings(get: Any, problems: list[str]) -> AzureMLSettings | None:
    required = {
        "subscription_id": "AZUREML_SUBSCRIPTION_ID",
        "resource_group": "AZUREML_RESOURCE_GROUP",
        "workspace": "AZUREML_WORKSPACE",
    }
    values = {attr: get(name) for attr, name in required.items()}
    for attr, name in required.items():
        if not values[attr]:
            problems.append(f"{name} is not set: RETRAIN_BACKEND=azureml needs the workspace")
    invoke = get("RETRAIN_INVOKE", "batch_endpoint") or "batch_endpoint"
    v1_url = get("RETRAIN_V1_PIPELINE_ENDPOINT_URL")
    if invoke not in INVOKE_FORMS:
        problems.append(f"RETRAIN_INVOKE={invoke!r} must be one of {', '.join(INVOKE_FORMS)}")
    elif invoke == "v1_pipeline_endpoint" and not (v1_url or "").startswith("https://"):
        problems.append(
            "RETRAIN_INVOKE=v1_pipeline_endpoint needs RETRAIN_V1_PIPELINE_ENDPOINT_URL, the "
            f"https REST endpoint of the PipelineEndpoint or PublishedPipeline (got {v1_url!r})"
        )
    if not all(values.values()):
        return None
    return AzureMLSettings(
        subscription_id=str(values["subscription_id"]),
        resource_group=str(values["resource_group"]),
        workspace=str(values["workspace"]),
        endpoint=get("RETRAIN_BATCH_ENDPOINT") or "retrain-pipeline",
        deployment=get("RETRAIN_BATCH_DEPLOYMENT") or None,
        invoke=invoke,
        v1_endpoint_url=v1_url or None,
        managed_identity_client_id=get("AZURE_CLIENT_ID") or None,
    )


def _check_writable(name: str, folder: Path, problems: list[str]) -> None:
    """The folder exists (or can be made) and this process may write in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        problems.append(f"{name}={str(folder)!r} cannot be created: {exc.strerror or exc}")
        return
    if not os.access(folder, os.W_OK):
        problems.append(f"{name}={str(folder)!r} is not writable by this process")


# ---------------------------------------------------------------- trust: who may send events


LOCAL_WORKSPACE_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local/providers/"
    "Microsoft.MachineLearningServices/workspaces/local"
)
_DEVELOPMENT_ACCOUNT = "devstoreaccount1"


@dataclass(frozen=True)
class TrustSettings:
    """Which senders the service believes: BlobCreated events must come from one of
    ``storage_accounts`` (their ``topic``/``source`` names the account), Azure ML run events
    from one of ``workspaces`` (full resource ids, compared case-insensitively). ``None``
    trusts any sender (the default when the service is built without settings, in tests).

    ``RETRAIN_TRUSTED_STORAGE_ACCOUNTS`` (comma-separated names; default: the account of the
    storage connection) and ``RETRAIN_TRUSTED_WORKSPACES`` (comma-separated resource ids;
    default: the configured Azure ML workspace, or the local workspace) override them;
    ``*`` trusts any.
    """

    storage_accounts: tuple[str, ...] | None = None
    workspaces: tuple[str, ...] | None = None

    def describe(self) -> str:
        accounts = ", ".join(self.storage_accounts) if self.storage_accounts else "any"
        workspaces = ", ".join(self.workspaces) if self.workspaces else "any"
        return f"storage events from {accounts}; run events from {workspaces}"


def _trust_settings(
    get: Any,
    storage: StorageSettings | None,
    azureml: AzureMLSettings | None,
    problems: list[str],
) -> TrustSettings:
    accounts_raw = get("RETRAIN_TRUSTED_STORAGE_ACCOUNTS")
    accounts: tuple[str, ...] | None
    if accounts_raw:
        accounts = _listed(accounts_raw)
    else:
        account = _storage_account(storage)
        accounts = (account,) if account else None
    for account in (accounts or ()) if accounts_raw else ():
        if not re.fullmatch(r"[a-z0-9]{3,24}", account):
            problems.append(
                f"RETRAIN_TRUSTED_STORAGE_ACCOUNTS: {account!r} is not a storage account name"
            )
    workspaces_raw = get("RETRAIN_TRUSTED_WORKSPACES")
    workspaces: tuple[str, ...] | None
    if workspaces_raw:
        workspaces = _listed(workspaces_raw)
    elif azureml is not None:
        workspaces = (
            f"/subscriptions/{azureml.subscription_id}/resourceGroups/{azureml.resource_group}"
            f"/providers/Microsoft.MachineLearningServices/workspaces/{azureml.workspace}".lower(),
        )
    else:
        workspaces = (LOCAL_WORKSPACE_ID.lower(),)
    for workspace in workspaces or ():
        if not workspace.startswith("/subscriptions/") or "/workspaces/" not in workspace:
            problems.append(
                f"RETRAIN_TRUSTED_WORKSPACES: {workspace!r} is not a workspace resource id "
                "(/subscriptions/<id>/resourceGroups/<rg>/providers/"
                "Microsoft.MachineLearningServices/workspaces/<name>)"
            )
    return TrustSettings(storage_accounts=accounts, workspaces=workspaces)


def _listed(raw: str) -> tuple[str, ...] | None:
    items = tuple(item.strip().lower() for item in raw.split(",") if item.strip())
    return None if "*" in items or not items else items


def _storage_account(storage: StorageSettings | None) -> str | None:
    """The account name of the storage connection (Azurite's devstoreaccount1 locally)."""
    if storage is None:
        return None
    if storage.connection_string is not None:
        parts = dict(
            part.split("=", 1) for part in storage.connection_string.split(";") if "=" in part
        )
        lowered = {k.strip().lower(): v.strip() for k, v in parts.items()}
        if lowered.get("usedevelopmentstorage", "").lower() == "true":
            return _DEVELOPMENT_ACCOUNT
        name = lowered.get("accountname")
        return name.lower() if name else None
    host = (storage.blob_service_uri or "").removeprefix("https://").split("/", 1)[0]
    return host.split(".", 1)[0].lower() or None
