"""Is a model's frequency a pandas offset alias? With pandas where it is installed, by
pattern where it is not (the Function App)."""

from __future__ import annotations

import re

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
