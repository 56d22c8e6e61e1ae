"""The worker end of the stream, as Azure's Python 3.13+ worker runs it: the platform's
proxy worker (not published on PyPI) connects to the host over gRPC and hands every host
message to the library worker, PyPI ``azure-functions-runtime``, which loads and runs the
app. This file plays the proxy's small part (connect, StartStream, hand each message to
the library with the ``protos`` and ``host`` properties, send back its answer); all the
app-facing work (indexing, binding conversion, invocation) is the real library's.

Started by tests/worker/host.py with the arguments the Functions host gives a worker:
``--host --port --workerId --requestId --functions-grpc-max-message-length``, plus
``--protos`` (the folder with the generated message modules) and ``--prepare
module:function`` (called before serving; the test installs the app's service there).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import sys
from dataclasses import dataclass, field
from typing import Any

# Host message -> (library handler, the StreamingMessage field of its answer).
HANDLERS = {
    "worker_init_request": ("worker_init_request", "worker_init_response"),
    "functions_metadata_request": ("functions_metadata_request", "function_metadata_response"),
    "function_load_request": ("function_load_request", "function_load_response"),
    "invocation_request": ("invocation_request", "invocation_response"),
}


@dataclass
class LibraryRequest:
    """What the proxy hands the library: the message and the proxy's properties."""

    name: str
    request: Any
    properties: dict[str, Any] = field(default_factory=dict)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workerId", required=True)
    parser.add_argument("--requestId", required=True)
    parser.add_argument("--functions-grpc-max-message-length", type=int, default=2**31 - 1)
    parser.add_argument("--protos", required=True)
    parser.add_argument("--prepare", default="")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    import grpc

    sys.path.insert(0, args.protos)
    protos = importlib.import_module("host_protocol_pb2")
    stubs = importlib.import_module("host_protocol_pb2_grpc")
    from azure_functions_runtime import handle_event as library

    options = [
        ("grpc.max_send_message_length", args.functions_grpc_max_message_length),
        ("grpc.max_receive_message_length", args.functions_grpc_max_message_length),
    ]
    outgoing: asyncio.Queue[Any] = asyncio.Queue()
    await outgoing.put(
        protos.StreamingMessage(
            request_id=args.requestId,
            start_stream=protos.StartStream(worker_id=args.workerId),
        )
    )

    async def to_host() -> Any:
        while (message := await outgoing.get()) is not None:
            yield message

    async with grpc.aio.insecure_channel(f"{args.host}:{args.port}", options=options) as channel:
        stream = stubs.FunctionRpcStub(channel).EventStream(to_host())
        async for message in stream:
            kind = message.WhichOneof("content")
            if kind == "worker_init_request":  # the proxy puts the app on the path
                sys.path.insert(0, message.worker_init_request.function_app_directory)
            if kind not in HANDLERS:
                continue
            handler, answer = HANDLERS[kind]
            request = LibraryRequest(kind, message, {"host": args.host, "protos": protos})
            response = await getattr(library, handler)(request)
            await outgoing.put(
                protos.StreamingMessage(request_id=message.request_id, **{answer: response})
            )
        await outgoing.put(None)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="worker: %(message)s")
    if args.prepare:
        module, _, function = args.prepare.partition(":")
        getattr(importlib.import_module(module), function)()
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
