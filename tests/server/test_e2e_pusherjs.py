"""End-to-end: real pusher-js (Node) and the real ``pusher`` library against the server."""

from __future__ import annotations

import asyncio
import base64
import secrets
import time
from typing import Any

import pusher.crypto
import pytest
from pusher.aiohttp import AsyncIOBackend

from pusherable.server.testing import run_server

pytestmark = [pytest.mark.e2e, pytest.mark.node]


class Caller:
    """Calls a pusher client's methods whichever its backend (sync or asyncio)."""

    def __init__(self, client: Any, is_async: bool) -> None:
        self.client = client
        self.is_async = is_async

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            return asyncio.run(result) if self.is_async else result

        return call


@pytest.fixture(params=["requests", "aiohttp"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def make_caller(server: Any, backend: str, **options: Any) -> Caller:
    if backend == "aiohttp":
        return Caller(server.pusher_client(backend=AsyncIOBackend, **options), True)
    return Caller(server.pusher_client(**options), False)


def test_subscriptions_and_events(node: Any, backend: str) -> None:
    with run_server() as server:
        client = make_caller(server, backend)
        run = node("channels", server)
        ready = run.read("ready")
        assert ready["subscribed"] == [True, True, True]
        assert ready["denied"]["ok"] is False
        assert ready["denied"]["error"]["type"] == "AuthError"
        assert ready["denied"]["error"]["status"] == 401
        # A numeric user_id is accepted and pusher-js finds itself in the members.
        assert ready["presence"]["count"] == 1
        assert ready["presence"]["me"] == {"id": 7, "info": {"name": "Ann"}}

        socket_id = ready["socket_id"]
        channels = ["public-room", "private-room", "presence-room"]
        client.trigger(channels, "greet", {"n": 1})
        client.trigger("public-room", "excluded", {"n": 2}, socket_id=socket_id)
        client.trigger_batch(
            [
                {"channel": "private-room", "name": "batched", "data": {"n": 3}},
                {"channel": "public-room", "name": "batched", "data": "plain string"},
            ]
        )
        info = client.channel_info("presence-room", ["user_count", "subscription_count"])
        assert info == {"occupied": True, "user_count": 1, "subscription_count": 1}
        assert client.users_info("presence-room") == {"users": [{"id": "7"}]}
        listed = client.channels_info(prefix_filter="presence-", attributes=["user_count"])
        assert listed == {"channels": {"presence-room": {"user_count": 1}}}
        client.trigger("public-room", "done", {})

        events = run.read("result")["events"]
        run.finish()
    assert events == [
        {"channel": "public-room", "event": "greet", "data": {"n": 1}},
        {"channel": "private-room", "event": "greet", "data": {"n": 1}},
        {"channel": "presence-room", "event": "greet", "data": {"n": 1}},
        {"channel": "private-room", "event": "batched", "data": {"n": 3}},
        {"channel": "public-room", "event": "batched", "data": "plain string"},
        {"channel": "public-room", "event": "done", "data": {}},
    ]


def test_presence_two_tabs_of_one_user(node: Any, webhook_receiver: Any) -> None:
    with run_server(webhook_url=[webhook_receiver.url]) as server:
        client = server.pusher_client()
        run = node("presence", server)
        ready = run.read("ready")
        ann = {"id": "ann", "info": {"name": "Ann"}}
        bob = {"id": "bob", "info": {"name": "Bob"}}
        assert ready["second"] == {"count": 2, "me": ann, "members": [ann, bob]}
        assert ready["watcher"]["count"] == 2
        assert client.users_info("presence-doc") == {"users": [{"id": "bob"}, {"id": "ann"}]}
        info = client.channel_info("presence-doc", ["user_count", "subscription_count"])
        assert info == {"occupied": True, "user_count": 2, "subscription_count": 3}

        run.send()  # close the second tab
        deadline = time.monotonic() + 10
        while (
            client.channel_info("presence-doc", ["subscription_count"])["subscription_count"] != 2
        ):
            assert time.monotonic() < deadline, "the second tab never left"
            time.sleep(0.05)
        run.send()  # the first tab leaves
        result = run.read("result")
        run.finish()
        events = webhook_receiver.events(4)

    # One member_added and one member_removed for two tabs.
    assert result["seen"] == [["added", "ann", {"name": "Ann"}], ["removed", "ann"]]
    assert result["after_one_tab"]["count"] == 2
    assert result["final"] == {"count": 1, "me": bob, "members": [bob]}
    names = [(event["name"], event.get("user_id")) for event in events]
    assert names[:4] == [
        ("channel_occupied", None),
        ("member_added", "bob"),
        ("member_added", "ann"),
        ("member_removed", "ann"),
    ]


def test_client_events(node: Any) -> None:
    with run_server(enable_client_events=True) as server:
        run = node("client_events", server)
        result = run.read("result")
        run.finish()
    bob_got = result["bob_got"]
    assert bob_got[0] == {
        "channel": "presence-chat",
        "event": "client-typing",
        "data": {"text": "hi"},
        "meta": {"user_id": "alice"},
    }
    assert bob_got[1]["event"] == "client-wave"
    assert bob_got[1]["meta"] == {}
    bursts = [event for event in bob_got if event["event"] == "client-burst"]
    errors = result["alice_errors"]
    # Every burst event was either delivered or refused with 4301; with the typing and
    # wave events, at most 10 fit in one second (8 unless the machine stalled > 1 s).
    assert len(bursts) + len(errors) == 15
    assert 1 <= len(bursts) <= 10
    assert [event["data"]["i"] for event in bursts] == list(range(len(bursts)))
    assert {error["code"] for error in errors} == {4301}
    # Never echoed to the sender.
    assert result["alice_got"] == ["client-reply"]


def test_signin_send_to_user_and_terminate(node: Any, backend: str) -> None:
    with run_server() as server:
        client = make_caller(server, backend)
        run = node("signin", server)
        ready = run.read("ready")
        assert ready["user_data"] == {"id": "user-42", "user_info": {"name": "Ann"}}
        client.send_to_user("user-42", "note", {"text": "for you"})
        assert run.read("notes")["notes"] == [{"text": "for you"}]
        client.terminate_user_connections("user-42")
        result = run.read("result")
        run.finish()
    assert result["final_state"] == "disconnected"
    assert result["states"][-1] == "disconnected"


def test_encrypted_channel_is_forwarded_opaque(node: Any) -> None:
    master_key = secrets.token_bytes(32)
    channel = "private-encrypted-vault"
    shared = base64.b64encode(pusher.crypto.generate_shared_secret(channel.encode(), master_key))
    with run_server() as server:
        client = server.pusher_client(
            encryption_master_key_base64=base64.b64encode(master_key).decode()
        )
        run = node("encrypted", server, shared_secret=shared.decode(), channel=channel)
        assert run.read("ready")["ok"] is True
        client.trigger(channel, "secret", {"code": 1234})
        result = run.read("result")
        run.finish()
    assert result["got"] == [{"code": 1234}]


def test_unknown_key_is_refused_without_retry(node: Any) -> None:
    with run_server() as server:
        run = node("unknown_key", server)
        result = run.read("result")
        run.finish()
    assert [error["error"]["data"]["code"] for error in result["errors"]] == [4001]
    # No reconnection loop: pusher-js stays disconnected.
    assert "connecting" not in result["states"]
    assert result["states"][-1] == "disconnected"
