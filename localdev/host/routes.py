"""Route templates of HTTP triggers, as the Functions host reads them."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

# -- route templates ---------------------------------------------------------------------------

_ROUTE_PARAMETER = re.compile(r"\{([^{}]+)\}")
_PARAMETER_SPEC = re.compile(
    r"^(?P<catch_all>\*{1,2})?(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"(?P<constraints>(?::[A-Za-z]+(?:\([^)]*\))?)*)"
    r"(?P<optional>\?)?(?:=(?P<default>.*))?$"
)
_CONSTRAINT = re.compile(r":([A-Za-z]+)(?:\(([^)]*)\))?")
_CONSTRAINT_PATTERNS = {
    "int": r"-?\d+",
    "long": r"-?\d+",
    "alpha": r"[A-Za-z]+",
    "bool": r"(?:true|false)",
    "guid": r"\{?[0-9A-Fa-f]{8}-(?:[0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}\}?",
    "decimal": r"-?\d+(?:\.\d+)?",
    "double": r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?",
    "float": r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?",
    "datetime": r"[^/]+",
}


@dataclass(frozen=True)
class RouteTemplate:
    """An ASP.NET-style route template (``models/{model}/retrain``) compiled to a regex.

    Supports ``{name}``, constraints (``:int``, ``:alpha``, ``:guid``, ``:bool``,
    ``:minlength(n)``, ``:maxlength(n)``, ``:length(n)``, ``:min(n)``, ``:max(n)``,
    ``:range(a,b)``, ``:regex(expr)`` ...), optional ``{name?}`` and defaults ``{name=x}`` in
    trailing segments, and a catch-all ``{*rest}``. Literals match case-insensitively.
    """

    template: str
    pattern: re.Pattern[str]
    checks: tuple[tuple[str, Callable[[str], bool]], ...]
    defaults: tuple[tuple[str, str], ...]
    precedence: tuple[int, ...]

    @classmethod
    def compile(cls, template: str) -> RouteTemplate:
        segments = [s for s in template.strip("/").split("/")] if template.strip("/") else []
        regex = ""
        checks: list[tuple[str, Callable[[str], bool]]] = []
        defaults: list[tuple[str, str]] = []
        precedence: list[int] = []
        for index, segment in enumerate(segments):
            if not segment:
                raise ValueError(f"route {template!r} has an empty segment")
            whole = _PARAMETER_SPEC.match(segment[1:-1]) if _is_single_parameter(segment) else None
            if whole is not None and (whole["catch_all"] or whole["optional"] or whole["default"]):
                if whole["catch_all"] and index != len(segments) - 1:
                    raise ValueError(f"route {template!r}: a catch-all must be the last segment")
                name = whole["name"]
                body, value_checks = _constraint_regex(template, whole["constraints"])
                if whole["catch_all"]:
                    body = ".*"
                regex += f"(?:/(?P<{name}>{body}))?"
                checks += [(name, check) for check in value_checks]
                if whole["default"] is not None:
                    defaults.append((name, whole["default"]))
                precedence.append(5 if whole["catch_all"] else 4)
                continue
            piece, segment_checks, rank = _segment_regex(template, segment)
            regex += "/" + piece
            checks += segment_checks
            precedence.append(rank)
        pattern = re.compile(f"^{regex}/?$", re.IGNORECASE)
        return cls(template, pattern, tuple(checks), tuple(defaults), tuple(precedence))

    def match(self, path: str) -> dict[str, str] | None:
        """Route parameters if ``path`` (``/models/m1/retrain``, decoded) matches, else None."""
        found = self.pattern.match(path)
        if found is None:
            return None
        values = {name: value for name, value in found.groupdict().items() if value is not None}
        for name, default in self.defaults:
            values.setdefault(name, default)
        for name, check in self.checks:
            if name in values and not check(values[name]):
                return None
        return values


def _is_single_parameter(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}") and segment.count("{") == 1


def _segment_regex(
    template: str, segment: str
) -> tuple[str, list[tuple[str, Callable[[str], bool]]], int]:
    regex = ""
    checks: list[tuple[str, Callable[[str], bool]]] = []
    position = 0
    parameters = 0
    constrained = False
    for found in _ROUTE_PARAMETER.finditer(segment):
        regex += re.escape(segment[position : found.start()])
        spec = _PARAMETER_SPEC.match(found.group(1))
        if spec is None or spec["catch_all"] or spec["optional"] or spec["default"]:
            raise ValueError(f"route {template!r}: cannot read parameter {found.group(0)!r}")
        body, segment_checks = _constraint_regex(template, spec["constraints"])
        regex += f"(?P<{spec['name']}>{body})"
        checks += [(spec["name"], check) for check in segment_checks]
        constrained = constrained or bool(spec["constraints"])
        parameters += 1
        position = found.end()
    literal_tail = segment[position:]
    if "{" in literal_tail or "}" in literal_tail:
        raise ValueError(f"route {template!r}: unbalanced braces in {segment!r}")
    regex += re.escape(literal_tail)
    if parameters == 0:
        return regex, checks, 0
    if parameters == 1 and _is_single_parameter(segment):
        return regex, checks, 2 if constrained else 3
    return regex, checks, 1


def _constraint_regex(template: str, constraints: str) -> tuple[str, list[Callable[[str], bool]]]:
    body = r"[^/]+"
    checks: list[Callable[[str], bool]] = []
    for name, argument in _CONSTRAINT.findall(constraints):
        kind = name.lower()
        if kind in _CONSTRAINT_PATTERNS:
            body = _CONSTRAINT_PATTERNS[kind]
        elif kind == "regex":
            body = f"(?:{argument})"
        elif kind in ("minlength", "maxlength", "length", "min", "max", "range"):
            checks.append(_bound_check(kind, argument))
        else:
            raise ValueError(f"route {template!r}: unknown route constraint {name!r}")
    return body, checks


def _bound_check(kind: str, argument: str) -> Callable[[str], bool]:
    numbers = [int(part) for part in argument.split(",")]

    def as_int(value: str) -> int | None:
        try:
            return int(value)
        except ValueError:
            return None

    def check(value: str) -> bool:
        if kind == "minlength":
            return len(value) >= numbers[0]
        if kind == "maxlength":
            return len(value) <= numbers[0]
        if kind == "length":
            low, high = (numbers[0], numbers[0]) if len(numbers) == 1 else numbers[:2]
            return low <= len(value) <= high
        number = as_int(value)
        if number is None:
            return False
        if kind == "min":
            return number >= numbers[0]
        if kind == "max":
            return number <= numbers[0]
        return numbers[0] <= number <= numbers[1]

    return check
