import functools
from collections.abc import Callable
from typing import Any

import azure.functions as func

import function_app


@functools.cache
def indexed_functions() -> dict[str, func.Function]:
    """``function_app.app`` indexed once, as the worker does (a second
    ``get_functions()`` on the same app raises in azure-functions)."""
    return {str(f.get_function_name()): f for f in function_app.app.get_functions()}


@functools.cache
def user_functions() -> dict[str, Callable[..., Any]]:
    """Each indexed function's own Python function, to call as the worker would."""
    return {name: f.get_user_function() for name, f in indexed_functions().items()}
