"""Typed settings: the only reader of the environment (Function App settings).

``Settings.from_env()`` reads and validates everything once, at start, and fails fast with
one ``ConfigurationError`` listing every problem. Every setting is documented in
docs/settings.md; the names are the app settings' names. One module per part: ``app``
(``Settings``), ``models`` (the models and their file), ``storage``, ``azureml``, ``trust``,
``gate`` and ``policy`` (their app settings), ``frequency``, ``common``.
"""

from shared.gate import GatePolicy
from shared.settings.app import Settings
from shared.settings.azureml import AzureMLSettings
from shared.settings.common import APP_ROOT, AZURE_HOST_MARKERS, BACKENDS, INVOKE_FORMS, MODEL_NAME
from shared.settings.frequency import frequency_problem
from shared.settings.gate import GATE_SETTINGS
from shared.settings.models import MODELS_EXAMPLE, ModelConfig, ModelsSource, models_file_path
from shared.settings.policy import POLICY_SETTINGS
from shared.settings.storage import CONTAINER_SETTINGS, StorageSettings, container_problem
from shared.settings.trust import LOCAL_WORKSPACE_ID, TrustSettings

__all__ = [
    "APP_ROOT",
    "AZURE_HOST_MARKERS",
    "BACKENDS",
    "CONTAINER_SETTINGS",
    "GATE_SETTINGS",
    "INVOKE_FORMS",
    "LOCAL_WORKSPACE_ID",
    "MODELS_EXAMPLE",
    "MODEL_NAME",
    "POLICY_SETTINGS",
    "AzureMLSettings",
    "GatePolicy",
    "ModelConfig",
    "ModelsSource",
    "Settings",
    "StorageSettings",
    "TrustSettings",
    "container_problem",
    "frequency_problem",
    "models_file_path",
]
