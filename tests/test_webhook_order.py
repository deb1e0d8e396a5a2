"""Webhooks in any order, and both forms of a client event's data.

soketi sends each webhook as its own request, concurrently: ``member_added`` can
arrive before ``channel_occupied``, ``channel_vacated`` before the last
``member_removed``, and a reload's ``member_removed`` after the new page's
``member_added``. Presence follows each event's ``time_ms``, not its arrival.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.core.cache.backends.locmem import LocMemCache
from django.test import Client

from pusherable import presence, signals
from tests.authz import signed_webhook

WEBHOOK_URL = "/pusherable/webhook/"
CHANNEL = "presence-article_7"

pytestmark = pytest.mark.usefixtures("empty_cache")


def send(*events: dict, at: int) -> None:
    """Deliver one webhook request carrying ``events``, sent by the server at ``at`` ms."""
    body, headers = signed_webhook(list(events), time_ms=at)
    response = Client().post(WEBHOOK_URL, body, content_type="application/json", **headers)
    assert response.status_code == 200


def added(user_id: str) -> dict:
    return {"name": "member_added", "channel": CHANNEL, "user_id": user_id}


def removed(user_id: str) -> dict:
    return {"name": "member_removed", "channel": CHANNEL, "user_id": user_id}


OCCUPIED = {"name": "channel_occupied", "channel": CHANNEL}
VACATED = {"name": "channel_vacated", "channel": CHANNEL}


@pytest.fixture
def now() -> int:
    return int(time.time() * 1000)


def test_member_added_before_channel_occupied(now):
    send(added("3"), at=now)
    send(OCCUPIED, at=now)
    assert presence.tracked_member_ids(CHANNEL) == ["3"]


def test_channel_vacated_before_the_last_member_removed(now):
    send(OCCUPIED, at=now)
    send(added("3"), at=now + 1)
    send(VACATED, at=now + 50)
    assert presence.tracked_member_ids(CHANNEL) == []
    send(removed("3"), at=now + 50)
    assert presence.tracked_member_ids(CHANNEL) == []
    # And a member_added that was overtaken by the vacated channel stays out.
    send(added("4"), at=now + 20)
    assert presence.tracked_member_ids(CHANNEL) == []


def test_a_reload_whose_leave_arrives_after_the_new_join(now):
    send(added("3"), at=now)
    # The old page left at +100, the new one joined at +300; the join arrives first.
    send(added("3"), at=now + 300)
    send(removed("3"), at=now + 100)
    assert presence.tracked_member_ids(CHANNEL) == ["3"]
    # A later leave does count.
    send(removed("3"), at=now + 400)
    assert presence.tracked_member_ids(CHANNEL) == []


def test_a_late_channel_vacated_keeps_who_joined_after_it(now):
    send(added("3"), at=now)
    send(added("5"), at=now + 500)  # the channel emptied at +200, then 5 joined
    send(removed("3"), at=now + 200)
    send(VACATED, at=now + 200)
    assert presence.tracked_member_ids(CHANNEL) == ["5"]


def test_events_in_one_request_apply_in_order(now):
    send(added("3"), removed("3"), added("3"), at=now)
    assert presence.tracked_member_ids(CHANNEL) == ["3"]


def test_concurrent_webhooks_of_one_channel_lose_nothing(now, monkeypatch):
    # A slow cache read widens the read-modify-write window that concurrent
    # requests (several threads or processes) would otherwise lose updates in.
    slow_get = LocMemCache.get

    def get(self, key, *args, **kwargs):
        value = slow_get(self, key, *args, **kwargs)
        time.sleep(0.005)  # between the read and the write that follows it
        return value

    monkeypatch.setattr(LocMemCache, "get", get)
    users = [str(n) for n in range(10, 22)]
    errors: list[BaseException] = []

    def join(user_id: str, offset: int) -> None:
        try:
            send(added(user_id), at=now + offset)
        except BaseException as exc:  # reported below, from the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=join, args=(u, i)) for i, u in enumerate(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == []
    assert sorted(presence.tracked_member_ids(CHANNEL)) == sorted(users)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ('{"field":"title"}', '{"field":"title"}'),  # Pusher: the string pusher-js sent
        ({"field": "title"}, '{"field":"title"}'),  # soketi: the same, decoded
        ({"name": "Zoë"}, '{"name":"Zoë"}'),
        ("plain text", "plain text"),
    ],
)
def test_client_event_data_is_always_the_string_sent(now, data, expected):
    received = []

    def receiver(sender, **kwargs):
        received.append(kwargs["data"])

    signals.client_event.connect(receiver)
    try:
        event = {"name": "client_event", "channel": CHANNEL, "event": "client-x", "data": data}
        send(event, at=now)
    finally:
        signals.client_event.disconnect(receiver)
    assert received == [expected]
