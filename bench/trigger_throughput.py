"""Benchmark: BlobCreated throughput through the local Functions host.

Starts Azurite and a local host serving ``function_app`` in this process (the service,
its pipeline a recording stand-in so no training runs), preloads ``--preload`` blobs under
each model's prefix, uploads ``--events`` new blobs spread over ``--models`` models, and
has a sender process of its own (Event Grid is not in the Function App's process) POST
their BlobCreated events (30 % of them delivered twice, shuffled) from ``--senders``
concurrent senders, each on a keep-alive connection, to the host's Event Grid webhook:
once batched (``--batch`` events a delivery, as Event Grid batches them) and once one
event a delivery. Prints events/s, p50/p95 delivery latency, runs launched against the
runs expected (one per model: every event's snapshot ends on the same data), storage
operations per event (port calls and HTTP requests), the CPU time per event of the host
process, of Azurite and of the senders, and the cost of one event against the blobs
already under the prefix and against the ledger's size. Writes JSON to
``bench/results/trigger_throughput.json``.

``--check launch`` gives the models ``check_on_arrival: false`` (files checked when their
snapshot launches, not read per event); the default checks each new file on arrival.

Targets (issue 13): 1,000 events/s batched, 200 deliveries/s single, cost flat in both
curves. Exit status 0 when the targets are met, 2 when not.

    .venv/bin/python bench/trigger_throughput.py                    # the issue's sizes
    .venv/bin/python bench/trigger_throughput.py --events 2000 --preload 500 --no-curves
    .venv/bin/python bench/trigger_throughput.py --events 2000 --preload 500 --no-curves \
        --check launch
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

if TYPE_CHECKING:
    from shared.ports import PipelineRun, PipelineSubmission

RESULTS = REPO_ROOT / "bench" / "results" / "trigger_throughput.json"
CSV = "timestamp,value\n" + "".join(f"2000-{m:02d}-01,{300 + m}\n" for m in range(1, 13))


class Counting:
    """Counts the calls made to a port (one call is one storage operation, a listing
    one per page)."""

    def __init__(self, inner: Any, counter: Counter[str], name: str) -> None:
        self._inner, self._counter, self._name = inner, counter, name

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._inner, attr)
        if not callable(value):
            return value

        def counted(*args: Any, **kwargs: Any) -> Any:
            self._counter[f"{self._name}.{attr}"] += 1
            if args and isinstance(args[0], str):  # which kind of key: the first path segment
                self._counter[f"  {self._name}.{attr} {args[0].split('/')[0]}/"] += 1
            return value(*args, **kwargs)

        return counted


def count_requests(counter: Counter[str]) -> None:
    """Count every HTTP request the process sends to storage (``http.<method>``), through
    the SDK's transport and the hot path's own (``shared/adapters/blobhttp.py``): the
    storage operations the port counters miss (the document registry's own reads)."""
    import requests.adapters

    try:
        from shared.adapters.blobhttp import HttpClientTransport
    except ImportError:  # an older checkout (bench file run against it, for comparison)
        HttpClientTransport = None  # type: ignore[assignment,misc]

    send = requests.adapters.HTTPAdapter.send

    def counted(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        counter[f"http.{request.method}"] += 1
        return send(self, request, *args, **kwargs)

    requests.adapters.HTTPAdapter.send = counted  # type: ignore[method-assign]
    if HttpClientTransport is None:
        return
    lean = HttpClientTransport.send

    def counted_lean(self: Any, request: Any, **kwargs: Any) -> Any:
        counter[f"http.{request.method}"] += 1
        return lean(self, request, **kwargs)

    HttpClientTransport.send = counted_lean  # type: ignore[method-assign]


class NullPipeline:
    """Records submissions; no training runs."""

    def __init__(self) -> None:
        self.submitted: list[str] = []
        self.lock = threading.Lock()

    def submit(self, submission: PipelineSubmission) -> PipelineRun:
        from shared.ports import PipelineRun

        with self.lock:
            self.submitted.append(submission.run_key)
        return PipelineRun(submission.run_key, submission.run_key, "Queued")

    def get_run(self, run_id: str) -> PipelineRun:
        from shared.ports import PipelineRun

        return PipelineRun(run_id, run_id, "Queued")

    def find_run(self, run_key: str) -> PipelineRun | None:
        return None

    def close(self) -> None: ...


def event(container: Any, name: str, etag: str) -> dict[str, Any]:
    return {
        "topic": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local/"
        "providers/Microsoft.Storage/storageAccounts/devstoreaccount1",
        "subject": f"/blobServices/default/containers/{container.container_name}/blobs/{name}",
        "eventType": "Microsoft.Storage.BlobCreated",
        "id": str(uuid.uuid4()),
        "data": {
            "api": "PutBlob",
            "eTag": etag,
            "contentType": "text/csv",
            "contentLength": len(CSV),
            "blobType": "BlockBlob",
            "url": container.get_blob_client(name).url,
        },
        "dataVersion": "",
        "metadataVersion": "1",
        "eventTime": "2026-01-01T00:00:00.0000000Z",
    }


def upload(container: Any, names: list[str]) -> dict[str, str]:
    def one(name: str) -> tuple[str, str]:
        blob = container.upload_blob(name, CSV, overwrite=True)
        return name, str(blob.get_blob_properties().etag)

    with ThreadPoolExecutor(8) as pool:
        return dict(pool.map(one, names))


def post(url: str, events: list[dict[str, Any]]) -> float:
    """POST one delivery on a connection of its own (the curves: one event at a time)."""
    return _Sender(url).post(json.dumps(events).encode())[0]


class _Sender:
    """One sender's keep-alive connection to the host's webhook, as a front end keeps its
    connections open (one thread of the host per connection, not one per delivery)."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.path = f"{parts.path}?{parts.query}"
        self.connection: http.client.HTTPConnection | None = None

    def post(self, body: bytes) -> tuple[float, int]:
        """Latency in seconds and status of one delivery."""
        headers = {"Content-Type": "application/json", "aeg-event-type": "Notification"}
        started = time.perf_counter()
        for attempt in (1, 2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=600)
            try:
                self.connection.request("POST", self.path, body=body, headers=headers)
                response = self.connection.getresponse()
                response.read()
                break
            except (http.client.HTTPException, OSError):
                self.connection.close()
                self.connection = None
                if attempt == 2:
                    raise
        return time.perf_counter() - started, response.status


def send_all(url: str, bodies: list[bytes], senders: int) -> tuple[list[float], list[int]]:
    """Post ``bodies`` from ``senders`` threads, each on its own connection: latencies
    and the statuses of deliveries answered with an error (a 5xx: Event Grid would
    deliver it again)."""
    local = threading.local()
    failed: list[int] = []

    def one(body: bytes) -> float:
        if not hasattr(local, "sender"):
            local.sender = _Sender(url)
        latency, status = local.sender.post(body)
        if status >= 300:
            failed.append(status)
        return latency

    with ThreadPoolExecutor(senders) as pool:
        return list(pool.map(one, bodies)), failed


def sender_process(argv: list[str]) -> int:
    """``--send URL FILE SENDERS``: the senders as a process of their own (Event Grid is
    not in the Function App's process): reads the deliveries, says ``ready``, waits for
    a line on stdin, posts them all, prints the latencies, failures and its CPU time."""
    url, path, senders = argv[0], argv[1], int(argv[2])
    bodies = [json.dumps(d).encode() for d in json.loads(Path(path).read_text())]
    print("ready", flush=True)
    sys.stdin.readline()
    cpu, started = time.process_time(), time.perf_counter()
    latencies, failed = send_all(url, bodies, senders)
    print(
        json.dumps(
            {
                "seconds": time.perf_counter() - started,
                "latencies": latencies,
                "failed": failed,
                "cpu_seconds": time.process_time() - cpu,
            }
        ),
        flush=True,
    )
    return 0


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of process ``pid`` (all its threads); 0 when unknown."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_phase(
    url: str, events: list[dict[str, Any]], batch: int, senders: int, azurite: int | None
) -> dict[str, Any]:
    """One phase: the deliveries posted by a sender process; the CPU per event of this
    process (the local host and the service) and of Azurite, and the senders' apart."""
    deliveries = list(chunks(events, batch))
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        json.dump(deliveries, file)
    try:
        child = subprocess.Popen(
            [sys.executable, __file__, "--send", url, file.name, str(senders)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdin is not None and child.stdout is not None
        if child.stdout.readline().strip() != "ready":
            raise RuntimeError("the sender process did not start")
        cpu = time.process_time(), cpu_seconds(azurite)
        child.stdin.write("go\n")
        child.stdin.flush()
        sent = json.loads(child.stdout.readline())
        host_cpu = time.process_time() - cpu[0]
        azurite_cpu = cpu_seconds(azurite) - cpu[1]
        child.wait(60)
    finally:
        os.unlink(file.name)
    elapsed = float(sent["seconds"])
    latencies = sorted(sent["latencies"])
    load = os.getloadavg()[0]
    return {
        "events": len(events),
        "deliveries": len(deliveries),
        "seconds": round(elapsed, 2),
        "events_per_s": round(len(events) / elapsed, 1),
        "deliveries_per_s": round(len(deliveries) / elapsed, 1),
        "p50_ms": round(1000 * latencies[len(latencies) // 2], 1),
        "p95_ms": round(1000 * latencies[max(0, int(len(latencies) * 0.95) - 1)], 1),
        "failed_deliveries": len(sent["failed"]),
        # CPU per event, whatever else the machine runs: this process (the host and the
        # service), Azurite, and the sender process
        "cpu_ms_per_event": round(1000 * host_cpu / len(events), 2),
        "azurite_cpu_ms_per_event": round(1000 * azurite_cpu / len(events), 2),
        "sender_cpu_ms_per_event": round(1000 * float(sent["cpu_seconds"]) / len(events), 2),
        "load_average": round(load, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="The defaults are the issue's sizes (about 5 minutes on 2 cores). The bench "
        "runs its senders as a process of its own (`--send URL FILE SENDERS`, internal).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--events",
        type=int,
        default=10_000,
        help="new blobs (distinct BlobCreated events) per phase, before duplicates",
    )
    parser.add_argument(
        "--preload", type=int, default=1_000, help="blobs already under each model's prefix"
    )
    parser.add_argument(
        "--models", type=int, default=4, help="models, each with its own prefix m<i>/"
    )
    parser.add_argument(
        "--senders", type=int, default=4, help="concurrent senders, each on its own connection"
    )
    parser.add_argument(
        "--batch", type=int, default=50, help="events a delivery in the batched phase"
    )
    parser.add_argument(
        "--duplicates",
        type=float,
        default=0.3,
        help="share of the events delivered a second time (shuffled among the rest)",
    )
    parser.add_argument(
        "--curve",
        default="0,1000,3000",
        help="blobs added under m0's prefix (beyond what the phases left) for each point of "
        "the cost curve against the blobs under the prefix",
    )
    parser.add_argument(
        "--curves",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="draw both cost curves after the phases (--no-curves: the phases only)",
    )
    parser.add_argument(
        "--phases",
        default="batched,single",
        help="which phases to run, comma-separated: batched (--batch events a delivery), "
        "single (one event a delivery)",
    )
    parser.add_argument(
        "--check",
        choices=("arrival", "launch"),
        default="arrival",
        help="when new files are checked: as their event is handled (the default policy), "
        "or when their snapshot launches (check_on_arrival false)",
    )
    parser.add_argument(
        "--auth",
        choices=("key", "sas"),
        default="key",
        help="how the service authenticates to Azurite: the development account's shared "
        "key (an HMAC signature computed per request), or an account SAS made once at start "
        "(a constant query string, as cheap per request on the host as the bearer token the "
        "Function App sends on Azure, where every connection is by managed identity). "
        "Measured: the SAS saves the host about 65 us per request and costs Azurite about "
        "as much more (its SAS check), and Azurite is the busier process",
    )
    parser.add_argument(
        "--azurite-access-log",
        action="store_true",
        help="let Azurite write its access log (a line per request to its console log, "
        "about a fifth of its CPU per read); by default it runs with --silent",
    )
    args = parser.parse_args(argv)
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    from azure.storage.blob import BlobServiceClient

    import function_app
    from localdev.azurite import Azurite
    from localdev.host import LocalFunctionsHost
    from shared.bootstrap import build_service, set_service
    from shared.settings import Settings

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("shared").setLevel(logging.ERROR)
    logging.getLogger("localdev").setLevel(logging.ERROR)
    rng = random.Random(13)
    azurite_class = Azurite if args.azurite_access_log else _SilentAzurite(Azurite)
    with (
        tempfile.TemporaryDirectory() as tmp,
        azurite_class(in_memory=True, workdir=tmp) as azurite,
    ):
        blobs = BlobServiceClient.from_connection_string(azurite.connection_string)
        process = getattr(azurite, "_process", None)
        azurite_pid = process.pid if process is not None else None
        # (the default policy names no field an older checkout lacks)
        policy = {"policy": {"check_on_arrival": False}} if args.check == "launch" else {}
        models = [
            {"name": f"m{i}", "prefix": f"m{i}/", "horizon": 4, **policy}
            for i in range(args.models)
        ]
        connection_string = (
            sas_connection_string(azurite.blob_endpoint)
            if args.auth == "sas"
            else azurite.connection_string
        )
        env = {
            "AzureWebJobsStorage": connection_string,
            "RETRAIN_MODELS": json.dumps(models),
            "RETRAIN_BACKEND": "local",
            "RETRAIN_LOCAL_WORKSPACE_DIR": str(Path(tmp) / "ws"),
            "RETRAIN_SCHEDULE": "0 0 0 1 1 *",
            "RETRAIN_SWEEP_SCHEDULE": "0 0 0 1 1 *",
            # the host invokes a delivery's events at the same time on this many threads
            "PYTHON_THREADPOOL_THREAD_COUNT": "32",
        }
        counter: Counter[str] = Counter()
        count_requests(counter)
        pipeline = NullPipeline()
        service = build_service(Settings.from_env(env), notify=lambda e: None)
        service.pipeline.close()  # type: ignore[attr-defined]
        ctx = service.context
        ctx.pipeline = pipeline
        ctx.state = Counting(ctx.state, counter, "state")
        ctx.data = Counting(ctx.data, counter, "data")
        set_service(service)
        data = blobs.get_container_client("data")
        host = LocalFunctionsHost(function_app.create_app(), app_settings=env).start()
        url = host.eventgrid_url("on_blob_created")
        try:
            print(f"preloading {args.preload} blobs under each of {args.models} prefixes ...")
            upload(
                data, [f"{m['prefix']}old-{i:05d}.csv" for m in models for i in range(args.preload)]
            )
            results: dict[str, Any] = {"config": vars(args)}
            for phase in phases:
                batch = {"batched": args.batch, "single": 1}[phase]
                # fresh blobs for each phase, so both pay for new arrivals
                names = [f"m{i % args.models}/{phase}-{i:06d}.csv" for i in range(args.events)]
                etags = upload(data, names)
                distinct = [event(data, name, etags[name]) for name in names]
                counter.clear()
                pipeline.submitted.clear()
                sent = [dict(e, id=str(uuid.uuid4())) for e in distinct]
                sent += rng.sample(sent, int(len(sent) * args.duplicates))
                rng.shuffle(sent)
                print(f"{phase}: {len(sent)} events ({batch} a delivery, {args.senders} senders)")
                measured = run_phase(url, sent, batch, args.senders, azurite_pid)
                measured["runs_launched"] = len(pipeline.submitted)
                # one run per model for the first phase's burst; later arrivals queue behind the
                # active run (the stand-in pipeline never finishes a run)
                measured["runs_expected"] = args.models if phase == phases[0] else 0
                measured["ops_per_event"] = {
                    k: round(v / len(sent), 2) for k, v in sorted(counter.items())
                }
                results[phase] = measured
                print(f"  {json.dumps(measured)}", flush=True)
            if args.curves:
                results["curve_prefix"] = curve(args, data, url, counter, rng)
                results["curve_ledger"] = ledger_curve(ctx, url, data, counter, rng)
        finally:
            host.stop()
            set_service(None)
    report(results)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print(f"written to {RESULTS}")
    met = (
        results.get("batched", {}).get("events_per_s", 0) >= 1000
        and results.get("single", {}).get("deliveries_per_s", 0) >= 200
    )
    return 0 if met else 2


def sas_connection_string(blob_endpoint: str, *, hours: float = 24) -> str:
    """A connection string holding an account SAS for Azurite's development account,
    signed once here with its well-known key (every resource type, the permissions the
    service uses), valid ``hours``. On Azure the Function App authenticates by managed
    identity: a bearer token it caches and sends as a header, no signature computed per
    request; a SAS is the same constant cost per request, where the shared key signs
    each one (about a tenth of the host's CPU per event in the batched phase)."""
    from datetime import UTC, datetime, timedelta

    from azure.storage.blob import AccountSasPermissions, ResourceTypes, generate_account_sas

    from localdev.azurite import ACCOUNT_KEY, ACCOUNT_NAME

    sas = generate_account_sas(
        ACCOUNT_NAME,
        ACCOUNT_KEY,
        ResourceTypes(service=True, container=True, object=True),
        AccountSasPermissions(
            read=True, write=True, delete=True, list=True, add=True, create=True, tag=True
        ),
        expiry=datetime.now(UTC) + timedelta(hours=hours),
    )
    return f"BlobEndpoint={blob_endpoint};SharedAccessSignature={sas}"


def _SilentAzurite(base: Any) -> Any:
    """``localdev.azurite.Azurite`` started with ``--silent`` (no access log: Azurite
    otherwise writes a line per request to its console log, work no storage service does
    on the request's path)."""

    class Silent(base):
        def _command(self, executable: Path, workdir: Path) -> list[str]:
            return [*super()._command(executable, workdir), "--silent"]

    return Silent


def one_event_cost(
    url: str, data: Any, counter: Counter[str], prefix: str, samples: int
) -> dict[str, float]:
    names = [f"{prefix}probe-{uuid.uuid4().hex[:8]}.csv" for _ in range(samples)]
    etags = upload(data, names)
    counter.clear()
    times = [post(url, [event(data, n, etags[n])]) for n in names]
    return {
        "ms_median": round(1000 * statistics.median(times), 1),
        "ops_per_event": round(
            sum(v for k, v in counter.items() if k.startswith("http.")) / samples, 1
        ),
    }


def curve(
    args: argparse.Namespace, data: Any, url: str, counter: Counter[str], rng: random.Random
) -> list[dict[str, Any]]:
    points = []
    start = len(list(data.list_blobs(name_starts_with="m0/")))
    for size in (int(x) for x in args.curve.split(",")):
        prefix = f"m0/curve-{size}/"
        # under m0's prefix, grown by ``size`` blobs beyond what the phases left there
        have = len(list(data.list_blobs(name_starts_with="m0/")))
        if have < start + size:
            upload(data, [f"m0/pad-{i:06d}.csv" for i in range(have, start + size)])
        blobs_now = len(list(data.list_blobs(name_starts_with="m0/")))
        point = {"blobs_under_prefix": blobs_now, **one_event_cost(url, data, counter, prefix, 10)}
        points.append(point)
    return points


def ledger_curve(
    ctx: Any, url: str, data: Any, counter: Counter[str], rng: random.Random
) -> list[dict[str, Any]]:
    points = []
    for _ in range(3):
        size = len(ctx.state.list_keys("ledger/m1/"))
        points.append({"ledger_entries": size, **one_event_cost(url, data, counter, "m1/", 10)})
        etags = upload(data, [f"m1/x-{uuid.uuid4().hex}.csv" for _ in range(400)])
        # one event a delivery, one after the other: a ledger record each
        for name in sorted(etags):
            post(url, [event(data, name, etags[name])])
    return points


def report(results: Mapping[str, Any]) -> None:
    print()
    print(
        f"{'phase':<8} {'events':>7} {'deliv.':>7} {'ev/s':>8} {'deliv/s':>8} {'p50 ms':>8} "
        f"{'p95 ms':>8} {'runs':>5} {'expect':>6}"
    )
    for phase in ("batched", "single"):
        if phase not in results:
            continue
        r = results[phase]
        print(
            f"{phase:<8} {r['events']:>7} {r['deliveries']:>7} {r['events_per_s']:>8} "
            f"{r['deliveries_per_s']:>8} {r['p50_ms']:>8} {r['p95_ms']:>8} "
            f"{r['runs_launched']:>5} {r['runs_expected']:>6}"
        )
        print(
            f"         failed deliveries: {r['failed_deliveries']}; CPU per event: "
            f"{r['cpu_ms_per_event']} ms host, {r['azurite_cpu_ms_per_event']} ms Azurite, "
            f"{r['sender_cpu_ms_per_event']} ms senders; "
            f"load average {r['load_average']}"
        )
        print(f"         ops/event: {r['ops_per_event']}")
    print("\ncost of one event against the blobs under its prefix:")
    for point in results.get("curve_prefix", ()):
        print(
            f"  {point['blobs_under_prefix']:>6} blobs: {point['ms_median']:>8} ms, "
            f"{point['ops_per_event']} ops"
        )
    print("cost of one event against the ledger's size:")
    for point in results.get("curve_ledger", ()):
        print(
            f"  {point['ledger_entries']:>6} entries: {point['ms_median']:>8} ms, "
            f"{point['ops_per_event']} ops"
        )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--send"]:
        sys.exit(sender_process(sys.argv[2:]))
    sys.exit(main())
