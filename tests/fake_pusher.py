"""A fake Pusher HTTP API on 127.0.0.1 for delivery tests and benchmarks.

It checks no signature: it records the events it accepts and can be told to
misbehave the ways a real API does (refuse connections, answer an error
status, hang, answer slowly, or go down and come back)::

    with FakePusher() as api, override_settings(**api.settings()):
        ...
        api.status = 500          # every request answers 500 from now on
        api.fail_next(3, 429)     # the next three requests answer 429
        api.refuse()              # connection refused until api.accept()
        api.hang = True           # requests hang until api.hang = False
        api.latency = 0.05        # answer after 50 ms
        api.flap(down=0.5)        # refuse for half a second, then accept again
        api.errors_as_200 = True  # errors answer 200 with {"error": ..., "code": status},
                                  # as soketi does

``FakePusher(tls_certificate=path)`` serves HTTPS with that certificate and key.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pusherable.server.testing import PusherEndpoint

__all__ = ["FakePusher"]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out and hung up before the answer is a scenario
        # of the tests, not an error of the fake.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real API
    disable_nagle_algorithm = True  # headers and body go out in two writes
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        fake: FakePusher = self.server.fake  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status = fake._handle(self.path, body)
        if status is None:  # refusing: drop the connection without an answer
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if self.path == "/_stats":
            with fake._lock:
                stats = {"events": len(fake.events), "requests": fake.requests}
            payload = json.dumps(stats).encode()
        elif status == 200:
            payload = b"{}"
        else:
            payload = json.dumps({"error": "fake", "code": status}).encode()
            if fake.errors_as_200:
                status = 200
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST


class FakePusher(PusherEndpoint):
    """A threaded fake of the Pusher HTTP API; see the module docstring.

    ``settings()`` and ``client_options()`` (from :class:`PusherEndpoint`) point
    the code under test at it.
    """

    #: Longest a request hangs (so that a forgotten ``hang`` cannot block a test run).
    MAX_HANG = 30.0

    def __init__(
        self,
        *,
        app_id: str = "123456",
        key: str = "fake-key",
        secret: str = "fake-secret",
        tls_certificate: str | None = None,
    ):
        self.app_id, self.key, self.secret = app_id, key, secret
        self.tls_certificate = tls_certificate
        self.errors_as_200 = False
        #: The request target of every request, as sent (a proxy sees whole URLs).
        self.paths: list[str] = []
        self.host = "127.0.0.1"
        self.port = 0
        self.status = 200
        self.latency = 0.0
        self.events: list[dict[str, Any]] = []
        self.requests = 0
        self.statuses: list[int] = []
        self._fail_queue: list[int] = []
        self._hang = threading.Event()
        self._refusing = False
        self._lock = threading.Lock()
        self._accepted = threading.Condition(self._lock)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._flap_timer: threading.Timer | None = None

    # -- life cycle -------------------------------------------------------------

    def start(self) -> FakePusher:
        self._listen()
        return self

    def stop(self) -> None:
        if self._flap_timer is not None:
            self._flap_timer.cancel()
        self._hang.clear()
        self._refusing = True  # drop keep-alive connections still open
        self._close_listener()

    def __enter__(self) -> FakePusher:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def _listen(self) -> None:
        server = _Server((self.host, self.port), _Handler)
        if self.tls_certificate:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.tls_certificate)
            server.socket = context.wrap_socket(server.socket, server_side=True)
        server.fake = self  # type: ignore[attr-defined]
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def _close_listener(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    # -- faults -----------------------------------------------------------------

    @property
    def hang(self) -> bool:
        return self._hang.is_set()

    @hang.setter
    def hang(self, value: bool) -> None:
        if value:
            self._hang.set()
        else:
            self._hang.clear()

    def fail_next(self, count: int, status: int) -> None:
        """Answer ``status`` to the next ``count`` requests."""
        with self._lock:
            self._fail_queue.extend([status] * count)

    def refuse(self) -> None:
        """Stop listening (connection refused) and drop open connections."""
        self._refusing = True
        self._close_listener()

    def accept(self) -> None:
        """Listen again on the same port."""
        if self._server is None:
            self._listen()
        self._refusing = False

    def flap(self, down: float) -> None:
        """Refuse connections for ``down`` seconds, then accept them again."""
        self.refuse()
        self._flap_timer = threading.Timer(down, self.accept)
        self._flap_timer.daemon = True
        self._flap_timer.start()

    # -- what was received ------------------------------------------------------

    def _handle(self, path: str, body: bytes) -> int | None:
        if self._refusing:
            return None
        if path == "/_stats":  # for benchmarks running the fake in another process
            return 200
        if self._hang.is_set():
            deadline = time.monotonic() + self.MAX_HANG
            while self._hang.is_set() and time.monotonic() < deadline and not self._refusing:
                time.sleep(0.01)
        if self.latency:
            time.sleep(self.latency)
        with self._lock:
            self.paths.append(path)
            self.requests += 1
            status = self._fail_queue.pop(0) if self._fail_queue else self.status
            self.statuses.append(status)
            if status == 200:
                self._record(path, body)
                self._accepted.notify_all()
        return status

    def _record(self, path: str, body: bytes) -> None:
        # Called with the lock held.
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return
        path = path.split("?", 1)[0]
        if path.endswith("/batch_events"):
            items = request.get("batch", [])
        elif path.endswith("/events"):
            items = [{**request, "channel": channel} for channel in request.get("channels", [])]
        else:
            return
        for item in items:
            data = item.get("data")
            with contextlib.suppress(TypeError, ValueError):
                data = json.loads(data)
            self.events.append(
                {
                    "channel": item.get("channel"),
                    "name": item.get("name"),
                    "data": data,
                    "socket_id": item.get("socket_id"),
                }
            )

    def wait_for_events(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until at least ``count`` events were accepted; True if they were."""
        with self._lock:
            return self._accepted.wait_for(lambda: len(self.events) >= count, timeout)

    def names(self) -> list[str]:
        with self._lock:
            return [event["name"] for event in self.events]


def main() -> None:
    """``python -m tests.fake_pusher --latency 0.005``: serve until stdin closes."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before answering")
    args = parser.parse_args()
    api = FakePusher()
    api.port = args.port
    api.latency = args.latency
    with api:
        print(f"listening on {api.host}:{api.port}", flush=True)
        sys.stdin.read()  # the parent closes our stdin (or stops us by PID) to end


if __name__ == "__main__":
    main()
