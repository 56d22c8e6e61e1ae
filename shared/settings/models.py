"""The models: RETRAIN_MODELS (JSON) or RETRAIN_MODELS_FILE (YAML or JSON), each problem
named where it was written."""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.gate import GatePolicy, policy_problems
from shared.policy.config import TriggerPolicy
from shared.settings.common import APP_ROOT, MODEL_NAME
from shared.settings.frequency import frequency_problem
from shared.settings.policy import model_policy


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
    # Fit on the log scale when the order search's rule picks it ("auto") or always in the
    # series' units ("none"): the pipelines' ``transform`` input (single and family). None
    # (not written): not sent, the pipeline's own default applies (none in both pipelines),
    # so a pipeline published before the input existed still accepts the submission.
    transform: str | None = None

    def gate_policy(self, default: GatePolicy) -> GatePolicy:
        """The gate policy for this model: ``default`` with this model's overrides."""
        return default.with_overrides(self.gate)

    def pipeline_inputs(self) -> dict[str, str | int]:
        """The pipeline's literal inputs for this model (``transform`` only when set)."""
        inputs: dict[str, str | int] = {
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
        if self.transform is not None:
            inputs["transform"] = self.transform
        return inputs


_MODEL_FIELDS = {f for f in ModelConfig.__dataclass_fields__}
_REQUIRED_MODEL_FIELDS = ("name", "prefix")
_POSITIVE_FIELDS = ("season_length", "horizon", "time_budget")
_NON_NEGATIVE_FIELDS = ("max_gap", "backtest_folds", "backtest_horizon")
_TEXT_FIELDS = ("frequency", "time_column", "value_column")
TRANSFORMS = ("auto", "none")
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


def parse_models(
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
        problem = prefix_problem(values["prefix"])
        if problem:
            problems.append(f"{at('prefix')}: {problem}")
    for key in _TEXT_FIELDS:
        if key in values and (not isinstance(values[key], str) or not values[key].strip()):
            problems.append(f"{at(key)} must be a non-empty text, got {values[key]!r}")
    if isinstance(values.get("frequency"), str) and values["frequency"].strip():
        problem = frequency_problem(values["frequency"])
        if problem:
            problems.append(f"{at('frequency')}: {problem}")
    if values.get("transform") is not None and values["transform"] not in TRANSFORMS:
        problems.append(
            f"{at('transform')} must be 'auto' (the log scale when the order search's rule "
            f"picks it) or 'none' (the series' units), got {values['transform']!r}"
        )
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
    policy = model_policy(at, values.get("policy"), trigger_policy, get, problems)
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


def prefix_problem(prefix: Any) -> str | None:
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
