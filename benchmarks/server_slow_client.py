"""A subscriber that stops reading: what a healthy subscriber and the HTTP API see.

Starts the bundled server on loopback with default settings, subscribes one
healthy client (aiohttp, reads everything) and one silent client (a raw socket
with a 4 KiB receive buffer that reads the first 4 MB, then never reads again) to the same
channel, then triggers batches of ten 9 KiB events with the ``pusher`` library.
Prints the slowest HTTP API call, the longest wait of the healthy subscriber for
an event, whether it got every event exactly once, and how long the server took
to drop the silent client (its ``subscription_count`` going from 2 to 1).

    python benchmarks/server_slow_client.py [--batches 150] [--read-first 4000000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pusherable.server.testing import run_server  # noqa: E402
from tests.server.raw_clients import SilentSubscriber  # noqa: E402

CHANNEL = "slow-bench"


async def scenario(server, batches: int, read_first: int) -> None:  # type: ignore[no-untyped-def]
    import aiohttp

    client = server.pusher_client(timeout=15)
    loop = asyncio.get_running_loop()
    arrivals: dict[str, float] = {}
    counts: Counter[str] = Counter()
    async with aiohttp.ClientSession() as session:
        healthy = await session.ws_connect(server.ws_url + "?protocol=7")
        await healthy.receive_json()
        await healthy.send_json({"event": "pusher:subscribe", "data": {"channel": CHANNEL}})
        await healthy.receive_json()
        silent = await loop.run_in_executor(
            None, SilentSubscriber, server.host, server.port, server.key, CHANNEL
        )

        async def read_healthy() -> None:
            async for message in healthy:
                frame = json.loads(message.data)
                if frame.get("event") == "bench":
                    event_id = json.loads(frame["data"])["id"]
                    arrivals.setdefault(event_id, time.perf_counter())
                    counts[event_id] += 1

        reader = asyncio.create_task(read_healthy())
        # The silent client reads the first --read-first bytes, then stalls for good.
        silent_reader = loop.run_in_executor(None, silent.read_then_stop, read_first)
        sent_at: dict[str, float] = {}
        api_times: list[float] = []
        api_failures = 0
        dropped_after: float | None = None
        start = time.perf_counter()
        filler = "x" * 9000
        for batch_number in range(batches):
            batch = []
            for i in range(10):
                event_id = f"{batch_number}-{i}"
                data = json.dumps({"id": event_id, "filler": filler})
                batch.append({"channel": CHANNEL, "name": "bench", "data": data})
            began = time.perf_counter()
            for item in batch:
                sent_at[json.loads(item["data"])["id"]] = began
            try:
                await loop.run_in_executor(None, client.trigger_batch, batch)
            except Exception as error:  # the timeout of a stalled request
                api_failures += 1
                print(f"batch {batch_number}: {type(error).__name__}: {error}"[:160])
            api_times.append(time.perf_counter() - began)
            if dropped_after is None:
                info = await loop.run_in_executor(
                    None, lambda: client.channel_info(CHANNEL, ["subscription_count"])
                )
                if info.get("subscription_count") == 1:
                    dropped_after = time.perf_counter() - start
        deadline = time.perf_counter() + 20
        while len(arrivals) < len(sent_at) and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        reader.cancel()
        silent.close()
        await silent_reader
        await healthy.close()
    waits = [arrivals[event_id] - sent_at[event_id] for event_id in arrivals]
    missing = len(sent_at) - len(arrivals)
    duplicates = sum(1 for count in counts.values() if count > 1)
    total = sum(api_times)
    print(f"batches: {batches} x 10 events of 9 KiB, {api_failures} API calls failed")
    print(f"slowest HTTP API call: {max(api_times):.3f} s (all calls: {total:.1f} s)")
    print(f"longest wait of the healthy subscriber: {max(waits, default=float('nan')):.3f} s")
    print(f"healthy subscriber: {missing} events missing, {duplicates} received twice")
    if dropped_after is None:
        print("silent client: never dropped")
    else:
        print(f"silent client dropped after {dropped_after:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=150)
    parser.add_argument(
        "--read-first",
        type=int,
        default=4_000_000,
        help="bytes the silent client reads before it stops reading (default %(default)s)",
    )
    args = parser.parse_args()
    with run_server(log_level="warning") as server:
        asyncio.run(scenario(server, args.batches, args.read_first))


if __name__ == "__main__":
    main()
