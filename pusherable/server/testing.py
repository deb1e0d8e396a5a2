"""Run the bundled server in a subprocess, for end-to-end tests.

::

    from pusherable.server.testing import run_server

    with run_server(enable_client_events=True) as server:
        client = server.pusher_client()
        client.trigger("my-channel", "my-event", {"hello": "world"})

The server listens on a free loopback port (``--port 0``), :func:`run_server`
waits for its ready line (with a deadline), and stops it by PID on exit. Importing
this module does not import aiohttp or Django.
"""

from __future__ import annotations

import contextlib
import os
import queue
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

__all__ = ["PusherEndpoint", "RunningServer", "ServerStartError", "run_server", "server_command"]

_READY_PREFIX = "pusherable server listening on "


class ServerStartError(RuntimeError):
    """Raised when the server exits or stays silent instead of becoming ready."""


class PusherEndpoint:
    """Where a Pusher-compatible HTTP API listens (plain HTTP), and its app's credentials.

    A base for anything that stands in for Pusher in tests: subclasses set
    ``host``, ``port``, ``app_id``, ``key`` and ``secret``, and get the client
    options and the Django settings that point at them.
    """

    host: str
    port: int
    app_id: str
    key: str
    secret: str

    def client_options(self, **extra: Any) -> dict[str, Any]:
        """Keyword arguments for :class:`pusher.Pusher` aimed at this API (*extra* override)."""
        return {
            "app_id": self.app_id,
            "key": self.key,
            "secret": self.secret,
            "host": self.host,
            "port": self.port,
            "ssl": False,
            **extra,
        }

    def settings(self) -> dict[str, Any]:
        """``PUSHER_*`` settings aimed at this API, for ``override_settings(**...)``."""
        return {
            "PUSHER_APP_ID": self.app_id,
            "PUSHER_KEY": self.key,
            "PUSHER_SECRET": self.secret,
            "PUSHER_HOST": self.host,
            "PUSHER_PORT": self.port,
            "PUSHER_SSL": False,
        }


@dataclass
class RunningServer(PusherEndpoint):
    """A server started by :func:`run_server`."""

    host: str
    port: int
    app_id: str
    key: str
    secret: str
    process: subprocess.Popen[str] = field(repr=False)
    log_path: Path = field(repr=False)

    @property
    def url(self) -> str:
        """Base URL of the HTTP API, e.g. ``http://127.0.0.1:40123``."""
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """WebSocket URL pusher-js connects to (``ws://host:port/app/key``)."""
        return f"ws://{self.host}:{self.port}/app/{self.key}"

    def pusher_client(self, **options: Any) -> Any:
        """A :class:`pusher.Pusher` configured for this server (*options* override)."""
        import pusher

        return pusher.Pusher(**self.client_options(**options))

    def logs(self) -> str:
        """Everything the server wrote to stderr so far."""
        return self.log_path.read_text(errors="replace")


def server_command(options: dict[str, Any]) -> list[str]:
    """Command line of the server for keyword *options* (``foo_bar=1`` -> ``--foo-bar 1``).

    ``True`` adds the bare flag, ``False``/``None`` leave it out, and a list or tuple
    repeats it.
    """
    command = [sys.executable, "-m", "pusherable.server"]
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if value is None or value is False:
            continue
        if value is True:
            command.append(flag)
        elif isinstance(value, (list, tuple)):
            for item in value:
                command.extend([flag, str(item)])
        else:
            command.extend([flag, str(value)])
    return command


def _pythonpath() -> str:
    # Make the child import this very copy of pusherable, wherever it lives.
    package_parent = str(Path(__file__).resolve().parents[2])
    existing = os.environ.get("PYTHONPATH")
    return package_parent if not existing else os.pathsep.join([package_parent, existing])


def _read_lines(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def _stop(process: subprocess.Popen[str], timeout: float = 10.0) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout)


@contextlib.contextmanager
def run_server(
    *,
    app_id: str = "4242",
    key: str | None = None,
    secret: str | None = None,
    host: str = "127.0.0.1",
    startup_timeout: float = 20.0,
    extra_args: Sequence[str] = (),
    **options: Any,
) -> Iterator[RunningServer]:
    """Start ``python -m pusherable.server`` on a free port and yield a :class:`RunningServer`.

    *options* are server options as keyword arguments (``enable_client_events=True``,
    ``webhook_url=["http://..."]``, ``activity_timeout=2``...). Raise
    :exc:`ServerStartError`, with the server's output, if it isn't ready within
    *startup_timeout* seconds.
    """
    key = key or "key" + secrets.token_hex(8)
    secret = secret or secrets.token_hex(16)
    command = server_command(
        {"host": host, "port": 0, "app_id": app_id, "key": key, "secret": secret, **options}
    )
    command.extend(extra_args)
    env = {**os.environ, "PYTHONPATH": _pythonpath(), "PYTHONUNBUFFERED": "1"}
    with tempfile.TemporaryDirectory(prefix="pusherable-server-") as tmp:
        log_path = Path(tmp) / "server.log"
        with open(log_path, "w") as log_file:
            process = subprocess.Popen(  # noqa: S603 (our own interpreter and options)
                command,
                stdout=subprocess.PIPE,
                stderr=log_file,
                stdin=subprocess.DEVNULL,
                text=True,
                env=env,
            )
        try:
            assert process.stdout is not None
            lines: queue.Queue[str | None] = queue.Queue()
            threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True).start()
            url = _wait_ready(process, lines, log_path, startup_timeout)
            port = int(url.rsplit(":", 1)[1])
            yield RunningServer(host, port, app_id, key, secret, process, log_path)
        finally:
            _stop(process)
            if process.stdout is not None:
                process.stdout.close()


def _wait_ready(
    process: subprocess.Popen[str],
    lines: queue.Queue[str | None],
    log_path: Path,
    timeout: float,
) -> str:
    deadline = time.monotonic() + timeout
    output: list[str] = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            problem = f"did not print its ready line within {timeout:g} s"
            break
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            continue
        if line is None:
            process.wait(5)
            problem = f"exited with status {process.returncode}"
            break
        output.append(line)
        if line.startswith(_READY_PREFIX):
            return line[len(_READY_PREFIX) :].strip()
    stderr = log_path.read_text(errors="replace")
    raise ServerStartError(
        f"The pusherable server {problem}.\n--- stdout ---\n{''.join(output)}"
        f"--- stderr ---\n{stderr}"
    )
