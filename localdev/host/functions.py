"""The app's functions as the host indexes them (``app.get_functions()``), and the
objects a function is called with (context, output bindings)."""

from __future__ import annotations

import datetime as dt
import inspect
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.functions.decorators.core import BindingDirection

from localdev.host.common import HostConfigurationError
from localdev.host.routes import RouteTemplate
from localdev.host.schedules import Schedule

logger = logging.getLogger(__name__)

# -- indexed functions -------------------------------------------------------------------------


@dataclass
class _Indexed:
    name: str
    trigger_type: str
    trigger_parameter: str
    user_function: Callable[..., Any]
    output_parameters: tuple[str, ...]
    wants_context: bool
    directory: str
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class _HttpFunction:
    function: _Indexed
    route: RouteTemplate
    methods: frozenset[str] | None
    auth_level: str

    def allows(self, method: str) -> bool:
        return self.methods is None or method in self.methods


@dataclass
class _TimerFunction:
    function: _Indexed
    schedule: Schedule
    schedule_text: str
    run_on_startup: bool
    last: dt.datetime | None = None


class _LocalContext(func.Context):
    def __init__(self, invocation_id: str, function_name: str, directory: str) -> None:
        self._invocation_id = invocation_id
        self._function_name = function_name
        self._directory = directory
        self._thread_local = threading.local()
        self._thread_local.invocation_id = invocation_id

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> Any:
        return self._thread_local

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._directory

    @property
    def trace_context(self) -> Any:
        return None

    @property
    def retry_context(self) -> Any:
        return None


class _Out(func.Out[Any]):
    """An output binding the local host does not emulate: the value is kept and logged."""

    def __init__(self, function_name: str, name: str) -> None:
        self._function_name = function_name
        self._name = name
        self._value: Any = None

    def set(self, val: Any) -> None:
        logger.info(
            "Output binding '%s' of 'Functions.%s' is not emulated locally; value dropped",
            self._name,
            self._function_name,
        )
        self._value = val

    def get(self) -> Any:
        return self._value


def _enum_value(value: Any) -> str:
    return str(getattr(value, "value", value))


def _index(function: Any) -> tuple[_Indexed, dict[str, Any]] | None:
    trigger = function.get_trigger()
    if trigger is None:
        return None
    settings = dict(trigger.get_dict_repr())
    name = str(function.get_function_name())
    user_function = function.get_user_function()
    parameters = inspect.signature(user_function).parameters
    outputs = tuple(
        binding.name
        for binding in function.get_bindings()
        if binding is not trigger
        and binding.direction == BindingDirection.OUT.value
        and binding.name != "$return"
        and binding.name in parameters
    )
    if trigger.name not in parameters and not any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    ):
        raise HostConfigurationError(
            f"Function 'Functions.{name}': its trigger binding is named {trigger.name!r} but "
            f"the Python function has no such parameter (it has: {', '.join(parameters)})"
        )
    indexed = _Indexed(
        name=name,
        trigger_type=str(trigger.type),
        trigger_parameter=str(trigger.name),
        user_function=user_function,
        output_parameters=outputs,
        wants_context="context" in parameters and trigger.name != "context",
        directory=str(Path(getattr(function, "function_script_file", ".") or ".").parent),
    )
    return indexed, settings
