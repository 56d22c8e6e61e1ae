"""The Azurite wrapper: the shared fixture, persistence, stopping, and its errors."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from localdev.azurite import (
    ACCOUNT_KEY,
    REPO_ROOT,
    Azurite,
    AzuriteNotInstalledError,
)


def port_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def test_fixture_gives_a_running_emulator(azurite: Azurite):
    assert azurite.running
    assert azurite.blob_endpoint == f"http://127.0.0.1:{azurite.port}/devstoreaccount1"
    assert f"BlobEndpoint=http://127.0.0.1:{azurite.port}/devstoreaccount1;" in (
        azurite.connection_string
    )
    assert "AccountName=devstoreaccount1;" in azurite.connection_string
    assert f"AccountKey={ACCOUNT_KEY};" in azurite.connection_string
    assert "successfully listens" in azurite.read_log()


def test_blobs_round_trip_in_unique_containers(blob_service: BlobServiceClient, new_container):
    first, second = new_container("roundtrip"), new_container("roundtrip")
    first.upload_blob("a/b.csv", b"1,2\n")

    assert first.container_name != second.container_name
    assert first.download_blob("a/b.csv").readall() == b"1,2\n"
    assert list(second.list_blob_names()) == []
    names = {c.name for c in blob_service.list_containers(name_starts_with="roundtrip-")}
    assert {first.container_name, second.container_name} <= names


def test_persisted_blobs_survive_a_restart_and_stop_ends_the_process(tmp_path: Path):
    with Azurite(in_memory=False, workdir=tmp_path) as azurite:
        client = BlobServiceClient.from_connection_string(azurite.connection_string)
        client.create_container("kept")
        client.get_blob_client("kept", "x.txt").upload_blob(b"still here")
        port = azurite.port

    assert not azurite.running
    assert not port_answers(port)
    assert (tmp_path / "azurite.log").exists()  # a folder passed in is never removed

    with Azurite(in_memory=False, workdir=tmp_path) as again:
        client = BlobServiceClient.from_connection_string(again.connection_string)
        assert client.get_blob_client("kept", "x.txt").download_blob().readall() == b"still here"


def test_temporary_work_folder_is_removed_on_stop():
    azurite = Azurite().start()
    workdir = azurite.workdir
    assert (workdir / "azurite.log").exists()

    azurite.stop()
    azurite.stop()  # idempotent

    assert not workdir.exists()


def test_missing_node_modules_says_to_run_npm_ci(tmp_path: Path):
    with pytest.raises(AzuriteNotInstalledError, match="npm ci"):
        Azurite(repo_root=tmp_path).start()


@pytest.mark.parametrize("module", ["localdev.azurite", "localdev.host"])
def test_command_line_help(module: str):
    done = subprocess.run(
        [sys.executable, "-m", module, "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert f"python -m {module}" in done.stdout
