"""Memory of the bundled server per idle connection, at 10,000 connections.

Starts ``python -m pusherable.server`` on loopback, measures its resident memory
(``VmRSS``), opens N idle WebSocket connections from several client processes (each
connection subscribed to one public channel, like a page that listens), measures
again and prints the difference per connection. Linux only (reads /proc).

    python benchmarks/server_memory.py [--connections 10000] [--processes 4]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pusherable.server.testing import run_server  # noqa: E402

READY = "connected"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("VmRSS not found")


def raise_file_limit(needed: int) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise SystemExit(f"the open file limit ({hard}) is below {needed}: raise it first")
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--client", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        raise_file_limit(int(args.client[1]) + 100)
        run_clients(args.client[0], int(args.client[1]))
        return
    raise_file_limit(args.connections + 1000)
    per_process = -(-args.connections // args.processes)
    clients: list[subprocess.Popen[str]] = []
    # The activity timeout is long so that no pings run during the measurement.
    with run_server(log_level="warning", activity_timeout=600) as server:
        try:
            time.sleep(0.5)
            before = rss_kib(server.process.pid)
            url = server.ws_url + "?protocol=7"
            remaining = args.connections
            for _ in range(args.processes):
                count = min(per_process, remaining)
                remaining -= count
                clients.append(
                    subprocess.Popen(
                        [sys.executable, __file__, "--client", url, str(count)],
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        text=True,
                    )
                )
            deadline = time.monotonic() + 300
            for client in clients:
                assert client.stdout is not None
                line = client.stdout.readline().strip()
                if line != READY or time.monotonic() > deadline:
                    raise SystemExit(f"a client process failed: {line!r}\n{server.logs()}")
            time.sleep(1.0)
            after = rss_kib(server.process.pid)
        finally:
            for client in clients:
                if client.stdin:
                    client.stdin.close()
            for client in clients:
                try:
                    client.wait(30)
                except subprocess.TimeoutExpired:
                    client.kill()
                    client.wait(10)
    per_connection = (after - before) * 1024 / args.connections
    print(f"connections: {args.connections} from {args.processes} client processes")
    print(f"server RSS before: {before / 1024:.1f} MiB, after: {after / 1024:.1f} MiB")
    print(f"memory per idle connection: {per_connection / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
