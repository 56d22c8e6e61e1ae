"""Is a model's frequency a pandas offset alias? By pattern, the same in the Function App
(which has no pandas) as locally and in the pipeline."""

from __future__ import annotations

import re

# The offset aliases pandas reads (pandas.tseries.frequencies.to_offset); the tests compare
# this pattern with pandas on lists of good and bad aliases.
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
    ``h`` ...), or None. The same check everywhere (the Function App has no pandas): the
    aliases pandas reads, as a pattern; an alias pandas no longer reads (``M``, ``H``,
    ``Q-DEC`` ...) is refused with the one to use instead, as pandas would say it. The
    tests hold the pattern and the renames to pandas' own ``to_offset``."""
    if _OFFSET_ALIAS.match(frequency):
        return None
    problem = f"{frequency!r} is not {_FREQUENCY_HINT}"
    instead = renamed_alias(frequency)
    if instead is not None:
        problem += f" (pandas no longer reads it: use {instead!r} instead)"
    return problem


_FREQUENCY_HINT = "a pandas offset alias such as 'D', 'W-SUN', 'MS', 'QS', 'YS' or 'h'"

# The aliases pandas 2.2 deprecated and pandas 3 refuses, and what replaced them.
_RENAMED = {
    "M": "ME",
    "BM": "BME",
    "SM": "SME",
    "CBM": "CBME",
    "Q": "QE",
    "BQ": "BQE",
    "Y": "YE",
    "A": "YE",
    "BY": "BYE",
    "BA": "BYE",
    "AS": "YS",
    "BAS": "BYS",
    "H": "h",
    "BH": "bh",
    "CBH": "cbh",
    "T": "min",
    "S": "s",
    "L": "ms",
    "U": "us",
    "N": "ns",
    # deprecated in pandas 3 (still read, with a warning): refused here, as a warning now
    # would be an error after the next upgrade
    "d": "D",
    "w": "W",
    "b": "B",
    "c": "C",
    "MIN": "min",
    "US": "us",
    "NS": "ns",
}
_ALIAS_PARTS = re.compile(r"^(\d*)([A-Za-z]+)(-[A-Za-z]{3})?$")


def renamed_alias(frequency: str) -> str | None:
    """The alias that replaced a retired one (``'M'`` -> ``'ME'``, ``'2H'`` -> ``'2h'``,
    ``'A-DEC'`` -> ``'YE-DEC'``, ``'W-sun'`` -> ``'W-SUN'``), or None when ``frequency`` is
    an alias already or not one pandas ever read."""
    if _OFFSET_ALIAS.match(frequency):
        return None
    parts = _ALIAS_PARTS.match(frequency)
    if parts is None:
        return None
    count, base, anchor = parts.group(1), parts.group(2), parts.group(3) or ""
    new = _RENAMED.get(base) or _RENAMED.get(base.upper()) or base
    candidate = f"{count}{new}{anchor.upper()}"
    return candidate if candidate != frequency and _OFFSET_ALIAS.match(candidate) else None
