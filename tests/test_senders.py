"""The pusher backend's several senders: channels shared out, order kept, queue bounded.

Against the fake Pusher API on 127.0.0.1 and the bundled server.
"""

from __future__ import annotations

import threading
from collections import defaultdict

import pytest

from pusherable.backends.pusher import Backend
from pusherable.events import Event
from tests.fake_pusher import FakePusher

# -- several senders ------------------------------------------------------------------


def test_shard_index_is_stable_and_in_range(make_backend):
    backend = make_backend(senders=4)
    channels = [f"private-article_{n}" for n in range(200)]
    indexes = [backend.shard_index(channel) for channel in channels]
    assert indexes == [backend.shard_index(channel) for channel in channels]
    assert set(indexes) == {0, 1, 2, 3}
    assert {make_backend(senders=1).shard_index(channel) for channel in channels} == {0}


def arrival_order(api: FakePusher) -> dict[str, list[int]]:
    order: dict[str, list[int]] = defaultdict(list)
    for event in api.events:
        order[event["channel"]].append(event["data"]["i"])
    return order


def interleaved_events(channels: int, per_channel: int) -> list[Event]:
    return [
        Event([f"private-article_{c}"], "e", {"i": i})
        for i in range(per_channel)
        for c in range(channels)
    ]


def test_several_senders_keep_the_order_of_each_channel(api, make_backend):
    backend = make_backend(senders=4)
    # One call per event, as views make them.
    for event in interleaved_events(channels=20, per_channel=30):
        backend.send_events([event])
    assert backend.flush(30)
    assert backend.stats.sent == 600
    assert len(backend.workers) > 1  # the channels were shared out
    order = arrival_order(api)
    assert len(order) == 20
    assert all(received == list(range(30)) for received in order.values())


def test_order_per_channel_survives_retries(api, make_backend):
    backend = make_backend(senders=3)
    api.fail_next(6, 503)
    backend.send_events(interleaved_events(channels=9, per_channel=20))
    assert backend.flush(30)
    assert backend.stats.sent == 180
    assert backend.stats.retried > 0
    assert all(received == list(range(20)) for received in arrival_order(api).values())


def test_requests_are_in_flight_at_once(api, make_backend):
    backend = make_backend(senders=4)
    api.latency = 0.2
    in_flight = []
    original = backend.send_batch
    lock = threading.Lock()
    now = [0]

    def send_batch(batch):
        with lock:
            now[0] += 1
            in_flight.append(now[0])
        try:
            original(batch)
        finally:
            with lock:
                now[0] -= 1

    backend.send_batch = send_batch
    backend.send_events(interleaved_events(channels=8, per_channel=1))
    assert backend.flush(30)
    assert max(in_flight) > 1


def test_the_oldest_events_are_dropped_across_senders(api, make_backend):
    backend = make_backend(senders=2, queue_size=4, linger=0)
    first = "private-article_0"
    second = next(
        name
        for name in (f"private-article_{n}" for n in range(1, 100))
        if backend.shard_index(name) != backend.shard_index(first)
    )
    api.hang = True
    try:
        # Each sender takes its first event and hangs on it; the rest wait.
        backend.send_events([Event([first], "held", {}), Event([second], "held", {})])
        for _ in range(200):
            if all(shard.in_flight == 1 for shard in backend._shards):  # both in flight
                break
            threading.Event().wait(0.01)
        backend.send_events([Event([first], "old", {}), Event([second], "old", {})])
        backend.send_events([Event([second], "new", {"n": n}) for n in range(4)])
    finally:
        api.hang = False
    assert backend.flush(10)
    assert backend.stats.dropped == 2
    assert sorted(api.names()) == ["held", "held", "new", "new", "new", "new"]


# -- the bundled server -----------------------------------------------------------------


@pytest.fixture(scope="module")
def bundled_server():
    from pusherable.server.testing import run_server

    with run_server() as running:
        yield running


@pytest.mark.e2e
def test_backend_delivers_a_burst_to_the_bundled_server(bundled_server):
    backend = Backend(client_options=bundled_server.client_options(), senders=4)
    try:
        backend.send_events(interleaved_events(channels=16, per_channel=50))
        assert backend.flush(60)
        assert backend.stats.as_dict() == {"sent": 800, "retried": 0, "dropped": 0, "failed": 0}
    finally:
        backend.close(5)
