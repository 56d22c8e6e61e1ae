"""Typed settings: the only reader of the environment (Function App settings).

``Settings.from_env()`` reads and validates everything once, at start, and fails fast with
one ``ConfigurationError`` listing every problem. Every setting is documented in
docs/settings.md; the names are the app settings' names.
"""

from __future__ import annotations

import contextlib
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
    # The columns naming the series inside a file (long form, e.g. ("store", "product"));
    # empty: the model is one series.
    series_columns: tuple[str, ...] = ()

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
    # Seconds the storage has to answer the start-up check (RETRAIN_STORAGE_TIMEOUT; 0: none).
    storage_timeout: float = 5.0
    models_file: Path | None = None  # RETRAIN_MODELS_FILE, when the models come from a file

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
        models_file = get("RETRAIN_MODELS_FILE")
        models = _parse_models(
            get("RETRAIN_MODELS"), problems, trigger_policy, get, models_file=models_file
        )
        for name in CONTAINER_SETTINGS:
            value = get(name)
            problem = container_problem(name, value) if value else None
            if problem:
                problems.append(problem)
        storage_timeout = _storage_timeout(get("RETRAIN_STORAGE_TIMEOUT"), problems)
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
            storage_timeout=storage_timeout,
            models_file=models_file_path(models_file) if models_file else None,
            **optional,
        )


def _storage_timeout(raw: str | None, problems: list[str]) -> float:
    if raw is None or not raw.strip():
        return Settings.storage_timeout
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 120:
        problems.append(f"RETRAIN_STORAGE_TIMEOUT must be seconds in [0, 120], got {raw!r}")
        return Settings.storage_timeout
    return value


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
_REQUIRED_MODEL_FIELDS = ("name", "prefix")
_POSITIVE_FIELDS = ("season_length", "horizon", "time_budget")
_NON_NEGATIVE_FIELDS = ("max_gap", "backtest_folds", "backtest_horizon")
_TEXT_FIELDS = ("frequency", "time_column", "value_column")
MODELS_EXAMPLE = (
    '[{"name": "co2", "prefix": "co2/", "frequency": "MS", "season_length": 12, "horizon": 24}]'
)

FieldPath = tuple[str, ...]


@dataclass(frozen=True)
class ModelsSource:
    """Where the model definitions came from, so a problem points at its place: the
    inline setting (``RETRAIN_MODELS[1].horizon``) or a line of the models file
    (``models.yaml:12: model 'sales': field 'horizon'``)."""

    setting: str
    path: str | None = None
    item_lines: tuple[int, ...] = ()
    field_lines: Mapping[tuple[int, FieldPath], int] = field(default_factory=dict)

    def where(self, index: int, name: str | None, path: FieldPath = ()) -> str:
        if self.path is None:
            return f"{self.setting}[{index}]" + "".join(f".{part}" for part in path)
        line = self.line(index, path)
        model = f"model {name!r}" if name else f"model #{index + 1}"
        place = f"{self.path}:{line}: " if line else f"{self.path}: "
        return place + model + (f": field {'.'.join(path)!r}" if path else "")

    def line(self, index: int, path: FieldPath) -> int | None:
        """The line of ``path`` in item ``index``, else of its nearest parent."""
        for depth in range(len(path), 0, -1):
            found = self.field_lines.get((index, path[:depth]))
            if found:
                return found
        return self.item_lines[index] if index < len(self.item_lines) else None


def _load_models(
    inline: str | None, file_setting: str | None, problems: list[str]
) -> tuple[Any, ModelsSource] | None:
    """The raw model list from RETRAIN_MODELS (JSON) or RETRAIN_MODELS_FILE (YAML or JSON),
    with where each item and field was written; None (and a problem) when unreadable."""
    if inline and file_setting:
        problems.append(
            "RETRAIN_MODELS and RETRAIN_MODELS_FILE are both set: keep one (the file, "
            "RETRAIN_MODELS_FILE, is easier to write)"
        )
        return None
    if file_setting:
        return _load_models_file(file_setting, problems)
    if not inline:
        problems.append(
            "no models are configured: set RETRAIN_MODELS_FILE to a YAML or JSON models file "
            f"(docs/settings.md), or RETRAIN_MODELS to a JSON list such as {MODELS_EXAMPLE}"
        )
        return None
    try:
        items = json.loads(inline)
    except ValueError as exc:
        problems.append(f"RETRAIN_MODELS is not valid JSON: {exc}")
        return None
    return items, ModelsSource("RETRAIN_MODELS")


def models_file_path(setting: str) -> Path:
    """RETRAIN_MODELS_FILE as a path: relative paths start at the app's folder."""
    path = Path(setting).expanduser()
    return path if path.is_absolute() else APP_ROOT / path


def _load_models_file(setting: str, problems: list[str]) -> tuple[Any, ModelsSource] | None:
    import yaml

    path = models_file_path(setting)
    shown = setting
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        problems.append(f"RETRAIN_MODELS_FILE={setting!r} cannot be read ({path}): {reason}")
        return None
    node: Any = None
    if path.suffix.lower() == ".json":
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            problems.append(f"{shown}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}")
            return None
        with contextlib.suppress(yaml.YAMLError):  # lines only; JSON is (nearly) YAML
            node = yaml.compose(text, Loader=yaml.SafeLoader)
    else:
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
            items = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f"{shown}:{mark.line + 1}:{mark.column + 1}" if mark is not None else shown
            problem = getattr(exc, "problem", None) or str(exc)
            problems.append(f"{at}: not valid YAML: {problem}")
            return None
    if isinstance(items, dict) and set(items) == {"models"}:
        items = items["models"]
        node = _mapping_value(node, "models")
    elif isinstance(items, dict):
        problems.append(
            f"{shown}: expected a list of models, or a mapping with one key 'models' "
            f"holding that list; found keys {sorted(map(str, items))}"
        )
        return None
    item_lines: list[int] = []
    field_lines: dict[tuple[int, FieldPath], int] = {}
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            item_lines.append(item.start_mark.line + 1)
            _collect_lines(item, index, (), field_lines, shown, problems)
    return items, ModelsSource("RETRAIN_MODELS_FILE", shown, tuple(item_lines), field_lines)


def _mapping_value(node: Any, key: str) -> Any:
    import yaml

    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if getattr(key_node, "value", None) == key:
                return value_node
    return None


def _collect_lines(
    node: Any,
    index: int,
    path: FieldPath,
    lines: dict[tuple[int, FieldPath], int],
    shown: str,
    problems: list[str],
) -> None:
    """Record the line of every key of a model (and of its gate / policy mappings);
    a key written twice is a problem (YAML would silently keep the last)."""
    import yaml

    if not isinstance(node, yaml.MappingNode):
        return
    for key_node, value_node in node.value:
        key = (*path, str(key_node.value))
        line = key_node.start_mark.line + 1
        if (index, key) in lines:
            problems.append(
                f"{shown}:{line}: model #{index + 1}: field {'.'.join(key)!r} is written "
                f"twice (also on line {lines[(index, key)]})"
            )
        lines[(index, key)] = line
        if not path:
            _collect_lines(value_node, index, key, lines, shown, problems)


def _parse_models(
    raw: str | None,
    problems: list[str],
    trigger_policy: TriggerPolicy | None = None,
    get: Any = None,
    models_file: str | None = None,
) -> tuple[ModelConfig, ...]:
    """Every model, with every problem of every model reported (an unknown field does
    not hide the other fields' problems); each problem names where it was written."""
    loaded = _load_models(raw, models_file, problems)
    if loaded is None:
        return ()
    items, source = loaded
    if not isinstance(items, list) or not items:
        what = source.path or source.setting
        problems.append(f"{what} must be a non-empty JSON list of models, e.g. {MODELS_EXAMPLE}")
        return ()
    models: list[ModelConfig] = []
    for index, item in enumerate(items):
        model = _parse_model(index, item, source, trigger_policy, get, problems)
        if model is not None:
            models.append(model)
    names = [m.name for m in models]
    for name in sorted({n for n in names if names.count(n) > 1}):
        second = [i for i, item in enumerate(items) if _item_name(item) == name][1]
        problems.append(
            f"{source.where(second, name, ('name',))} names model {name!r} more than once"
        )
    prefixes = sorted(m.prefix for m in models)
    for first, second_prefix in itertools.pairwise(prefixes):
        if second_prefix.startswith(first):
            problems.append(
                f"{source.path or source.setting}: prefixes {first!r} and {second_prefix!r} "
                "overlap (a blob would belong to two models)"
            )
    return tuple(models)


def _item_name(item: Any) -> str | None:
    name = item.get("name") if isinstance(item, dict) else None
    return name if isinstance(name, str) and name else None


def _parse_model(
    index: int,
    item: Any,
    source: ModelsSource,
    trigger_policy: TriggerPolicy | None,
    get: Any,
    problems: list[str],
) -> ModelConfig | None:
    name = _item_name(item)

    def at(*path: str) -> str:
        return source.where(index, name, path)

    if not isinstance(item, dict):
        problems.append(f"{at()} must be a mapping of model fields, got {_kind(item)}")
        return None
    before = len(problems)
    for key in sorted(set(map(str, item)) - _MODEL_FIELDS):
        problems.append(
            f"{at(key)} is an unknown field; the model fields are: "
            + ", ".join(sorted(_MODEL_FIELDS))
        )
    values = {key: value for key, value in item.items() if key in _MODEL_FIELDS}
    for key in _REQUIRED_MODEL_FIELDS:
        if key not in values:
            problems.append(f"{at()} lacks the required field {key!r}")
    if "name" in values and not (isinstance(name, str) and MODEL_NAME.match(name)):
        problems.append(
            f"{at('name')} must be lowercase letters, digits and hyphens (at most 41, "
            f"starting with a letter or digit), got {values['name']!r}"
        )
    if "prefix" in values:
        problem = _prefix_problem(values["prefix"])
        if problem:
            problems.append(f"{at('prefix')}: {problem}")
    for key in _TEXT_FIELDS:
        if key in values and (not isinstance(values[key], str) or not values[key].strip()):
            problems.append(f"{at(key)} must be a non-empty text, got {values[key]!r}")
    if isinstance(values.get("frequency"), str) and values["frequency"].strip():
        problem = frequency_problem(values["frequency"])
        if problem:
            problems.append(f"{at('frequency')}: {problem}")
    for key in (*_POSITIVE_FIELDS, *_NON_NEGATIVE_FIELDS):
        if key in values:
            value = values[key]
            least = 0 if key in _NON_NEGATIVE_FIELDS else 1
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                what = "a whole number >= 0" if least == 0 else "a positive whole number"
                problems.append(f"{at(key)} must be {what}, got {value!r}")
    time_column = values.get("time_column", ModelConfig.time_column)
    value_column = values.get("value_column", ModelConfig.value_column)
    if time_column == value_column:
        problems.append(f"{at('value_column')} must differ from time_column ({time_column!r})")
    series_columns = _series_columns(values.get("series_columns", ()), at, problems)
    for column in series_columns:
        if column in (time_column, value_column):
            problems.append(
                f"{at('series_columns')}: {column!r} is the time or value column; series "
                "columns name the series, e.g. ['store', 'product']"
            )
    gate = values.get("gate") or {}
    if not isinstance(gate, dict):
        problems.append(f"{at('gate')} must be a mapping of gate settings, got {gate!r}")
        gate = {}
    else:
        problems.extend(policy_problems(gate, lambda attr: at("gate", attr)))
    policy = _model_policy(at, values.get("policy"), trigger_policy, get, problems)
    if len(problems) > before or policy is None:
        return None
    fields = values | {"gate": gate, "policy": policy, "series_columns": series_columns}
    return ModelConfig(**fields)


def _series_columns(raw: Any, at: Any, problems: list[str]) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list | tuple) or not all(
        isinstance(column, str) and column.strip() for column in raw
    ):
        problems.append(
            f"{at('series_columns')} must be a list of column names, e.g. ['store'], got {raw!r}"
        )
        return ()
    duplicated = sorted({c for c in raw if list(raw).count(c) > 1})
    if duplicated:
        problems.append(f"{at('series_columns')} names {duplicated} more than once")
    return tuple(raw)


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    return "nothing" if value is None else f"{type(value).__name__} {value!r}"


# Blob names: at most 1,024 characters; a prefix is a folder, so it ends in "/" and its
# segments are not empty, "." or ".." (Azure folds those), and holds no backslash.
_MAX_BLOB_NAME = 1024


def _prefix_problem(prefix: Any) -> str | None:
    if not isinstance(prefix, str):
        return f"must be a folder such as 'sales/', got {prefix!r}"
    if not prefix.endswith("/") or prefix.startswith("/"):
        return f"must look like 'name/' (a folder of the data container), got {prefix!r}"
    if len(prefix) > _MAX_BLOB_NAME - 1:
        return f"is longer than a blob name may be ({_MAX_BLOB_NAME} characters)"
    segments = prefix[:-1].split("/")
    if any(segment in ("", ".", "..") for segment in segments) or "\\" in prefix:
        return f"{prefix!r} has an empty, '.' or '..' folder, or a backslash"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in prefix):
        return f"{prefix!r} holds control characters"
    return None


# The offset aliases pandas reads (pandas.tseries.frequencies.to_offset), for the Function
# App, which has no pandas: the check there is this pattern; with pandas, pandas decides.
_ANCHOR = r"(?:-(?:JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC))?"
_WEEKDAY = r"(?:-(?:MON|TUE|WED|THU|FRI|SAT|SUN))?"
_OFFSET_ALIAS = re.compile(
    r"^\d*(?:ns|us|ms|s|min|h|D|B|C|W" + _WEEKDAY + r"|ME|MS|SME|SMS|BME|BMS|CBME|CBMS"
    r"|QE"
    + _ANCHOR
    + r"|QS"
    + _ANCHOR
    + r"|BQE"
    + _ANCHOR
    + r"|BQS"
    + _ANCHOR
    + r"|YE"
    + _ANCHOR
    + r"|YS"
    + _ANCHOR
    + r"|BYE"
    + _ANCHOR
    + r"|BYS"
    + _ANCHOR
    + r"|bh|cbh)$"
)


def frequency_problem(frequency: str) -> str | None:
    """Why ``frequency`` is not a pandas offset alias (``MS``, ``D``, ``W-SUN``, ``QS-JAN``,
    ``h`` ...), or None. Checked with pandas' own ``to_offset`` where pandas is installed
    (locally, in the pipeline), else (in the Function App, which has no pandas) with
    ``offset_alias_problem``."""
    try:
        from pandas.tseries.frequencies import to_offset
    except ImportError:
        return offset_alias_problem(frequency)
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a deprecated alias is a problem now, not later
            to_offset(frequency)
    except (ValueError, TypeError, Warning) as exc:
        said = _pandas_said(str(exc))
        return f"{frequency!r} is not {_FREQUENCY_HINT}" + (f" (pandas: {said})" if said else "")
    return None


def offset_alias_problem(frequency: str) -> str | None:
    """``frequency_problem`` without pandas: the aliases pandas reads, as a pattern."""
    return None if _OFFSET_ALIAS.match(frequency) else f"{frequency!r} is not {_FREQUENCY_HINT}"


_FREQUENCY_HINT = "a pandas offset alias such as 'D', 'W-SUN', 'MS', 'QS', 'YS' or 'h'"


def _pandas_said(text: str) -> str | None:
    """The useful sentence of pandas' error ('... is no longer supported ... use ...', or
    'Did you mean ...?'), not its nested repr."""
    for pattern in (
        r"'[^']+' is no longer supported for offsets\. Please use '[^']+' instead\.",
        r"Did you mean [^?'\"]+\?",
    ):
        found = re.search(pattern, text)
        if found:
            return found.group(0)
    return None


# Blob container names: 3-63 lowercase letters, digits and single hyphens, starting and
# ending with a letter or digit.
_CONTAINER_NAME = re.compile(r"^(?=.{3,63}$)[a-z0-9]+(?:-[a-z0-9]+)*$")
CONTAINER_SETTINGS = (
    "RETRAIN_DATA_CONTAINER",
    "RETRAIN_STATE_CONTAINER",
    "RETRAIN_ARTIFACT_CONTAINER",
)


def container_problem(name: str, value: str) -> str | None:
    """Why ``value`` of setting ``name`` is not a Blob container name, or None."""
    if _CONTAINER_NAME.match(value):
        return None
    return (
        f"{name}={value!r} is not a Blob container name: 3-63 lowercase letters, digits and "
        "hyphens, starting and ending with a letter or digit, no two hyphens in a row"
    )


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
    at: Any,
    raw: Any,
    default: TriggerPolicy | None,
    get: Any,
    problems: list[str],
) -> TriggerPolicy | None:
    """A model's policy: ``default`` with its ``"policy"`` overrides; a secret is never
    written into the models: ``"webhook_secret_setting"`` names the app setting.
    ``at(*path)`` says where a field was written."""
    base = default or TriggerPolicy()
    if raw is None:
        return base
    if not isinstance(raw, dict):
        problems.append(f"{at('policy')} must be a mapping of policy settings, got {raw!r}")
        return None
    overrides: dict[str, Any] = {}
    before = len(problems)
    for key, value in raw.items():
        if key == "webhook_secret_setting":
            secret = get(str(value)) if get is not None else None
            if not secret:
                problems.append(f"{at('policy', key)} names {value!r}, unset")
            overrides["webhook_secret"] = secret
            continue
        if key == "webhook_secret":
            problems.append(
                f"{at('policy', key)}: do not put a secret in RETRAIN_MODELS or the models "
                "file; name an app "
                "setting with webhook_secret_setting"
            )
            continue
        try:
            overrides[key] = convert_policy_value(key, value)
        except (TypeError, ValueError) as exc:
            problems.append(f"{at('policy', str(key))}: {exc}")
    merged = {f: getattr(base, f) for f in TriggerPolicy.__dataclass_fields__} | overrides
    problems.extend(trigger_policy_problems(merged, lambda attr: at("policy", attr)))
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
    family_endpoint: str | None = None  # None: "<endpoint>-family", as deploy.publish names it
    family_deployment: str | None = None  # None: the family endpoint's default deployment
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
        family_endpoint=get("RETRAIN_AZUREML_FAMILY_ENDPOINT") or None,
        family_deployment=get("RETRAIN_AZUREML_FAMILY_DEPLOYMENT") or None,
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
