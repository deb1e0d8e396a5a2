"""Helpers of the server tests: a webhook receiver and a pusher-js (Node) runner."""

from __future__ import annotations

import contextlib
import json
import queue
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.tools import require_node, require_npm_package

ROOT = Path(__file__).resolve().parents[2]
NODE_SCRIPT = ROOT / "tests" / "node" / "client.js"


@dataclass
class WebhookRequest:
    headers: dict[str, str]
    body: bytes

    @property
    def events(self) -> list[dict[str, Any]]:
        return json.loads(self.body)["events"]


@dataclass
class WebhookReceiver:
    url: str
    requests: queue.Queue[WebhookRequest] = field(default_factory=queue.Queue)
    #: Requests consumed by :meth:`events`.
    seen: list[WebhookRequest] = field(default_factory=list)

    def events(self, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        """Wait for *count* webhook events (across requests) and return them."""
        events: list[dict[str, Any]] = []
        while len(events) < count:
            request = self.requests.get(timeout=timeout)
            self.seen.append(request)
            events.extend(request.events)
        return events


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    received: queue.Queue[WebhookRequest] = queue.Queue()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            received.put(WebhookRequest(dict(self.headers.items()), body))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield WebhookReceiver(f"http://127.0.0.1:{httpd.server_address[1]}/webhook", received)
    finally:
        httpd.shutdown()
        httpd.server_close()


class NodeRun:
    """One run of tests/node/client.js: JSON lines out, commands in."""

    def __init__(self, config: dict[str, Any], timeout: float = 30) -> None:
        self.timeout = timeout
        self.process = subprocess.Popen(
            [shutil.which("node") or "node", str(NODE_SCRIPT), json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def read(self, expected_type: str) -> dict[str, Any]:
        """Return the next message, which must have ``type`` *expected_type*."""
        try:
            line = self._lines.get(timeout=self.timeout)
        except queue.Empty:
            self.stop()
            raise AssertionError(f"pusher-js said nothing for {self.timeout} s") from None
        if line is None:
            self.process.wait(5)
            stderr = self.process.stderr.read() if self.process.stderr else ""
            raise AssertionError(f"pusher-js exited ({self.process.returncode}): {stderr}")
        message = json.loads(line)
        assert message["type"] == expected_type, message
        return message

    def send(self, command: str = "next") -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(5)
        # The pipes are ours to close (a pipe left to the garbage collector is a
        # ResourceWarning); stdout once the pump has read it to the end.
        self._pump_thread.join(5)
        for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):  # stdin: unsent bytes to a dead process
                    pipe.close()

    def finish(self) -> None:
        try:
            self.process.wait(10)
        finally:
            self.stop()


@pytest.fixture
def node() -> Iterator[Any]:
    require_node()
    require_npm_package("pusher-js")
    runs: list[NodeRun] = []

    def start(scenario: str, server: Any, **extra: Any) -> NodeRun:
        config = {
            "scenario": scenario,
            "host": server.host,
            "port": server.port,
            "key": server.key,
            "secret": server.secret,
            **extra,
        }
        run = NodeRun(config)
        runs.append(run)
        return run

    yield start
    for run in runs:
        run.stop()
