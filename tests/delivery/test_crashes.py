"""Hosts killed with SIGKILL in the middle of an event, then restarted: every case ends in
exactly one completed run and one finalisation, because the jobs live in the workspace's
own process and the sweep (fired through the host's admin endpoint) finishes what the
dead host left: a submission without a job, a stale finalisation claim.

Processes: a local workspace server (``python -m localdev.workspace.server``) and local
hosts (``python -m localdev.host``) sharing the session's Azurite. The restarted host's
clock runs 20 minutes ahead (``LOCALDEV_CLOCK_OFFSET``), past the 15-minute stuck-submit
and 10-minute claim bounds, instead of the test waiting for them.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient

from localdev.azurite import Azurite
from localdev.stack import start_workspace_process
from tests import samples

REPO = Path(__file__).resolve().parents[2]
QUICK_PIPELINE = Path(__file__).parent / "quick_pipeline" / "pipeline.yml"
MODELS = [
    {"name": "co2", "prefix": "co2/", "horizon": 4},
    {"name": "sales", "prefix": "sales/", "horizon": 4},
]
LATER = "1200"  # seconds: past STUCK_SUBMITTING (15 min) and FINALISE_LEASE (10 min)
LOCAL_WORKSPACE = (  # the local workspace's resource id, trusted by default
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local/providers/"
    "Microsoft.MachineLearningServices/workspaces/local"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class World:
    azurite: Azurite
    blobs: BlobServiceClient
    workdir: Path
    port: int
    suffix: str
    processes: list[subprocess.Popen[bytes]]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def settings(self) -> dict[str, str]:
        return {
            "AzureWebJobsStorage": self.azurite.connection_string,
            "RETRAIN_MODELS": json.dumps(MODELS),
            "RETRAIN_LOCAL_WORKSPACE_DIR": str(self.workdir / "workspace"),
            "RETRAIN_PIPELINE_PATH": str(QUICK_PIPELINE),
            "RETRAIN_LOCAL_EVENTS_URL": f"{self.base}/runtime/webhooks/eventgrid"
            "?functionName=on_run_completed",
            "RETRAIN_DATA_CONTAINER": f"data-{self.suffix}",
            "RETRAIN_STATE_CONTAINER": f"state-{self.suffix}",
            "RETRAIN_ARTIFACT_CONTAINER": f"artifacts-{self.suffix}",
            "RETRAIN_SCHEDULE": "0 0 0 1 1 *",
            "RETRAIN_SWEEP_SCHEDULE": "0 0 0 1 1 *",
            "QUICK_STEP_SECONDS": "2",
            "RETRAIN_BACKEND": "local",
        }

    def spawn(self, args: list[str], extra: dict[str, str], log: str) -> subprocess.Popen[bytes]:
        env = {**os.environ, **self.settings(), **extra, "PYTHONPATH": str(REPO)}
        for marker in ("WEBSITE_INSTANCE_ID", "CONTAINER_NAME"):  # not on Azure here
            env.pop(marker, None)
        with (self.workdir / log).open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, *args], cwd=REPO, env=env, stdout=out, stderr=out
            )
        self.processes.append(process)
        return process

    def start_workspace(self) -> None:
        settings = self.settings()
        self.processes.append(
            start_workspace_process(
                Path(settings["RETRAIN_LOCAL_WORKSPACE_DIR"]),
                pipeline=QUICK_PIPELINE,
                connection_string=self.azurite.connection_string,
                datastores={
                    "trainingdata": settings["RETRAIN_DATA_CONTAINER"],
                    "workspaceblobstore": settings["RETRAIN_ARTIFACT_CONTAINER"],
                },
                events_url=settings["RETRAIN_LOCAL_EVENTS_URL"],
                log_path=self.workdir / "workspace.log",
                environ={"QUICK_STEP_SECONDS": settings["QUICK_STEP_SECONDS"]},
            )
        )

    def start_host(self, port: int | None = None, **extra: str) -> subprocess.Popen[bytes]:
        port = port or self.port
        process = self.spawn(
            [
                *("-m", "localdev.host"),
                *("--connection-string", self.azurite.connection_string),
                *("--port", str(port)),
                *("--settings", str(self.workdir / "none.json")),
            ],
            extra,
            "host.log",
        )
        wait_until(
            lambda: self.get("/api/models", port) is not None or process.poll() is not None,
            "the host to answer",
        )
        assert process.poll() is None, (self.workdir / "host.log").read_text()[-3000:]
        return process

    def get(self, path: str, port: int | None = None) -> Any:
        base = f"http://127.0.0.1:{port}" if port else self.base
        try:
            with urllib.request.urlopen(base + path, timeout=5) as response:
                return json.loads(response.read())
        except (OSError, urllib.error.URLError):
            return None

    def post(self, path: str, body: Any, port: int | None = None, **headers: str) -> int | None:
        base = f"http://127.0.0.1:{port}" if port else self.base
        request = urllib.request.Request(
            base + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json", **headers},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)
        except (OSError, urllib.error.URLError):
            return None  # the host died answering

    def upload(self, name: str, content: str) -> dict[str, Any]:
        """Write a data blob; its BlobCreated event as the storage account would send it."""
        container = self.blobs.get_container_client(f"data-{self.suffix}")
        if not container.exists():
            container.create_container()
        blob = container.upload_blob(name, content, overwrite=True)
        etag = str(blob.get_blob_properties().etag)
        event = samples.blob_created(
            name, container=f"data-{self.suffix}", etag=etag, event_id=str(uuid.uuid4())
        )
        event["topic"] = event["topic"].replace("my-storage-account", "devstoreaccount1")
        event["data"]["url"] = container.get_blob_client(name).url
        return event

    def deliver(self, events: list[dict[str, Any]], port: int | None = None) -> int | None:
        return self.post(
            "/runtime/webhooks/eventgrid?functionName=on_blob_created",
            events,
            port,
            **{"aeg-event-type": "Notification"},
        )

    def deliver_blob(self, name: str, content: str) -> int | None:
        return self.deliver([self.upload(name, content)])

    def state(self, prefix: str) -> list[dict[str, Any]]:
        container = self.blobs.get_container_client(f"state-{self.suffix}")
        return [
            json.loads(container.download_blob(b.name).readall())
            for b in container.list_blobs(name_starts_with=prefix)
        ]

    def jobs(self) -> list[dict[str, Any]]:
        root = self.workdir / "workspace" / "jobs"
        return [json.loads(p.read_text()) for p in sorted(root.glob("*/job.json"))]


def wait_until(check: Any, what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what} after {timeout:.0f} s")


@pytest.fixture
def world(azurite: Azurite, tmp_path: Path) -> Iterator[World]:
    blobs = BlobServiceClient.from_connection_string(azurite.connection_string)
    world = World(azurite, blobs, tmp_path, free_port(), uuid.uuid4().hex[:8], [])
    world.start_workspace()
    try:
        yield world
    finally:
        for process in world.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()


def killed(process: subprocess.Popen[bytes]) -> bool:
    return process.wait(30) == -signal.SIGKILL


def assert_one_completed_run_and_one_finalisation(world: World) -> None:
    [run] = world.state("runs/")
    assert run["model"] == "co2"
    [job] = world.jobs()
    assert job["status"] == "Completed" and job["run_key"] == run["run_key"]
    assert run["finalised"] and run["status"] == "Completed"
    # The gate's ledger entry is written just after the record says finalised.
    gates = wait_until(
        lambda: [e for e in world.state("ledger/co2/") if e["kind"] == "gate"], "the gate entry"
    )
    time.sleep(0.5)  # a second finalisation would land by now
    gates = [e for e in world.state("ledger/co2/") if e["kind"] == "gate"]
    assert len(gates) == 1 and gates[0]["run_key"] == run["run_key"]


def finalised(world: World) -> bool:
    runs = world.state("runs/")
    return bool(runs) and all(r.get("finalised") for r in runs)


def test_host_killed_after_claiming_a_blob_created_before_submitting(world):
    # after the run record (the claim) is written, before the submit
    dying = world.start_host(LOCALDEV_CRASH_AT="create:runs/:after")
    assert world.deliver_blob("co2/a.csv", samples.csv_rows(2000, 3)) is None
    assert killed(dying)
    [record] = world.state("runs/")
    assert record["status"] == "Submitting" and world.jobs() == []

    world.start_host(LOCALDEV_CLOCK_OFFSET=LATER)
    assert world.post("/admin/functions/on_sweep", {}) == 202  # no redelivery: the sweep
    wait_until(lambda: finalised(world), "the run to be finalised")
    assert_one_completed_run_and_one_finalisation(world)


def test_host_killed_before_claiming_a_blob_created_the_sweep_alone_leads_to_the_run(world):
    # before the model's policy state is first written: nothing of the event is kept
    dying = world.start_host(LOCALDEV_CRASH_AT="create:policy/:before")
    assert world.deliver_blob("co2/a.csv", samples.csv_rows(2000, 3)) is None
    assert killed(dying)
    assert world.state("policy/") == [] and world.state("runs/") == []

    world.start_host(LOCALDEV_CLOCK_OFFSET=LATER)
    assert world.post("/admin/functions/on_sweep", {}) == 202  # no redelivery: the sweep
    wait_until(lambda: finalised(world), "the run to be finalised")
    assert_one_completed_run_and_one_finalisation(world)
    [run] = world.state("runs/")
    assert [f["name"] for f in run["snapshot"]["files"]] == ["co2/a.csv"]


def test_host_killed_after_answering_a_blob_created_its_run_is_still_finalised(world):
    host = world.start_host()
    assert world.deliver_blob("co2/a.csv", samples.csv_rows(2000, 3)) == 202
    host.send_signal(signal.SIGKILL)  # answered; its job runs on in the workspace
    assert killed(host)
    wait_until(lambda: [j for j in world.jobs() if j["status"] == "Completed"], "the job")

    world.start_host(LOCALDEV_CLOCK_OFFSET=LATER)  # the job's retried event or the sweep
    assert world.post("/admin/functions/on_sweep", {}) == 202
    wait_until(lambda: finalised(world), "the run to be finalised")
    assert_one_completed_run_and_one_finalisation(world)


def test_host_killed_after_claiming_a_run_completed(world):
    dying = world.start_host(LOCALDEV_CRASH_AT="claim")
    assert world.deliver_blob("co2/a.csv", samples.csv_rows(2000, 3)) == 202
    assert killed(dying)  # the job ran on in the workspace; its event killed the host
    [record] = world.state("runs/")
    assert record["finalising_at"] and not record.get("finalised")

    world.start_host(LOCALDEV_CLOCK_OFFSET=LATER)
    assert world.post("/admin/functions/on_sweep", {}) == 202
    wait_until(lambda: finalised(world), "the run to be finalised")
    assert_one_completed_run_and_one_finalisation(world)


def test_host_killed_before_claiming_a_run_completed_the_sweep_alone_finalises(world):
    # the run event read, nothing written: as if it had never been delivered
    dying = world.start_host(LOCALDEV_CRASH_AT="claim:before")
    assert world.deliver_blob("co2/a.csv", samples.csv_rows(2000, 3)) == 202
    assert killed(dying)  # the job ran on in the workspace; its event killed the host
    [record] = world.state("runs/")
    assert not record.get("finalising_at") and not record.get("finalised")
    [job] = world.jobs()
    assert job["status"] == "Completed"

    # another port: the workspace's retries of the event never reach it, only the sweep
    elsewhere = free_port()
    world.start_host(elsewhere, LOCALDEV_CLOCK_OFFSET=LATER)
    assert world.post("/admin/functions/on_sweep", {}, elsewhere) == 202
    wait_until(lambda: finalised(world), "the run to be finalised")
    assert_one_completed_run_and_one_finalisation(world)


def test_host_killed_after_answering_a_run_completed_nothing_is_finalised_twice(world):
    host = world.start_host()
    assert world.deliver_blob("co2/a.csv", samples.csv_rows(2000, 3)) == 202
    wait_until(lambda: finalised(world), "the run to be finalised by its event")
    host.send_signal(signal.SIGKILL)  # the RunCompleted answered; killed before anything else
    assert killed(host)

    # restarted later: the sweep finds nothing open, a redelivery of the event changes nothing
    world.start_host(LOCALDEV_CLOCK_OFFSET=LATER)
    assert world.post("/admin/functions/on_sweep", {}) == 202
    [record] = world.state("runs/")
    event = samples.run_event(
        str(record["pipeline_run_id"]), run_key=str(record["run_key"]), event_id=str(uuid.uuid4())
    )
    event["topic"] = LOCAL_WORKSPACE
    path = "/runtime/webhooks/eventgrid?functionName=on_run_completed"
    assert world.post(path, [event], **{"aeg-event-type": "Notification"}) == 202
    assert_one_completed_run_and_one_finalisation(world)
    assert world.state("active/") == []


def test_host_killed_after_submitting_its_job_runs_on_and_is_finalised_by_its_event(world):
    dying = world.start_host(LOCALDEV_CRASH_AT="create:jobs/:before")
    assert world.deliver_blob("co2/a.csv", samples.csv_rows(2000, 3)) is None
    assert killed(dying)  # submitted, the job not recorded yet, no answer given

    world.start_host()  # same port: the workspace's completion event reaches it
    wait_until(lambda: finalised(world), "the run to be finalised by its event")
    assert_one_completed_run_and_one_finalisation(world)


def test_a_shuffled_burst_with_duplicates_on_two_hosts_runs_each_snapshot_once(world):
    """Two host processes share Azurite; every event (30 % of them twice) goes to one of
    them at random, four senders at a time: each model's snapshot runs once, and every
    arrival is decided in the ledger."""
    second = free_port()
    world.start_host()
    world.start_host(second)
    rng = random.Random(13)
    events = [
        world.upload(f"{model}/part-{i:02d}.csv", samples.csv_rows(2000 + i, 2))
        for model in ("co2", "sales")
        for i in range(10)
    ]
    deliveries = events + rng.sample(events, 6)
    rng.shuffle(deliveries)
    with ThreadPoolExecutor(4) as senders:
        answers = list(
            senders.map(lambda e: world.deliver([e], rng.choice([world.port, second])), deliveries)
        )
    assert answers == [202] * len(deliveries)
    runs = world.state("runs/")
    assert sorted(r["model"] for r in runs) == ["co2", "sales"]
    decided = " ".join(
        str(e.get("trigger")) for m in ("co2", "sales") for e in world.state(f"ledger/{m}/")
    )
    assert all(e["subject"].split("/blobs/")[1] in decided for e in events)


def test_batched_deliveries_with_duplicates_on_two_hosts_decide_every_arrival_once(world):
    """As above, in deliveries of five events (Event Grid batches): the events that reach
    a host at the same time are decided per model in one state update, and one ledger
    record holds their decisions."""
    second = free_port()
    world.start_host()
    world.start_host(second)
    rng = random.Random(7)
    events = [
        world.upload(f"{model}/part-{i:02d}.csv", samples.csv_rows(2000 + i, 2))
        for model in ("co2", "sales")
        for i in range(15)
    ]
    sent = events + rng.sample(events, 9)
    rng.shuffle(sent)
    batches = [sent[i : i + 5] for i in range(0, len(sent), 5)]
    with ThreadPoolExecutor(4) as senders:
        answers = list(
            senders.map(lambda b: world.deliver(b, rng.choice([world.port, second])), batches)
        )
    assert answers == [202] * len(batches)
    runs = world.state("runs/")
    assert sorted(r["model"] for r in runs) == ["co2", "sales"]
    decisions = [
        d
        for m in ("co2", "sales")
        for record in world.state(f"ledger/{m}/")
        if record["kind"] == "trigger"
        for d in record.get("decisions") or [record]
    ]
    assert len(decisions) == len(sent)  # every delivery of every event decided once
    decided = {e for d in decisions for e in d["events"]}
    assert decided == {f"eventgrid:{e['id']}" for e in events}
    actions = [d["action"] for d in decisions]
    assert actions.count("retrain") == 2 and actions.count("skip") == 9
