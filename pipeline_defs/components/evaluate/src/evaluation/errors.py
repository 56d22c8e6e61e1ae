"""The evaluate step's two errors: the inputs cannot be evaluated, or the champion cannot be
scored (the step still succeeds then, with ``champion`` null)."""

from __future__ import annotations


class EvaluateError(ValueError):
    """The inputs cannot be evaluated."""


class ChampionError(ValueError):
    """The champion cannot be scored on this data; the message says why."""
