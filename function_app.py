"""The Function App: creates the app and registers one blueprint per trigger source.

Nothing else happens at import: the service is built on the first invocation
(shared.bootstrap.get_service), so a bad app setting cannot hide the functions.
"""

import azure.functions as func

from functions import (
    api,
    azureml_events,
    dashboard,
    drift,
    new_data,
    run_completed,
    schedule,
    sweep,
)


def create_app() -> func.FunctionApp:
    """A new app with every blueprint registered (the worker indexes ``app`` once;
    the local host and tests index fresh ones)."""
    function_app = func.FunctionApp()
    for blueprint in (
        *(new_data.bp, schedule.bp, sweep.bp, drift.bp, run_completed.bp, api.bp),
        azureml_events.bp,
        dashboard.bp,
    ):
        function_app.register_functions(blueprint)
    return function_app


app = create_app()
