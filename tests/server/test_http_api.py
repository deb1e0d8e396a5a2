"""The HTTP API as pure functions: authentication, validation, status codes."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from pusherable.server.actions import Close, Publish
from pusherable.server.config import AppConfig, Limits, ServerConfig
from pusherable.server.http_api import ApiResponse, handle_request, match_route
from pusherable.server.protocol import AppProtocol
from pusherable.server.registry import Registry
from pusherable.server.signatures import body_md5, sign, sign_request

KEY, SECRET, NOW = "the-key", "the-secret", 1_700_000_000


def make(**app_options: Any) -> dict[str, AppProtocol]:
    app = AppConfig("7", KEY, SECRET, **app_options)
    protocol = AppProtocol(app, ServerConfig(apps=(app,)), Registry(random.Random(2)))
    return {"7": protocol}


def call(
    apps: dict[str, AppProtocol],
    method: str,
    path: str,
    body: Any = b"",
    *,
    params: dict[str, str] | None = None,
    secret: str = SECRET,
    key: str = KEY,
    timestamp: int = NOW,
    sign_path: str | None = None,
    drop: tuple[str, ...] = (),
    md5: str | None = None,
) -> ApiResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    query = {
        "auth_key": key,
        "auth_timestamp": str(timestamp),
        "auth_version": "1.0",
        "body_md5": md5 or body_md5(raw),
        **(params or {}),
    }
    query["auth_signature"] = sign_request(secret, method, sign_path or path, query)
    for name in drop:
        query.pop(name, None)
    return handle_request(apps, method, path, query, raw, wall_time=NOW, now=0.0)


def subscribe(protocol: AppProtocol, channel: str, user_id: str | None = None) -> str:
    connection, _ = protocol.connect(0.0)
    if user_id is None:
        data: dict[str, Any] = {
            "channel": channel,
            "auth": f"{KEY}:" + sign(SECRET, f"{connection.socket_id}:{channel}"),
        }
    else:
        channel_data = json.dumps({"user_id": user_id})
        data = {
            "channel": channel,
            "channel_data": channel_data,
            "auth": f"{KEY}:" + sign(SECRET, f"{connection.socket_id}:{channel}:{channel_data}"),
        }
    protocol.receive(connection, json.dumps({"event": "pusher:subscribe", "data": data}), 0.0)
    return connection.socket_id


def test_routes() -> None:
    assert match_route("POST", "/apps/1/events") == ("events", {"app_id": "1"})
    assert match_route("GET", "/apps/1/channels/presence-a/users") == (
        "users",
        {"app_id": "1", "channel": "presence-a"},
    )
    assert match_route("POST", "/users/42/terminate_connections") == (
        "terminate",
        {"user_id": "42"},
    )
    assert match_route("GET", "/apps/1/events") == ("method_not_allowed", {})
    assert match_route("GET", "/nope") is None


def test_trigger_publishes_one_frame_per_channel() -> None:
    apps = make()
    result = call(
        apps,
        "POST",
        "/apps/7/events",
        {"name": "saved", "data": '{"a":1}', "channels": ["a", "b"], "socket_id": "1.2"},
    )
    assert result.status == 200
    assert result.body == {}
    assert result.actions == [
        Publish("a", '{"event":"saved","channel":"a","data":"{\\"a\\":1}"}', "1.2"),
        Publish("b", '{"event":"saved","channel":"b","data":"{\\"a\\":1}"}', "1.2"),
    ]


def test_trigger_single_channel_and_info() -> None:
    apps = make()
    subscribe(apps["7"], "presence-a", "u1")
    result = call(
        apps,
        "POST",
        "/apps/7/events",
        {
            "name": "e",
            "data": "x",
            "channel": "presence-a",
            "info": "user_count,subscription_count",
        },
    )
    assert result.status == 200
    assert result.body == {"channels": {"presence-a": {"user_count": 1, "subscription_count": 1}}}


def test_batch() -> None:
    apps = make()
    result = call(
        apps,
        "POST",
        "/apps/7/batch_events",
        {
            "batch": [
                {"channel": "a", "name": "e", "data": "1"},
                {"channel": "b", "name": "e", "data": "2", "info": "subscription_count"},
            ]
        },
    )
    assert result.status == 200
    assert result.body == {"batch": [{}, {"subscription_count": 0}]}
    assert [a.channel for a in result.actions if isinstance(a, Publish)] == ["a", "b"]


def test_cache_channel_trigger_is_remembered() -> None:
    apps = make()
    call(apps, "POST", "/apps/7/events", {"name": "e", "data": "1", "channels": ["cache-a"]})
    result = call(apps, "GET", "/apps/7/channels/cache-a", params={"info": "cache"})
    assert result.body == {"occupied": False, "cache": {"data": "1", "ttl": 1800}}


def _big(size: int) -> dict[str, Any]:
    return {"name": "e", "data": "x" * size, "channels": ["a"]}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"not json", 400),
        (b"[]", 400),
        ({"data": "x", "channels": ["a"]}, 400),
        ({"name": "e", "channels": ["a"]}, 400),
        ({"name": "e", "data": {"not": "a string"}, "channels": ["a"]}, 400),
        ({"name": "e", "data": "x"}, 400),
        ({"name": "e", "data": "x", "channels": []}, 400),
        ({"name": "e", "data": "x", "channels": [f"c{i}" for i in range(101)]}, 400),
        ({"name": "e", "data": "x", "channels": ["bad name"]}, 400),
        ({"name": "e" * 201, "data": "x", "channels": ["a"]}, 400),
        ({"name": "pusher:x", "data": "x", "channels": ["a"]}, 400),
        ({"name": "pusher_internal:x", "data": "x", "channels": ["a"]}, 400),
        ({"name": "e", "data": "x", "channels": ["private-encrypted-a", "b"]}, 400),
        ({"name": "e", "data": "x", "channels": ["a"], "socket_id": "bad"}, 400),
        ({"name": "e", "data": "x", "channels": ["a"], "info": "user_count"}, 400),
        ({"name": "e", "data": "x", "channels": ["a"], "info": "nope"}, 400),
        (_big(10_240), 200),
        (_big(10_241), 413),
    ],
)
def test_event_validation(body: Any, status: int) -> None:
    result = call(make(), "POST", "/apps/7/events", body)
    assert result.status == status, result.body
    if status != 200:
        assert result.body["code"] == status
        assert isinstance(result.body["error"], str)
        assert result.actions == []


def test_data_size_counts_utf8_bytes() -> None:
    apps = make(limits=Limits(max_event_data_size=4))
    assert (
        call(apps, "POST", "/apps/7/events", {"name": "e", "data": "éé", "channels": ["a"]}).status
        == 200
    )
    assert (
        call(
            apps, "POST", "/apps/7/events", {"name": "e", "data": "ééé", "channels": ["a"]}
        ).status
        == 413
    )


@pytest.mark.parametrize(
    ("batch", "status"),
    [
        ([], 400),
        ([{"channel": "a", "name": "e", "data": "x"}] * 11, 400),
        ([{"channels": ["a"], "name": "e", "data": "x"}], 400),
        ([{"channel": "a", "name": "e", "data": "x" * 10_241}], 413),
    ],
)
def test_batch_validation(batch: Any, status: int) -> None:
    result = call(make(), "POST", "/apps/7/batch_events", {"batch": batch})
    assert result.status == status
    assert result.actions == []


@pytest.mark.parametrize(
    ("options", "status", "message"),
    [
        ({"secret": "wrong"}, 401, "Invalid signature"),
        ({"key": "other"}, 401, "auth_key"),
        ({"timestamp": NOW - 601}, 401, "auth_timestamp"),
        ({"timestamp": NOW + 601}, 401, "auth_timestamp"),
        ({"drop": ("auth_signature",)}, 401, "auth_signature"),
        ({"drop": ("auth_timestamp",)}, 401, "auth_timestamp"),
        ({"md5": "0" * 32}, 401, "body_md5"),
        ({"drop": ("body_md5",)}, 401, "body_md5"),
        ({"params": {"auth_version": "2.0"}}, 401, "auth_version"),
        ({"sign_path": "/apps/7/other"}, 401, "Invalid signature"),
    ],
)
def test_authentication_failures(options: dict[str, Any], status: int, message: str) -> None:
    result = call(
        make(), "POST", "/apps/7/events", {"name": "e", "data": "x", "channels": ["a"]}, **options
    )
    assert result.status == status
    assert message in result.body["error"]


def test_get_signs_body_md5_of_empty_body_and_extra_params() -> None:
    apps = make()
    result = call(
        apps,
        "GET",
        "/apps/7/channels",
        params={"filter_by_prefix": "presence-", "info": "user_count"},
    )
    assert result.status == 200
    assert result.body == {"channels": {}}


def test_timestamp_window_can_be_disabled() -> None:
    apps = make()
    raw = b""
    query = {
        "auth_key": KEY,
        "auth_timestamp": "1",
        "auth_version": "1.0",
        "body_md5": body_md5(raw),
    }
    query["auth_signature"] = sign_request(SECRET, "GET", "/apps/7/channels", query)
    ok = handle_request(
        apps, "GET", "/apps/7/channels", query, raw, wall_time=NOW, now=0.0, timestamp_window=0
    )
    assert ok.status == 200


def test_percent_encoded_path_verifies_both_forms() -> None:
    apps = make()
    path = "/apps/7/channels/presence-a%40b"
    assert call(apps, "GET", path).status == 200
    assert call(apps, "GET", path, sign_path="/apps/7/channels/presence-a@b").status == 200


def test_unknown_app_route_and_method() -> None:
    apps = make()
    assert call(apps, "POST", "/apps/8/events", {}).status == 404
    assert call(apps, "GET", "/apps/7/nothing").status == 404
    assert call(apps, "DELETE", "/apps/7/events").status == 405
    assert call(apps, "POST", "/users/1/terminate_connections", {}, key="unknown").status == 401


def test_disabled_app_is_forbidden() -> None:
    result = call(make(enabled=False), "GET", "/apps/7/channels")
    assert result.status == 403
    assert result.body == {"error": "This app is disabled", "code": 403}


def test_channels_and_channel_info() -> None:
    apps = make()
    protocol = apps["7"]
    subscribe(protocol, "presence-a", "u1")
    subscribe(protocol, "presence-a", "u1")
    subscribe(protocol, "presence-a", "u2")
    subscribe(protocol, "private-b")
    listed = call(apps, "GET", "/apps/7/channels").body
    assert listed == {"channels": {"presence-a": {}, "private-b": {}}}
    listed = call(
        apps,
        "GET",
        "/apps/7/channels",
        params={"filter_by_prefix": "presence-", "info": "user_count"},
    ).body
    assert listed == {"channels": {"presence-a": {"user_count": 2}}}
    assert call(apps, "GET", "/apps/7/channels", params={"info": "user_count"}).status == 400
    assert call(apps, "GET", "/apps/7/channels", params={"info": "bogus"}).status == 400
    info = call(
        apps,
        "GET",
        "/apps/7/channels/presence-a",
        params={"info": "user_count,subscription_count"},
    ).body
    assert info == {"occupied": True, "user_count": 2, "subscription_count": 3}
    assert (
        call(apps, "GET", "/apps/7/channels/private-b", params={"info": "user_count"}).status
        == 400
    )
    assert call(apps, "GET", "/apps/7/channels/empty").body == {"occupied": False}
    assert call(apps, "GET", "/apps/7/channels/bad%20name").status == 400
    users = call(apps, "GET", "/apps/7/channels/presence-a/users").body
    assert users == {"users": [{"id": "u1"}, {"id": "u2"}]}
    assert call(apps, "GET", "/apps/7/channels/presence-none/users").body == {"users": []}
    assert call(apps, "GET", "/apps/7/channels/private-b/users").status == 400


def test_terminate_connections_both_paths() -> None:
    apps = make()
    protocol = apps["7"]
    connection, _ = protocol.connect(0.0)
    protocol.registry.sign_in(connection, "42", '{"id":"42"}')
    for path in ("/apps/7/users/42/terminate_connections", "/users/42/terminate_connections"):
        result = call(apps, "POST", path, {})
        assert result.status == 200
        assert result.body == {}
        assert result.app is protocol
        assert [a.code for a in result.actions if isinstance(a, Close)] == [4009]
