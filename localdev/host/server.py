"""HTTP plumbing: the threading server on a loopback port, requests and responses."""

from __future__ import annotations

import http.client
import http.server
import ipaddress
import json
import logging
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import azure.functions as func

from localdev.host.common import _JSON, _TEXT

logger = logging.getLogger(__name__)


# -- HTTP plumbing -----------------------------------------------------------------------------


class RequestRouter(Protocol):
    """What the server needs from the host: its address, and where requests go."""

    host: str

    def _route(self, request: _Request) -> _Response: ...

    def _report_refusal(
        self, request: _Request, status: int, reason: str, *, event_index: int | None = None
    ) -> None: ...


@dataclass(frozen=True)
class _Request:
    method: str
    url: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class _Response:
    status: int
    body: bytes
    headers: dict[str, str]
    refusal: str | None = None  # why the host itself refused the request

    @classmethod
    def refuse(
        cls, status: int, message: str, *, headers: Mapping[str, str] | None = None
    ) -> _Response:
        """A request the host refuses itself (not a function's answer): it is reported to
        the host's ``on_refused`` so it is kept, as the app keeps what it refuses."""
        text = cls.text(status, message, headers=headers)
        return cls(text.status, text.body, text.headers, refusal=message)

    @classmethod
    def text(
        cls, status: int, message: str, *, headers: Mapping[str, str] | None = None
    ) -> _Response:
        return cls(status, message.encode("utf-8"), {"Content-Type": _TEXT, **(headers or {})})

    @classmethod
    def json(cls, status: int, value: Any) -> _Response:
        return cls(status, json.dumps(value).encode("utf-8"), {"Content-Type": _JSON})

    @classmethod
    def from_function_value(cls, value: Any) -> _Response:
        if isinstance(value, func.HttpResponse):
            headers = dict(value.headers.items())
            if not any(name.lower() == "content-type" for name in headers):
                headers["Content-Type"] = f"{value.mimetype}; charset={value.charset}"
            return cls(int(value.status_code), value.get_body(), headers)
        if value is None:
            return cls(204, b"", {})
        if isinstance(value, bytes | bytearray):
            return cls(200, bytes(value), {"Content-Type": "application/octet-stream"})
        if isinstance(value, str):
            return cls(200, value.encode("utf-8"), {"Content-Type": _TEXT})
        return cls.json(200, value)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, host: RequestRouter, address: tuple[str, int]) -> None:
        self.functions_host = host
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "localdev-functions-host"
    timeout = 60  # an idle keep-alive connection is closed after this many seconds

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _dispatch(self) -> None:
        try:
            request = self._read_request()
        except ValueError as error:
            self._send(_Response.refuse(400, str(error)))
            return
        try:
            response = self.server.functions_host._route(request)
        except Exception as error:  # a bug in the host itself: answer, log, keep serving
            logger.exception("Local host failed on %s %s", request.method, request.path)
            response = _Response.refuse(500, f"Local host error: {error!r}")
        if response.refusal is not None:
            self.server.functions_host._report_refusal(request, response.status, response.refusal)
        self._send(response)

    def _read_request(self) -> _Request:
        split = urllib.parse.urlsplit(self.path)
        query: dict[str, str] = {}
        for name, values in urllib.parse.parse_qs(split.query, keep_blank_values=True).items():
            query[name] = ",".join(values)
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        host = (
            self.headers.get("Host")
            or f"{self.server.functions_host.host}:{self.server.server_address[1]}"
        )
        return _Request(
            method=self.command.upper(),
            url=f"http://{host}{self.path}",
            path=urllib.parse.unquote(split.path),
            query=query,
            headers=headers,
            body=self._read_body(),
        )

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size_line = self.rfile.readline(65537).split(b";", 1)[0].strip()
                try:
                    size = int(size_line, 16)
                except ValueError as error:
                    raise ValueError("Malformed chunked request body") from error
                if size == 0:
                    while self.rfile.readline(65537).strip():
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        try:
            return self.rfile.read(int(length))
        except ValueError as error:
            raise ValueError(f"Bad Content-Length {length!r}") from error

    def _send(self, response: _Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD" and response.body:
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)


def _require_loopback(host: str) -> None:
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"The local host only listens on loopback addresses, not {host!r}")


def _base_url(host: str, server: _Server) -> str:
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    return f"http://{shown}:{server.server_address[1]}"
