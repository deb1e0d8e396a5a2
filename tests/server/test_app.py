"""The aiohttp layer, through aiohttp's test server and client."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import aiohttp
import pusher
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient, TestServer

from pusherable.server.app import SERVER, create_app
from pusherable.server.config import AppConfig, Limits, ServerConfig
from pusherable.server.signatures import body_md5, sign, sign_request
from pusherable.server.webhook_sender import WebhookSender

KEY, SECRET = "key1", "secret1"


def config(**options: Any) -> ServerConfig:
    app_options = options.pop("app", {})
    app = AppConfig("11", KEY, SECRET, **app_options)
    return ServerConfig(apps=(app,), **options)


@asynccontextmanager
async def served(cfg: ServerConfig) -> AsyncIterator[TestClient[Any, Any]]:
    client = TestClient(TestServer(create_app(cfg)))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


async def receive_json(ws: aiohttp.ClientWebSocketResponse, timeout: float = 10) -> dict[str, Any]:
    message = await ws.receive(timeout)
    assert message.type is WSMsgType.TEXT, message
    frame = json.loads(message.data)
    if isinstance(frame.get("data"), str):
        with suppress(ValueError):
            frame["data"] = json.loads(frame["data"])
    return frame


async def connect(
    client: TestClient[Any, Any], path: str = f"/app/{KEY}?protocol=7", **kw: Any
) -> tuple[aiohttp.ClientWebSocketResponse, str]:
    ws = await client.ws_connect(path, **kw)
    frame = await receive_json(ws)
    assert frame["event"] == "pusher:connection_established", frame
    return ws, frame["data"]["socket_id"]


async def refused(client: TestClient[Any, Any], path: str, **kw: Any) -> tuple[int, int | None]:
    ws = await client.ws_connect(path, **kw)
    frame = await receive_json(ws)
    assert frame["event"] == "pusher:error"
    close = await ws.receive(10)
    assert close.type is WSMsgType.CLOSE
    return frame["data"]["code"], ws.close_code


async def api(
    client: TestClient[Any, Any], method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    raw = b"" if body is None else json.dumps(body).encode()
    query = {
        "auth_key": KEY,
        "auth_timestamp": str(int(time.time())),
        "auth_version": "1.0",
        "body_md5": body_md5(raw),
    }
    query["auth_signature"] = sign_request(SECRET, method, path, query)
    response = await client.request(method, path, params=query, data=raw)
    return response.status, await response.json()


def test_handshake_subscribe_and_trigger() -> None:
    async def scenario() -> None:
        async with served(config()) as client:
            ws, socket_id = await connect(client)
            await ws.send_json(
                {"event": "pusher:subscribe", "data": {"auth": "", "channel": "news"}}
            )
            assert (await receive_json(ws))["event"] == "pusher_internal:subscription_succeeded"
            status, body = await api(
                client,
                "POST",
                "/apps/11/events",
                {"name": "hello", "data": '{"x":1}', "channels": ["news"]},
            )
            assert (status, body) == (200, {})
            assert await receive_json(ws) == {
                "event": "hello",
                "channel": "news",
                "data": {"x": 1},
            }
            # Excluded socket gets nothing; the next event proves the order.
            await api(
                client,
                "POST",
                "/apps/11/events",
                {"name": "skip", "data": "1", "channels": ["news"], "socket_id": socket_id},
            )
            await api(
                client, "POST", "/apps/11/events", {"name": "next", "data": "2", "channel": "news"}
            )
            assert (await receive_json(ws))["event"] == "next"
            await ws.close()

    asyncio.run(scenario())


def test_refusals_use_the_right_codes() -> None:
    async def scenario() -> None:
        cfg = config(
            allowed_origins=("http://good.example",), app={"limits": Limits(max_connections=1)}
        )
        async with served(cfg) as client:
            assert await refused(client, "/app/unknown") == (4001, 4001)
            assert await refused(client, f"/app/{KEY}?protocol=4") == (4007, 4007)
            assert await refused(
                client, f"/app/{KEY}", headers={"Origin": "http://evil.example"}
            ) == (4009, 4009)
            ws, _ = await connect(client, f"/app/{KEY}", headers={"Origin": "http://good.example"})
            assert await refused(client, f"/app/{KEY}") == (4004, 4004)
            await ws.close()
        async with served(config(app={"enabled": False})) as client:
            assert await refused(client, f"/app/{KEY}") == (4003, 4003)

    asyncio.run(scenario())


def test_bad_frames_keep_the_connection() -> None:
    async def scenario() -> None:
        async with served(config(max_message_size=1000)) as client:
            ws, _ = await connect(client)
            await ws.send_bytes(b"\x00\x01")
            assert (await receive_json(ws))["event"] == "pusher:error"
            await ws.send_str("{not json")
            assert (await receive_json(ws))["data"]["code"] == 4200
            await ws.send_json({"event": "pusher:ping", "data": {}})
            assert (await receive_json(ws))["event"] == "pusher:pong"
            # A WebSocket-level ping is answered too.
            await ws.ping(b"hi")
            # Too large: aiohttp closes with 1009 (message too big), never a 4xxx "refused".
            await ws.send_str("x" * 2000)
            message = await ws.receive(10)
            while message.type is WSMsgType.PONG:
                message = await ws.receive(10)
            assert message.type is WSMsgType.CLOSE
            assert ws.close_code == 1009

    asyncio.run(scenario())


def test_plain_http_get_and_health_and_prefix() -> None:
    async def scenario() -> None:
        async with served(config(path_prefix="/ws")) as client:
            response = await client.get(f"/ws/app/{KEY}")
            assert response.status == 400
            assert (await response.json())["code"] == 400
            assert (await client.get(f"/app/{KEY}")).status == 404
            assert (await (await client.get("/up")).json()) == {"ok": True}
            ws, _ = await connect(client, f"/ws/app/{KEY}")
            await ws.close()

    asyncio.run(scenario())


def test_dead_connections_are_pinged_then_closed() -> None:
    async def scenario() -> None:
        async with served(config(activity_timeout=1, pong_timeout=0.5)) as client:
            ws, _ = await connect(client)
            assert (await receive_json(ws))["event"] == "pusher:ping"
            frame = await receive_json(ws)
            assert frame["data"] == {"code": 4201, "message": "Pong reply not received"}
            assert (await ws.receive(10)).type is WSMsgType.CLOSE
            assert ws.close_code == 4201
            server = client.app[SERVER]  # type: ignore[index]
            for _ in range(100):
                if not server.apps["11"].protocol.registry.connections:
                    break
                await asyncio.sleep(0.05)
            assert server.apps["11"].protocol.registry.connections == {}

    asyncio.run(scenario())


def test_disconnect_removes_presence_member() -> None:
    async def scenario() -> None:
        async with served(config()) as client:
            watcher, watcher_id = await connect(client)
            leaver, leaver_id = await connect(client)
            for ws, sid, user in ((watcher, watcher_id, "w"), (leaver, leaver_id, "l")):
                data = json.dumps({"user_id": user})
                auth = f"{KEY}:" + sign(SECRET, f"{sid}:presence-p:{data}")
                await ws.send_json(
                    {
                        "event": "pusher:subscribe",
                        "data": {"channel": "presence-p", "auth": auth, "channel_data": data},
                    }
                )
                assert (await receive_json(ws))[
                    "event"
                ] == "pusher_internal:subscription_succeeded"
            assert (await receive_json(watcher))["event"] == "pusher_internal:member_added"
            await leaver.close()
            frame = await receive_json(watcher)
            assert frame == {
                "event": "pusher_internal:member_removed",
                "channel": "presence-p",
                "data": {"user_id": "l"},
            }
            await watcher.close()

    asyncio.run(scenario())


def test_shutdown_tells_clients_to_reconnect() -> None:
    async def scenario() -> None:
        client = TestClient(TestServer(create_app(config())))
        await client.start_server()
        ws, _ = await connect(client)
        closing = asyncio.ensure_future(client.server.close())
        frame = await receive_json(ws)
        assert frame["data"]["code"] == 4200
        message = await ws.receive(10)
        assert message.type is WSMsgType.CLOSE
        assert ws.close_code == 4200
        await ws.close()
        await closing
        await client.close()

    asyncio.run(scenario())


def test_http_api_body_too_large_and_errors_are_json() -> None:
    async def scenario() -> None:
        async with served(config(max_request_size=100)) as client:
            response = await client.post("/apps/11/events", data=b"x" * 500)
            assert response.status == 413
            assert (await response.json())["code"] == 413
            response = await client.post("/apps/11/events", data=b"{}")
            assert response.status == 401
            assert "auth_key" in (await response.json())["error"]
            response = await client.get("/apps/99/channels")
            assert response.status == 404

    asyncio.run(scenario())


def test_webhooks_are_batched_signed_retried_and_debounced() -> None:
    async def scenario() -> None:
        received: list[tuple[dict[str, str], bytes]] = []
        failures = [1]

        async def receive(request: web.Request) -> web.Response:
            if failures:
                failures.pop()
                return web.Response(status=500)
            received.append((dict(request.headers), await request.read()))
            return web.json_response({})

        hook_app = web.Application()
        hook_app.router.add_post("/hook", receive)
        hook_server = TestServer(hook_app)
        await hook_server.start_server()
        url = str(hook_server.make_url("/hook"))
        app = AppConfig("11", KEY, SECRET, webhook_urls=(url,))
        sender = WebhookSender(app, debounce=0.3, batch_size=10)
        sender.start()
        sender.enqueue({"name": "channel_occupied", "channel": "a"})
        sender.enqueue({"name": "member_added", "channel": "p", "user_id": "1"})
        # Left and came back within the debounce: neither is sent.
        sender.enqueue({"name": "member_removed", "channel": "p", "user_id": "1"})
        sender.enqueue({"name": "member_added", "channel": "p", "user_id": "1"})
        # Left for good: sent after the debounce.
        sender.enqueue({"name": "channel_vacated", "channel": "a"})
        await asyncio.sleep(0.5)
        await sender.close(timeout=10)
        await hook_server.close()

        events = [e for _, body in received for e in json.loads(body)["events"]]
        assert [e["name"] for e in events] == [
            "channel_occupied",
            "member_added",
            "channel_vacated",
        ]
        validator = pusher.Pusher(app_id="11", key=KEY, secret=SECRET)
        for headers, body in received:
            assert headers["Content-Type"] == "application/json"
            checked = validator.validate_webhook(
                key=headers["X-Pusher-Key"],
                signature=headers["X-Pusher-Signature"],
                body=body.decode(),
            )
            assert checked is not None
        assert failures == []  # the first attempt failed and was retried

    asyncio.run(scenario())


def test_slow_client_is_aborted_instead_of_blocking() -> None:
    from pusherable.server.app import Client, Server

    class FakeTransport:
        aborted = False

        def is_closing(self) -> bool:
            return self.aborted

        def get_write_buffer_size(self) -> int:
            return 1_000

        def abort(self) -> None:
            self.aborted = True

    class FakeWebSocket:
        closed = False
        sent: list[bytes] = []

        async def send_frame(self, payload: bytes, opcode: Any) -> None:
            self.sent.append(payload)

    async def scenario() -> None:
        server = Server(config(max_write_buffer=1_004))
        runtime = server.apps["11"]
        ws, transport = FakeWebSocket(), FakeTransport()
        client = Client(ws, transport)  # type: ignore[arg-type]
        runtime.clients["1.1"] = client
        await server.send(runtime, "1.1", client, b"four")  # 1,004 bytes: still fits
        assert ws.sent == [b"four"]
        assert not transport.aborted
        await server.send(runtime, "1.1", client, b"frame")  # 1,005 bytes: too many
        assert ws.sent == [b"four"]
        assert transport.aborted
        assert "1.1" not in runtime.clients

    asyncio.run(scenario())
