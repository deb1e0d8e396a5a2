"""The Pusher-compatible servers the end-to-end tests run against: the *targets*.

``bundled``
    :mod:`pusherable.server`, one process (:func:`pusherable.server.testing.run_server`).
``soketi``
    One soketi process (``node_modules/.bin/soketi``, pinned in package.json).
``cluster``
    Two soketi processes sharing channels and presence through a ``redis-server``
    of their own. Django sends to the first node; browsers are spread across both
    (:meth:`PusherTarget.ws_port`), as a load balancer would spread them.

Every process listens on 127.0.0.1 only, on ports picked free at start, and is
stopped by its PID. soketi is configured so that it reaches nothing else: its
metrics listener (always started, even with metrics off) and its cluster
discovery socket (UDP, always started, broadcasting to 255.255.255.255 by
default) are bound to loopback and aimed at themselves; webhooks go to the
URLs the test gives. Redis keeps nothing on disk (``--save '' --appendonly no``).

Which targets a run covers: ``--pusher-target`` (``all`` by default, or a
comma-separated list), or the ``PUSHERABLE_TEST_TARGETS`` environment variable.
A target whose program is missing is skipped with the reason, unless
``PUSHERABLE_REQUIRE_TARGETS`` is set (``make test`` sets it), which turns the
skip into a failure: CI never passes with a target silently left out.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from demo.launcher import stop_process
from pusherable.server.testing import PusherEndpoint, run_server
from tests.tools import unavailable

__all__ = [
    "ALL_TARGETS",
    "SOKETI",
    "PusherTarget",
    "TargetUnavailable",
    "free_port",
    "require_target",
    "running_process",
    "selected_targets",
    "start_target",
    "wait_ready",
]

ROOT = Path(__file__).resolve().parents[1]
SOKETI = ROOT / "node_modules" / ".bin" / "soketi"
ALL_TARGETS = ("bundled", "soketi", "cluster")
HOST = "127.0.0.1"
#: The webhooks soketi sends (it sends none it is not asked for).
WEBHOOK_EVENTS = [
    "channel_occupied",
    "channel_vacated",
    "member_added",
    "member_removed",
    "client_event",
]
#: Bounds on starting a process; they do not measure anything.
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


class TargetUnavailable(RuntimeError):
    """A program a target needs is not installed."""


def selected_targets(option: str | None) -> list[str]:
    """The targets named by ``--pusher-target`` / ``PUSHERABLE_TEST_TARGETS`` (default all)."""
    value = option or os.environ.get("PUSHERABLE_TEST_TARGETS") or "all"
    names = [name.strip() for name in value.split(",") if name.strip()]
    if names == ["all"]:
        return list(ALL_TARGETS)
    unknown = sorted(set(names) - set(ALL_TARGETS))
    if unknown:
        raise pytest.UsageError(
            f"Unknown Pusher target(s) {', '.join(unknown)}; choose from "
            f"{', '.join(ALL_TARGETS)} or all."
        )
    return names


def _missing(name: str) -> str | None:
    if name in ("soketi", "cluster") and not SOKETI.exists():
        return f"{SOKETI.relative_to(ROOT)} is missing: run `npm ci` (make test does)"
    if name == "cluster" and shutil.which("redis-server") is None:
        return "redis-server is missing: install Debian's redis-server (make test does)"
    return None


def require_target(name: str) -> None:
    """Skip (or, with ``PUSHERABLE_REQUIRE_TARGETS`` set, fail) when ``name`` cannot run."""
    reason = _missing(name)
    if reason is not None:
        unavailable(f"Pusher target {name!r}: {reason}")


def free_port() -> int:
    """A TCP port nobody listens on right now, on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class PusherTarget(PusherEndpoint):
    """A running target: the HTTP API Django sends to, and the WebSocket ports of its nodes."""

    name: str
    host: str
    port: int
    app_id: str
    key: str
    secret: str
    ws_ports: list[int] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list, repr=False)

    def pusher_client(self, **options: Any) -> Any:
        """A :class:`pusher.Pusher` aimed at the node Django sends to, through the
        delivery backend's transport.

        soketi closes the connection after every answer, and now and then closes one
        before answering; the ``pusher`` library's ``requests`` transport then fails
        the call (seen once on the cluster, in a barrier of the end-to-end tests).
        The backend's transport sends again once when a connection closes before any
        answer, as delivery does.
        """
        import pusher

        from pusherable.backends.http import Urllib3Transport

        return pusher.Pusher(**self.client_options(**options), backend=Urllib3Transport)

    def ws_port(self, index: int) -> int:
        """The WebSocket port of the ``index``-th browser user: nodes taken in turn."""
        return self.ws_ports[index % len(self.ws_ports)]

    def read_logs(self) -> str:
        """What the target's processes wrote so far (for failure messages)."""
        parts = []
        for path in self.logs:
            with contextlib.suppress(OSError):
                parts.append(f"--- {path.name} ---\n{path.read_text(errors='replace')[-4000:]}")
        return "\n".join(parts)


# -- Processes --------------------------------------------------------------------------


@contextlib.contextmanager
def running_process(
    command: Sequence[str], *, log: Path, cwd: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` (output to ``log``) until the block exits; then stop it by PID."""
    with open(log, "wb") as out:
        process = subprocess.Popen(
            list(command),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            env=env,
        )
    try:
        yield process
    finally:
        stop_process(process, STOP_TIMEOUT)


def wait_ready(ready: Any, process: subprocess.Popen[bytes], log: Path, what: str) -> None:
    """Poll ``ready()`` until true; fail with the log if ``process`` exits or time runs out."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"{what} exited with status {process.returncode}:\n"
                + log.read_text(errors="replace")[-4000:]
            )
        with contextlib.suppress(OSError):
            if ready():
                return
        time.sleep(0.05)
    raise RuntimeError(
        f"{what} not ready after {START_TIMEOUT:g} s:\n" + log.read_text(errors="replace")[-4000:]
    )


def _redis_command(port: int, *words: str) -> bytes:
    """Send one command in Redis's protocol and return the raw answer."""
    request = f"*{len(words)}\r\n" + "".join(f"${len(w)}\r\n{w}\r\n" for w in words)
    with socket.create_connection((HOST, port), timeout=2) as sock:
        sock.sendall(request.encode())
        return sock.recv(4096)


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return bool(response.status == 200)


@contextlib.contextmanager
def _redis(tmp: Path) -> Iterator[int]:
    port = free_port()
    command = [
        shutil.which("redis-server") or "redis-server",
        "--bind", HOST,
        "--port", str(port),
        # Nothing on disk: the adapter only passes messages through it.
        "--save", "",
        "--appendonly", "no",
        "--dir", str(tmp),
        "--daemonize", "no",
    ]  # fmt: skip
    log = tmp / "redis.log"
    with running_process(command, log=log, cwd=tmp) as process:
        wait_ready(
            lambda: _redis_command(port, "PING") == b"+PONG\r\n", process, log, "redis-server"
        )
        yield port


def soketi_env(
    *,
    port: int,
    app_id: str,
    key: str,
    secret: str,
    webhook_urls: Sequence[str],
    redis_port: int | None = None,
    redis_prefix: str = "",
    user_authentication: bool = False,
) -> dict[str, str]:
    """The ``SOKETI_*`` variables of one node; scaling.rst shows the same settings."""
    metrics_port, discovery_port = free_port(), free_port()
    env = {
        "SOKETI_HOST": HOST,
        "SOKETI_PORT": str(port),
        "SOKETI_DEFAULT_APP_ID": app_id,
        "SOKETI_DEFAULT_APP_KEY": key,
        "SOKETI_DEFAULT_APP_SECRET": secret,
        "SOKETI_DEFAULT_APP_WEBHOOKS": json.dumps(
            [{"url": url, "event_types": WEBHOOK_EVENTS} for url in webhook_urls]
        ),
        # Listens even with metrics off (its /usage endpoint): loopback, a free port.
        "SOKETI_METRICS_HOST": HOST,
        "SOKETI_METRICS_SERVER_PORT": str(metrics_port),
        # Cluster discovery always runs and broadcasts to the whole network by
        # default; here it only talks to itself (the Redis adapter needs none of it).
        "SOKETI_CLUSTER_PORT": str(discovery_port),
        "SOKETI_CLUSTER_UNICAST_ADDRESSES": f"{HOST}:{discovery_port}",
        # Tests stop it once the browsers are gone: no need to wait for them.
        "SOKETI_SHUTDOWN_GRACE_PERIOD": "100",
    }
    if user_authentication:
        # soketi ignores pusher:signin unless this is on; then it also closes any
        # connection that has not signed in within SOKETI_USER_AUTHENTICATION_TIMEOUT.
        env["SOKETI_DEFAULT_APP_USER_AUTHENTICATION"] = "true"
    if redis_port is not None:
        env.update(
            SOKETI_ADAPTER_DRIVER="redis",
            SOKETI_DB_REDIS_HOST=HOST,
            SOKETI_DB_REDIS_PORT=str(redis_port),
            SOKETI_ADAPTER_REDIS_PREFIX=redis_prefix,
        )
    return env


@contextlib.contextmanager
def _soketi(tmp: Path, names_and_envs: Sequence[tuple[str, dict[str, str]]]) -> Iterator[None]:
    """Start soketi nodes side by side; return once each answers ``/ready``."""
    with contextlib.ExitStack() as stack:
        waits = []
        for name, env in names_and_envs:
            # The discovery socket's bind address has no SOKETI_* variable: a config file.
            config = tmp / f"{name}.json"
            config.write_text(json.dumps({"cluster.address": HOST}))
            log = tmp / f"{name}.log"
            # PATH for node itself, nothing else from this environment: soketi reads
            # SOKETI_* and a .env file in its working directory (the empty temporary one).
            full_env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp), **env}
            command = [str(SOKETI), "start", f"--config={config}"]
            process = stack.enter_context(running_process(command, log=log, cwd=tmp, env=full_env))
            waits.append((f"http://{HOST}:{env['SOKETI_PORT']}/ready", process, log, name))
        for url, process, log, name in waits:
            wait_ready(lambda url=url: _http_ok(url), process, log, f"soketi ({name})")
        yield


@contextlib.contextmanager
def start_target(
    name: str, *, webhook_urls: Sequence[str] = (), user_authentication: bool = False
) -> Iterator[PusherTarget]:
    """Start target ``name`` with webhooks to ``webhook_urls``; stop it on exit.

    ``user_authentication`` makes soketi accept ``pusher:signin`` (see :func:`soketi_env`);
    the bundled server always does.
    """
    reason = _missing(name)
    if reason is not None:
        raise TargetUnavailable(reason)
    app_id, key, secret = "4242", "key" + secrets.token_hex(8), secrets.token_hex(16)
    if name == "bundled":
        with run_server(
            app_id=app_id, key=key, secret=secret, webhook_url=list(webhook_urls)
        ) as s:
            yield PusherTarget(name, s.host, s.port, app_id, key, secret, [s.port], [s.log_path])
        return
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pusher-target-")))
        common: dict[str, Any] = {
            "app_id": app_id,
            "key": key,
            "secret": secret,
            "webhook_urls": webhook_urls,
            "user_authentication": user_authentication,
        }
        if name == "soketi":
            port = free_port()
            stack.enter_context(_soketi(tmp, [("soketi", soketi_env(port=port, **common))]))
            yield PusherTarget(name, HOST, port, app_id, key, secret, [port], [tmp / "soketi.log"])
            return
        redis_port = stack.enter_context(_redis(tmp))
        prefix = "pusherable-tests-" + secrets.token_hex(4)
        ports = [free_port(), free_port()]
        nodes = [
            (
                f"node{index}",
                soketi_env(port=port, redis_port=redis_port, redis_prefix=prefix, **common),
            )
            for index, port in enumerate(ports)
        ]
        stack.enter_context(_soketi(tmp, nodes))
        _wait_for_cluster(redis_port, prefix, len(ports))
        logs = [tmp / "node0.log", tmp / "node1.log", tmp / "redis.log"]
        yield PusherTarget(name, HOST, ports[0], app_id, key, secret, ports, logs)


def _wait_for_cluster(redis_port: int, prefix: str, nodes: int) -> None:
    """Wait until every node listens on Redis: before that, a node misses what others send."""
    channel = f"{prefix}#redis-adapter#comms#req"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        answer = _redis_command(redis_port, "PUBSUB", "NUMSUB", channel)
        # *2\r\n$<n>\r\n<channel>\r\n:<count>\r\n
        if answer.rstrip().endswith(f":{nodes}".encode()):
            return
        time.sleep(0.05)
    raise RuntimeError(
        f"the soketi nodes did not all subscribe to Redis within {START_TIMEOUT:g} s"
    )


def node_script(port: int) -> str:
    """A browser init script that points the page's pusher-js at the node on ``port``.

    Pages take the port from the settings (the node Django sends to); a load balancer
    would send some tabs elsewhere. Wrapping the ``Pusher`` constructor the page
    defines does the same for one browser context, without touching the page.
    """
    return (
        "(() => {\n"
        "  let Wrapped;\n"
        "  Object.defineProperty(window, 'Pusher', {\n"
        "    configurable: true,\n"
        "    get() { return Wrapped; },\n"
        "    set(Original) {\n"
        "      Wrapped = new Proxy(Original, {\n"
        "        construct(Target, [key, options]) {\n"
        f"          return new Target(key, {{...options, wsPort: {port}, wssPort: {port}}});\n"
        "        },\n"
        "      });\n"
        "    },\n"
        "  });\n"
        "})();\n"
    )
