"""The workspace connection and the retry rules of the Azure ML backend.

``connect`` builds an ``MLClient`` with the SDK's own HTTP retries switched off
(``retry_total=0``): every call the backend makes goes through one ``RetryPolicy`` instead,
whose waits are visible (an injectable ``sleep``), honour ``Retry-After`` up to a cap and
never repeat a request that may have taken effect without the caller deciding so first.
(azure-core's default policy would retry a POST answered 500/503/504 by itself, and the
SDK's ``invoke`` re-sends on connection errors on top of that: azure-sdk-for-python#31166.)

The same ``transport`` (an azure-core ``HttpTransport``) reaches every request the client
sends: the ARM calls through the generated clients, the batch-endpoint invoke POST through
the client's own ``HttpPipeline`` and the run-history calls. Tests pass an in-memory
workspace there; in Azure it is left ``None`` (the default requests transport).
"""

from __future__ import annotations

import email.utils
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from azure.core.exceptions import (
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)

if TYPE_CHECKING:
    from azure.ai.ml import MLClient
    from azure.core.credentials import TokenCredential
    from azure.core.pipeline.transport import HttpTransport

logger = logging.getLogger(__name__)

T = TypeVar("T")

MANAGEMENT_SCOPE = "https://management.azure.com/.default"
ML_SCOPE = "https://ml.azure.com/.default"

# 408 and 429 are "come back later"; 5xx may come from a gateway after the service acted.
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


def default_credential(client_id: str | None = None) -> TokenCredential:
    """``DefaultAzureCredential``: the Function App's managed identity on Azure (the
    user-assigned one when ``client_id`` is given), developer logins elsewhere."""
    from azure.identity import DefaultAzureCredential

    if client_id:
        return DefaultAzureCredential(managed_identity_client_id=client_id)
    return DefaultAzureCredential()


def connect(
    *,
    subscription_id: str,
    resource_group: str,
    workspace_name: str,
    credential: TokenCredential | None = None,
    transport: HttpTransport | None = None,
    client_id: str | None = None,
    **kwargs: Any,
) -> MLClient:
    """An ``MLClient`` for one workspace, without the SDK's hidden HTTP retries and
    without its telemetry. ``kwargs`` go to ``MLClient`` (and through it to azure-core)."""
    from azure.ai.ml import MLClient

    for name, value in (
        ("subscription_id", subscription_id),
        ("resource_group", resource_group),
        ("workspace_name", workspace_name),
    ):
        if not value:
            raise ValueError(f"{name} is required to connect to an Azure ML workspace")
    options: dict[str, Any] = {"retry_total": 0, "enable_telemetry": False, "show_progress": False}
    options.update(kwargs)
    if transport is not None:
        options["transport"] = transport
    return MLClient(
        credential if credential is not None else default_credential(client_id),
        subscription_id,
        resource_group,
        workspace_name,
        **options,
    )


@dataclass(frozen=True)
class Failure:
    """What an exception from an Azure call means for retrying it.

    ``retry``: worth another attempt. ``ambiguous``: the request may have taken effect
    (sent, then no answer or a 5xx), so a caller that creates something must look for it
    before trying again. ``summary`` is safe to log and store: no tokens, no headers.
    """

    retry: bool
    ambiguous: bool
    status: int | None
    retry_after: float | None
    summary: str


def classify(exc: BaseException) -> Failure:
    """Sort an exception raised by the SDK or azure-core into a ``Failure``."""
    summary = describe(exc)
    if isinstance(exc, HttpResponseError):
        status = exc.status_code
        if status is None and exc.response is not None:
            status = exc.response.status_code
        retry_after = retry_after_seconds(exc.response) if exc.response is not None else None
        if status in RETRYABLE_STATUS:
            return Failure(True, bool(status and status >= 500), status, retry_after, summary)
        return Failure(False, False, status, None, summary)
    if isinstance(exc, ServiceRequestError):  # nothing reached the service
        return Failure(True, False, None, None, summary)
    if isinstance(exc, ServiceResponseError):  # sent; the answer was lost
        return Failure(True, True, None, None, summary)
    # azure.ai.ml's invoke turns five connection errors in a row into an MlException.
    if type(exc).__name__ == "MlException" and "retry attempts" in str(exc).lower():
        return Failure(True, True, None, None, summary)
    return Failure(False, False, None, None, summary)


_SECRET = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+|(sig=)[^&\s]+", re.IGNORECASE)


def describe(exc: BaseException, limit: int = 300) -> str:
    """A one-line account of ``exc`` fit for logs, run records and dead letters."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = _SECRET.sub(lambda m: (m.group(1) or m.group(2)) + "***", text)
    status = getattr(exc, "status_code", None)
    head = f"{type(exc).__name__}" + (f" (HTTP {status})" if status else "")
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{head}: {text}"


def retry_after_seconds(response: Any) -> float | None:
    """Seconds to wait per the response's ``retry-after-ms`` / ``x-ms-retry-after-ms`` /
    ``Retry-After`` (seconds or an HTTP date) headers; None when absent or unreadable."""
    headers = getattr(response, "headers", None) or {}
    for name, scale in (("retry-after-ms", 1000.0), ("x-ms-retry-after-ms", 1000.0)):
        value = headers.get(name)
        if value:
            try:
                return max(0.0, float(value) / scale)
            except ValueError:
                pass
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait between attempts of one Azure call.

    Attempt ``n`` (1-based) that failed retryably waits ``Retry-After`` when the service
    sent one (capped at ``max_retry_after``), otherwise ``backoff * 2**(n-1)`` capped at
    ``max_backoff``, shortened by up to ``jitter`` (a fraction) so that instances that
    failed together do not retry together. ``sleep`` and ``rng`` are injectable.
    """

    attempts: int = 5
    backoff: float = 2.0
    max_backoff: float = 60.0
    max_retry_after: float = 120.0
    jitter: float = 0.2
    sleep: Callable[[float], None] = time.sleep
    rng: Callable[[], float] = random.random

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")

    def delay(self, attempt: int, failure: Failure) -> float:
        if failure.retry_after is not None:
            return min(failure.retry_after, self.max_retry_after)
        base = min(self.backoff * 2 ** (attempt - 1), self.max_backoff)
        return base * (1 - self.jitter * self.rng())

    def wait(self, attempt: int, failure: Failure, what: str) -> None:
        seconds = self.delay(attempt, failure)
        logger.warning(
            "%s failed (attempt %s of %s): %s; retrying in %.1f s",
            what,
            attempt,
            self.attempts,
            failure.summary,
            seconds,
        )
        self.sleep(seconds)

    def call(self, what: str, operation: Callable[[], T]) -> T:
        """Run an idempotent ``operation`` (a GET, a PUT of a known state), retrying
        retryable failures; the last exception propagates when attempts run out."""
        for attempt in range(1, self.attempts + 1):
            try:
                return operation()
            except Exception as exc:
                failure = classify(exc)
                if not failure.retry or attempt == self.attempts:
                    raise
                self.wait(attempt, failure, what)
        raise AssertionError("unreachable")  # pragma: no cover
