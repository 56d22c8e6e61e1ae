"""The HTTP API's one blueprint, shared by ``functions/api*.py`` (each adds its routes);
``function_app`` registers it as ``functions.api.bp``."""

import azure.functions as func

bp = func.Blueprint()
