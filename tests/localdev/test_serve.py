"""``python -m localdev.serve`` (scripts/serve.sh) as a person runs it: a process that starts
the stack from a local.settings.json and a models file, tells where to upload, trains on
an uploaded file and stops cleanly on Ctrl-C."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient

from localdev.datasets import co2_monthly, series_csv
from localdev.host import point_storage_settings
from localdev.serve import external_storage, read_app_settings
from localdev.stack import app_settings_for
from shared.settings import APP_ROOT

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 120.0

MODELS_YAML = """\
# two lines of comment, so the line numbers are not trivially the item's index
models:
  - name: co2
    prefix: co2/
    frequency: MS
    season_length: 12
    horizon: 6
    time_budget: 5
"""


class Serve:
    """A running ``python -m localdev.serve``, its output collected line by line."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
        for name in list(env):
            if name.startswith(("RETRAIN_", "AzureWebJobsStorage")):
                del env[name]  # the settings file alone configures the app
        self.process = subprocess.Popen(
            [sys.executable, "-m", "localdev.serve", *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for_line(self, check: Callable[[str], bool], timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.process.poll() is not None and self.lines.empty():
                    break
                continue
            self.seen.append(line)
            if check(line):
                return line
        raise AssertionError("serve never printed it; output:\n" + "\n".join(self.seen[-60:]))

    def value_after(self, label: str, timeout: float = START_TIMEOUT) -> str:
        line = self.wait_for_line(lambda text: text.strip().startswith(label), timeout)
        return line.strip()[len(label) :].strip().split()[0]

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(60)
        finally:
            if self.process.poll() is None:
                self.process.kill()


@pytest.fixture
def serve_folder(tmp_path: Path) -> Path:
    (tmp_path / "models.yaml").write_text(MODELS_YAML)
    return tmp_path


def write_settings(folder: Path, values: dict[str, str]) -> Path:
    path = folder / "local.settings.json"
    path.write_text(json.dumps({"IsEncrypted": False, "Values": values}))
    return path


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def poll(what: str, check: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"gave up waiting for {what}")


def unique_containers() -> dict[str, str]:
    suffix = uuid.uuid4().hex[:10]
    return {
        "RETRAIN_DATA_CONTAINER": f"data-{suffix}",
        "RETRAIN_STATE_CONTAINER": f"state-{suffix}",
        "RETRAIN_ARTIFACT_CONTAINER": f"artifacts-{suffix}",
    }


@pytest.mark.slow
def test_serve_trains_an_uploaded_file_and_stops_on_ctrl_c(serve_folder: Path):
    """Its own persistent Azurite, a models file, an upload, a run, a registered version."""
    settings = write_settings(
        serve_folder,
        {
            "AzureWebJobsStorage": "UseDevelopmentStorage=true",
            "RETRAIN_MODELS": '[{"name": "other", "prefix": "other/"}]',  # --models wins
            "RETRAIN_DATA_CONTAINER": "mydata",
        },
    )
    data = serve_folder / "data"
    serve = Serve(
        [
            *("--port", "0", "--azurite-port", "0", "--data", str(data)),
            *("--settings", str(settings), "--models", str(serve_folder / "models.yaml")),
        ],
        cwd=serve_folder,
    )
    try:
        base_url = serve.value_after("Functions host")
        dashboard = serve.value_after("Dashboard")
        assert dashboard == f"{base_url}/api/dashboard"
        serve.wait_for_line(lambda line: "mydata/co2/<file>" in line, 10)
        connection_string = serve.value_after("CS=").strip("'")
        serve.wait_for_line(lambda line: "/admin/functions/on_schedule" in line, 10)
        blobs = BlobServiceClient.from_connection_string(connection_string)
        blobs.get_blob_client("mydata", "co2/1995-2001.csv").upload_blob(
            series_csv(co2_monthly().loc["1995":"2001"]), overwrite=True
        )

        def gate_decided() -> list[Any]:
            entries = get_json(f"{base_url}/api/models/co2/ledger")["ledger"]
            return [entry for entry in entries if entry["kind"] == "gate"]

        [gate] = poll("the run's gate decision", gate_decided, timeout=300)
        versions = get_json(f"{base_url}/api/models/co2/versions")["versions"]
        assert [v["tags"]["run_key"] for v in versions] == [gate["run_key"]]
    finally:
        code = serve.stop()
    assert code == 0, "\n".join(serve.seen[-40:])
    rest = "\n".join(serve.seen) + "\n" + "\n".join(iter_queue(serve.lines))
    assert "serve: stopped" in rest
    log = (data / "serve.log").read_text()
    assert "shared.service.context: co2 trigger: retrain" in log  # full logger names

    # Started again on the same folder: the blobs, runs and versions are still there.
    again = Serve(
        [
            *("--port", "0", "--azurite-port", "0", "--data", str(data)),
            *("--settings", str(settings), "--models", str(serve_folder / "models.yaml")),
        ],
        cwd=serve_folder,
    )
    try:
        base_url = again.value_after("Functions host")
        versions = get_json(f"{base_url}/api/models/co2/versions")["versions"]
        assert [v["tags"]["run_key"] for v in versions] == [gate["run_key"]]
        assert [v["production"] for v in versions] == [True]
    finally:
        assert again.stop() == 0


def iter_queue(lines: queue.Queue[str]) -> Iterator[str]:
    while not lines.empty():
        yield lines.get()


def test_serve_uses_the_given_storage_for_the_app_too(azurite, serve_folder: Path):
    """--connection-string: no Azurite is started, and the app keeps its state there."""
    containers = unique_containers()
    settings = write_settings(
        serve_folder,
        {
            # Nothing listens on port 9 (discard): had the app kept this setting, it
            # would fail its start-up check.
            "AzureWebJobsStorage": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
            "AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;",
            "RETRAIN_MODELS_FILE": str(serve_folder / "models.yaml"),
            **containers,
        },
    )
    serve = Serve(
        [
            *("--port", "0", "--azurite-port", str(free_port())),
            *("--data", str(serve_folder / "data"), "--settings", str(settings)),
            *("--connection-string", azurite.connection_string),
        ],
        cwd=serve_folder,
    )
    try:
        serve.value_after("Dashboard")
        storage = serve.wait_for_line(lambda line: line.strip().startswith("Storage"), 10)
        assert f"127.0.0.1:{azurite.port}" in storage
        assert "no Azurite started" in storage
        shown = serve.wait_for_line(lambda line: line.strip().startswith("CS="), 10)
        assert "AccountKey" not in shown  # a given storage's key is not printed
        client = BlobServiceClient.from_connection_string(azurite.connection_string)
        assert client.get_container_client(containers["RETRAIN_STATE_CONTAINER"]).exists()
        assert client.get_container_client(containers["RETRAIN_DATA_CONTAINER"]).exists()
    finally:
        code = serve.stop()
    assert code == 0
    assert not (serve_folder / "data" / "azurite").exists()


def test_serve_refuses_to_start_when_the_storage_does_not_answer(serve_folder: Path):
    settings = write_settings(
        serve_folder,
        {
            "RETRAIN_MODELS_FILE": str(serve_folder / "models.yaml"),
            "RETRAIN_STORAGE_TIMEOUT": "1",
        },
    )
    closed = free_port()
    dead = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        f"BlobEndpoint=http://127.0.0.1:{closed}/devstoreaccount1;"
    )
    serve = Serve(
        [
            *("--port", "0", "--data", str(serve_folder / "data")),
            *("--settings", str(settings), "--connection-string", dead),
        ],
        cwd=serve_folder,
    )
    assert serve.process.wait(START_TIMEOUT) == 2
    output = "\n".join(iter_queue(serve.lines))
    assert "cannot start" in output
    assert "AzureWebJobsStorage" in output and "did not answer" in output


def test_serve_names_the_bad_setting_before_starting_anything(serve_folder: Path):
    (serve_folder / "models.yaml").write_text("- name: co2\n  prefix: co2/\n  frequency: monthly\n")
    settings = write_settings(
        serve_folder,
        {
            "AzureWebJobsStorage": "UseDevelopmentStorage=true",
            "RETRAIN_MODELS_FILE": str(serve_folder / "models.yaml"),
            "RETRAIN_DATA_CONTAINER": "Data_Files",
        },
    )
    serve = Serve(
        [
            *("--port", "0", "--azurite-port", "0"),
            *("--data", str(serve_folder / "data"), "--settings", str(settings)),
        ],
        cwd=serve_folder,
    )
    assert serve.process.wait(START_TIMEOUT) == 2
    output = "\n".join(iter_queue(serve.lines))
    assert f"{serve_folder / 'models.yaml'}:3: model 'co2': field 'frequency'" in output
    assert "RETRAIN_DATA_CONTAINER='Data_Files' is not a Blob container name" in output
    assert not (serve_folder / "data" / "azurite").exists()  # nothing was started


def test_first_use_makes_local_settings_from_the_example(tmp_path: Path):
    from localdev.serve import ensure_local_settings

    path = tmp_path / "local.settings.json"
    assert ensure_local_settings(path) is True
    assert ensure_local_settings(path) is False
    example = json.loads((APP_ROOT / "local.settings.example.json").read_text())
    assert json.loads(path.read_text()) == example
    values = read_app_settings(path, environ={"RETRAIN_SCHEDULE": "0 0 4 * * *", "HOME": "/x"})
    assert values["RETRAIN_SCHEDULE"] == "0 0 4 * * *"  # the environment wins
    assert "HOME" not in values
    # Models named in the environment replace the file's (inline or file, either way).
    values = read_app_settings(path, environ={"RETRAIN_MODELS_FILE": "mine.yaml"})
    assert values["RETRAIN_MODELS_FILE"] == "mine.yaml" and "RETRAIN_MODELS" not in values


def test_a_real_connection_string_in_the_settings_replaces_azurite():
    real = "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;"
    assert external_storage({"AzureWebJobsStorage": "UseDevelopmentStorage=true"}, None) is None
    assert external_storage({"AzureWebJobsStorage": real}, None) == real
    assert external_storage({"AzureWebJobsStorage": real}, "given") == "given"


def test_the_stack_gives_the_app_one_storage_setting(tmp_path: Path):
    values = app_settings_for(
        tmp_path,
        "BlobEndpoint=http://127.0.0.1:1/x;",
        extra_settings={
            "RETRAIN_STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true",
            "AzureWebJobsStorage__accountName": "acct",
            "RETRAIN_MODELS_FILE": "models.yaml",
        },
    )
    assert values["AzureWebJobsStorage"] == "BlobEndpoint=http://127.0.0.1:1/x;"
    assert not [name for name in values if name.startswith("RETRAIN_STORAGE")]
    assert "AzureWebJobsStorage__accountName" not in values
    assert values["RETRAIN_LOCAL_WORKSPACE_DIR"] == str(tmp_path / "workspace")


def test_host_connection_string_points_the_app_storage_at_it():
    """``python -m localdev.host --connection-string``: the app's settings follow it."""
    environ = {
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "RETRAIN_STORAGE_CONNECTION_STRING": "AccountName=other;",
        "RETRAIN_STORAGE__accountName": "other",
    }
    changed = point_storage_settings(environ, "given;", ["AzureWebJobsStorage"], replace_all=True)
    assert sorted(changed) == ["AzureWebJobsStorage", "RETRAIN_STORAGE_CONNECTION_STRING"]
    assert environ == {
        "AzureWebJobsStorage": "given;",
        "RETRAIN_STORAGE_CONNECTION_STRING": "given;",
    }
    # The started Azurite takes only settings that are unset or development storage.
    environ = {"AzureWebJobsStorage": "AccountName=real;"}
    assert (
        point_storage_settings(environ, "azurite;", ["AzureWebJobsStorage"], replace_all=False)
        == []
    )
    assert environ == {"AzureWebJobsStorage": "AccountName=real;"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_python_m_localdev_host_with_a_connection_string_serves_at_once(azurite, tmp_path: Path):
    """The first call answers from the given storage: the app's own storage settings (here
    a storage where nothing listens) follow --connection-string."""
    containers = unique_containers()
    nowhere = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        f"BlobEndpoint=http://127.0.0.1:{free_port()}/devstoreaccount1;"
    )
    settings = write_settings(
        tmp_path,
        {
            "AzureWebJobsStorage": nowhere,
            "RETRAIN_STORAGE_CONNECTION_STRING": nowhere,
            "RETRAIN_MODELS": '[{"name": "co2", "prefix": "co2/"}]',
            "RETRAIN_SCHEDULE": "0 0 3 * * *",
            "RETRAIN_SWEEP_SCHEDULE": "0 */5 * * * *",
            "RETRAIN_LOCAL_WORKSPACE_DIR": str(tmp_path / "workspace"),
            "RETRAIN_STORAGE_TIMEOUT": "2",
            **containers,
        },
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RETRAIN_", "AzureWeb"))}
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "localdev.host", "--port", "0"),
            *("--settings", str(settings), "--connection-string", azurite.connection_string),
        ],
        cwd=REPO,
        env={**env, "PYTHONPATH": str(REPO), "PYTHONFAULTHANDLER": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("Local Functions host:"):
                base_url = line.split()[3]
                break
        else:
            raise AssertionError("the host did not start")
        models = get_json(f"{base_url}/api/models")
        assert [model["name"] for model in models["models"]] == ["co2"]
        client = BlobServiceClient.from_connection_string(azurite.connection_string)
        assert client.get_container_client(containers["RETRAIN_STATE_CONTAINER"]).exists()
    finally:
        process.send_signal(signal.SIGINT)
        # Read the rest of its output while waiting: a host blocked on a full pipe would
        # never stop (its log after start-up goes to the same pipe).
        try:
            output, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:  # its threads' stacks (PYTHONFAULTHANDLER), then gone
            process.send_signal(signal.SIGABRT)
            output, _ = process.communicate()
            raise AssertionError(
                f"the host did not stop on Ctrl-C; its output:\n{output[-12000:]}"
            ) from None
        assert process.returncode == 0, output[-4000:]


def test_serve_help_lists_its_options():
    done = subprocess.run(
        [sys.executable, "-m", "localdev.serve", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: scripts/serve.sh")
    for option in ("--port", "--azurite-port", "--data", "--models", "--connection-string"):
        assert option in done.stdout
