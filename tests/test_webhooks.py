"""The webhook receiver: Pusher's signature on the raw body, then Django signals."""

import hashlib
import hmac
import json
import logging
import time

import pytest
from django.test import Client, override_settings

from pusherable import presence, signals
from pusherable.channels import parse_channel
from pusherable.pusher_client import get_client
from tests.authz import KEY, SECRET, reference_client, signed_webhook
from tests.testapp.models import Article

WEBHOOK_URL = "/pusherable/webhook/"

pytestmark = pytest.mark.usefixtures("empty_cache")


class Recorder:
    def __init__(self):
        self.calls = []

    def __call__(self, signal, sender, **kwargs):
        self.calls.append((signal, sender, kwargs))


@pytest.fixture
def received():
    recorder = Recorder()
    all_signals = (
        signals.channel_occupied,
        signals.channel_vacated,
        signals.member_added,
        signals.member_removed,
        signals.client_event,
    )
    for signal in all_signals:
        signal.connect(recorder, weak=False)
    yield recorder.calls
    for signal in all_signals:
        signal.disconnect(recorder)


def deliver(body, headers, client=None):
    # Like Pusher: a POST with a JSON body and no CSRF token.
    client = client or Client(enforce_csrf_checks=True)
    return client.post(WEBHOOK_URL, body, content_type="application/json", **headers)


def test_signature_matches_the_pusher_library():
    body, headers = signed_webhook([{"name": "channel_occupied", "channel": "x"}])
    assert reference_client().validate_webhook(
        KEY, headers["HTTP_X_PUSHER_SIGNATURE"], body
    ) == json.loads(body)
    # The test vector from Pusher's documentation.
    vector = b'{"time_ms":1327078148132,"events":[{"name":"channel_occupied","channel":"test"}]}'
    assert (
        hmac.new(b"7ad3773142a6692b25b8", vector, hashlib.sha256).hexdigest()
        == "abfea5004a8dd261c09cf7357e59a6dbdbfd3d6a9846970f7d549e8e2b57bb32"
    )


def test_events_become_signals(received):
    channel = "presence-article_7"
    time_ms = int(time.time() * 1000)
    events = [
        {"name": "channel_occupied", "channel": channel},
        {"name": "member_added", "channel": channel, "user_id": "3"},
        {
            "name": "client_event",
            "channel": channel,
            "event": "client-typing",
            "data": '{"field": "title"}',
            "socket_id": "1.2",
            "user_id": "3",
        },
        {"name": "member_removed", "channel": channel, "user_id": "3"},
        {"name": "channel_vacated", "channel": channel},
    ]
    body, headers = signed_webhook(events, time_ms=time_ms)
    response = deliver(body, headers)
    assert response.status_code == 200
    assert response.json() == {"ok": True, "handled": 5}
    parsed = parse_channel(channel)
    common = {
        "channel": channel,
        "parsed_channel": parsed,
        "model": Article,
        "pk": "7",
        "time_ms": time_ms,
    }
    assert [(signal, sender, kwargs) for signal, sender, kwargs in received] == [
        (signals.channel_occupied, Article, common),
        (signals.member_added, Article, {**common, "user_id": "3", "stale": False}),
        (
            signals.client_event,
            Article,
            {
                **common,
                "event": "client-typing",
                "data": '{"field": "title"}',
                "socket_id": "1.2",
                "user_id": "3",
            },
        ),
        (signals.member_removed, Article, {**common, "user_id": "3", "stale": False}),
        (signals.channel_vacated, Article, common),
    ]


def test_foreign_channels_have_no_model(received):
    body, headers = signed_webhook(
        [
            {"name": "channel_occupied", "channel": "presence-lobby"},
            {"name": "client_event", "channel": "private-chat", "event": "client-x", "data": "{}"},
        ]
    )
    assert deliver(body, headers).status_code == 200
    (_, sender, kwargs), (_, _, client_kwargs) = received
    assert sender is None
    assert kwargs["model"] is None
    assert kwargs["pk"] is None
    assert kwargs["parsed_channel"] is None
    assert client_kwargs["user_id"] is None
    assert client_kwargs["socket_id"] is None


def test_model_sender_filters(received):
    seen = []

    def on_article(sender, **kwargs):
        seen.append(kwargs["pk"])

    signals.member_added.connect(on_article, sender=Article, weak=False)
    try:
        body, headers = signed_webhook(
            [
                {"name": "member_added", "channel": "presence-article_1", "user_id": "1"},
                {"name": "member_added", "channel": "presence-tag_2", "user_id": "1"},
            ]
        )
        deliver(body, headers)
    finally:
        signals.member_added.disconnect(on_article, sender=Article)
    assert seen == ["1"]


def test_raising_receiver_is_logged_and_still_200(received, caplog):
    def broken(sender, **kwargs):
        raise RuntimeError("receiver bug")

    signals.channel_occupied.connect(broken, weak=False)
    try:
        body, headers = signed_webhook(
            [
                {"name": "channel_occupied", "channel": "private-article_1"},
                {"name": "channel_vacated", "channel": "private-article_1"},
            ]
        )
        with caplog.at_level(logging.ERROR, logger="pusherable"):
            response = deliver(body, headers)
    finally:
        signals.channel_occupied.disconnect(broken)
    assert response.status_code == 200
    assert "receiver bug" in caplog.text
    # The other receivers and the next event still ran.
    assert [signal for signal, _, _ in received] == [
        signals.channel_occupied,
        signals.channel_vacated,
    ]


def test_unknown_and_malformed_events_are_skipped(received):
    body, headers = signed_webhook(
        [
            {"name": "cache_miss", "channel": "private-article_1"},
            {"name": "subscription_count", "channel": "x", "subscription_count": 2},
            {"name": "member_added", "channel": "presence-article_1"},  # no user_id
            {"name": "member_added", "channel": "presence-article_1", "user_id": ["1"]},
            {"name": "channel_occupied"},
            "not an object",
            {"name": "member_added", "channel": "presence-article_1", "user_id": 5},
        ]
    )
    response = deliver(body, headers)
    assert response.json() == {"ok": True, "handled": 1}
    [(_, _, kwargs)] = received
    assert kwargs["user_id"] == "5"


@pytest.mark.parametrize(
    "tamper",
    [
        "no headers",
        "wrong key",
        "wrong secret",
        "stale",
        "body changed",
        "non-ascii signature",
        "not utf-8",
        "json list",
    ],
)
def test_unverified_webhooks_are_401(received, tamper):
    body, headers = signed_webhook([{"name": "channel_occupied", "channel": "private-article_1"}])
    if tamper == "no headers":
        headers = {}
    elif tamper == "wrong key":
        body, headers = signed_webhook([], key="other-key")
    elif tamper == "wrong secret":
        body, headers = signed_webhook([], secret="other-secret")
    elif tamper == "stale":
        body, headers = signed_webhook([], time_ms=int(time.time() * 1000) - 301_000)
    elif tamper == "body changed":
        # Re-serializing changes the bytes: the signature covers the raw body.
        body = json.dumps(json.loads(body), indent=2).encode()
    elif tamper == "non-ascii signature":
        headers["HTTP_X_PUSHER_SIGNATURE"] = "é" * 64
    elif tamper == "not utf-8":
        body = b"\xff\xfe" + body
        headers["HTTP_X_PUSHER_SIGNATURE"] = hmac.new(
            SECRET.encode(), body, hashlib.sha256
        ).hexdigest()
    elif tamper == "json list":
        body = b"[1, 2]"
        headers["HTTP_X_PUSHER_SIGNATURE"] = hmac.new(
            SECRET.encode(), body, hashlib.sha256
        ).hexdigest()
    response = deliver(body, headers)
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid webhook signature, key or time."}
    assert received == []


def test_webhook_without_credentials_is_503(received):
    body, headers = signed_webhook([])
    with override_settings(PUSHER_SECRET=None):
        response = deliver(body, headers)
    assert response.status_code == 503


def test_get_is_405():
    assert Client().get(WEBHOOK_URL).status_code == 405


def test_member_events_are_tracked_for_who_is_here():
    channel = "presence-article_1"
    body, headers = signed_webhook(
        [
            {"name": "member_added", "channel": channel, "user_id": "1"},
            {"name": "member_added", "channel": channel, "user_id": "2"},
            {"name": "member_added", "channel": channel, "user_id": "1"},
        ]
    )
    deliver(body, headers)
    assert presence.tracked_member_ids(channel) == ["1", "2"]
    body, headers = signed_webhook(
        [{"name": "member_removed", "channel": channel, "user_id": "1"}]
    )
    deliver(body, headers)
    assert presence.tracked_member_ids(channel) == ["2"]
    body, headers = signed_webhook([{"name": "channel_vacated", "channel": channel}])
    deliver(body, headers)
    assert presence.tracked_member_ids(channel) == []


def test_client_is_cached_and_rebuilt_on_settings_change():
    client = get_client()
    assert get_client() is client
    with override_settings(PUSHER_KEY="other"):
        assert get_client().authenticate("private-x", "1.1")["auth"].startswith("other:")
    assert get_client().authenticate("private-x", "1.1")["auth"].startswith(f"{KEY}:")
