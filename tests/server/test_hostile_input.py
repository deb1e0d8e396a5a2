"""Hostile input is answered by the protocol: never an exception, a 5xx or a traceback.

Property-based where it fits (hypothesis): random frames against the protocol core,
random signed bodies against the HTTP API core, batches with one bad event. Then a
bounded set of the nastiest cases over real loopback sockets, with the logs
checked for tracebacks, and the Django webhook view's answer to a signed body it
cannot decode.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pusherable.server.actions import Action, Close, Publish, Send, Webhook
from pusherable.server.config import AppConfig, ServerConfig
from pusherable.server.http_api import handle_request
from pusherable.server.messages import parse_json
from pusherable.server.protocol import AppProtocol
from pusherable.server.signatures import body_md5, sign_channel, sign_request
from tests.authz import KEY as DJANGO_KEY
from tests.authz import SECRET as DJANGO_SECRET

from .test_app import api, config, connect, receive_json, served

KEY, SECRET = "key1", "secret1"
DEEP = "[" * 100_000 + "]" * 100_000
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def make_protocol() -> AppProtocol:
    app = AppConfig("11", KEY, SECRET, client_events=True)
    return AppProtocol(app, ServerConfig(apps=(app,)))


def check_actions(actions: list[Action]) -> None:
    """Every frame the core asks to send can go out as UTF-8 and decodes again."""
    for action in actions:
        assert isinstance(action, (Send, Publish, Close, Webhook))
        if isinstance(action, (Send, Publish)):
            json.loads(action.frame.encode("utf-8"))
        if isinstance(action, Webhook):
            json.dumps(action.event, ensure_ascii=False).encode("utf-8")


# Frames -------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
events = st.sampled_from(
    ["pusher:subscribe", "pusher:unsubscribe", "pusher:signin", "pusher:ping", "client-x", "x"]
)
channels = st.sampled_from(
    ["news", "private-a", "presence-a", "#server-to-user-1", "abc\n", "a\ud800"]
) | st.text(max_size=10)


@st.composite
def frames(draw: st.DrawFn) -> str:
    """Text a client could send: mostly protocol-shaped, with hostile parts mixed in."""
    kind = draw(st.integers(0, 5))
    if kind == 0:
        # Any text (aiohttp hands over valid UTF-8 only, so no raw surrogates).
        return draw(st.text(alphabet=st.characters(exclude_categories=["Cs"])))
    if kind == 1:
        depth = draw(st.integers(1, 3000))
        opener = draw(st.sampled_from(["[", '{"a":']))
        return opener * depth
    if kind == 2:
        depth = draw(st.integers(900, 2000))
        inner = "[" * depth + "]" * depth
        return json.dumps({"event": draw(events), "data": inner, "channel": draw(channels)})
    data: Any = draw(json_values)
    if kind == 3:
        data = {
            "channel": draw(channels),
            "auth": draw(st.text(max_size=20)),
            "channel_data": draw(st.text(max_size=30)),
            "user_data": draw(st.text(max_size=30)),
        }
    frame: dict[str, Any] = {"event": draw(events), "data": data}
    if draw(st.booleans()):
        frame["channel"] = draw(channels)
    if kind == 4:
        frame["data"] = json.dumps(data)
    # ensure_ascii turns lone surrogates into \\udXXX escapes, as a hostile client would.
    return json.dumps(frame, ensure_ascii=True)


@FAST
@given(st.lists(frames(), min_size=1, max_size=5))
def test_any_frame_is_answered_and_never_raises(texts: list[str]) -> None:
    protocol = make_protocol()
    listener, _ = protocol.connect(0.0)
    for name in ("news", "private-a"):
        auth = f"{KEY}:{sign_channel(SECRET, listener.socket_id, name)}"
        protocol.receive(
            listener,
            json.dumps({"event": "pusher:subscribe", "data": {"channel": name, "auth": auth}}),
            0.0,
        )
    connection, _ = protocol.connect(0.0)
    for i, text in enumerate(texts):
        check_actions(protocol.receive(connection, text, float(i)))
    check_actions(protocol.disconnect(connection))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (DEEP, "nested too deeply"),
        ('{"event":"pusher:subscribe","data":{"channel":"a\\ud800"}}', "lone UTF-16 surrogate"),
        ('{"event":"\\udfff"}', "lone UTF-16 surrogate"),
        ("{", "Invalid JSON"),
    ],
)
def test_hostile_frames_get_a_pusher_error(text: str, reason: str) -> None:
    protocol = make_protocol()
    connection, _ = protocol.connect(0.0)
    actions = protocol.receive(connection, text, 0.0)
    assert len(actions) == 1 and isinstance(actions[0], Send)
    frame = json.loads(actions[0].frame)
    assert frame["event"] == "pusher:error"
    assert frame["data"]["code"] == 4200
    assert reason in frame["data"]["message"]


def test_surrogate_pairs_and_escaped_backslashes_are_fine() -> None:
    assert parse_json('"\\ud83d\\ude00"') == "\U0001f600"
    assert parse_json('"\\\\ud800"') == "\\ud800"  # a backslash, then text


@pytest.mark.parametrize("name", ["abc\n", "private-abc\n", "#server-to-user-1\n", "a\u0660"])
def test_names_with_a_trailing_newline_are_refused_on_subscribe(name: str) -> None:
    protocol = make_protocol()
    connection, _ = protocol.connect(0.0)
    frame = json.dumps({"event": "pusher:subscribe", "data": {"channel": name, "auth": ""}})
    actions = protocol.receive(connection, frame, 0.0)
    assert [json.loads(a.frame)["event"] for a in actions if isinstance(a, Send)] == [
        "pusher:subscription_error"
    ]
    assert protocol.registry.channels == {}


# HTTP API -----------------------------------------------------------------------------


def signed_call(
    protocol: AppProtocol, path: str, body: bytes, extra: dict[str, str] | None = None
) -> tuple[int, dict[str, Any], list[Action]]:
    query = {
        "auth_key": KEY,
        "auth_timestamp": str(int(time.time())),
        "auth_version": "1.0",
        "body_md5": body_md5(body),
        **(extra or {}),
    }
    query["auth_signature"] = sign_request(SECRET, "POST", path, query)
    result = handle_request(
        {"11": protocol}, "POST", path, query, body, wall_time=time.time(), now=0.0
    )
    json.dumps(result.body)
    return result.status, result.body, result.actions


bodies = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.integers(1, 5000).map(lambda depth: ("[" * depth + "]" * depth).encode()),
    st.integers(1, 5000).map(lambda depth: ('{"batch":' + "[" * depth).encode()),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.fixed_dictionaries(
        {"name": st.text(max_size=10), "data": st.text(max_size=20), "channels": st.just(["c"])}
    ).map(lambda value: json.dumps(value, ensure_ascii=True).encode()),
)


@FAST
@given(bodies, st.sampled_from(["/apps/11/events", "/apps/11/batch_events"]))
def test_any_signed_body_is_answered_4xx_never_5xx(body: bytes, path: str) -> None:
    status, answer, actions = signed_call(make_protocol(), path, body)
    assert status < 500
    if status >= 400:
        assert actions == []
        assert answer["code"] == status and answer["error"]
    check_actions(actions)


good_events = st.builds(
    lambda i: {"channel": f"c{i}", "name": "ok", "data": "{}"}, st.integers(0, 9)
)
bad_events = st.sampled_from(
    [
        {"channel": "c", "name": "\ud800", "data": "{}"},
        {"channel": "c", "name": "pusher:x", "data": "{}"},
        {"channel": "abc\n", "name": "ok", "data": "{}"},
        {"channel": "c", "name": "ok", "data": "\udfff"},
        {"channel": "c", "name": "ok", "data": {"not": "a string"}},
        {"channel": "c", "name": "ok", "data": "x" * 10_241},
        {"channel": "c", "name": "ok", "data": "{}", "socket_id": "1.2\n"},
        {"channel": "c", "name": "ok", "data": "{}", "socket_id": "\u0661.\u0662"},
        {"channel": "c", "name": "ok", "data": [[[[]]]]},
    ]
)


@FAST
@given(st.lists(good_events, max_size=9), bad_events, st.data())
def test_a_batch_with_one_bad_event_delivers_nothing(
    good: list[dict[str, Any]], bad: dict[str, Any], data: st.DataObject
) -> None:
    batch = list(good)
    batch.insert(data.draw(st.integers(0, len(batch))), bad)
    # ensure_ascii: a lone surrogate travels as an escape, as a hostile client sends it.
    body = json.dumps({"batch": batch}, ensure_ascii=True).encode()
    status, answer, actions = signed_call(make_protocol(), "/apps/11/batch_events", body)
    assert 400 <= status < 500, answer
    assert actions == []


@pytest.mark.parametrize(
    "body",
    [
        b'{"name":"e","data":"{}","channels":["abc\\n"]}',
        b'{"name":"e","data":"{}","channel":"abc\\n"}',
        b'{"name":"e","data":"{}","channels":["c"],"socket_id":"1.2\\n"}',
        ('{"name":"e","data":"{}","channels":' + DEEP + "}").encode(),
        b'{"name":"\\ud800","data":"{}","channels":["c"]}',
        b'{"name":"e","data":"{}","channels":["c"]}\xff',
    ],
)
def test_bad_trigger_bodies_are_400(body: bytes) -> None:
    status, answer, actions = signed_call(make_protocol(), "/apps/11/events", body)
    assert status == 400, answer
    assert actions == []


# Real sockets ---------------------------------------------------------------------------

SOCKET_FRAMES = [
    "[" * 30_000 + "]" * 30_000,  # under the 64 KiB frame limit
    '{"event":"pusher:subscribe","data":{"channel":"a\\ud800","auth":""}}',
    '{"event":"client-x","channel":"private-a","data":' + "[" * 990 + "]" * 990 + "}",
    '{"event":"pusher:signin","data":{"user_data":"\\udc00","auth":"x"}}',
    '{"event":"pusher:subscribe","data":{"channel":"abc\\n","auth":""}}',
]


def test_hostile_frames_over_a_real_socket(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        async with served(config(app={"client_events": True})) as client:
            ws, _ = await connect(client)
            for text in SOCKET_FRAMES:
                await ws.send_str(text)
                frame = await receive_json(ws)
                assert frame["event"] in ("pusher:error", "pusher:subscription_error"), frame
            # Still connected and served.
            await ws.send_json({"event": "pusher:ping"})
            assert (await receive_json(ws))["event"] == "pusher:pong"
            for body in (
                '{"name":"e","data":"{}","channels":' + DEEP + "}",
                '{"batch":[{"channel":"c","name":"\\ud800","data":"{}"}]}',
            ):
                status, answer = await api_raw(client, "/apps/11/batch_events", body.encode())
                assert status == 400, answer
            await ws.close()

    with caplog.at_level(logging.DEBUG):
        asyncio.run(scenario())
    problems = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert problems == []


async def api_raw(client: Any, path: str, body: bytes) -> tuple[int, Any]:
    query = {
        "auth_key": KEY,
        "auth_timestamp": str(int(time.time())),
        "auth_version": "1.0",
        "body_md5": body_md5(body),
    }
    query["auth_signature"] = sign_request(SECRET, "POST", path, query)
    response = await client.request("POST", path, params=query, data=body)
    return response.status, await response.json()


def test_trigger_on_a_name_with_a_newline_is_400_over_http() -> None:
    async def scenario() -> None:
        async with served(config()) as client:
            status, answer = await api(
                client, "POST", "/apps/11/events", {"name": "e", "data": "1", "channel": "a\n"}
            )
            assert status == 400, answer

    asyncio.run(scenario())


# The Django webhook view -----------------------------------------------------------------


@pytest.mark.usefixtures("empty_cache")
def test_a_signed_webhook_nested_too_deeply_is_400() -> None:
    body = f'{{"time_ms":{int(time.time() * 1000)},"events":{DEEP}}}'.encode()
    signature = hmac.new(DJANGO_SECRET.encode(), body, hashlib.sha256).hexdigest()
    response = Client().post(
        "/pusherable/webhook/",
        body,
        content_type="application/json",
        HTTP_X_PUSHER_KEY=DJANGO_KEY,
        HTTP_X_PUSHER_SIGNATURE=signature,
    )
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["error"]
