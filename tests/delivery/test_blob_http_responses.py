"""The hot path's transport (``shared/adapters/blobhttp.py::HttpClientTransport``) reads
responses as ``http.client`` does, without its ``email``-based header parser: a scripted
server answers raw HTTP, and the transport's responses carry the same status, headers
(repeated and folded ones included) and body, keep the connection or drop it as the
answer says, and read chunked bodies."""

from __future__ import annotations

import http.client
import io
import socket
import threading
from typing import Any

import pytest
from azure.core.rest import HttpRequest

from shared.adapters.blobhttp import HttpClientTransport, _Headers, _read_header_lines


class _Scripted:
    """A loopback server answering each request on a connection with the next canned
    response; counts the connections it accepted."""

    def __init__(self, answers: list[bytes]) -> None:
        self.answers = list(answers)
        self.connections = 0
        self.requests: list[bytes] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.getsockname()[1]}/devstoreaccount1/c/blob"

    def __enter__(self) -> _Scripted:
        self.thread.start()
        return self

    def __exit__(self, *args: object) -> None:
        self.server.close()
        self.thread.join(10)

    def _serve(self) -> None:
        while self.answers:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                file = conn.makefile("rb")
                while self.answers:
                    head = b""
                    while not head.endswith(b"\r\n\r\n"):
                        chunk = file.readline()
                        if not chunk:
                            break
                        head += chunk
                    if not head:
                        break
                    length = 0
                    for line in head.split(b"\r\n"):
                        if line.lower().startswith(b"content-length:"):
                            length = int(line.split(b":", 1)[1])
                    self.requests.append(head + file.read(length))
                    answer = self.answers.pop(0)
                    conn.sendall(answer)
                    if b"connection: close" in answer.lower():
                        break


def _send(transport: HttpClientTransport, url: str, method: str = "GET") -> Any:
    return transport.send(HttpRequest(method, url), connection_timeout=5, read_timeout=5)


def test_status_headers_and_body_as_sent_and_the_connection_kept():
    first = (
        b"HTTP/1.1 200 OK\r\n"
        b"Content-Length: 5\r\n"
        b'ETag: "0x1"\r\n'
        b"x-ms-meta-a: one\r\n"
        b"X-Ms-Meta-A: two\r\n"
        b"x-ms-folded: start\r\n"
        b"  continued\r\n"
        b"Content-Type: text/csv\r\n"
        b"\r\n"
        b"hello"
    )
    second = b"HTTP/1.1 404 The specified blob does not exist.\r\nContent-Length: 0\r\n\r\n"
    with _Scripted([first, second]) as server:
        transport = HttpClientTransport()
        response = _send(transport, server.url)
        assert response.status_code == 200
        assert response.content == b"hello"
        assert response.headers["etag"] == '"0x1"'
        assert response.headers["Content-Type"] == "text/csv"
        assert response.headers["x-ms-folded"] == "start continued"
        assert response.internal_response.getheader("x-ms-meta-a") == "one, two"
        missing = _send(transport, server.url)
        assert missing.status_code == 404
        assert missing.reason == "The specified blob does not exist."
        assert missing.content == b""
    assert server.connections == 1  # kept alive between the two


def test_a_chunked_body_is_read_whole_and_a_close_drops_the_connection():
    chunked = (
        b"HTTP/1.1 200 OK\r\n"
        b"Transfer-Encoding: chunked\r\n"
        b"Connection: close\r\n"
        b"\r\n"
        b"4\r\nwiki\r\n5\r\npedia\r\n0\r\n\r\n"
    )
    again = b'HTTP/1.1 201 Created\r\nContent-Length: 0\r\nETag: "0x2"\r\n\r\n'
    with _Scripted([chunked, again]) as server:
        transport = HttpClientTransport()
        response = _send(transport, server.url)
        assert response.content == b"wikipedia"
        created = _send(transport, server.url, "PUT")
        assert created.status_code == 201 and created.headers["ETag"] == '"0x2"'
    assert server.connections == 2  # the first answer closed its connection


def test_no_length_means_the_body_runs_to_the_close_and_204_has_none():
    empty = b"HTTP/1.1 204 No Content\r\nx-ms-request-id: r1\r\n\r\n"
    unbounded = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nto the end"
    with _Scripted([empty, unbounded]) as server:
        transport = HttpClientTransport()
        response = _send(transport, server.url, "DELETE")
        assert response.status_code == 204 and response.content == b""
        assert response.headers["x-ms-request-id"] == "r1"
        assert _send(transport, server.url).content == b"to the end"


def test_header_lines_are_bounded_as_http_client_bounds_them():
    import io

    assert _read_header_lines(io.BytesIO(b"A: 1\r\nB:2\r\n\r\nbody")) == [("A", "1"), ("B", "2")]
    with pytest.raises(http.client.LineTooLong):
        _read_header_lines(io.BytesIO(b"A: " + b"x" * 70000 + b"\r\n\r\n"))
    with pytest.raises(http.client.HTTPException):
        _read_header_lines(io.BytesIO(b"".join(b"H%d: v\r\n" % n for n in range(101)) + b"\r\n"))
    headers = _Headers([("A", "1"), ("a", "2")])
    assert headers.get("A") == "1" and headers.get_all("a") == ["1", "2"]
    assert headers.get("missing", "d") == "d" and headers.get_all("missing") is None


def test_folded_lines_count_toward_the_header_limit():
    folded = b"x-ms-a: start\r\n" + b"  more\r\n" * 100 + b"\r\n"
    with pytest.raises(http.client.HTTPException, match="more than 100 headers"):
        _read_header_lines(io.BytesIO(folded))
    fine = b"x-ms-a: start\r\n" + b"  more\r\n" * 98 + b"x-ms-b: 1\r\n\r\n"
    pairs = _read_header_lines(io.BytesIO(fine))
    assert pairs[0] == ("x-ms-a", "start" + " more" * 98) and pairs[1] == ("x-ms-b", "1")
