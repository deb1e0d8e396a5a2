"""pusherable.delivery.trigger: after commit only, socket ids, backend swap, faults."""

import logging

import pytest
from django.db import transaction

from pusherable import delivery, testing
from pusherable.backends.base import BaseBackend
from pusherable.backends.locmem import Backend as LocmemBackend
from pusherable.encoding import encode_json
from pusherable.events import Event
from pusherable.exceptions import PayloadError
from pusherable.testing import assert_not_triggered, assert_triggered


class RaisingBackend(BaseBackend):
    def send_events(self, events):
        raise RuntimeError("backend exploded")


class RecordingBackend(BaseBackend):
    def __init__(self):
        super().__init__()
        self.received = []

    def send_events(self, events):
        self.received.extend(events)
        return len(events)


@pytest.mark.django_db(transaction=True)
def test_trigger_waits_for_commit():
    with transaction.atomic():
        event = delivery.trigger("private-article_1", "updated", {"pk": 1})
        assert testing.outbox == []
    assert testing.outbox == [event]


@pytest.mark.django_db(transaction=True)
def test_nothing_is_sent_on_rollback():
    def write_then_fail():
        with transaction.atomic():
            delivery.trigger("private-article_1", "updated", {"pk": 1})
            raise ValueError("roll back")

    with pytest.raises(ValueError, match="roll back"):
        write_then_fail()
    assert_not_triggered()


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_trigger_sends_at_once():
    delivery.trigger(["private-article_1", "private-article_2"], "view", {"pk": 1})
    assert_triggered("private-article_2", "view", {"pk": 1}, count=1)


@pytest.mark.django_db(transaction=True)
def test_before_the_first_query_trigger_still_sends_at_once():
    # No database connection yet: Django's on_commit() decides (and connects).
    from django.db import connection

    connection.close()
    delivery.trigger("private-article_1", "view", {"pk": 1})
    assert_triggered("private-article_1", "view", count=1)


@pytest.mark.django_db(transaction=True)
def test_manual_transaction_management_is_refused_as_django_does():
    from django.db.transaction import TransactionManagementError

    transaction.set_autocommit(False)
    try:
        with pytest.raises(TransactionManagementError):
            delivery.trigger("private-article_1", "view", {"pk": 1})
    finally:
        transaction.rollback()
        transaction.set_autocommit(True)
    assert_not_triggered()


def test_on_commit_false_sends_at_once():
    event = delivery.trigger("c", "e", {"a": 1}, on_commit=False)
    assert event == Event(["c"], "e", {"a": 1}, None)
    assert testing.outbox == [event]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("123.456", "123.456"),
        ("123.456\n", None),
        ("123", None),
        ("abc.def", None),
        ("1.2.3", None),
        ("", None),
        (None, None),
        (123.456, None),
        ("1" * 21 + ".1", None),
        ("\u0661\u0662.\u0663", None),  # Arabic-Indic digits: not a Pusher socket id
    ],
)
def test_malformed_socket_ids_are_ignored(value, expected):
    assert delivery.clean_socket_id(value) == expected
    event = delivery.trigger("c", "e", {}, socket_id=value, on_commit=False)
    assert event.socket_id == expected


def test_set_backend_swaps_and_returns_the_previous_one():
    recording = RecordingBackend()
    previous = delivery.set_backend(recording)
    try:
        delivery.trigger("c", "e", {"a": 1}, on_commit=False)
    finally:
        assert delivery.set_backend(previous) is recording
    assert [event.name for event in recording.received] == ["e"]
    assert testing.outbox == []


def test_reset_backend_closes_the_old_one():
    closed = []

    class Closing(RecordingBackend):
        def close(self, timeout=None):
            closed.append(timeout)

    delivery.set_backend(Closing())
    delivery.reset_backend(timeout=0.25)
    assert closed == [0.25]
    assert isinstance(delivery.get_backend(), LocmemBackend)


def test_a_raising_backend_never_reaches_the_caller(failures, caplog):
    previous = delivery.set_backend(RaisingBackend())
    try:
        with caplog.at_level(logging.ERROR, logger="pusherable"):
            event = delivery.trigger("c", "e", {"a": 1}, on_commit=False)
    finally:
        delivery.set_backend(previous)
    assert "could not hand 1 event(s) to the backend" in caplog.text
    [(events, error)] = failures
    assert events == [event]
    assert str(error) == "backend exploded"


def test_send_with_no_events_does_nothing():
    delivery.send([], on_commit=False)
    assert testing.outbox == []


@pytest.mark.django_db
def test_send_event_keeps_the_guard_and_drops_a_malformed_socket_id(
    django_capture_on_commit_callbacks,
):
    from pusherable.delivery import send_event
    from pusherable.events import Event
    from pusherable.testing import outbox

    big = {"event": "updated", "model": "testapp.article", "pk": 1, "blob": "x" * 20_000}
    with django_capture_on_commit_callbacks(execute=True):
        sent = send_event(Event(["private-article_1"], "updated", big, "not-a-socket-id"))
    assert sent.socket_id is None
    assert sent.data["truncated"] is True
    assert outbox[-1].data == sent.data
    assert outbox[-1].socket_id is None


# -- send_event(defer_guard=True): the size guard where the data is first read --------


def test_a_deferred_guard_runs_once_when_the_data_is_first_read(monkeypatch):
    calls = []
    limit_payload = delivery.limit_payload
    monkeypatch.setattr(
        delivery, "limit_payload", lambda *a, **kw: calls.append(1) or limit_payload(*a, **kw)
    )
    recorder = RecordingBackend()
    previous = delivery.set_backend(recorder)
    try:
        sent = delivery.send_event(
            Event(["private-article_1"], "view", {"pk": 1, "é": "ü"}),
            on_commit=False,
            defer_guard=True,
        )
    finally:
        delivery.set_backend(previous)
    assert calls == []  # handed over without encoding
    (received,) = recorder.received
    assert received is sent
    assert received.encoded_data == '{"pk":1,"é":"ü"}'
    assert received.data == {"pk": 1, "é": "ü"}
    assert calls == [1]
    assert received == Event(["private-article_1"], "view", {"pk": 1, "é": "ü"})
    assert Event(["private-article_1"], "view", {"pk": 1, "é": "ü"}) == received


def test_a_deferred_guard_still_truncates_with_the_limit_of_its_hand_over(settings, caplog):
    big = {"event": "updated", "model": "testapp.article", "pk": 1, "blob": "x" * 5_000}
    settings.PUSHERABLE_MAX_PAYLOAD_SIZE = 1_000
    sent = delivery.send_event(
        Event(["private-article_1"], "updated", big), on_commit=False, defer_guard=True
    )
    settings.PUSHERABLE_MAX_PAYLOAD_SIZE = 100_000  # too late: the limit was taken
    # The locmem outbox keeps a plain, guarded copy.
    (kept,) = testing.outbox
    assert type(kept) is Event
    assert kept.data["truncated"] is True
    assert kept.encoded_data == encode_json(kept.data)
    assert sent.data == kept.data
    assert caplog.text.count("sending it truncated") == 1  # guarded once


def test_a_deferred_guard_reports_data_that_is_not_json(make_backend, api, failures):
    backend = make_backend()
    previous = delivery.set_backend(backend)
    try:
        # No PayloadError in the caller: the sender finds it, and reports it.
        delivery.send_event(
            Event(["c"], "bad", {"x": object()}), on_commit=False, defer_guard=True
        )
        delivery.send_event(Event(["c"], "good", {"x": 1}), on_commit=False, defer_guard=True)
        assert backend.flush(10)
    finally:
        delivery.set_backend(previous)
    assert api.names() == ["good"]
    ((events, error),) = failures
    assert [event.name for event in events] == ["bad"]
    assert "not JSON-serializable" in str(error)
    # A receiver can still look at what was handed over.
    assert list(events[0].data) == ["x"]
    with pytest.raises(PayloadError):
        events[0].encoded_data


def test_a_deferred_guard_fails_in_the_locmem_backend_as_a_delivery_failure(failures):
    delivery.send_event(Event(["c"], "bad", {"x": object()}), on_commit=False, defer_guard=True)
    assert testing.outbox == []
    ((events, error),) = failures
    assert [event.name for event in events] == ["bad"]
    assert isinstance(error, PayloadError)
