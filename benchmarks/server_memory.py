"""Memory per idle connection of the bundled server, and side by side with soketi.

Starts ``python -m pusherable.server`` on loopback, measures its resident memory
(``VmRSS``), opens N idle WebSocket connections from several client processes (each
subscribed to one public channel, like a page that listens), measures again,
closes them all and measures once more after a few seconds. With soketi installed
(``--soketi PATH`` to its ``bin/server.js``, or ``SOKETI_SERVER_JS``), does the
same against soketi in the same run and prints the ratios. Linux only (reads /proc).

    python benchmarks/server_memory.py [--connections 5000 20000] [--processes 4]
        [--soketi /tmp/soketi/node_modules/@soketi/soketi/bin/server.js]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pusherable.server.testing import run_server  # noqa: E402

READY = "connected"
KEY = "bench-key"


@dataclass
class Figures:
    baseline_kib: int
    loaded_kib: int
    after_kib: int
    connections: int

    @property
    def per_connection_kib(self) -> float:
        return (self.loaded_kib - self.baseline_kib) / self.connections

    def report(self, name: str) -> str:
        return (
            f"{name}: {self.connections} connections: RSS {self.baseline_kib / 1024:.1f} MiB "
            f"-> {self.loaded_kib / 1024:.1f} MiB -> {self.after_kib / 1024:.1f} MiB after "
            f"they left; {self.per_connection_kib:.1f} KiB per idle connection; after "
            f"leaving {100 * (self.after_kib - self.baseline_kib) / self.baseline_kib:+.0f}% "
            "of the baseline"
        )


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("VmRSS not found")


def raise_file_limit(needed: int) -> None:
    """Raise the open-file limit to *needed* (servers started from here inherit it).

    The hard limit can only go up with privileges (root, CAP_SYS_RESOURCE).
    """
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, needed))
        except (ValueError, OSError):
            raise SystemExit(
                f"the open file limit ({hard}) is below {needed}: raise it first"
            ) from None
        return
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def run_clients(url: str, count: int) -> None:
    """Client process: open *count* connections, say so, wait for stdin to close."""
    import aiohttp

    async def main() -> None:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            sockets = []

            async def one(i: int) -> aiohttp.ClientWebSocketResponse:
                ws = await session.ws_connect(url, autoping=True)
                await ws.receive()
                channel = f"idle-{i % 100}"
                await ws.send_json({"event": "pusher:subscribe", "data": {"channel": channel}})
                await ws.receive()
                return ws

            for start in range(0, count, 200):
                batch = range(start, min(start + 200, count))
                sockets.extend(await asyncio.gather(*(one(i) for i in batch)))
            print(READY, flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
            await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)

    asyncio.run(main())


def measure(pid: int, ws_url: str, connections: int, processes: int, settle: float) -> Figures:
    """Open *connections* idle sockets to the server *pid*, then close them."""
    time.sleep(1.0)
    baseline = rss_kib(pid)
    clients: list[subprocess.Popen[str]] = []
    per_process = -(-connections // processes)
    remaining = connections
    try:
        for _ in range(processes):
            count = min(per_process, remaining)
            remaining -= count
            clients.append(
                subprocess.Popen(
                    [sys.executable, __file__, "--client", ws_url, str(count)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        for client in clients:
            assert client.stdout is not None
            line = client.stdout.readline().strip()
            if line != READY:
                raise SystemExit(f"a client process failed: {line!r}")
        time.sleep(1.0)
        loaded = rss_kib(pid)
    finally:
        for client in clients:
            if client.stdin:
                client.stdin.close()
        for client in clients:
            try:
                client.wait(60)
            except subprocess.TimeoutExpired:
                client.kill()
                client.wait(10)
    time.sleep(settle)  # closes are handled, the reaper's next pass returns memory
    return Figures(baseline, loaded, rss_kib(pid), connections)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def run_soketi(server_js: str) -> Iterator[tuple[int, str]]:
    """Start soketi on 127.0.0.1 with one app; yield its PID and WebSocket URL."""
    port = free_port()
    env = {
        **os.environ,
        "SOKETI_HOST": "127.0.0.1",
        "SOKETI_PORT": str(port),
        "SOKETI_DEFAULT_APP_ID": "1",
        "SOKETI_DEFAULT_APP_KEY": KEY,
        "SOKETI_DEFAULT_APP_SECRET": "bench-secret",
        "SOKETI_METRICS_ENABLED": "false",
        # Its default per-app connection limit is unlimited (-1); say so anyway.
        "SOKETI_DEFAULT_APP_MAX_CONNS": "-1",
    }
    node = shutil.which("node") or "node"
    process = subprocess.Popen(
        [node, server_js, "start"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("soketi did not start")
            time.sleep(0.2)
        yield process.pid, f"ws://127.0.0.1:{port}/app/{KEY}?protocol=7"
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, nargs="+", default=[5_000, 20_000])
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument(
        "--soketi",
        default=os.environ.get("SOKETI_SERVER_JS"),
        help="path to soketi's bin/server.js, to measure it side by side",
    )
    parser.add_argument("--settle", type=float, default=8.0, help=argparse.SUPPRESS)
    parser.add_argument("--client", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        raise_file_limit(int(args.client[1]) + 100)
        run_clients(args.client[0], int(args.client[1]))
        return
    raise_file_limit(max(args.connections) + 1000)
    if args.soketi and not Path(args.soketi).is_file():
        raise SystemExit(f"no soketi at {args.soketi}")
    if not args.soketi:
        print("soketi not given (--soketi or SOKETI_SERVER_JS): measuring ours only")
    for connections in args.connections:
        # A fresh process per size; the activity timeout is long so that no pings
        # run during the measurement.
        with run_server(log_level="warning", activity_timeout=600) as server:
            ours = measure(
                server.process.pid,
                server.ws_url + "?protocol=7",
                connections,
                args.processes,
                args.settle,
            )
        print(ours.report("pusherable"), flush=True)
        if args.soketi:
            with run_soketi(args.soketi) as (pid, url):
                theirs = measure(pid, url, connections, args.processes, args.settle)
            print(theirs.report("soketi    "), flush=True)
            print(
                f"ratio at {connections}: "
                f"{ours.per_connection_kib / theirs.per_connection_kib:.2f}x soketi's "
                "memory per connection",
                flush=True,
            )


if __name__ == "__main__":
    main()
