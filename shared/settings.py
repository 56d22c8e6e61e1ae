"""Typed settings: the only reader of the environment (Function App settings).

``Settings.from_env()`` reads and validates everything once, at start, and fails fast with
one ``ConfigurationError`` listing every problem. Every setting is documented in
docs/settings.md; the names are the app settings' names.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.errors import ConfigurationError

APP_ROOT = Path(__file__).resolve().parent.parent
MODEL_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}$")
_PLACEHOLDER = re.compile(r"^(<.*>|changeme|todo|xxx+)$", re.IGNORECASE)
BACKENDS = ("local",)


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
        }


@dataclass(frozen=True)
class GatePolicy:
    """When a candidate may be promoted.

    ``max_mase``: the candidate's holdout MASE must be below this (1.0 means better than
    the in-sample seasonal-naive forecast). ``min_improvement``: the candidate's holdout
    MASE must be at least this fraction below the seasonal-naive baseline's MASE on the
    same holdout (0.0: merely not worse).
    """

    max_mase: float = 1.0
    min_improvement: float = 0.0

    def __post_init__(self) -> None:
        if not self.max_mase > 0:
            raise ConfigurationError(f"RETRAIN_GATE_MAX_MASE must be > 0, got {self.max_mase}")
        if not 0 <= self.min_improvement < 1:
            raise ConfigurationError(
                f"RETRAIN_GATE_MIN_IMPROVEMENT must be in [0, 1), got {self.min_improvement}"
            )

    def describe(self) -> str:
        return (
            f"promote when holdout MASE < {self.max_mase:g} and MASE is at least "
            f"{self.min_improvement:.0%} below the seasonal-naive baseline's"
        )


@dataclass(frozen=True)
class Settings:
    """Everything the app is configured with. See docs/settings.md."""

    storage_connection_string: str
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

        connection = get("RETRAIN_STORAGE_CONNECTION_STRING") or get("AzureWebJobsStorage")
        if not connection:
            problems.append(
                "RETRAIN_STORAGE_CONNECTION_STRING (or AzureWebJobsStorage) is not set: "
                "the service keeps its state in Blob storage"
            )
        models = _parse_models(get("RETRAIN_MODELS"), problems)
        schedule = get("RETRAIN_SCHEDULE", cls.schedule) or cls.schedule
        _check_ncrontab("RETRAIN_SCHEDULE", schedule, problems)
        sweep_schedule = get("RETRAIN_SWEEP_SCHEDULE", cls.sweep_schedule) or cls.sweep_schedule
        _check_ncrontab("RETRAIN_SWEEP_SCHEDULE", sweep_schedule, problems)
        backend = get("RETRAIN_BACKEND", "local") or "local"
        if backend not in BACKENDS:
            problems.append(
                f"RETRAIN_BACKEND={backend!r} is not available; built backends: "
                f"{', '.join(BACKENDS)} (the Azure ML backend is not built yet, "
                "see docs/local-vs-azure.md)"
            )
        gate: GatePolicy | None = None
        try:
            gate = GatePolicy(
                max_mase=_float(get("RETRAIN_GATE_MAX_MASE", "1.0"), "RETRAIN_GATE_MAX_MASE"),
                min_improvement=_float(
                    get("RETRAIN_GATE_MIN_IMPROVEMENT", "0.0"), "RETRAIN_GATE_MIN_IMPROVEMENT"
                ),
            )
        except ConfigurationError as exc:
            problems.append(str(exc))
        events_url = get("RETRAIN_LOCAL_EVENTS_URL")
        if events_url and not events_url.startswith(("http://127.", "http://localhost")):
            problems.append(
                f"RETRAIN_LOCAL_EVENTS_URL must be a loopback URL of the local host, "
                f"got {events_url!r}"
            )
        if problems:
            raise ConfigurationError("invalid app settings:\n  - " + "\n  - ".join(problems))
        assert connection is not None and gate is not None
        optional: dict[str, Any] = {}
        for attr, name in (
            ("data_container", "RETRAIN_DATA_CONTAINER"),
            ("state_container", "RETRAIN_STATE_CONTAINER"),
            ("artifact_container", "RETRAIN_ARTIFACT_CONTAINER"),
            ("code_version", "RETRAIN_CODE_VERSION"),
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
            storage_connection_string=connection,
            models=models,
            schedule=schedule,
            sweep_schedule=sweep_schedule,
            backend=backend,
            local_events_url=events_url or None,
            gate=gate,
            **optional,
        )


def _float(raw: str | None, name: str) -> float:
    try:
        return float(raw or "")
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, got {raw!r}") from None


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


def _parse_models(raw: str | None, problems: list[str]) -> tuple[ModelConfig, ...]:
    if not raw:
        problems.append(
            'RETRAIN_MODELS is not set: give a JSON list such as [{"name": "co2", '
            '"prefix": "co2/", "frequency": "MS", "season_length": 12, "horizon": 24}]'
        )
        return ()
    try:
        items = json.loads(raw)
    except ValueError as exc:
        problems.append(f"RETRAIN_MODELS is not valid JSON: {exc}")
        return ()
    if not isinstance(items, list) or not items:
        problems.append("RETRAIN_MODELS must be a non-empty JSON list of model objects")
        return ()
    models: list[ModelConfig] = []
    for index, item in enumerate(items):
        where = f"RETRAIN_MODELS[{index}]"
        if not isinstance(item, dict):
            problems.append(f"{where} must be an object")
            continue
        unknown = set(item) - _MODEL_FIELDS
        if unknown:
            problems.append(f"{where} has unknown field(s) {sorted(unknown)}")
            continue
        try:
            model = ModelConfig(**item)
        except TypeError as exc:
            problems.append(f"{where}: {exc}")
            continue
        if not MODEL_NAME.match(str(model.name)):
            problems.append(
                f"{where}.name {model.name!r} must be lowercase letters, digits and hyphens"
            )
        if not str(model.prefix).endswith("/") or model.prefix.startswith("/"):
            problems.append(f"{where}.prefix {model.prefix!r} must look like 'name/'")
        for number in ("season_length", "horizon", "max_gap", "time_budget"):
            value = getattr(model, number)
            if not isinstance(value, int) or value < (0 if number == "max_gap" else 1):
                problems.append(f"{where}.{number} must be a positive integer, got {value!r}")
        models.append(model)
    names = [m.name for m in models]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"RETRAIN_MODELS names model {name!r} more than once")
    prefixes = sorted(m.prefix for m in models)
    for first, second in itertools.pairwise(prefixes):
        if second.startswith(first):
            problems.append(f"RETRAIN_MODELS prefixes {first!r} and {second!r} overlap")
    return tuple(models)
