"""Shared fixtures: a real Azurite blob emulator and clients for it.

``azurite`` starts one in-memory Azurite per test session (per process: each pytest-xdist
worker starts its own on its own free port). ``blob_service`` is a client for it and
``new_container`` makes uniquely named containers, so tests never see each other's blobs.
Tests that use Azurite are marked ``azurite`` automatically (deselect with -m "not azurite").
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContainerClient

from localdev.azurite import Azurite

NewContainer = Callable[..., ContainerClient]


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """A running in-memory Azurite; its log is azurite.log in the pytest temp folder."""
    with Azurite(in_memory=True, workdir=tmp_path_factory.mktemp("azurite")) as running:
        yield running


@pytest.fixture
def blob_service(azurite: Azurite) -> Iterator[BlobServiceClient]:
    with BlobServiceClient.from_connection_string(azurite.connection_string) as client:
        yield client


@pytest.fixture
def new_container(blob_service: BlobServiceClient) -> Iterator[NewContainer]:
    """``new_container(prefix="test", create=True)`` -> a ContainerClient with a unique name.

    With ``create=False`` only the name is reserved (for code that must wait for the
    container to appear). Containers are deleted after the test.
    """
    made: list[ContainerClient] = []

    def make(prefix: str = "test", *, create: bool = True) -> ContainerClient:
        name = unique_container_name(prefix)
        container = blob_service.get_container_client(name)
        if create:
            container.create_container()
        made.append(container)
        return container

    yield make
    for container in made:
        try:
            container.delete_container()
        except ResourceNotFoundError:
            pass


def unique_container_name(prefix: str = "test") -> str:
    """A valid container name (3-63 chars, lowercase letters, digits, dashes) used once."""
    cleaned = "".join(c for c in prefix.lower() if c.isalnum() or c == "-").strip("-") or "c"
    return f"{cleaned[:40]}-{uuid.uuid4().hex[:16]}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "azurite" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.azurite)
