"""The trigger policy from RETRAIN_POLICY_* and each model's "policy" overrides
(docs/policy.md)."""

from __future__ import annotations

from typing import Any

from shared.policy.config import TriggerPolicy
from shared.policy.config import convert as convert_policy_value
from shared.policy.config import policy_problems as trigger_policy_problems

# App setting of each app-wide TriggerPolicy default (docs/policy.md).
POLICY_SETTINGS = {
    name: f"RETRAIN_POLICY_{name.upper()}"
    for name in TriggerPolicy.__dataclass_fields__
    if name != "webhook_secret"
} | {"webhook_secret": "RETRAIN_DRIFT_WEBHOOK_SECRET"}


def trigger_policy_setting(get: Any, problems: list[str]) -> TriggerPolicy:
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


def model_policy(
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
