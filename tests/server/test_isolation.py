"""A client that stops reading never holds up anyone else (real sockets on loopback)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from pusherable.server.app import SERVER

from .raw_clients import SilentSubscriber
from .test_app import api, config, connect, receive_json, served

CHANNEL = "shared"


async def _subscribe(ws: Any, channel: str = CHANNEL) -> None:
    await ws.send_json({"event": "pusher:subscribe", "data": {"auth": "", "channel": channel}})
    assert (await receive_json(ws))["event"] == "pusher_internal:subscription_succeeded"


def test_a_stalled_subscriber_is_dropped_and_nobody_waits_for_it() -> None:
    async def scenario() -> None:
        # A small budget, so that a few batches are enough to pass it. The silent
        # client first reads 1 MB, which aiohttp's own flow control used to count
        # towards a drain that then waited for it forever.
        async with served(config(max_write_buffer=262_144)) as client:
            loop = asyncio.get_running_loop()
            healthy, _ = await connect(client)
            await _subscribe(healthy)
            assert client.port is not None
            silent = await loop.run_in_executor(
                None, SilentSubscriber, "127.0.0.1", client.port, "key1", CHANNEL
            )
            stalled = loop.run_in_executor(None, silent.read_then_stop, 1_000_000)
            runtime = client.app[SERVER].apps["11"]  # type: ignore[index]
            filler = "x" * 9000
            sent = 0
            try:
                for batch_number in range(100):
                    batch = [
                        {
                            "channel": CHANNEL,
                            "name": "bulk",
                            "data": json.dumps({"n": batch_number * 10 + i, "filler": filler}),
                        }
                        for i in range(10)
                    ]
                    # A liveness bound only: before the fix one of these never answered.
                    status, body = await asyncio.wait_for(
                        api(client, "POST", "/apps/11/batch_events", {"batch": batch}), 30
                    )
                    assert (status, body) == (200, {})
                    sent += 10
                    received = set()
                    while len(received) < 10:
                        frame = await receive_json(healthy)
                        assert frame["event"] == "bulk"
                        number = frame["data"]["n"]
                        assert number // 10 == batch_number and number not in received
                        received.add(number)
                    if silent.socket_id not in runtime.protocol.registry.connections:
                        break
                else:
                    raise AssertionError("the stalled client was never dropped")
            finally:
                await stalled
                silent.close()
            assert silent.socket_id not in runtime.clients
            assert list(runtime.protocol.registry.subscribers(CHANNEL)) != [silent.socket_id]
            assert len(runtime.protocol.registry.subscribers(CHANNEL)) == 1
            # The healthy one carries on.
            status, _ = await api(
                client,
                "POST",
                "/apps/11/events",
                {"name": "after", "data": "1", "channel": CHANNEL},
            )
            assert status == 200
            assert (await receive_json(healthy))["event"] == "after"
            await healthy.close()

    asyncio.run(scenario())


def test_a_silent_client_closed_for_inactivity_does_not_linger() -> None:
    async def scenario() -> None:
        # It neither reads nor answers pings: the pong timeout must end it even
        # though its close frame can never be delivered.
        # The write budget is large, so that what it holds is megabytes more than
        # the kernel's socket buffers take: a plain close would wait for them.
        cfg = config(activity_timeout=1, pong_timeout=0.5, max_write_buffer=16_777_216)
        async with served(cfg) as client:
            loop = asyncio.get_running_loop()
            assert client.port is not None
            silent = await loop.run_in_executor(
                None, SilentSubscriber, "127.0.0.1", client.port, "key1", CHANNEL
            )
            healthy, _ = await connect(client)
            await _subscribe(healthy)
            event = {"channel": CHANNEL, "name": "bulk", "data": "y" * 9000}
            for _ in range(80):  # 7 MB while it isn't reading
                # The healthy client stays active, as pusher-js does when pinged.
                await healthy.send_json({"event": "pusher:ping"})
                status, _ = await api(
                    client, "POST", "/apps/11/batch_events", {"batch": [event] * 10}
                )
                assert status == 200
                events = [(await receive_json(healthy))["event"] for _ in range(11)]
                assert sorted(events) == ["bulk"] * 10 + ["pusher:pong"]
            registry = client.app[SERVER].apps["11"].protocol.registry  # type: ignore[index]
            assert client.server.runner is not None
            handlers = client.server.runner.server
            assert handlers is not None
            silent_address = silent.sock.getsockname()
            try:
                for _ in range(400):  # liveness bound: 20 s
                    # Gone from the registry *and* its socket really closed: a
                    # transport still holding unread bytes would never finish closing.
                    if silent.socket_id not in registry.connections and not any(
                        handler.transport is not None
                        and handler.transport.get_extra_info("peername") == silent_address
                        for handler in handlers.connections
                    ):
                        break
                    await healthy.send_json({"event": "pusher:ping"})
                    assert (await receive_json(healthy))["event"] == "pusher:pong"
                    await asyncio.sleep(0.05)
                else:
                    raise AssertionError("the silent client was never closed")
            finally:
                silent.close()
            await healthy.close()

    asyncio.run(scenario())
