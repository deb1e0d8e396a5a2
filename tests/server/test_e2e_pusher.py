"""End-to-end: ``python -m pusherable.server`` driven by the real ``pusher`` library."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from typing import Any

import aiohttp
import pusher
import pytest
from pusher.aiohttp import AsyncIOBackend
from pusher.errors import PusherBadAuth, PusherBadRequest, PusherBadStatus

from pusherable.server.testing import RunningServer, run_server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server() -> Any:
    with run_server() as running:
        yield running


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.mark.parametrize("backend", ["requests", "aiohttp"])
def test_every_http_api_error_status(server: RunningServer, backend: str) -> None:
    options: dict[str, Any] = {"backend": AsyncIOBackend} if backend == "aiohttp" else {}
    wrap = run if backend == "aiohttp" else (lambda value: value)
    client = server.pusher_client(**options)
    assert wrap(client.trigger("a", "e", {"ok": True})) == {}
    # 401: signed with the wrong secret.
    with pytest.raises(PusherBadAuth, match="Invalid signature"):
        wrap(server.pusher_client(secret="wrong", **options).trigger("a", "e", {}))
    # 400: event names the server reserves, too many events in a batch, bad info.
    with pytest.raises(PusherBadRequest, match="reserved"):
        wrap(client.trigger("a", "pusher:internal", {}))
    with pytest.raises(PusherBadRequest, match="at most 10"):
        wrap(client.trigger_batch([{"channel": "a", "name": "e", "data": "x"}] * 11))
    with pytest.raises(PusherBadRequest, match="presence"):
        wrap(client.users_info("private-a"))
    with pytest.raises(PusherBadRequest, match="user_count"):
        wrap(client.channels_info(attributes=["user_count"]))
    # 413: data the library lets through (it measures sys.getsizeof) but over 10 KB.
    with pytest.raises(PusherBadStatus, match="413"):
        wrap(client.trigger("a", "e", "x" * 20_000))
    # 404: an app id this server doesn't have.
    with pytest.raises(PusherBadStatus, match="404"):
        wrap(server.pusher_client(app_id="999", **options).trigger("a", "e", {}))


def test_unknown_key_is_401_with_a_json_body(server: RunningServer) -> None:
    # (403, for disabled apps, which the command line never serves, is covered by the
    # HTTP API unit tests.)
    with pytest.raises(PusherBadAuth) as raised:
        pusher.Pusher(
            app_id=server.app_id,
            key="other-key",
            secret=server.secret,
            host=server.host,
            port=server.port,
            ssl=False,
        ).channels_info()
    assert json.loads(str(raised.value)) == {"error": "Unknown auth_key", "code": 401}


def test_terminate_user_connections_path(server: RunningServer) -> None:
    # pusher 3.3.4 posts to /users/{id}/terminate_connections without /apps/{id}.
    assert server.pusher_client().terminate_user_connections("nobody") == {}
    assert run(server.pusher_client(backend=AsyncIOBackend).terminate_user_connections("x")) == {}


async def _ws_session(server: RunningServer) -> None:
    client = server.pusher_client()
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(server.ws_url + "?protocol=7")
        established = json.loads((await ws.receive_json())["data"])
        socket_id = established["socket_id"]
        auth = client.authenticate(channel="private-hooks", socket_id=socket_id)
        await ws.send_json(
            {
                "event": "pusher:subscribe",
                "data": {"channel": "private-hooks", "auth": auth["auth"]},
            }
        )
        assert (await ws.receive_json())["event"] == "pusher_internal:subscription_succeeded"
        await ws.send_json({"event": "client-ping", "channel": "private-hooks", "data": {"a": 1}})
        await ws.send_json({"event": "pusher:unsubscribe", "data": {"channel": "private-hooks"}})
        await ws.close()


def test_webhooks_validate_with_the_pusher_library(webhook_receiver: Any) -> None:
    with run_server(webhook_url=[webhook_receiver.url], enable_client_events=True) as server:
        run(_ws_session(server))
        events = webhook_receiver.events(3)
    assert webhook_receiver.seen
    for request in webhook_receiver.seen:
        validated = server.pusher_client().validate_webhook(
            key=request.headers["X-Pusher-Key"],
            signature=request.headers["X-Pusher-Signature"],
            body=request.body.decode(),
        )
        assert validated is not None
    names = [event["name"] for event in events]
    assert names == ["channel_occupied", "client_event", "channel_vacated"]
    client_event = events[1]
    assert client_event["event"] == "client-ping"
    assert json.loads(client_event["data"]) == {"a": 1}
    assert "user_id" not in client_event


def test_webhook_requests_are_signed(webhook_receiver: Any) -> None:
    with run_server(webhook_url=[webhook_receiver.url]) as server:

        async def occupy() -> None:
            async with aiohttp.ClientSession() as session:
                ws = await session.ws_connect(server.ws_url)
                await ws.receive_json()
                await ws.send_json({"event": "pusher:subscribe", "data": {"channel": "pub"}})
                await ws.receive_json()
                await ws.close()

        run(occupy())
        request = webhook_receiver.requests.get(timeout=10)
        validated = server.pusher_client().validate_webhook(
            key=request.headers["X-Pusher-Key"],
            signature=request.headers["X-Pusher-Signature"],
            body=request.body.decode(),
        )
        assert validated is not None
        assert validated["events"][0] == {"name": "channel_occupied", "channel": "pub"}
        # A tampered body or another secret does not validate.
        assert (
            server.pusher_client().validate_webhook(
                key=request.headers["X-Pusher-Key"],
                signature=request.headers["X-Pusher-Signature"],
                body=request.body.decode().replace("pub", "pvb"),
            )
            is None
        )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signals_shut_down_cleanly_and_clients_get_4200(signum: int) -> None:
    with run_server() as server:

        async def scenario() -> tuple[dict[str, Any], int | None]:
            async with aiohttp.ClientSession() as session:
                ws = await session.ws_connect(server.ws_url)
                await ws.receive_json()
                os.kill(server.process.pid, signum)
                frame = await ws.receive_json(timeout=10)
                await ws.receive(timeout=10)
                return frame, ws.close_code

        frame, code = run(scenario())
        assert server.process.wait(10) == 0
        assert "shutting down" in server.logs()
    assert frame["event"] == "pusher:error"
    assert frame["data"]["code"] == 4200
    assert code == 4200


def test_settings_and_client_options_point_at_the_server(server: RunningServer) -> None:
    from django.test import override_settings

    from pusherable.pusher_client import get_client

    with override_settings(**server.settings()):
        assert get_client().trigger("a", "e", {"ok": True}) == {}
    assert server.client_options()["port"] == server.port
    with pytest.raises(PusherBadAuth, match="Invalid signature"):
        pusher.Pusher(**server.client_options(secret="wrong")).trigger("a", "e", {})
