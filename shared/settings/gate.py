"""The app-wide gate policy from RETRAIN_GATE_* (docs/settings.md)."""

from __future__ import annotations

from typing import Any

from shared.gate import GatePolicy, policy_problems

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


def gate_policy_setting(get: Any, problems: list[str]) -> GatePolicy | None:
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
