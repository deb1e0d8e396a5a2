"""The WebSocket protocol state machine, without sockets."""

from __future__ import annotations

import contextlib
import json
import random
from typing import Any

import pytest

from pusherable.server.actions import Close, Publish, Send, Webhook
from pusherable.server.config import AppConfig, Limits, ServerConfig
from pusherable.server.protocol import AppProtocol, check_protocol_version
from pusherable.server.registry import Connection, Registry
from pusherable.server.signatures import sign

KEY, SECRET = "app-key", "app-secret"


def make(**app_options: Any) -> AppProtocol:
    limits = app_options.pop("limits", Limits())
    app = AppConfig("1", KEY, SECRET, limits=limits, **app_options)
    return AppProtocol(
        app,
        ServerConfig(apps=(app,), activity_timeout=30, pong_timeout=10),
        Registry(random.Random(1)),
    )


def decode(frame: str) -> dict[str, Any]:
    message = json.loads(frame)
    if isinstance(message.get("data"), str):
        with contextlib.suppress(ValueError):
            message["data"] = json.loads(message["data"])
    return message


def sent(actions: list[Any], connection: Connection | None = None) -> list[dict[str, Any]]:
    return [
        decode(a.frame)
        for a in actions
        if isinstance(a, Send) and (connection is None or a.socket_id == connection.socket_id)
    ]


def webhooks(actions: list[Any]) -> list[dict[str, Any]]:
    return [a.event for a in actions if isinstance(a, Webhook)]


def published(actions: list[Any]) -> list[tuple[str, dict[str, Any], str | None]]:
    return [
        (a.channel, decode(a.frame), a.except_socket_id) for a in actions if isinstance(a, Publish)
    ]


def connect(protocol: AppProtocol, now: float = 0.0) -> Connection:
    connection, _ = protocol.connect(now)
    return connection


def send(
    protocol: AppProtocol, connection: Connection, message: Any, now: float = 1.0
) -> list[Any]:
    text = message if isinstance(message, str) else json.dumps(message)
    return protocol.receive(connection, text, now)


def private_auth(connection: Connection, channel: str, secret: str = SECRET) -> str:
    return f"{KEY}:{sign(secret, f'{connection.socket_id}:{channel}')}"


def join(
    protocol: AppProtocol,
    connection: Connection,
    channel: str,
    user_id: Any,
    info: Any = None,
    raw: str | None = None,
) -> list[Any]:
    member: dict[str, Any] = {"user_id": user_id}
    if info is not None:
        member["user_info"] = info
    channel_data = raw if raw is not None else json.dumps(member, separators=(",", ":"))
    auth = f"{KEY}:{sign(SECRET, f'{connection.socket_id}:{channel}:{channel_data}')}"
    return send(
        protocol,
        connection,
        {
            "event": "pusher:subscribe",
            "data": {"channel": channel, "auth": auth, "channel_data": channel_data},
        },
    )


def test_handshake() -> None:
    protocol = make()
    connection, actions = protocol.connect(0.0)
    [frame] = sent(actions)
    assert frame["event"] == "pusher:connection_established"
    assert frame["data"] == {"socket_id": connection.socket_id, "activity_timeout": 30}
    # The data is double-encoded: a JSON string.
    assert isinstance(json.loads(actions[0].frame)["data"], str)
    left, right = connection.socket_id.split(".")
    assert left.isdigit()
    assert right.isdigit()
    assert connect(protocol).socket_id != connection.socket_id


@pytest.mark.parametrize(
    ("value", "ok"),
    [(None, True), ("", True), ("7", True), ("5", True), ("4", False), ("8", False), ("x", False)],
)
def test_protocol_versions(value: str | None, ok: bool) -> None:
    assert check_protocol_version(value) is ok


@pytest.mark.parametrize("text", ["not json", "[]", '{"data": {}}', '{"event": 1}', "null"])
def test_malformed_frames_are_answered_not_fatal(text: str) -> None:
    protocol = make()
    connection = connect(protocol)
    actions = send(protocol, connection, text)
    [frame] = sent(actions)
    assert frame["event"] == "pusher:error"
    assert frame["data"]["code"] == 4200
    assert not any(isinstance(a, Close) for a in actions)


def test_binary_frames_are_answered_not_fatal() -> None:
    protocol = make()
    connection = connect(protocol)
    actions = protocol.receive_binary(connection, 1.0)
    assert sent(actions)[0]["event"] == "pusher:error"
    assert not any(isinstance(a, Close) for a in actions)


def test_ping_pong_and_unknown_events() -> None:
    protocol = make()
    connection = connect(protocol)
    assert sent(send(protocol, connection, {"event": "pusher:ping", "data": {}})) == [
        {"event": "pusher:pong", "data": {}}
    ]
    assert send(protocol, connection, {"event": "pusher:pong", "data": {}}) == []
    assert send(protocol, connection, {"event": "something-else"}) == []


def test_public_subscription_and_webhooks() -> None:
    protocol = make()
    first, second = connect(protocol), connect(protocol)
    actions = send(
        protocol, first, {"event": "pusher:subscribe", "data": {"auth": "", "channel": "news"}}
    )
    assert sent(actions) == [
        {"event": "pusher_internal:subscription_succeeded", "channel": "news"}
    ]
    assert webhooks(actions) == [{"name": "channel_occupied", "channel": "news"}]
    # Data may also come as a JSON string; a second subscriber doesn't re-occupy.
    actions = send(
        protocol, second, {"event": "pusher:subscribe", "data": json.dumps({"channel": "news"})}
    )
    assert webhooks(actions) == []
    # Idempotent re-subscription.
    actions = send(protocol, first, {"event": "pusher:subscribe", "data": {"channel": "news"}})
    assert sent(actions)[0]["event"] == "pusher_internal:subscription_succeeded"
    assert len(protocol.registry.subscribers("news")) == 2
    assert (
        send(protocol, first, {"event": "pusher:unsubscribe", "data": {"channel": "news"}}) == []
    )
    actions = protocol.disconnect(second)
    assert webhooks(actions) == [{"name": "channel_vacated", "channel": "news"}]
    assert protocol.registry.channels == {}
    # Unsubscribing from a channel one isn't in is a no-op.
    assert send(protocol, first, {"event": "pusher:unsubscribe", "data": {"channel": "x"}}) == []


def test_private_subscription_checks_signature_and_key() -> None:
    protocol = make()
    connection = connect(protocol)
    good = private_auth(connection, "private-a")
    bad_secret = private_auth(connection, "private-a", secret="other")
    wrong_key = "other-key:" + good.split(":", 1)[1]
    for auth in (None, "", bad_secret, wrong_key, private_auth(connection, "private-b")):
        actions = send(
            protocol,
            connection,
            {"event": "pusher:subscribe", "data": {"channel": "private-a", "auth": auth}},
        )
        [frame] = sent(actions)
        assert frame["event"] == "pusher:subscription_error"
        assert frame["channel"] == "private-a"
        assert frame["data"]["type"] == "AuthError"
        assert frame["data"]["status"] == 401
        assert not any(isinstance(a, Close) for a in actions)
    actions = send(
        protocol,
        connection,
        {"event": "pusher:subscribe", "data": {"channel": "private-a", "auth": good}},
    )
    assert sent(actions)[0]["event"] == "pusher_internal:subscription_succeeded"


def test_encrypted_channel_authorizes_like_private() -> None:
    protocol = make()
    connection = connect(protocol)
    channel = "private-encrypted-a"
    actions = send(
        protocol,
        connection,
        {
            "event": "pusher:subscribe",
            "data": {"channel": channel, "auth": private_auth(connection, channel)},
        },
    )
    assert sent(actions)[0]["event"] == "pusher_internal:subscription_succeeded"


@pytest.mark.parametrize(
    ("channel", "kind"),
    [("x" * 201, "LimitReached"), ("bad name", "InvalidChannel"), ("a:b", "InvalidChannel")],
)
def test_bad_channel_names(channel: str, kind: str) -> None:
    protocol = make()
    connection = connect(protocol)
    frame = sent(
        send(protocol, connection, {"event": "pusher:subscribe", "data": {"channel": channel}})
    )[0]
    assert frame["event"] == "pusher:subscription_error"
    assert frame["data"]["type"] == kind
    assert frame["data"]["status"] == 4009


def test_presence_is_per_user_not_per_socket() -> None:
    protocol = make()
    bob, ann1, ann2 = connect(protocol), connect(protocol), connect(protocol)
    join(protocol, bob, "presence-doc", "bob", {"name": "Bob"})
    actions = join(protocol, ann1, "presence-doc", "ann", {"name": "Ann"})
    assert published(actions) == [
        (
            "presence-doc",
            {
                "event": "pusher_internal:member_added",
                "channel": "presence-doc",
                "data": {"user_id": "ann", "user_info": {"name": "Ann"}},
            },
            ann1.socket_id,
        )
    ]
    assert webhooks(actions) == [
        {"name": "member_added", "channel": "presence-doc", "user_id": "ann"}
    ]
    succeeded = sent(actions)[0]
    assert succeeded["data"] == {
        "presence": {
            "ids": ["bob", "ann"],
            "count": 2,
            "hash": {"bob": {"name": "Bob"}, "ann": {"name": "Ann"}},
        }
    }
    # Second tab: no member_added, and the first tab's user_info is kept.
    actions = join(protocol, ann2, "presence-doc", "ann", {"name": "Other"})
    assert published(actions) == []
    assert webhooks(actions) == []
    assert sent(actions)[0]["data"]["presence"]["count"] == 2
    assert sent(actions)[0]["data"]["presence"]["hash"]["ann"] == {"name": "Ann"}
    # First tab leaves: nothing. Last tab leaves: member_removed to the others.
    assert protocol.disconnect(ann1) == []
    actions = send(
        protocol, ann2, {"event": "pusher:unsubscribe", "data": {"channel": "presence-doc"}}
    )
    assert published(actions) == [
        (
            "presence-doc",
            {
                "event": "pusher_internal:member_removed",
                "channel": "presence-doc",
                "data": {"user_id": "ann"},
            },
            None,
        )
    ]
    assert webhooks(actions) == [
        {"name": "member_removed", "channel": "presence-doc", "user_id": "ann"}
    ]
    actions = protocol.disconnect(bob)
    assert webhooks(actions) == [
        {"name": "member_removed", "channel": "presence-doc", "user_id": "bob"},
        {"name": "channel_vacated", "channel": "presence-doc"},
    ]
    assert protocol.registry.channels == {}


def test_presence_numeric_ids_and_missing_user_info() -> None:
    protocol = make()
    a, b = connect(protocol), connect(protocol)
    join(protocol, a, "presence-x", 1)
    actions = join(protocol, b, "presence-x", "1", {"n": 1})
    # 1 and "1" are the same member.
    assert published(actions) == []
    data = sent(actions)[0]["data"]["presence"]
    assert data == {"ids": ["1"], "hash": {"1": None}, "count": 1}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("not json", "user_id"),
        ('{"user_info": {}}', "user_id"),
        ('{"user_id": true}', "user_id"),
        ('{"user_id": "1", "user_info": "text"}', "must be a JSON object"),
        ('{"user_id": ""}', "characters"),
    ],
)
def test_presence_rejects_bad_channel_data(raw: str, message: str) -> None:
    protocol = make()
    connection = connect(protocol)
    frame = sent(join(protocol, connection, "presence-x", None, raw=raw))[0]
    assert frame["event"] == "pusher:subscription_error"
    assert message in frame["data"]["error"]


def test_presence_needs_channel_data() -> None:
    protocol = make()
    connection = connect(protocol)
    auth = private_auth(connection, "presence-x")
    frame = sent(
        send(
            protocol,
            connection,
            {"event": "pusher:subscribe", "data": {"channel": "presence-x", "auth": auth}},
        )
    )[0]
    assert frame["event"] == "pusher:subscription_error"
    assert frame["data"]["type"] == "AuthError"


def test_presence_limits() -> None:
    protocol = make(
        limits=Limits(
            max_presence_members=2, max_presence_user_info_size=60, max_presence_user_id_length=5
        )
    )
    a, b, c, d = (connect(protocol) for _ in range(4))
    join(protocol, a, "presence-x", "a")
    join(protocol, b, "presence-x", "b")
    full = sent(join(protocol, c, "presence-x", "c"))[0]
    assert full["data"] == {
        "type": "LimitReached",
        "status": 4100,
        "error": "The presence channel already has 2 members",
    }
    # An existing member's new tab still fits.
    assert sent(join(protocol, d, "presence-x", "a"))[0]["event"].endswith("succeeded")
    too_long = sent(join(protocol, c, "presence-y", "abcdef"))[0]
    assert too_long["data"]["status"] == 4301
    too_big = sent(join(protocol, c, "presence-y", "a", {"bio": "x" * 60}))[0]
    assert too_big["data"]["type"] == "LimitReached"


def test_signin_and_server_to_user_channel() -> None:
    protocol = make()
    connection, other = connect(protocol), connect(protocol)
    user_data = '{"id":"42","user_info":{"name":"Ann"}}'
    auth = f"{KEY}:{sign(SECRET, f'{connection.socket_id}::user::{user_data}')}"
    # Before signin nobody may join the user's channel.
    denied = sent(
        send(
            protocol,
            other,
            {"event": "pusher:subscribe", "data": {"channel": "#server-to-user-42"}},
        )
    )[0]
    assert denied["event"] == "pusher:subscription_error"
    actions = send(
        protocol,
        connection,
        {"event": "pusher:signin", "data": {"auth": auth, "user_data": user_data}},
    )
    assert sent(actions) == [{"event": "pusher:signin_success", "data": {"user_data": user_data}}]
    # signin_success carries the exact string received.
    assert json.loads(json.loads(actions[0].frame)["data"])["user_data"] == user_data
    ok = sent(
        send(
            protocol,
            connection,
            {"event": "pusher:subscribe", "data": {"channel": "#server-to-user-42"}},
        )
    )[0]
    assert ok["event"] == "pusher_internal:subscription_succeeded"
    assert protocol.registry.user_sockets("42") == [connection.socket_id]
    actions = protocol.terminate_user("42")
    assert [type(a) for a in actions] == [Send, Close]
    assert actions[1].code == 4009
    assert sent(actions)[0]["data"]["code"] == 4009
    protocol.disconnect(connection)
    assert protocol.registry.users == {}
    assert protocol.terminate_user("42") == []


@pytest.mark.parametrize(
    "user_data",
    ['{"id": 42}', '{"name": "x"}', "not json", '{"id": ""}', '{"id": "has space"}'],
)
def test_signin_refused_closes_with_4009(user_data: str) -> None:
    protocol = make()
    connection = connect(protocol)
    auth = f"{KEY}:{sign(SECRET, f'{connection.socket_id}::user::{user_data}')}"
    actions = send(
        protocol,
        connection,
        {"event": "pusher:signin", "data": {"auth": auth, "user_data": user_data}},
    )
    assert sent(actions)[0]["data"]["code"] == 4009
    assert isinstance(actions[-1], Close)
    assert actions[-1].code == 4009


def test_signin_bad_signature() -> None:
    protocol = make()
    connection = connect(protocol)
    actions = send(
        protocol,
        connection,
        {"event": "pusher:signin", "data": {"auth": f"{KEY}:00", "user_data": '{"id":"1"}'}},
    )
    assert isinstance(actions[-1], Close)
    assert actions[-1].code == 4009


def _private(protocol: AppProtocol, connection: Connection, channel: str) -> None:
    send(
        protocol,
        connection,
        {
            "event": "pusher:subscribe",
            "data": {"channel": channel, "auth": private_auth(connection, channel)},
        },
    )


def test_client_events_disabled_by_default() -> None:
    protocol = make()
    connection = connect(protocol)
    _private(protocol, connection, "private-a")
    actions = send(protocol, connection, {"event": "client-x", "channel": "private-a", "data": {}})
    assert sent(actions)[0]["data"]["code"] == 4301
    assert published(actions) == []


def test_client_events_forwarded_to_others_with_user_id_on_presence() -> None:
    protocol = make(client_events=True)
    a, b = connect(protocol), connect(protocol)
    join(protocol, a, "presence-chat", 5)
    join(protocol, b, "presence-chat", "b")
    actions = send(
        protocol,
        a,
        {"event": "client-typing", "channel": "presence-chat", "data": {"t": 1}},
        now=2.0,
    )
    assert published(actions) == [
        (
            "presence-chat",
            {
                "event": "client-typing",
                "channel": "presence-chat",
                "data": {"t": 1},
                "user_id": "5",
            },
            a.socket_id,
        )
    ]
    assert webhooks(actions) == [
        {
            "name": "client_event",
            "channel": "presence-chat",
            "event": "client-typing",
            "data": '{"t":1}',
            "socket_id": a.socket_id,
            "user_id": "5",
        }
    ]


@pytest.mark.parametrize(
    ("channel", "subscribe", "code"),
    [("news", True, 4301), ("private-encrypted-x", True, 4301), ("private-other", False, 4009)],
)
def test_client_events_refused(channel: str, subscribe: bool, code: int) -> None:
    protocol = make(client_events=True)
    connection = connect(protocol)
    if subscribe:
        if channel.startswith("private-"):
            _private(protocol, connection, channel)
        else:
            send(protocol, connection, {"event": "pusher:subscribe", "data": {"channel": channel}})
    actions = send(protocol, connection, {"event": "client-x", "channel": channel, "data": "d"})
    assert published(actions) == []
    assert sent(actions)[0]["data"]["code"] == code


def test_client_event_limits_and_rate() -> None:
    protocol = make(client_events=True, limits=Limits(max_event_data_size=10))
    connection = connect(protocol)
    _private(protocol, connection, "private-a")
    too_big = send(
        protocol, connection, {"event": "client-x", "channel": "private-a", "data": "x" * 11}
    )
    assert sent(too_big)[0]["data"]["code"] == 4301
    too_long = send(protocol, connection, {"event": "client-" + "x" * 200, "channel": "private-a"})
    assert sent(too_long)[0]["data"]["code"] == 4301
    results = [
        bool(
            published(
                send(
                    protocol,
                    connection,
                    {"event": "client-x", "channel": "private-a", "data": "d"},
                    now=10.0 + i * 0.01,
                )
            )
        )
        for i in range(12)
    ]
    assert results == [True] * 10 + [False] * 2
    # A second later the window has moved on.
    assert published(
        send(
            protocol,
            connection,
            {"event": "client-x", "channel": "private-a", "data": "d"},
            now=11.5,
        )
    )


def test_activity_ping_then_close() -> None:
    protocol = make()
    connection = connect(protocol, now=0.0)
    assert protocol.check_activity(connection, 29.0) == []
    actions = protocol.check_activity(connection, 30.0)
    assert sent(actions) == [{"event": "pusher:ping", "data": {}}]
    assert protocol.check_activity(connection, 35.0) == []
    actions = protocol.check_activity(connection, 40.0)
    assert sent(actions)[0]["data"]["code"] == 4201
    assert isinstance(actions[-1], Close)
    assert actions[-1].code == 4201


def test_activity_any_frame_resets() -> None:
    protocol = make()
    connection = connect(protocol, now=0.0)
    protocol.check_activity(connection, 30.0)
    send(protocol, connection, {"event": "pusher:pong"}, now=31.0)
    assert protocol.check_activity(connection, 45.0) == []
    assert (
        protocol.check_activity(connection, 61.0)[0].frame == '{"event":"pusher:ping","data":"{}"}'
    )


def test_over_quota() -> None:
    protocol = make(limits=Limits(max_connections=1))
    assert not protocol.over_quota()
    connect(protocol)
    assert protocol.over_quota()


def test_cache_channel_sends_cached_event_or_miss() -> None:
    protocol = make()
    a, b = connect(protocol), connect(protocol)
    actions = send(protocol, a, {"event": "pusher:subscribe", "data": {"channel": "cache-x"}})
    assert [f["event"] for f in sent(actions)] == [
        "pusher_internal:subscription_succeeded",
        "pusher:cache_miss",
    ]
    assert {"name": "cache_miss", "channel": "cache-x"} in webhooks(actions)
    protocol.registry.remember("cache-x", "ev", '{"v":1}', expires_at=100.0)
    actions = send(protocol, b, {"event": "pusher:subscribe", "data": {"channel": "cache-x"}})
    assert sent(actions)[1] == {"event": "ev", "channel": "cache-x", "data": {"v": 1}}
    assert protocol.registry.cached("cache-x", 100.0) is None
