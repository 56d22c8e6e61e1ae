"""Fixtures for the Azure ML adapters: a fake workspace at the HTTP level, a credential
that records token scopes, and the real ``MLClient`` wired to both."""

from __future__ import annotations

from typing import Any

import pytest

from shared.adapters.azure.workspace import RetryPolicy, connect
from tests.azureml.fake_workspace import (
    RESOURCE_GROUP,
    SUBSCRIPTION,
    WORKSPACE,
    FakeAzureML,
)
from tests.fake_entra import FakeCredential


class Sleeps(list[float]):
    """An injectable ``sleep`` that records instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def fake() -> FakeAzureML:
    return FakeAzureML()


@pytest.fixture
def credential() -> FakeCredential:
    return FakeCredential()


@pytest.fixture
def ml_client(fake: FakeAzureML, credential: FakeCredential) -> Any:
    return connect(
        subscription_id=SUBSCRIPTION,
        resource_group=RESOURCE_GROUP,
        workspace_name=WORKSPACE,
        credential=credential,
        transport=fake,
    )


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def retry(sleeps: Sleeps) -> RetryPolicy:
    """Five attempts, 2 s doubling backoff, no jitter, Retry-After capped at 120 s."""
    return RetryPolicy(sleep=sleeps, rng=lambda: 0.0)
