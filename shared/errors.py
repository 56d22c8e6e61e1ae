"""Every error the service raises on purpose.

    RetrainError                 base class; never raised itself
    ├── InvalidInput             the input cannot be processed as sent; retrying will not help.
    │   │                        The event is dead-lettered with this message.
    │   ├── UnknownModel         no configured model owns the blob prefix / name in the input
    │   └── InvalidData          a data blob is unreadable (non-numeric values, bad header...)
    ├── ConfigurationError       settings are missing or invalid (raised at start-up)
    ├── ConflictError            a conditional write lost: the blob exists or its ETag moved
    ├── NotFound                 a get_x for something that does not exist
    ├── PipelineError            the training pipeline could not be submitted or its run failed
    └── RegistryError            the model registry (Azure ML workspace) could not be used

Messages say what was wrong and, where it helps, what to do about it.
"""

from __future__ import annotations


class RetrainError(Exception):
    """Base class of the service's own errors."""


class InvalidInput(RetrainError):
    """The input (an event, a request body, a data blob) cannot be processed as sent."""


class UnknownModel(InvalidInput):
    """No configured model matches the blob prefix or model name."""


class InvalidData(InvalidInput):
    """A data blob failed validation (wrong header, non-numeric value, unparseable time)."""


class ConfigurationError(RetrainError):
    """App settings are missing or invalid."""


class ConflictError(RetrainError):
    """A conditional write lost the race: the blob already exists or its ETag changed."""


class NotFound(RetrainError):
    """The thing asked for does not exist."""


class PipelineError(RetrainError):
    """The training pipeline could not be submitted, or its run failed."""


class RegistryError(RetrainError):
    """The workspace model registry could not be read or written."""
