import functools

import azure.functions as func

import function_app


@functools.cache
def indexed_functions() -> dict[str, func.Function]:
    """``function_app.app`` indexed once, as the worker does (a second
    ``get_functions()`` on the same app raises in azure-functions)."""
    return {str(f.get_function_name()): f for f in function_app.app.get_functions()}
