"""The platform contract: the functions the host will index, their triggers and bindings."""

import subprocess
import sys

from tests.functions.conftest import indexed_functions

EXPECTED = {
    "on_blob_created": ("eventGridTrigger", {"name": "event"}),
    "on_run_completed": ("eventGridTrigger", {"name": "event"}),
    "on_azureml_event": ("eventGridTrigger", {"name": "event"}),
    "on_schedule": (
        "timerTrigger",
        {"name": "timer", "schedule": "%RETRAIN_SCHEDULE%", "runOnStartup": False},
    ),
    "on_sweep": (
        "timerTrigger",
        {"name": "timer", "schedule": "%RETRAIN_SWEEP_SCHEDULE%", "runOnStartup": False},
    ),
    "on_drift_alert": (
        "httpTrigger",
        {"name": "req", "route": "drift", "methods": ["POST"], "authLevel": "function"},
    ),
    "retrain_model": (
        "httpTrigger",
        {"route": "models/{model}/retrain", "methods": ["POST"], "authLevel": "function"},
    ),
    "get_run": (
        "httpTrigger",
        {"route": "runs/{run_key}", "methods": ["GET"], "authLevel": "function"},
    ),
    "list_models": (
        "httpTrigger",
        {"route": "models", "methods": ["GET"], "authLevel": "function"},
    ),
    "list_model_versions": (
        "httpTrigger",
        {"route": "models/{model}/versions", "methods": ["GET"], "authLevel": "function"},
    ),
    "get_model_ledger": (
        "httpTrigger",
        {"route": "models/{model}/ledger", "methods": ["GET"], "authLevel": "function"},
    ),
    "rollback_model": (
        "httpTrigger",
        {"route": "models/{model}/rollback", "methods": ["POST"], "authLevel": "function"},
    ),
    "promote_model": (
        "httpTrigger",
        {"route": "models/{model}/promote", "methods": ["POST"], "authLevel": "function"},
    ),
    "pin_model": (
        "httpTrigger",
        {"route": "models/{model}/pin", "methods": ["POST"], "authLevel": "function"},
    ),
    "unpin_model": (
        "httpTrigger",
        {"route": "models/{model}/unpin", "methods": ["POST"], "authLevel": "function"},
    ),
    "pause_model": (
        "httpTrigger",
        {"route": "models/{model}/pause", "methods": ["POST"], "authLevel": "function"},
    ),
    "resume_model": (
        "httpTrigger",
        {"route": "models/{model}/resume", "methods": ["POST"], "authLevel": "function"},
    ),
    "get_model_history": (
        "httpTrigger",
        {"route": "models/{model}/history", "methods": ["GET"], "authLevel": "function"},
    ),
    "get_run_report": (
        "httpTrigger",
        {"route": "runs/{run_key}/report", "methods": ["GET"], "authLevel": "function"},
    ),
    "get_version_report": (
        "httpTrigger",
        {
            "route": "models/{model}/versions/{version}/report",
            "methods": ["GET"],
            "authLevel": "function",
        },
    ),
    "list_model_runs": (
        "httpTrigger",
        {"route": "models/{model}/runs", "methods": ["GET"], "authLevel": "function"},
    ),
    "get_run_steps": (
        "httpTrigger",
        {"route": "runs/{run_key}/steps", "methods": ["GET"], "authLevel": "function"},
    ),
    "get_step_log": (
        "httpTrigger",
        {"route": "runs/{run_key}/steps/{step}/log", "methods": ["GET"], "authLevel": "function"},
    ),
    "get_run_plot": (
        "httpTrigger",
        {"route": "runs/{run_key}/plot", "methods": ["GET"], "authLevel": "function"},
    ),
    "get_run_artifacts": (
        "httpTrigger",
        {"route": "runs/{run_key}/artifacts", "methods": ["GET"], "authLevel": "function"},
    ),
    "get_model_version": (
        "httpTrigger",
        {"route": "models/{model}/versions/{version}", "methods": ["GET"], "authLevel": "function"},
    ),
    "compare_model_versions": (
        "httpTrigger",
        {"route": "models/{model}/compare", "methods": ["GET"], "authLevel": "function"},
    ),
    "list_model_series": (
        "httpTrigger",
        {"route": "models/{model}/series", "methods": ["GET"], "authLevel": "function"},
    ),
    "get_model_series": (
        "httpTrigger",
        {"route": "models/{model}/series/{series}", "methods": ["GET"], "authLevel": "function"},
    ),
    "get_run_series": (
        "httpTrigger",
        {"route": "runs/{run_key}/series", "methods": ["GET"], "authLevel": "function"},
    ),
    "act_on_family": (
        "httpTrigger",
        {"route": "models/{model}/family/{action}", "methods": ["POST"], "authLevel": "function"},
    ),
    "list_dead_letters": (
        "httpTrigger",
        {"route": "deadletters", "methods": ["GET"], "authLevel": "function"},
    ),
    "get_dead_letter": (
        "httpTrigger",
        {"route": "deadletters/{source}/{digest}", "methods": ["GET"], "authLevel": "function"},
    ),
    "replay_dead_letter": (
        "httpTrigger",
        {
            "route": "deadletters/{source}/{digest}/replay",
            "methods": ["POST"],
            "authLevel": "function",
        },
    ),
    "list_quarantine": (
        "httpTrigger",
        {"route": "quarantine", "methods": ["GET"], "authLevel": "function"},
    ),
    "get_quarantined_file": (
        "httpTrigger",
        {"route": "quarantine/{*blob}", "methods": ["GET"], "authLevel": "function"},
    ),
    "release_quarantined_file": (
        "httpTrigger",
        {"route": "quarantine/release", "methods": ["POST"], "authLevel": "function"},
    ),
    "get_openapi": (
        "httpTrigger",
        {"route": "openapi.json", "methods": ["GET"], "authLevel": "function"},
    ),
    "get_dashboard": (
        "httpTrigger",
        {"route": "dashboard", "methods": ["GET"], "authLevel": "function"},
    ),
    "get_dashboard_data": (
        "httpTrigger",
        {"route": "dashboard/data", "methods": ["GET"], "authLevel": "function"},
    ),
}


def _plain(value):
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return getattr(value, "value", value)


def test_function_names_triggers_and_bindings():
    functions = indexed_functions()
    assert set(functions) == set(EXPECTED)
    for name, (trigger_type, settings) in EXPECTED.items():
        trigger = functions[name].get_trigger()
        assert trigger.get_binding_name() == trigger_type, name
        binding = {k: _plain(v) for k, v in trigger.get_dict_repr().items()}
        for key, value in settings.items():
            assert binding[key] == value, (name, key)


def test_http_functions_have_their_http_output_binding():
    for function in indexed_functions().values():
        if function.get_trigger().get_binding_name() == "httpTrigger":
            types = [b.get_binding_name() for b in function.get_bindings()]
            assert types == ["httpTrigger", "http"], function.get_function_name()


def test_importing_the_app_imports_nothing_heavy():
    code = (
        "import sys, function_app; "
        "heavy = ('azure.ai.ml', 'statsmodels', 'pandas', 'numpy', 'yaml', "
        "'localdev.workspace', 'azure.storage.blob'); "
        "heavy = [m for m in heavy if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
