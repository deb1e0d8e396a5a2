"""Start and stop the pieces of the newsroom demo: shared by ``run.py``, the
browser tests and the screenshot script.

Every process is started with :mod:`subprocess` and stopped by its PID, never
by name. Each runs in a session of its own, so that Ctrl-C in a terminal reaches
the launcher only, which then stops its children in order.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DEMO_DIR",
    "REPO_DIR",
    "DemoSite",
    "demo_env",
    "free_port",
    "manage",
    "port_is_open",
    "prepare_database",
    "running_demo",
    "start_django",
    "stop_process",
    "wait_for_port",
]

DEMO_DIR = Path(__file__).resolve().parent
REPO_DIR = DEMO_DIR.parent
MANAGE = DEMO_DIR / "manage.py"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for_port(
    host: str, port: int, *, timeout: float = 30.0, process: subprocess.Popen | None = None
) -> None:
    """Wait until something accepts connections on ``host:port``.

    :raises RuntimeError: if ``process`` exits first, or nothing listens in time.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(
                f"{' '.join(map(str, process.args))} exited with status {process.returncode}"
            )
        if port_is_open(host, port):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout:.0f} s")


def demo_env(base: Mapping[str, str] | None = None, **values: object) -> dict[str, str]:
    """The environment of the demo's processes: ``DEMO_*`` settings and this checkout first."""
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_DIR), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("DJANGO_SETTINGS_MODULE", None)  # manage.py sets the demo's own
    for name, value in values.items():
        env[f"DEMO_{name.upper()}"] = str(value)
    return env


def manage(*args: str, env: Mapping[str, str], quiet: bool = False) -> None:
    """Run one ``manage.py`` command of the demo to completion.

    :raises RuntimeError: if it fails, with its output when ``quiet`` hid it.
    """
    result = subprocess.run(  # noqa: S603 (a fixed command line)
        [sys.executable, str(MANAGE), *args],
        env=env,
        cwd=REPO_DIR,
        check=False,
        capture_output=quiet,
        text=True,
    )
    if result.returncode:
        output = f":\n{result.stdout}{result.stderr}" if quiet else ""
        raise RuntimeError(f"manage.py {args[0]} exited with status {result.returncode}{output}")


def prepare_database(env: Mapping[str, str], *, quiet: bool = False) -> None:
    """Migrate and seed the demo's database; safe to run on an existing one."""
    manage("migrate", "--no-input", *(["--verbosity=0"] if quiet else []), env=env, quiet=quiet)
    manage("seed_demo", env=env, quiet=quiet)


def start_django(
    host: str, port: int, *, env: Mapping[str, str], quiet: bool = False
) -> subprocess.Popen:
    """Start Django's development server for the demo and wait until it answers."""
    output = subprocess.DEVNULL if quiet else None
    process = subprocess.Popen(  # noqa: S603 (a fixed command line)
        [sys.executable, str(MANAGE), "runserver", "--noreload", f"{host}:{port}"],
        env=env,
        cwd=REPO_DIR,
        stdout=output,
        stderr=output,
        start_new_session=True,
    )
    try:
        wait_for_port(host, port, process=process)
    except BaseException:
        stop_process(process)
        raise
    return process


def stop_process(process: subprocess.Popen, timeout: float = 5.0) -> None:
    """Stop one process we started, by its PID: SIGTERM, then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)


@dataclass(frozen=True)
class DemoSite:
    """A running demo: its address and the Pusher-compatible server behind it."""

    url: str
    server: object  # what pusherable.server.testing.run_server yields


@contextmanager
def running_demo(workdir: Path, *, quiet: bool = True) -> Iterator[DemoSite]:
    """Run the whole demo on free loopback ports with its own database in ``workdir``.

    The bundled server comes from :func:`pusherable.server.testing.run_server`;
    Django's development server is stopped by PID on the way out.
    """
    from pusherable.server.testing import run_server

    host = "127.0.0.1"
    port = free_port(host)
    webhook_url = f"http://{host}:{port}/pusherable/webhook/"
    with run_server(webhook_url=[webhook_url]) as server:
        env = demo_env(
            database=workdir / "demo.sqlite3",
            pusher_host=server.host,
            pusher_port=server.port,
            pusher_app_id=server.app_id,
            pusher_key=server.key,
            pusher_secret=server.secret,
        )
        prepare_database(env, quiet=quiet)
        django = start_django(host, port, env=env, quiet=quiet)
        try:
            yield DemoSite(url=f"http://{host}:{port}", server=server)
        finally:
            stop_process(django)
