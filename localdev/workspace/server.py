"""The local workspace as its own process, as Azure ML is its own service: jobs run here,
not inside the Functions host, so a host that dies (or restarts) leaves its jobs running,
and their completion events reach it when it is back (or the sweep finds them finished).

``python -m localdev.workspace.server --root DIR --connection-string CS`` serves the
folder ``DIR`` on a loopback port and writes ``DIR/server.json`` (its URL and pid): a
``LocalWorkspace`` built on the same folder (the service's, in any host process) then
hands its submissions here and reads the jobs' state from the folder. On start it takes
up the jobs a previous workspace process left unfinished (``LocalWorkspace.resume``).

Routes: ``GET /health``; ``POST /jobs`` (a submission as JSON; idempotent on the run
key); ``GET /jobs/<run id>``. Completion events are POSTed to ``--events-url`` (the
host's Event Grid webhook for ``on_run_completed``), retried with backoff while the host
is down, for up to ``--announce-for`` seconds.
"""

from __future__ import annotations

import argparse
import collections
import http.server
import json
import logging
import os
import queue
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from localdev.workspace.jobs import _JOB_NAME, read_json, write_json_atomically
from localdev.workspace.remote import SERVER_FILE
from localdev.workspace.runner import LocalWorkspace
from shared.errors import NotFound, PipelineError
from shared.ports import RETRAIN_PIPELINE, PipelineStep, PipelineSubmission

logger = logging.getLogger(__name__)


class Announcer:
    """Delivers run events to the host's webhook, retrying while it is unreachable."""

    def __init__(self, url: str | None, give_up_after: float) -> None:
        self.url = url
        self.give_up_after = give_up_after
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._work, name="workspace-announcer", daemon=True).start()

    def __call__(self, event: dict[str, Any]) -> None:
        if self.url is not None:
            self._queue.put(event)

    def _work(self) -> None:
        while True:
            event = self._queue.get()
            deadline = time.monotonic() + self.give_up_after
            delay = 0.2
            while True:
                try:
                    self._post(event)
                    break
                except (OSError, urllib.error.URLError) as exc:
                    if time.monotonic() > deadline:
                        logger.error(
                            "run event %s not delivered (%s); the sweep will find the run",
                            event["id"],
                            exc,
                        )
                        break
                    time.sleep(delay)
                    delay = min(delay * 2, 2.0)

    def _post(self, event: dict[str, Any]) -> None:
        assert self.url is not None
        request = urllib.request.Request(
            self.url,
            data=json.dumps([event]).encode(),
            headers={"Content-Type": "application/json", "aeg-event-type": "Notification"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            if exc.code >= 500:
                raise
            logger.warning("run event %s refused with %s", event["id"], exc.code)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path == "/health":
            self._answer(200, {"ok": True})
        elif self.path.startswith("/jobs/"):
            try:
                run = self.server.workspace.get_run(self.path.removeprefix("/jobs/"))
            except NotFound as exc:
                self._answer(404, {"error": str(exc)})
                return
            self._answer(200, _as_json(run))
        else:
            self._answer(404, {"error": f"no route {self.path}"})

    def do_POST(self) -> None:
        if self.path != "/jobs":
            self._answer(404, {"error": f"no route {self.path}"})
            return
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            submission = PipelineSubmission(
                run_key=str(body["run_key"]),
                model=str(body["model"]),
                inputs=dict(body["inputs"]),
                tags=dict(body.get("tags") or {}),
                experiment=str(body.get("experiment") or "retrain"),
                pipeline=str(body.get("pipeline") or RETRAIN_PIPELINE),
            )
            run = self.server.workspace.submit(submission)
        except (ValueError, KeyError, TypeError, PipelineError) as exc:
            self._answer(400, {"error": str(exc)})
            return
        self._answer(200, _as_json(run))

    def _answer(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug(format, *args)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], workspace: LocalWorkspace) -> None:
        self.workspace = workspace
        super().__init__(address, _Handler)


def _as_json(run: Any) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "run_key": run.run_key,
        "status": run.status,
        "outputs": dict(run.outputs),
        "error": run.error,
    }


# ------------------------------------------------------------------ run inspection


class LocalRunInspector:
    """``RunInspector`` over a local workspace folder: the steps and logs its jobs keep in
    ``jobs/<run id>/job.json`` and ``jobs/<run id>/logs/<step>.log`` (readable from any
    process, as ``LocalWorkspace.get_run`` reads the job state)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _job(self, run_id: str) -> dict[str, Any]:
        record = (
            read_json(self.root / "jobs" / run_id / "job.json") if _JOB_NAME.match(run_id) else None
        )
        if record is None:
            raise NotFound(f"no run {run_id!r} in the local workspace")
        return record

    def get_steps(self, run_id: str) -> list[PipelineStep]:
        record = self._job(run_id)
        steps: list[PipelineStep] = []
        for name, state in (record.get("steps") or {}).items():
            status = str(state.get("status") or "NotStarted")
            steps.append(
                PipelineStep(
                    name=str(name),
                    status=status,
                    started_at=state.get("started_at"),
                    finished_at=_finished(state.get("started_at"), state.get("duration_s")),
                    duration_s=state.get("duration_s"),
                    reused=bool(state.get("reused")),
                    error=record.get("error") if status == "Failed" else None,
                )
            )
        return steps

    def get_log_tail(self, run_id: str, step: str, *, lines: int = 100) -> list[str]:
        state = (self._job(run_id).get("steps") or {}).get(step)
        if state is None:
            raise NotFound(f"run {run_id!r} has no step {step!r}")
        path = self.root / "jobs" / run_id / "logs" / f"{step}.log"
        if not path.is_file():
            return []
        with path.open(encoding="utf-8", errors="replace") as log:
            return [line.rstrip("\r\n") for line in collections.deque(log, maxlen=max(lines, 0))]


def _finished(started_at: Any, duration_s: Any) -> str | None:
    if not isinstance(started_at, str) or not isinstance(duration_s, int | float):
        return None
    try:
        return (datetime.fromisoformat(started_at) + timedelta(seconds=duration_s)).isoformat()
    except ValueError:
        return None


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m localdev.workspace.server")
    parser.add_argument("--root", type=Path, required=True, help="the workspace folder")
    parser.add_argument("--pipeline", type=Path, required=True, help="the pipeline YAML")
    parser.add_argument("--connection-string", required=True, help="Blob storage (Azurite)")
    parser.add_argument(
        "--datastore",
        action="append",
        default=[],
        metavar="NAME=CONTAINER",
        help="an Azure ML datastore name and the Blob container it maps to (repeatable)",
    )
    parser.add_argument("--events-url", help="where to POST run events (the host's webhook)")
    parser.add_argument("--announce-for", type=float, default=600.0)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("azure").setLevel(logging.WARNING)
    from azure.storage.blob import BlobServiceClient

    from shared.adapters.blob import client_options

    datastores = dict(item.split("=", 1) for item in args.datastore)
    workspace = LocalWorkspace(
        args.root,
        args.pipeline,
        blob_service=BlobServiceClient.from_connection_string(
            args.connection_string, **client_options()
        ),
        datastores=datastores,
        notify=Announcer(args.events_url, args.announce_for),
        serve=True,
    )
    server = _Server(("127.0.0.1", args.port), workspace)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    taken = workspace.resume()
    write_json_atomically(workspace.root / SERVER_FILE, {"url": url, "pid": os.getpid()})
    logger.info("local workspace %s serving at %s (%d job(s) taken up)", args.root, url, taken)
    print(f"Local workspace: {url}", flush=True)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        workspace.close()
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
