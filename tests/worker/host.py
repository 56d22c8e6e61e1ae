"""The Functions host's side of one worker's stream, for the conformance test: a gRPC
server speaking FunctionRpc's EventStream, which starts the worker with the host's command
line, then sends what the host sends: WorkerInitRequest, FunctionsMetadataRequest, a
FunctionLoadRequest per indexed function and InvocationRequests with the payloads Azure
delivers (Event Grid events as JSON, timer status, HTTP requests as RpcHttp). It follows
the retraining loop through the app (a blob arrives, the run completes, the version is
promoted, the operator routes answer) and writes what came back as JSON.

Run by tests/worker/test_worker_conformance.py in a Python 3.13 venv with requirements.txt,
azure-functions-runtime and grpcio-tools: ``python host.py --protos DIR --report FILE``.
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HOST_VERSION = "4.1040.300"
OPERATOR = {"reason": "conformance check", "requested_by": "worker test"}


class Conversation:
    """One stream, lockstep: each host message, then the worker's answer."""

    def __init__(self, pb: Any) -> None:
        self.pb = pb
        self.report: dict[str, Any] = {"invocations": [], "functions": {}}
        self.done = threading.Event()
        self.ids = (f"host-{n}" for n in itertools.count(1))

    def stream(self, from_worker: Iterator[Any]) -> Iterator[Any]:
        pb = self.pb

        def answer(field: str) -> Any:
            for message in from_worker:
                if message.WhichOneof("content") == field:
                    return getattr(message, field)
            raise RuntimeError(f"the worker closed the stream before its {field}")

        try:
            self.report["start_stream"] = answer("start_stream").worker_id
            yield pb.StreamingMessage(
                request_id=next(self.ids),
                worker_init_request=pb.WorkerInitRequest(
                    host_version=HOST_VERSION,
                    capabilities={},
                    worker_directory=str(ROOT / "tests" / "worker"),
                    function_app_directory=str(ROOT),
                ),
            )
            init = answer("worker_init_response")
            self.report["init"] = {
                "status": pb.StatusResult.Status.Name(init.result.status),
                "exception": init.result.exception.message,
                "capabilities": dict(init.capabilities),
                "runtime_version": init.worker_metadata.runtime_version,
                "worker_version": init.worker_metadata.worker_version,
            }
            yield pb.StreamingMessage(
                request_id=next(self.ids),
                functions_metadata_request=pb.FunctionsMetadataRequest(
                    function_app_directory=str(ROOT)
                ),
            )
            metadata = answer("function_metadata_response")
            self.report["metadata_status"] = pb.StatusResult.Status.Name(metadata.result.status)
            functions = {m.name: m for m in metadata.function_metadata_results}
            for name, meta in functions.items():
                yield pb.StreamingMessage(
                    request_id=next(self.ids),
                    function_load_request=pb.FunctionLoadRequest(
                        function_id=meta.function_id, metadata=meta
                    ),
                )
                loaded = answer("function_load_response")
                self.report["functions"][name] = {
                    "bindings": [json.loads(raw) for raw in meta.raw_bindings],
                    "load": pb.StatusResult.Status.Name(loaded.result.status),
                    "language": meta.language,
                }
            for name, inputs in self.script():
                meta = functions[name]
                request = self.invocation(meta, inputs)
                yield pb.StreamingMessage(request_id=next(self.ids), invocation_request=request)
                response = answer("invocation_response")
                described = self.describe(name, response)
                self.report["invocations"].append(described | {"id": request.invocation_id})
        finally:
            self.done.set()

    # ------------------------------------------------------------------ invocations

    def script(self) -> Iterator[tuple[str, Any]]:
        """(function, input) in the order the loop happens; inputs are Event Grid events
        (dicts), timer status (``"timer"``) or HTTP requests (tuples)."""
        from tests import samples

        yield "list_models", ("GET", "models", {}, None)
        created = samples.blob_created("co2/batch-1.csv", etag='"0x0001"', size=1234)
        yield "on_blob_created", created
        yield "get_model_ledger", ("GET", "models/co2/ledger", {"model": "co2"}, None)
        run_key = self.retrain_run_key()
        yield "on_run_completed", samples.run_event(run_key, run_key=run_key)
        yield "list_model_versions", ("GET", "models/co2/versions", {"model": "co2"}, None)
        yield "get_run", ("GET", f"runs/{run_key}", {"run_key": run_key}, None)
        yield "get_run_report", ("GET", f"runs/{run_key}/report", {"run_key": run_key}, None)
        version = {"model": "co2", "version": "1"}
        yield "get_version_report", ("GET", "models/co2/versions/1/report", version, None)
        yield "pin_model", ("POST", "models/co2/pin", {"model": "co2"}, OPERATOR)
        yield "unpin_model", ("POST", "models/co2/unpin", {"model": "co2"}, OPERATOR)
        yield "pause_model", ("POST", "models/co2/pause", {"model": "co2"}, OPERATOR)
        yield "resume_model", ("POST", "models/co2/resume", {"model": "co2"}, OPERATOR)
        change = {"version": 1, **OPERATOR}
        yield "promote_model", ("POST", "models/co2/promote", {"model": "co2"}, change)
        yield "rollback_model", ("POST", "models/co2/rollback", {"model": "co2"}, change)
        yield "get_model_history", ("GET", "models/co2/history", {"model": "co2"}, None)
        run = {"run_key": run_key}
        yield "list_model_runs", ("GET", "models/co2/runs", {"model": "co2"}, None)
        yield "get_run_steps", ("GET", f"runs/{run_key}/steps", run, None)
        step = {**run, "step": "train"}
        yield "get_step_log", ("GET", f"runs/{run_key}/steps/train/log", step, None)
        yield "get_run_artifacts", ("GET", f"runs/{run_key}/artifacts", run, None)
        yield "get_run_plot", ("GET", f"runs/{run_key}/plot", run, None)
        yield "get_model_version", ("GET", "models/co2/versions/1", version, None)
        yield "compare_model_versions", ("GET", "models/co2/compare", {"model": "co2"}, None)
        yield "list_model_series", ("GET", "models/co2/series", {"model": "co2"}, None)
        series = {"model": "co2", "series": "a"}
        yield "get_model_series", ("GET", "models/co2/series/a", series, None)
        yield "get_run_series", ("GET", f"runs/{run_key}/series", run, None)
        family = {"model": "co2", "action": "pin"}
        yield "act_on_family", ("POST", "models/co2/family/pin", family, OPERATOR)
        yield "list_dead_letters", ("GET", "deadletters", {}, None)
        letter = {"source": "on_sweep", "digest": "0" * 40}
        yield "get_dead_letter", ("GET", f"deadletters/on_sweep/{'0' * 40}", letter, None)
        replay = f"deadletters/on_sweep/{'0' * 40}/replay"
        yield "replay_dead_letter", ("POST", replay, letter, OPERATOR)
        yield "list_quarantine", ("GET", "quarantine", {}, None)
        blob = {"blob": "co2/none.csv"}
        yield "get_quarantined_file", ("GET", "quarantine/co2/none.csv", blob, None)
        release = {"blob": "co2/none.csv", **OPERATOR}
        yield "release_quarantined_file", ("POST", "quarantine/release", {}, release)
        yield "get_openapi", ("GET", "openapi.json", {}, None)
        yield "get_dashboard", ("GET", "dashboard", {}, None)
        yield "get_dashboard_data", ("GET", "dashboard/data", {}, None)
        body = {"requested_by": "worker test", "reason": "conformance", "force": True}
        yield "retrain_model", ("POST", "models/co2/retrain", {"model": "co2"}, body)
        yield "get_run", ("GET", "runs/co2-0000000000000000", {"run_key": "none"}, None)
        drift = {"model": "co2", "reason": "forecast error up", "alert_id": "a-1"}
        yield "on_drift_alert", ("POST", "drift", {}, drift)
        yield "on_azureml_event", self.monitor_breach()
        yield "on_schedule", "timer"
        yield "on_sweep", "timer"

    @staticmethod
    def monitor_breach() -> dict[str, Any]:
        """A model-monitoring run's RunStatusChanged whose tags say a threshold was breached."""
        from tests import samples

        event = samples.run_event("monitor-run-1", run_key=None, status="Failed")
        event["data"]["experimentName"] = "co2-monitor"
        event["data"]["runTags"] = {
            "azureml_modelmonitor_threshold_breached": "The signal 'data_drift' has failed."
        }
        return event

    def retrain_run_key(self) -> str:
        """The run the blob started, read from the ledger route's answer."""
        ledger = json.loads(self.report["invocations"][-1]["body"])["ledger"]
        return str(next(e["run_key"] for e in ledger if e.get("action") == "retrain"))

    def invocation(self, meta: Any, inputs: Any) -> Any:
        pb = self.pb
        [trigger] = [json.loads(b) for b in meta.raw_bindings if json.loads(b)["direction"] == "IN"]
        if trigger["type"] == "eventGridTrigger":
            data = pb.TypedData(json=json.dumps(inputs))
        elif trigger["type"] == "timerTrigger":
            status = {
                "Schedule": {"AdjustForDST": True},
                "ScheduleStatus": None,
                "IsPastDue": False,
            }
            data = pb.TypedData(json=json.dumps(status))
        else:
            method, route, params, body = inputs
            payload = b"" if body is None else json.dumps(body).encode()
            data = pb.TypedData(
                http=pb.RpcHttp(
                    method=method,
                    url=f"https://func-example.azurewebsites.net/api/{route}",
                    headers={"content-type": "application/json", "x-functions-key": "***"},
                    body=pb.TypedData(bytes=payload),
                    rawBody=pb.TypedData(bytes=payload),
                    params=params,
                    query={},
                )
            )
        system = {"MethodName": meta.name, "UtcNow": "2026-01-01T00:00:00Z", "RandGuid": "x"}
        return pb.InvocationRequest(
            invocation_id=str(uuid.uuid4()),
            function_id=meta.function_id,
            input_data=[pb.ParameterBinding(name=trigger["name"], data=data)],
            trigger_metadata={"sys": pb.TypedData(json=json.dumps(system))},
            trace_context=pb.RpcTraceContext(
                trace_parent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
            ),
        )

    def describe(self, name: str, response: Any) -> dict[str, Any]:
        result: dict[str, Any] = {
            "function": name,
            "status": self.pb.StatusResult.Status.Name(response.result.status),
            "exception": response.result.exception.message,
        }
        if response.return_value.WhichOneof("data") == "http":
            http = response.return_value.http
            body = http.body
            kind = body.WhichOneof("data")
            raw = getattr(body, kind) if kind else b""
            result["http_status"] = int(http.status_code)
            result["body"] = raw.decode() if isinstance(raw, bytes) else raw
        return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--protos", required=True)
    parser.add_argument("--report", required=True)
    parser.add_argument("--timeout", type=float, default=120)
    args = parser.parse_args(argv)
    import grpc

    sys.path[:0] = [args.protos, str(ROOT)]
    pb = importlib.import_module("host_protocol_pb2")
    stubs = importlib.import_module("host_protocol_pb2_grpc")
    conversation = Conversation(pb)

    class Host(stubs.FunctionRpcServicer):  # type: ignore[misc, name-defined]
        def EventStream(self, request_iterator: Iterator[Any], context: Any) -> Iterator[Any]:
            yield from conversation.stream(request_iterator)

    decisions = Path(args.report).with_name("decisions.jsonl")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    stubs.add_FunctionRpcServicer_to_server(Host(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    worker = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name("worker_proxy.py")),
            *("--host", "127.0.0.1", "--port", str(port)),
            *("--workerId", "worker-1", "--requestId", "request-1"),
            *("--functions-grpc-max-message-length", str(2**31 - 1)),
            *("--protos", args.protos, "--prepare", "tests.worker.app_world:install"),
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "RETRAIN_DECISIONS_FILE": str(decisions),
            "PYTHON_ENABLE_OPENTELEMETRY": "true",  # as infra/ sets it on Azure
        },
    )
    try:
        finished = conversation.done.wait(args.timeout)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
        server.stop(grace=None)
    conversation.report["finished"] = finished
    conversation.report["worker_exit"] = worker.returncode
    lines = decisions.read_text().splitlines() if decisions.exists() else []
    conversation.report["decisions"] = [json.loads(line) for line in lines]
    Path(args.report).write_text(json.dumps(conversation.report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
