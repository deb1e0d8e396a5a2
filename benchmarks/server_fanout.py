"""Fan-out of one HTTP-triggered event to N clients: the bundled server vs a bare loop.

Both servers run as subprocesses on loopback in the same run; this process holds
the N WebSocket clients of both. Each round posts one event over HTTP and measures
the time from the trigger to the receipt by the last client. Rounds alternate
between the servers; the script prints the median of each and their ratio.

The bare reference is the smallest aiohttp broadcast: a set of sockets and
``for ws in sockets: await ws.send_str(frame)``.

    python benchmarks/server_fanout.py [--clients 1000] [--rounds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from pusherable.server.signatures import body_md5, sign_request  # noqa: E402
from pusherable.server.testing import run_server  # noqa: E402

BARE_READY = "bare server listening on "


def run_bare_server() -> None:
    """The reference: a bare aiohttp broadcast loop (runs in a subprocess)."""
    sockets: set[web.WebSocketResponse] = set()

    async def websocket(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sockets.add(ws)
        try:
            await ws.send_str('{"event":"pusher:connection_established","data":"{}"}')
            async for _ in ws:
                pass
        finally:
            sockets.discard(ws)
        return ws

    async def broadcast(request: web.Request) -> web.Response:
        body = await request.json()
        frame = json.dumps({"event": body["name"], "channel": "bench", "data": body["data"]})
        for ws in list(sockets):
            await ws.send_str(frame)
        return web.json_response({})

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/app/{key}", websocket)
        app.router.add_post("/broadcast", broadcast)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        _host, port = runner.addresses[0][:2]
        print(f"{BARE_READY}{port}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


class Clients:
    """N WebSocket clients counting the receipts of the current round."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.received = 0
        self.done = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []
        self.sockets: list[aiohttp.ClientWebSocketResponse] = []

    async def connect(self, session: aiohttp.ClientSession, url: str, subscribe: bool) -> None:
        async def one() -> aiohttp.ClientWebSocketResponse:
            ws = await session.ws_connect(url)
            await ws.receive()  # connection_established
            if subscribe:
                await ws.send_str('{"event":"pusher:subscribe","data":{"channel":"bench"}}')
                await ws.receive()  # subscription_succeeded
            return ws

        for start in range(0, self.n, 100):
            batch = await asyncio.gather(*(one() for _ in range(min(100, self.n - start))))
            self.sockets.extend(batch)
        self.tasks = [asyncio.create_task(self.read(ws)) for ws in self.sockets]

    async def read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for _ in ws:
            self.received += 1
            if self.received == self.n:
                self.done.set()

    def reset(self) -> None:
        self.received = 0
        self.done = asyncio.Event()

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*(ws.close() for ws in self.sockets), return_exceptions=True)


async def measure(args: argparse.Namespace, ours: Any, bare_port: int) -> None:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        ours_clients = Clients(args.clients)
        bare_clients = Clients(args.clients)
        await ours_clients.connect(session, ours.ws_url + "?protocol=7", subscribe=True)
        await bare_clients.connect(session, f"ws://127.0.0.1:{bare_port}/app/k", subscribe=False)
        data = json.dumps({"message": "x" * 200})

        async def trigger_ours() -> None:
            body = json.dumps({"name": "tick", "data": data, "channels": ["bench"]}).encode()
            path = f"/apps/{ours.app_id}/events"
            query = {
                "auth_key": ours.key,
                "auth_timestamp": str(int(time.time())),
                "auth_version": "1.0",
                "body_md5": body_md5(body),
            }
            query["auth_signature"] = sign_request(ours.secret, "POST", path, query)
            async with session.post(ours.url + path, params=query, data=body) as response:
                assert response.status == 200, await response.text()

        async def trigger_bare() -> None:
            body = json.dumps({"name": "tick", "data": data})
            async with session.post(f"http://127.0.0.1:{bare_port}/broadcast", data=body) as r:
                assert r.status == 200

        results: dict[str, list[float]] = {"bundled": [], "bare": []}
        plan = [("bundled", ours_clients, trigger_ours), ("bare", bare_clients, trigger_bare)]
        for round_number in range(args.rounds + 2):  # 2 warm-up rounds
            for name, clients, trigger in plan if round_number % 2 else plan[::-1]:
                clients.reset()
                started = time.perf_counter()
                await trigger()
                await asyncio.wait_for(clients.done.wait(), 30)
                elapsed = time.perf_counter() - started
                if round_number >= 2:
                    results[name].append(elapsed)
                await asyncio.sleep(0.05)
        await ours_clients.close()
        await bare_clients.close()

    ours_median = statistics.median(results["bundled"]) * 1000
    bare_median = statistics.median(results["bare"]) * 1000
    print(f"clients: {args.clients}, rounds: {args.rounds} (after 2 warm-up rounds)")
    print(f"bare aiohttp broadcast loop: median {bare_median:.1f} ms")
    print(f"pusherable.server:           median {ours_median:.1f} ms")
    print(f"ratio (pusherable / bare):   {ours_median / bare_median:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--bare-server", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        run_bare_server()
        return
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    bare = subprocess.Popen(
        [sys.executable, __file__, "--bare-server"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert bare.stdout is not None
        line = bare.stdout.readline()
        if not line.startswith(BARE_READY):
            raise SystemExit(f"the bare server did not start: {line!r}")
        bare_port = int(line[len(BARE_READY) :])
        with run_server(log_level="warning") as ours:
            asyncio.run(measure(args, ours, bare_port))
    finally:
        bare.terminate()
        bare.wait(10)


if __name__ == "__main__":
    main()
