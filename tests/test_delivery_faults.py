"""Fault tests: the Pusher API refuses, errs, hangs or flaps; pages never notice.

Every test runs against the fake API of ``tests/fake_pusher.py`` on 127.0.0.1.
No assertion is about time: that a page does not wait is shown by the work
happening on the worker thread while the API still holds the request.
"""

import functools
import logging
import multiprocessing
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from django.test import override_settings

from pusherable import delivery
from pusherable.events import Event

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def make_backend(make_backend):
    """The suite's ``make_backend``, with a short request timeout: the API hangs here."""
    return functools.partial(make_backend, timeout=2.0)


def events(count, name="e", channels=("private-article_1",)):
    return [Event(list(channels), name, {"i": i}) for i in range(count)]


def error_records(caplog):
    return [
        r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("pusherable")
    ]


# -- pages never wait and never fail ---------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("fault", ["refuse", "500", "429", "413", "401", "hang"])
def test_views_answer_while_the_api_misbehaves(client, api, make_backend, fault):
    backend = make_backend(timeout=1.0)
    senders = []
    original = backend.send_batch

    def send_batch(batch):
        senders.append(threading.current_thread())
        original(batch)

    backend.send_batch = send_batch
    if fault == "refuse":
        api.refuse()
    elif fault == "hang":
        api.hang = True
    else:
        api.status = int(fault)
    previous = delivery.set_backend(backend)
    try:
        with override_settings(ROOT_URLCONF="tests.delivery_urls"):
            responses = [client.get(f"/notify/{pk}/") for pk in range(5)]
    finally:
        delivery.set_backend(previous)
    assert [r.status_code for r in responses] == [200] * 5
    if fault == "hang":
        # Every page answered while the API still holds the first request open.
        assert api.requests == 0
        assert backend.queued == 5
    api.hang = False
    api.accept()
    api.status = 200
    assert backend.flush(10)
    assert senders
    assert threading.current_thread() not in senders
    assert all(thread.name.startswith("pusherable-delivery-") for thread in senders)
    assert set(senders) <= set(backend.workers)


def test_queued_counts_each_item_once_while_a_sender_hands_it_over(api, make_backend):
    backend = make_backend()
    api.hang = True  # what the senders take stays in flight: still queued
    counts = []
    handed_over = threading.Event()
    original = backend.enqueue

    def enqueue(items, **kwargs):
        original(items, **kwargs)
        # Between queueing the items and the end of dispatch_inbox(): the moment a
        # page's read of ``queued`` could count the same items twice.
        counts.append(backend.queued)
        handed_over.set()

    backend.enqueue = enqueue
    # Three events on two channels each: six batch items.
    backend.send_events(events(3, channels=("private-article_1", "private-article_2")))
    assert handed_over.wait(10)
    assert counts == [6]
    assert backend.queued == 6


# -- transient faults are retried until everything arrives ----------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_error_statuses_are_retried_until_every_event_arrives(api, make_backend, failures, status):
    backend = make_backend()
    api.fail_next(4, status)
    backend.send_events(events(25))
    assert backend.flush(10)
    # At least once: every event arrived; a failed request was not recorded.
    assert sorted(e["data"]["i"] for e in api.events) == list(range(25))
    assert backend.stats.retried >= 4
    assert backend.stats.failed == 0
    assert failures == []


def test_refused_connections_are_retried_once_the_api_is_back(api, make_backend, caplog):
    backend = make_backend()
    retried = threading.Event()
    original = backend.backoff_delay

    def backoff_delay(attempt):
        if attempt >= 3:
            retried.set()
        return original(attempt)

    backend.backoff_delay = backoff_delay
    api.refuse()
    with caplog.at_level(logging.INFO, logger="pusherable"):
        backend.send_events(events(30))
        assert retried.wait(10)
        api.accept()
        assert backend.flush(10)
    assert sorted(e["data"]["i"] for e in api.events) == list(range(30))
    assert backend.stats.failed == 0
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    # One line when the API went away, one when it came back: not one per retry.
    assert sum("is unavailable" in m for m in messages) == 1
    assert sum("available again" in m for m in messages) == 1


def test_flapping_api_loses_nothing(api, make_backend):
    backend = make_backend()
    backend.send_events(events(10, "before"))
    assert backend.flush(10)
    api.flap(down=0.3)
    backend.send_events(events(40, "during"))
    assert backend.flush(10)
    during = sorted(e["data"]["i"] for e in api.events if e["name"] == "during")
    assert during == list(range(40))
    assert backend.stats.sent == 50


def test_hanging_api_times_out_and_retries_at_least_once(api, make_backend):
    backend = make_backend(timeout=0.2)
    api.hang = True
    backend.send_events(events(5))
    timed_out = threading.Event()
    original = backend.backoff_delay

    def backoff_delay(attempt):
        timed_out.set()
        return original(attempt)

    backend.backoff_delay = backoff_delay
    assert timed_out.wait(10)
    api.hang = False
    assert backend.flush(10)
    received = [e["data"]["i"] for e in api.events]
    # The hung request may complete after the client gave up: duplicates are
    # possible (at-least-once), losses are not.
    assert set(received) == set(range(5))
    assert len(received) >= 5
    assert backend.stats.retried >= 5


def test_retry_deadline_gives_up_with_a_signal(api, make_backend, failures, caplog):
    backend = make_backend(retry_deadline=0.2)
    api.refuse()
    with caplog.at_level(logging.ERROR, logger="pusherable"):
        sent = events(3)
        backend.send_events(sent)
        assert backend.flush(10)
    assert backend.stats.failed == 3
    assert [event for batch, _ in failures for event in batch] == sent
    [record] = error_records(caplog)
    assert "PUSHERABLE_RETRY_DEADLINE" in record.getMessage()


# -- permanent faults: logged once per cause, with what to check -----------------------


@pytest.mark.parametrize(
    ("status", "hint"),
    [
        (400, "check channel and event names"),
        (401, "check that PUSHER_KEY and PUSHER_SECRET belong to PUSHER_APP_ID"),
        (403, "Check PUSHER_APP_ID"),
        (404, "check PUSHER_HOST, PUSHER_PORT, PUSHER_SSL"),
        (413, "lower PUSHERABLE_MAX_PAYLOAD_SIZE"),
    ],
)
def test_permanent_faults_are_logged_once_per_cause(
    api, make_backend, failures, caplog, status, hint
):
    backend = make_backend()
    api.status = status
    with caplog.at_level(logging.DEBUG, logger="pusherable"):
        for _ in range(3):
            backend.send_events(events(12))
            assert backend.flush(10)
    [record] = error_records(caplog)
    assert f"HTTP {status}" in record.getMessage()
    assert hint in record.getMessage()
    assert backend.stats.failed == 36
    assert backend.stats.retried == 0
    assert sum(len(batch) for batch, _ in failures) == 36
    assert all(error.status == status for _, error in failures)


def test_a_poison_event_does_not_take_its_batch_with_it(api, make_backend, failures):
    backend = make_backend()
    original = api._handle

    def handle(path, body):
        if b"poison" in body:
            with api._lock:
                api.requests += 1
            return 413
        return original(path, body)

    api._handle = handle
    sent = [*events(9), Event(["private-article_1"], "poison", {})]
    backend.send_events(sent)
    assert backend.flush(10)
    assert sorted(e["data"]["i"] for e in api.events) == list(range(9))
    assert [event.name for batch, _ in failures for event in batch] == ["poison"]


def test_each_cause_gets_its_own_line(api, make_backend, caplog):
    backend = make_backend()
    with caplog.at_level(logging.ERROR, logger="pusherable"):
        for status in (401, 403, 401, 403):
            api.status = status
            backend.send_events(events(2))
            assert backend.flush(10)
    assert len(error_records(caplog)) == 2


# -- a flood while the API is down keeps memory bounded --------------------------------


def test_flood_while_down_is_bounded_counted_and_logged(api, make_backend, failures, caplog):
    backend = make_backend(queue_size=100, retry_deadline=60)
    api.refuse()
    with caplog.at_level(logging.WARNING, logger="pusherable"):
        for start in range(0, 5000, 50):
            backend.send_events(events(50))
            # Bounded at every moment: the queue plus one batch in flight.
            assert backend.queued <= 100 + backend.batch_size
        dropped = backend.stats.dropped
        assert dropped >= 5000 - 100 - backend.batch_size
        assert sum(len(batch) for batch, _ in failures) == dropped
        api.accept()
        assert backend.flush(10)
    assert backend.stats.sent + dropped == 5000
    assert len(api.events) == backend.stats.sent
    # The newest events survive: the oldest were dropped.
    assert api.events[-1]["data"]["i"] == 49
    messages = [r.getMessage() for r in caplog.records]
    assert sum("delivery queue is full" in m for m in messages) == 1
    assert sum(f"{dropped} event(s) were dropped" in m for m in messages) == 1


# -- shutdown --------------------------------------------------------------------------


def test_close_flushes_pending_events(api, make_backend):
    backend = make_backend()
    api.latency = 0.01
    backend.send_events(events(50))
    backend.close(timeout=10)
    assert len(api.events) == 50
    assert backend.stats.sent == 50


def test_close_gives_up_at_its_deadline(api, make_backend, failures, caplog):
    backend = make_backend(timeout=5.0)
    api.hang = True
    backend.send_events(events(30))
    with caplog.at_level(logging.ERROR, logger="pusherable"):
        backend.close(timeout=0.3)  # returns although the API still hangs
    api.hang = False
    # The batch in flight may still land; the 20 queued behind it are reported.
    assert backend.stats.failed == 20
    assert sum(len(batch) for batch, _ in failures) == 20
    assert "PUSHERABLE_SHUTDOWN_TIMEOUT" in caplog.text


def test_close_while_the_api_is_down_backs_off_instead_of_spinning(
    api, make_backend, failures, caplog
):
    backend = make_backend(retry_backoff=(0.05, 0.1))
    api.refuse()
    backend.send_events(events(3))
    with caplog.at_level(logging.ERROR, logger="pusherable"):
        backend.close(timeout=0.6)
    # Backoffs of 25-100 ms within 0.6 s: a handful of retries, not thousands.
    assert 1 <= backend.stats.retried <= 3 * 30
    # The sender reports the batch it was retrying as it stops, at the deadline,
    # which may be just after close() returned: wait for the sender to end (it
    # does once closed). Polling stats.failed is not enough: give_up() counts
    # the items before it sends delivery_failed.
    for worker in backend.workers:
        worker.join(10)
        assert not worker.is_alive()
    assert backend.stats.failed == 3
    assert sum(len(batch) for batch, _ in failures) == 3
    assert "unexpected error" not in caplog.text


def test_backoff_of_a_long_outage_stays_at_its_ceiling(api, make_backend):
    backend = make_backend(retry_backoff=(0.1, 30.0))
    assert 15.0 <= backend.backoff_delay(5000) <= 30.0


def test_interpreter_exit_flushes_pending_events(api, tmp_path):
    script = tmp_path / "exit_flush.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            sys.path.insert(0, {str(ROOT)!r})
            import django
            from django.conf import settings
            settings.configure(
                INSTALLED_APPS=["pusherable"],
                DATABASES={{}},
                PUSHERABLE_BACKEND="pusherable.backends.pusher.Backend",
                PUSHERABLE_SHUTDOWN_TIMEOUT=20,
                **{api.settings()!r},
            )
            django.setup()
            from pusherable import trigger
            for i in range(40):
                trigger("private-article_1", "e", {{"i": i}}, on_commit=False)
            print("queued")
            """
        )
    )
    api.latency = 0.02  # the queue is far from empty when the script ends
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "queued"
    assert sorted(e["data"]["i"] for e in api.events) == list(range(40))


# -- fork ------------------------------------------------------------------------------


def _child_sends(backend, parent_worker_id, queue):
    stats_before = backend.stats.as_dict()
    queued_before = backend.queued
    backend.send_events([Event(["private-article_1"], "from-child", {"pid": os.getpid()})])
    flushed = backend.flush(10)
    queue.put(
        {
            "stats_before": stats_before,
            "queued_before": queued_before,
            "flushed": flushed,
            "sent": backend.stats.sent,
            # native_id: the kernel's thread id, unique while the parent's thread
            # lives (pthread idents are addresses a child may hand out again).
            "new_worker": len(backend.workers) == 1
            and backend.workers[0].native_id != parent_worker_id,
        }
    )


@pytest.mark.skipif(not hasattr(os, "register_at_fork"), reason="needs os.register_at_fork")
# Forking a process with threads is what is tested (a preloading server such as
# gunicorn --preload does it); Python 3.12+ warns about it.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_worker_restarts_after_fork(api, make_backend):
    backend = make_backend()
    backend.send_events(events(3, "from-parent"))
    assert backend.flush(10)
    [parent_worker] = backend.workers  # one channel: one sender
    api.hang = True  # the parent has a batch in flight while it forks
    backend.send_events(events(1, "parent-pending"))
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=_child_sends, args=(backend, parent_worker.native_id, queue))
    process.start()
    api.hang = False
    result = queue.get(timeout=30)
    process.join(30)
    assert process.exitcode == 0
    # The child starts clean: none of the parent's counters, queue or thread.
    assert result["stats_before"] == {"sent": 0, "retried": 0, "dropped": 0, "failed": 0}
    assert result["queued_before"] == 0
    assert result["flushed"]
    assert result["sent"] == 1
    assert result["new_worker"]
    assert backend.flush(10)
    names = api.names()
    assert names.count("from-child") == 1
    # The parent's pending event went out once, from the parent only.
    assert names.count("parent-pending") == 1
    assert backend.workers == [parent_worker]
