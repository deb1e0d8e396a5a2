"""Timeouts and limits at every stage, against the real server process on loopback.

Each timeout is set to a second or two; the assertions only bound liveness ("closed
within a generous bound"), never how fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import socket
import subprocess
import time
from typing import Any

import aiohttp
import pytest

from pusherable.server.cli import build_parser, config_from_args
from pusherable.server.config import AppConfig, ConfigError, ServerConfig
from pusherable.server.listener import AcceptErrorThrottle, ConnectionGuard
from pusherable.server.testing import _pythonpath, run_server, server_command

from .raw_clients import half_open_request

pytestmark = pytest.mark.e2e

ENV = {"PUSHER_APP_ID": "1", "PUSHER_KEY": "k", "PUSHER_SECRET": "s"}


def closed_by_server(sock: socket.socket, within: float = 15.0) -> bool:
    """Whether the server closes *sock* within *within* seconds (reading what it sends)."""
    sock.settimeout(within)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except ConnectionError:
        return True
    return True


def test_defaults_and_options() -> None:
    config = config_from_args(build_parser().parse_args([]), ENV)
    assert (config.handshake_timeout, config.body_timeout, config.keepalive_timeout) == (
        60.0,
        60.0,
        75.0,
    )
    args = build_parser().parse_args(
        ["--handshake-timeout", "5", "--body-timeout", "6", "--keepalive-timeout", "7"]
    )
    config = config_from_args(args, ENV)
    assert (config.handshake_timeout, config.body_timeout, config.keepalive_timeout) == (5, 6, 7)
    for name in ("handshake_timeout", "body_timeout", "keepalive_timeout"):
        with pytest.raises(ConfigError, match=name):
            ServerConfig(apps=(AppConfig("1", "k", "s"),), **{name: 0})


def test_a_half_sent_handshake_is_closed() -> None:
    with run_server(handshake_timeout=1) as server:
        sock = half_open_request(server.host, server.port)
        with sock:
            assert closed_by_server(sock)


def test_an_idle_keepalive_connection_is_closed() -> None:
    with run_server(keepalive_timeout=1) as server:
        sock = socket.create_connection((server.host, server.port), timeout=10)
        with sock:
            sock.sendall(b"GET /up HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
            assert closed_by_server(sock)


def test_a_slow_body_is_408() -> None:
    with run_server(body_timeout=1) as server:
        sock = socket.create_connection((server.host, server.port), timeout=15)
        with sock:
            sock.sendall(
                b"POST /apps/4242/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"
            )
            answer = b""
            with contextlib.suppress(ConnectionError):
                while b"}" not in answer and (chunk := sock.recv(65536)):
                    answer += chunk
            assert answer.startswith(b"HTTP/1.1 408"), answer
            assert b"Connection: close" in answer
            assert b"Request body too slow" in answer


def test_half_open_connections_count_against_max_connections() -> None:
    async def websocket_works(url: str) -> bool:
        async with aiohttp.ClientSession() as session:
            try:
                async with session.ws_connect(url, timeout=aiohttp.ClientWSTimeout(10)) as ws:
                    message = await ws.receive(10)
                    return "pusher:connection_established" in str(message.data)
            except (aiohttp.ClientError, asyncio.TimeoutError):
                return False

    with run_server(max_connections=2, handshake_timeout=2) as server:
        url = server.ws_url + "?protocol=7"
        half = [half_open_request(server.host, server.port) for _ in range(2)]
        try:
            # Both slots are held by half-open connections: the next one is dropped.
            assert not asyncio.run(websocket_works(url))
            for sock in half:
                assert closed_by_server(sock)
            # Once they were closed for being too slow, clients get in again.
            assert asyncio.run(websocket_works(url))
        finally:
            for sock in half:
                sock.close()


def test_running_out_of_descriptors_logs_one_line() -> None:
    limit = 48

    def low_file_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    command = server_command(
        {"host": "127.0.0.1", "port": 0, "app_id": "1", "key": "k", "secret": "s"}
    )
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PYTHONPATH": _pythonpath(), "PYTHONUNBUFFERED": "1", "PATH": ""},
        preexec_fn=low_file_limit,
    )
    sockets: list[socket.socket] = []
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        port = int(line.strip().rsplit(":", 1)[1])
        for _ in range(limit + 20):  # past the limit; the rest wait in the backlog
            sockets.append(half_open_request("127.0.0.1", port))
        time.sleep(4)  # asyncio retries accept() every second
    finally:
        for sock in sockets:
            sock.close()
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    reports = [line for line in stderr.splitlines() if "cannot accept connections" in line]
    assert len(reports) == 1, stderr
    assert "Traceback" not in stderr


def test_accept_error_throttle_reports_once_per_burst(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    throttle = AcceptErrorThrottle(quiet=30, clock=lambda: now[0])
    others: list[dict[str, Any]] = []

    class Loop:
        def default_exception_handler(self, context: dict[str, Any]) -> None:
            others.append(context)

    error = {"message": "socket.accept() out of system resource", "exception": OSError(24)}
    with caplog.at_level(logging.INFO, logger="pusherable.server"):
        for second in range(100):  # one failed retry a second for 100 s: one burst
            now[0] = float(second)
            throttle(Loop(), error)  # type: ignore[arg-type]
        now[0] = 200.0  # quiet for 100 s, then a new burst
        throttle(Loop(), error)  # type: ignore[arg-type]
        throttle(Loop(), {"message": "something else"})  # type: ignore[arg-type]
    reports = [r for r in caplog.records if "cannot accept" in r.getMessage()]
    assert len(reports) == 2
    assert reports[1].folded_before == 99  # type: ignore[attr-defined]
    assert others == [{"message": "something else"}]


def test_guard_sweeps_in_acceptance_order_and_refuses_past_the_limit() -> None:
    class Transport:
        aborted = False

        def abort(self) -> None:
            self.aborted = True

    class Handler:
        def __init__(self) -> None:
            self.transport: Transport | None = Transport()

    now = [0.0]
    open_sockets = [0]
    guard = ConnectionGuard(
        Handler,  # type: ignore[arg-type]
        handshake_timeout=10,
        limit=3,
        open_connections=lambda: open_sockets[0],
        clock=lambda: now[0],
    )
    first = guard()
    now[0] = 5.0
    second = guard()
    open_sockets[0] = 1
    refused = guard()
    assert not isinstance(refused, Handler) and guard.refused == 1
    guard.started(second)
    now[0] = 12.0
    assert guard.sweep() == 1
    assert first.transport.aborted  # type: ignore[attr-defined]
    assert not second.transport.aborted  # type: ignore[attr-defined]
    assert isinstance(guard(), Handler)
