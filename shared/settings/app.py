"""``Settings``: everything the app is configured with, read and checked at once."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.errors import ConfigurationError
from shared.gate import GatePolicy
from shared.settings.azureml import AzureMLSettings, azureml_settings
from shared.settings.common import (
    APP_ROOT,
    AZURE_HOST_MARKERS,
    BACKENDS,
    PLACEHOLDER,
    check_ncrontab,
    check_writable,
)
from shared.settings.gate import gate_policy_setting
from shared.settings.models import ModelConfig, models_file_path, parse_models
from shared.settings.policy import trigger_policy_setting
from shared.settings.storage import (
    CONTAINER_SETTINGS,
    DEFAULT_STORAGE_TIMEOUT,
    StorageSettings,
    container_problem,
    storage_settings,
    storage_timeout_setting,
)
from shared.settings.trust import TrustSettings, trust_settings


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
    # Seconds the storage has to answer the start-up check (RETRAIN_STORAGE_TIMEOUT; 0: none).
    storage_timeout: float = DEFAULT_STORAGE_TIMEOUT
    models_file: Path | None = None  # RETRAIN_MODELS_FILE, when the models come from a file

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate the app settings; one error lists every problem."""
        env = os.environ if environ is None else environ
        problems: list[str] = []

        def get(name: str, default: str | None = None) -> str | None:
            value = env.get(name, default)
            if value is not None and PLACEHOLDER.match(value.strip()):
                problems.append(f"{name} still has the placeholder value {value!r}")
                return None
            return value

        storage = storage_settings(get, problems)
        on_azure = any(env.get(marker) for marker in AZURE_HOST_MARKERS)
        trigger_policy = trigger_policy_setting(get, problems)
        models_file = get("RETRAIN_MODELS_FILE")
        models = parse_models(
            get("RETRAIN_MODELS"), problems, trigger_policy, get, models_file=models_file
        )
        for name in CONTAINER_SETTINGS:
            value = get(name)
            problem = container_problem(name, value) if value else None
            if problem:
                problems.append(problem)
        storage_timeout = storage_timeout_setting(get("RETRAIN_STORAGE_TIMEOUT"), problems)
        schedule = get("RETRAIN_SCHEDULE", cls.schedule) or cls.schedule
        check_ncrontab("RETRAIN_SCHEDULE", schedule, problems)
        sweep_schedule = get("RETRAIN_SWEEP_SCHEDULE", cls.sweep_schedule) or cls.sweep_schedule
        check_ncrontab("RETRAIN_SWEEP_SCHEDULE", sweep_schedule, problems)
        default_backend = "azureml" if on_azure else "local"
        backend = get("RETRAIN_BACKEND", default_backend) or default_backend
        azureml: AzureMLSettings | None = None
        if backend not in BACKENDS:
            problems.append(
                f"RETRAIN_BACKEND={backend!r} is not a backend; choose one of {', '.join(BACKENDS)}"
            )
        elif backend == "azureml":
            azureml = azureml_settings(get, problems)
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
            check_writable(
                "RETRAIN_LOCAL_WORKSPACE_DIR",
                Path(get("RETRAIN_LOCAL_WORKSPACE_DIR") or cls.local_workspace_dir),
                problems,
            )
        gate = gate_policy_setting(get, problems)
        events_url = get("RETRAIN_LOCAL_EVENTS_URL")
        if events_url and not events_url.startswith(("http://127.", "http://localhost")):
            problems.append(
                f"RETRAIN_LOCAL_EVENTS_URL must be a loopback URL of the local host, "
                f"got {events_url!r}"
            )
        trust = trust_settings(get, storage, azureml, problems)
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
            storage_timeout=storage_timeout,
            models_file=models_file_path(models_file) if models_file else None,
            **optional,
        )
