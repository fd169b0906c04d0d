"""A small threaded HTTP server that every API emulator builds on.

An emulator subclasses `EmulatorServer` and implements `handle(request) -> Response`. The base
gives it, on 127.0.0.1 and a free port unless told otherwise:

- `start()` / `stop()` and context-manager support. `start()` returns once the socket listens, so
  tests never sleep or poll to wait for a server.
- `requests`: every request received, as `(method, path_with_query, headers)`, so tests can assert
  what a client actually sent (the dlt habit of asserting on request history).
- Fault injection shared by all emulators: `add_fault(Fault(status=429, headers={"Retry-After":
  "0"}, times=2))` makes the next two matching requests fail that way, after which the emulator
  answers normally again. Faults are consumed first-in first-out by the requests they match.
- A control API for emulators that run in another process: `POST /_emulator/faults` with a JSON
  list of fault objects (the `Fault` fields; `body_raw` sends a string verbatim instead of as
  JSON), `DELETE /_emulator/faults`, and `GET /_emulator/health`. Control requests are neither
  recorded nor subject to faults.

It speaks HTTP/1.1 with keep-alive, as production APIs do, so clients'
connection pools are exercised; `stop()` closes idle kept-alive connections too, otherwise a
pooled connection would keep reaching a "stopped" emulator. It logs nothing per request.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import sys
import threading
import traceback
from dataclasses import dataclass, field, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple, Self
from urllib.parse import parse_qs, urlsplit

CONTROL_PREFIX = "/_emulator/"

# serve_forever only notices shutdown() between polls; the default 0.5 s makes every stop() slow.
_POLL_INTERVAL = 0.05
# Idle kept-alive connections of clients that never close them should not pin threads forever.
_IDLE_TIMEOUT = 120.0


@dataclass
class Fault:
    """One injected misbehaviour, applied to the next `times` requests that match.

    Args:
        status: Answer with this HTTP status instead of the real answer. None with `delay` alone
            means a slow but otherwise correct response.
        body: bytes are sent verbatim; anything else (a str included) is sent as JSON, so a str
            becomes a bare JSON string like the APIs' own simple errors. None means a default
            message naming the status.
        headers: Extra response headers, e.g. {"Retry-After": "0"}.
        delay: Seconds to wait before answering (or before dropping the connection).
        drop_connection: Close the socket without sending any response.
        times: How many matching requests the fault applies to.
        path_contains: Only requests whose path (query string included) contains this.
    """

    status: int | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop_connection: bool = False
    times: int = 1
    path_contains: str | None = None

    def __post_init__(self) -> None:
        if self.times < 1:
            raise ValueError("Fault.times must be at least 1")
        if self.delay < 0:
            raise ValueError("Fault.delay must not be negative")
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError(f"Fault.status {self.status} is not an HTTP status")
        if self.status is None and not self.drop_connection and not self.delay:
            raise ValueError("a Fault needs a status, a delay or drop_connection")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        """Build a fault from its JSON form (the control endpoint's body)."""
        data = dict(data)
        if "body_raw" in data:
            data["body"] = str(data.pop("body_raw")).encode()
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(unknown)}")
        return cls(**data)

    def response(self) -> Response:
        assert self.status is not None
        if isinstance(self.body, bytes):
            headers = {"Content-Type": "text/plain; charset=utf-8"}
            body = self.body
        else:
            headers = {"Content-Type": "application/json"}
            message = f"emulated fault: HTTP {self.status}" if self.body is None else self.body
            body = json.dumps(message).encode()
        # Let the fault override Content-Type whatever its case.
        overridden = {name.lower() for name in self.headers}
        headers = {k: v for k, v in headers.items() if k.lower() not in overridden}
        headers.update(self.headers)
        return Response(self.status, body, headers)


@dataclass
class Request:
    """What an emulator's `handle` sees. `headers` looks names up case-insensitively."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Any
    body: bytes


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class RecordedRequest(NamedTuple):
    method: str
    path: str
    headers: dict[str, str]


def json_response(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer; `json_response("message", 400)` is a bare JSON string error."""
    return Response(
        status, json.dumps(value).encode(), {"Content-Type": "application/json", **(headers or {})}
    )


class _PendingFault:
    __slots__ = ("fault", "remaining")

    def __init__(self, fault: Fault) -> None:
        self.fault = fault
        self.remaining = fault.times


class EmulatorServer:
    """Base class of the emulators: override `handle`."""

    def __init__(self, *, port: int = 0, host: str = "127.0.0.1") -> None:
        self._host = host
        self._port = port
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._faults: list[_PendingFault] = []
        self._faults_lock = threading.Lock()
        # Set on stop() so that delayed faults stop waiting instead of outliving the server.
        self._stopping = threading.Event()
        # list.append is atomic, so handler threads append without a lock and readers iterate.
        self.requests: list[RecordedRequest] = []

    def handle(self, request: Request) -> Response:
        raise NotImplementedError

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("emulator is not started")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def start(self) -> Self:
        """Listen and serve in a daemon thread; connections are accepted once this returns."""
        if self._httpd is not None:
            raise RuntimeError("emulator is already started")
        self._stopping.clear()
        # Binding and listen() happen in the constructor, so the kernel queues connections from
        # here on even before serve_forever's first poll.
        self._httpd = _Server((self._host, self._port), self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": _POLL_INTERVAL},
            name=f"{type(self).__name__}-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the listening socket and every open connection. Idempotent."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if thread is not None:
            thread.join()
        self._httpd = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def serve_until_signalled(self) -> None:
        """For a CLI: start, print the URL on one line for the parent, serve until SIGTERM/INT."""
        stopping = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stopping.set())
        with self:
            print(self.url, flush=True)
            while not stopping.wait(0.5):
                pass

    def add_fault(self, fault: Fault) -> None:
        with self._faults_lock:
            self._faults.append(_PendingFault(fault))

    def clear_faults(self) -> None:
        with self._faults_lock:
            self._faults.clear()

    @property
    def pending_faults(self) -> int:
        """How many fault applications are still to come, summed over all faults."""
        with self._faults_lock:
            return sum(p.remaining for p in self._faults)

    def _take_fault(self, path: str) -> Fault | None:
        with self._faults_lock:
            for index, pending in enumerate(self._faults):
                wanted = pending.fault.path_contains
                if wanted is None or wanted in path:
                    pending.remaining -= 1
                    if pending.remaining == 0:
                        del self._faults[index]
                    return pending.fault
        return None

    def _control(self, method: str, path: str, body: bytes) -> Response:
        if path == CONTROL_PREFIX + "health" and method == "GET":
            return Response(200, b"ok", {"Content-Type": "text/plain; charset=utf-8"})
        if path == CONTROL_PREFIX + "faults" and method == "POST":
            try:
                payload = json.loads(body or b"[]")
                items = payload if isinstance(payload, list) else [payload]
                faults = [Fault.from_dict(item) for item in items]
            except (ValueError, TypeError) as exc:
                return json_response(f"invalid faults: {exc}", 400)
            for fault in faults:
                self.add_fault(fault)
            return json_response({"added": len(faults)})
        if path == CONTROL_PREFIX + "faults" and method == "DELETE":
            self.clear_faults()
            return json_response({"cleared": True})
        return json_response("unknown emulator control endpoint", 404)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 makes the 9th simultaneous client wait ~1 s for a
    # retried SYN; clients with 8+ workers connect that way.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], emulator: EmulatorServer) -> None:
        self.emulator = emulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out or hung up, or a connection closed by stop(), is routine here.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body are written separately; with Nagle's algorithm the body waits for the
    # client's delayed ACK, about 40 ms per answer on a kept-alive connection.
    disable_nagle_algorithm = True
    timeout = _IDLE_TIMEOUT
    server: _Server

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _dispatch(self) -> None:
        emulator = self.server.emulator
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        if split.path.startswith(CONTROL_PREFIX):
            self._send(emulator._control(self.command, split.path, body))
            return
        emulator.requests.append(RecordedRequest(self.command, self.path, dict(self.headers)))
        response = None
        fault = emulator._take_fault(self.path)
        if fault is not None:
            if fault.delay and emulator._stopping.wait(fault.delay):
                self._drop()
                return
            if fault.drop_connection:
                self._drop()
                return
            if fault.status is not None:
                response = fault.response()
        if response is None:
            query = parse_qs(split.query, keep_blank_values=True)
            request = Request(self.command, split.path, query, self.headers, body)
            try:
                response = emulator.handle(request)
            except Exception:
                # An emulator bug should fail the client's request loudly, not hang it.
                traceback.print_exc()
                response = json_response("emulator error", 500)
        self._send(response)

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
