"""The pusher backend against a fake Pusher HTTP API on 127.0.0.1: the happy paths."""

import datetime
import logging
import sys
import threading
import uuid
from decimal import Decimal

import pusher
import pytest
import urllib3
from django.test import override_settings

from pusherable import delivery
from pusherable.backends.http import APIError
from pusherable.backends.pusher import Backend, BatchItem
from pusherable.delivery import send_event, trigger
from pusherable.events import Event
from pusherable.exceptions import (
    ConfigurationError,
    PermanentDeliveryError,
    TransientDeliveryError,
)


def test_events_are_batched_one_item_per_channel(api, make_backend):
    backend = make_backend()
    events = [Event(["private-a_1", "private-b_1"], "updated", {"i": i}, "1.2") for i in range(10)]
    assert backend.send_events(events) == 10
    assert backend.flush(10)
    assert backend.stats.as_dict() == {"sent": 20, "retried": 0, "dropped": 0, "failed": 0}
    assert len(api.events) == 20
    assert api.requests <= 20  # coalesced: at most one request per 10 items...
    assert api.requests >= 2  # ...and never more than 10 items per request
    # Each channel's events arrive in order (channels may interleave: several senders).
    assert next(e for e in api.events if e["channel"] == "private-a_1") == {
        "channel": "private-a_1",
        "name": "updated",
        "data": {"i": 0},
        "socket_id": "1.2",
    }
    assert {(e["channel"], e["data"]["i"]) for e in api.events} == {
        (channel, i) for channel in ("private-a_1", "private-b_1") for i in range(10)
    }


def test_batch_size_is_respected(api, make_backend):
    backend = make_backend(batch_size=3)
    with_worker_paused = threading.Event()
    original = backend.send_batch
    sizes = []

    def send_batch(batch):
        with_worker_paused.wait(5)
        sizes.append(len(batch))
        original(batch)

    backend.send_batch = send_batch
    backend.send_events([Event(["c"], "e", {"i": i}) for i in range(7)])
    with_worker_paused.set()
    assert backend.flush(10)
    assert sum(sizes) == 7
    assert max(sizes) <= 3


def test_data_is_encoded_with_djangos_encoder(api, make_backend):
    backend = make_backend()
    key = uuid.uuid4()
    when = datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.timezone.utc)
    backend.send_events(
        [Event(["c"], "e", {"id": key, "at": when, "price": Decimal("2.50"), "ü": "é"})]
    )
    assert backend.flush(10)
    assert api.events[0]["data"] == {
        "id": str(key),
        "at": "2024-05-06T07:08:09Z",
        "price": "2.50",
        "ü": "é",
    }


def test_one_client_per_backend_with_keep_alive(api, make_backend):
    backend = make_backend()
    built = []
    original = backend.build_client

    def build_client():
        built.append(1)
        return original()

    backend.build_client = build_client
    for i in range(3):
        backend.send_events([Event(["c"], "e", {"i": i})])
        assert backend.flush(10)
    assert built == [1]
    assert isinstance(backend.get_client(), pusher.Pusher)


def test_sync_mode_sends_in_the_calling_thread(api, make_backend):
    backend = make_backend(delivery="sync")
    backend.send_events([Event(["c"], "e", {"i": 1})])
    # Already there when send_events returns: no worker involved.
    assert [e["name"] for e in api.events] == ["e"]
    assert backend.workers == []
    assert backend.stats.sent == 1


def test_sync_mode_logs_instead_of_raising(api, make_backend, caplog):
    backend = make_backend(delivery="sync")
    api.refuse()
    with caplog.at_level(logging.ERROR, logger="pusherable"):
        assert backend.send_events([Event(["c"], "e", {})]) == 1
    assert backend.stats.failed == 1
    assert "does not retry" in caplog.text


def test_invalid_delivery_mode_is_a_configuration_error(api):
    with pytest.raises(ConfigurationError, match="PUSHERABLE_DELIVERY"):
        Backend(delivery="later", client_options=api.client_options())


def test_large_event_goes_through_trigger(api, make_backend):
    # Over trigger_batch's 10 KB sys.getsizeof check but under trigger's 30 KB:
    # sent on its own, the server decides (dedicated clusters accept more).
    backend = make_backend()
    big = "x" * 15_000
    backend.send_events([Event(["c1", "c2"], "big", {"text": big}), Event(["c1"], "small", {})])
    assert backend.flush(10)
    assert sorted(e["name"] for e in api.events) == ["big", "big", "small"]
    assert backend.stats.sent == 3


@override_settings(PUSHERABLE_MAX_PAYLOAD_SIZE=None)  # else "huge" goes out truncated
def test_refused_events_do_not_sink_the_others(api, make_backend, caplog):
    backend = make_backend()
    with caplog.at_level(logging.ERROR, logger="pusherable"):
        backend.send_events(
            [
                Event(["bad channel!"], "e", {}),
                Event(["c"], "x" * 201, {}),
                Event(["c"], "huge", {"text": "x" * 40_000}),
                Event(["c"], "unserializable", {"obj": object()}),
                Event(["c"], "fine", {}),
            ]
        )
        assert backend.flush(10)
    assert [e["name"] for e in api.events] == ["fine"]
    assert backend.stats.failed == 4
    assert "PUSHERABLE_MAX_PAYLOAD_SIZE" in caplog.text
    assert "check its channel and event names" in caplog.text


def test_malformed_socket_id_is_dropped_not_fatal(api, make_backend):
    backend = make_backend()
    backend.send_events([Event(["c"], "e", {}, "not-a-socket-id")])
    assert backend.flush(10)
    assert api.events[0]["socket_id"] is None


def test_bad_client_settings_are_logged_with_a_hint(api, make_backend, caplog):
    backend = make_backend(client_options={**api.client_options(), "app_id": "not-digits"})
    with caplog.at_level(logging.ERROR, logger="pusherable"):
        backend.send_events([Event(["c"], "e", {})])
        assert backend.flush(10)
    assert backend.stats.failed == 1
    assert "PUSHER_APP_ID (digits only)" in caplog.text


@pytest.mark.parametrize(
    ("exc", "kind", "status"),
    [
        (urllib3.exceptions.NewConnectionError(None, "refused"), TransientDeliveryError, None),
        (urllib3.exceptions.ReadTimeoutError(None, "/", "late"), TransientDeliveryError, None),
        (urllib3.exceptions.ProtocolError("aborted"), TransientDeliveryError, None),
        (urllib3.exceptions.ProxyError("down", OSError()), TransientDeliveryError, None),
        (ConnectionResetError(), TransientDeliveryError, None),
        (APIError(500, "oops"), TransientDeliveryError, 500),
        (APIError(503, "busy"), TransientDeliveryError, 503),
        (APIError(429, "slow down"), TransientDeliveryError, 429),
        (APIError(408, "late"), TransientDeliveryError, 408),
        (APIError(400, "bad"), PermanentDeliveryError, 400),
        (APIError(401, "bad"), PermanentDeliveryError, 401),
        (APIError(403, "no"), PermanentDeliveryError, 403),
        (APIError(404, "none"), PermanentDeliveryError, 404),
        (APIError(413, "big"), PermanentDeliveryError, 413),
        # The status, never the text: "500" in the message of a 401 changes nothing.
        (APIError(401, "500: looks like a server error"), PermanentDeliveryError, 401),
        (APIError(None, '{"error": "odd"}'), PermanentDeliveryError, None),
        (urllib3.exceptions.SSLError("certificate verify failed"), PermanentDeliveryError, None),
        # The pusher library's own exceptions, from its other HTTP backends.
        (pusher.errors.PusherBadRequest("bad"), PermanentDeliveryError, 400),
        (pusher.errors.PusherBadAuth("bad"), PermanentDeliveryError, 401),
        (pusher.errors.PusherForbidden("no"), PermanentDeliveryError, 403),
        (pusher.errors.PusherBadStatus("404: none"), TransientDeliveryError, None),
        (ValueError("Invalid socket id"), PermanentDeliveryError, None),
    ],
)
def test_classify_error(api, exc, kind, status):
    error = Backend(client_options=api.client_options()).classify_error(exc)
    assert type(error) is kind
    assert error.status == status


def test_backoff_doubles_with_jitter_up_to_the_ceiling(api):
    backend = Backend(client_options=api.client_options(), retry_backoff=(0.1, 1.0))
    for attempt, ceiling in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (30, 1.0)]:
        delays = [backend.backoff_delay(attempt) for _ in range(50)]
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
        assert len(set(delays)) > 1


def test_batch_item_dict_keeps_socket_id():
    event = Event(["a"], "e", {})
    assert BatchItem(event, "a", "{}", "1.2").as_batch_dict() == {
        "channel": "a",
        "name": "e",
        "data": "{}",
        "socket_id": "1.2",
    }
    assert "socket_id" not in BatchItem(event, "a", "{}", None).as_batch_dict()


def test_getsizeof_is_what_the_library_checks():
    # The reason large items bypass trigger_batch: its limit is on sys.getsizeof.
    assert sys.getsizeof("x" * 10_200) > 10_240


@pytest.mark.parametrize("delivery_mode", ["background", "sync"])
def test_data_encoded_by_delivery_is_sent_as_is(api, make_backend, delivery_mode):
    # Delivery encodes the data once for the size guard; the backend sends that text.
    backend = make_backend(delivery=delivery_mode)
    with override_settings(PUSHERABLE_BACKEND="pusherable.backends.locmem.Backend"):
        event = trigger(["private-a_1", "private-b_1"], "e", {"ü": "é"}, on_commit=False)
    assert event.encoded_data == '{"ü":"é"}'
    # Text that is not the data's own encoding shows which one went out.
    event.encoded_data = '{"sent":"as is"}'
    backend.send_events([event, Event(["c"], "plain", {"i": 1})])
    assert backend.flush(10)
    assert sorted((e["channel"], e["data"]) for e in api.events) == [
        ("c", {"i": 1}),
        ("private-a_1", {"sent": "as is"}),
        ("private-b_1", {"sent": "as is"}),
    ]


@pytest.mark.parametrize(
    ("queued", "since_last", "last_batch", "expected"),
    [
        (1, 0.0, 1, False),  # a trickle: one event at a time goes out at once
        (1, 0.0, 10, True),  # the previous batch was full: a burst, wait for more
        (3, 0.0, 1, True),  # several already waiting: let the batch fill
        (10, 0.0, 10, False),  # already full
        (3, 5.0, 10, False),  # after a quiet period
    ],
)
def test_linger_only_under_load(queued, since_last, last_batch, expected):
    backend = Backend(client_options={"app_id": "1", "key": "k", "secret": "s"}, linger=1.0)
    try:
        assert backend.should_linger(queued, since_last, last_batch) is expected
        backend.linger = 0
        assert backend.should_linger(queued, since_last, last_batch) is False
    finally:
        backend.close(timeout=0)


def test_no_linger_by_default():
    backend = Backend(client_options={"app_id": "1", "key": "k", "secret": "s"})
    try:
        assert backend.linger == 0
        assert not any(
            backend.should_linger(queued, since_last, last_batch)
            for queued in (1, 2, 9)
            for since_last in (0.0, 5.0)
            for last_batch in (1, 10)
        )
    finally:
        backend.close(timeout=0)


def test_a_batch_is_what_arrived_while_the_previous_request_was_in_flight(api, make_backend):
    # By default a sender never waits for company: a lone event goes out at once
    # and alone, even right after a full batch; what arrives while a request is in
    # flight goes in the next batches, in order.
    backend = make_backend(senders=1)
    batches: list[list[int]] = []
    in_flight, release = threading.Event(), threading.Event()
    send_batch, should_linger = backend.send_batch, backend.should_linger
    lingered: list[bool] = []

    def gated_send_batch(batch):
        batches.append([item.event.data["i"] for item in batch])
        if len(batches) == 1:
            in_flight.set()
            release.wait(10)
        send_batch(batch)

    def recorded_should_linger(*args):
        lingered.append(should_linger(*args))
        return lingered[-1]

    backend.send_batch = gated_send_batch
    backend.should_linger = recorded_should_linger
    backend.send_events([Event(["c"], "e", {"i": 0})])
    assert in_flight.wait(10)  # sent on its own, before anything else was queued
    for i in range(1, 15):
        backend.send_events([Event(["c"], "e", {"i": i})])
    release.set()
    assert backend.flush(10)
    backend.send_events([Event(["c"], "e", {"i": 15})])  # right after a full batch
    assert backend.flush(10)
    assert batches == [[0], list(range(1, 11)), list(range(11, 15)), [15]]
    assert [e["data"]["i"] for e in api.events] == list(range(16))
    assert lingered and not any(lingered)


def test_a_trickle_does_not_wait_for_the_linger(api, make_backend):
    # With a linger longer than the test's bound, the second lone event, right after
    # the first batch, would wait for a batch to fill if the linger were not adaptive.
    backend = make_backend(linger=60.0, senders=1)
    for i in range(3):
        backend.send_events([Event(["c"], "e", {"i": i})])
        assert backend.flush(10)
    assert [e["data"]["i"] for e in api.events] == [0, 1, 2]


@pytest.mark.parametrize("delivery_mode", ["background", "sync"])
def test_the_size_guard_applies_on_the_one_path_through_delivery(
    api, make_backend, caplog, delivery_mode
):
    # Whatever the backend or its mode, send_event() limits the event before the
    # backend sees it: nothing for a backend (or a subclass) to know about.
    backend = make_backend(delivery=delivery_mode)
    previous = delivery.set_backend(backend)
    try:
        with caplog.at_level(logging.WARNING, logger="pusherable"):
            sent = send_event(
                Event(["c"], "big", {"event": "big", "pk": 7, "text": "x" * 20_000}),
                on_commit=False,
            )
            send_event(Event(["c"], "small", {"a": "é"}), on_commit=False)
        assert backend.flush(10)
    finally:
        delivery.set_backend(previous)
    assert sent.data["truncated"] is True
    assert [(e["name"], e["data"]) for e in api.events] == [
        (
            "big",
            {
                "event": "big",
                "model": None,
                "pk": 7,
                "user": None,
                "user_id": None,
                "user_name": None,
                "truncated": True,
            },
        ),
        ("small", {"a": "é"}),
    ]
    assert "sending it truncated" in caplog.text
    assert backend.stats.sent == 2


def test_data_handed_over_directly_that_is_not_json_is_reported(api, make_backend, failures):
    backend = make_backend()
    assert backend.send_events([Event(["c"], "odd", {"thing": object()})]) == 1
    assert backend.flush(10)
    assert api.events == []
    assert backend.stats.failed == 1
    [(events, error)] = failures
    assert events[0].name == "odd" and "JSON" in str(error)


def test_an_unknown_option_is_a_type_error_naming_it(api):
    with pytest.raises(TypeError, match="senderz"):
        Backend(client_options=api.client_options(), senderz=8)


# -- servers that answer errors with status 200 (soketi) ----------------------------------


def test_a_permanent_error_in_a_200_body_fails_with_a_hint_once(
    api, make_backend, caplog, failures
):
    # soketi: {"error": "The secret authentication failed", "code": 401}, status 200.
    api.errors_as_200 = True
    api.status = 401
    backend = make_backend()
    with caplog.at_level(logging.ERROR, logger="pusherable"):
        for i in range(3):
            backend.send_events([Event(["c"], "e", {"i": i})])
            assert backend.flush(10)
    assert backend.stats.as_dict() == {"sent": 0, "retried": 0, "dropped": 0, "failed": 3}
    assert api.events == []
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "refused the credentials" in record.getMessage()
    assert [event.name for events, _error in failures for event in events] == ["e"] * 3
    assert all(error.status == 401 for _events, error in failures)


def test_a_transient_error_in_a_200_body_is_retried(api, make_backend, failures):
    api.errors_as_200 = True
    api.fail_next(2, 503)
    backend = make_backend()
    backend.send_events([Event(["c"], "e", {})])
    assert backend.flush(10)
    assert backend.stats.as_dict() == {"sent": 1, "retried": 2, "dropped": 0, "failed": 0}
    assert api.names() == ["e"]
    assert failures == []


def test_a_page_view_leaves_the_encoding_to_the_sender_thread(
    api, make_backend, client, article, monkeypatch, django_capture_on_commit_callbacks
):
    # The mixin defers its event's size guard (send_event(defer_guard=True)): in
    # background mode the request hands the event over unencoded, and the sender
    # thread encodes it once.
    guarded_in = []
    limit_payload = delivery.limit_payload

    def recording_limit_payload(*args, **kwargs):
        guarded_in.append(threading.current_thread().name)
        return limit_payload(*args, **kwargs)

    monkeypatch.setattr(delivery, "limit_payload", recording_limit_payload)
    backend = make_backend()
    previous = delivery.set_backend(backend)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert client.get(f"/articles/{article.pk}/").status_code == 200
        assert backend.flush(10)
    finally:
        delivery.set_backend(previous)
    assert len(guarded_in) == 1
    assert guarded_in[0].startswith("pusherable-delivery-")
    (sent,) = api.events
    assert sent["name"] == "view"
    assert sent["data"]["pk"] == article.pk
