"""The default backend: deliver events to the Pusher Channels HTTP API.

The request that triggers an event never waits on the network and never sees
an exception:

- one :class:`pusher.Pusher` client per process, built lazily and rebuilt
  after ``fork``, sending through keep-alive HTTP/1.1 connections
  (:class:`~pusherable.backends.transport.KeepAliveTransport`) rather than
  ``requests``, which costs several times the CPU per request;
- the caller only appends events to an inbox (and wakes a sleeping sender);
  the senders check, encode and size-limit them (:data:`PUSHERABLE_MAX_PAYLOAD_SIZE`)
  off the request's thread;
- a bounded in-memory queue (:data:`PUSHERABLE_QUEUE_SIZE`); when it is full
  the *oldest* event is dropped, counted, and logged once per burst;
- a few daemon sender threads (``senders``, 4 by default), each coalescing
  its queued events into ``trigger_batch`` calls of up to
  :data:`PUSHERABLE_BATCH_SIZE` items (one item per channel). Channels are
  shared out among the senders by a hash of their name, so several requests are
  in flight at once while the events of one channel keep their order (one
  sender, one batch at a time, retried in place);
- retries with exponential backoff and jitter for transient faults (refused
  connection, timeout, 5xx, 429) until :data:`PUSHERABLE_RETRY_DEADLINE`;
- one actionable log line per permanent fault cause (400, 401, 403, 404, 413,
  invalid settings) and :data:`pusherable.signals.delivery_failed` for every
  event that is given up on;
- a flush at interpreter exit bounded by :data:`PUSHERABLE_SHUTDOWN_TIMEOUT`.

Delivery is *at least once*: when the API accepted a batch but its answer was
lost (a timeout after the request went out), the batch is sent again.

With :data:`PUSHERABLE_DELIVERY` set to ``"sync"`` events are sent in the
calling thread, once, without retries; faults are still logged, never raised.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import random
import re
import sys
import threading
import time
import urllib.request
import weakref
import zlib
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pusher
import requests
from django.core.serializers.json import DjangoJSONEncoder
from pusher import errors as pusher_errors
from pusher.requests import RequestsBackend
from pusher.util import validate_channel

from ..conf import DELIVERY_MODES, settings
from ..events import Event
from ..exceptions import (
    ConfigurationError,
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from ..payload import limit_payload
from .base import BaseBackend
from .transport import KeepAliveTransport, TransportError

__all__ = ["Backend", "BatchItem", "DeliveryStats"]

logger = logging.getLogger("pusherable.delivery")

#: ``trigger_batch`` refuses an item whose data string has a larger
#: ``sys.getsizeof`` (Python object size, not bytes on the wire).
BATCH_ITEM_SIZE_LIMIT = 10_240
#: ``trigger`` allows up to this ``sys.getsizeof``; the server decides beyond
#: 10 KB (dedicated Pusher clusters accept more).
SINGLE_TRIGGER_SIZE_LIMIT = 30_720
#: Pusher refuses batches of more than 10 events.
MAX_BATCH_SIZE = 10
EVENT_NAME_LIMIT = 200
#: The pusher library refuses longer channel names (hosted Pusher: 164).
CHANNEL_NAME_LIMIT = 200
SOCKET_ID_RE = re.compile(r"\A\d+\.\d+\Z")
# The names pusher.util.validate_channel() accepts, short of the length and its
# server-to-user channels (which it still checks itself).
CHANNEL_NAME_RE = re.compile(r"\A[-a-zA-Z0-9_=@,.;]+\Z")
TRANSIENT_STATUSES = frozenset({408, 425, 429})
STATUS_RE = re.compile(r"\A(\d{3}):")
ERRNO_RE = re.compile(r"\[Errno -?\d+\] [^'\")]+")
TIMEOUT_RE = re.compile(r"(Read|Connect) timed out|Remote end closed connection without response")


@dataclass
class DeliveryStats:
    """Counters of one backend, for tests and monitoring.

    ``sent``
        Batch items (one event on one channel) the API accepted.
    ``retried``
        Batch items sent again after a transient fault.
    ``dropped``
        Batch items discarded unsent because the queue was full.
    ``failed``
        Batch items given up on: permanent fault, retry deadline passed,
        refused before sending (invalid name, too large), or still queued at exit.
    """

    sent: int = 0
    retried: int = 0
    dropped: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "sent": self.sent,
            "retried": self.retried,
            "dropped": self.dropped,
            "failed": self.failed,
        }


@dataclass
class BatchItem:
    """One event on one channel, ready for ``trigger_batch``; ``data`` is a JSON string."""

    event: Event
    channel: str
    data: str
    socket_id: str | None
    queued_at: float = field(default_factory=time.monotonic)
    attempts: int = 0

    def as_batch_dict(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "channel": self.channel,
            "name": self.event.name,
            "data": self.data,
        }
        if self.socket_id:
            item["socket_id"] = self.socket_id
        return item


@dataclass(eq=False)
class _Shard:
    """One sender: its queue (the channels hashed to it), thread and batch in flight."""

    wakeup: threading.Condition
    queue: deque[BatchItem] = field(default_factory=deque)
    worker: threading.Thread | None = None
    # False once the worker left its loop: read on every event, unlike the costlier
    # Thread.is_alive().
    running: bool = False
    # True while the worker waits for work: only then must a caller wake it.
    asleep: bool = False
    in_flight: int = 0
    last_sent_at: float = float("-inf")
    last_batch_size: int = 0


# Live backends, so that the fork and exit hooks (registered once per process)
# reach every one of them without keeping them alive.
_live_backends: weakref.WeakSet[Backend] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for backend in list(_live_backends):
        backend.reset_after_fork()


def _close_at_exit() -> None:
    for backend in list(_live_backends):
        backend.close(backend.shutdown_timeout)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_close_at_exit)


class Backend(BaseBackend):
    """Send events to the Pusher HTTP API from background sender threads.

    Every option defaults to the matching setting; pass them through
    :data:`PUSHERABLE_BACKEND_OPTIONS` or to the constructor:

    :param delivery: ``"background"`` or ``"sync"`` (:data:`PUSHERABLE_DELIVERY`).
    :param queue_size: most batch items kept waiting (:data:`PUSHERABLE_QUEUE_SIZE`).
    :param batch_size: items per ``trigger_batch`` call, at most 10
        (:data:`PUSHERABLE_BATCH_SIZE`).
    :param timeout: seconds per API request (:data:`PUSHERABLE_TIMEOUT`).
    :param retry_backoff: ``(first, longest)`` wait in seconds (:data:`PUSHERABLE_RETRY_BACKOFF`).
    :param retry_deadline: seconds an item is retried (:data:`PUSHERABLE_RETRY_DEADLINE`).
    :param shutdown_timeout: seconds to flush at exit (:data:`PUSHERABLE_SHUTDOWN_TIMEOUT`).
    :param linger: under load (the previous batch went out less than ``linger``
        seconds ago, and more events are waiting or the previous batch was full),
        seconds to wait for a batch to fill before sending it. A lone event, after
        a quiet period or in a trickle, goes out at once (see :meth:`should_linger`).
    :param senders: sender threads, hence requests in flight at once. Each
        channel always goes through the same sender, so its events keep their order.
    :param http_backend: the ``pusher`` library's HTTP backend: ``None`` (the
        default) for :class:`~pusherable.backends.transport.KeepAliveTransport`,
        or the library's ``requests`` backend when an ``HTTP(S)_PROXY`` environment
        variable applies to the API host; ``"requests"``, ``"keepalive"``, a
        class or its dotted path to choose.
    :param client_options: keyword arguments for :class:`pusher.Pusher`, by default
        :meth:`pusherable.conf.Settings.pusher_client_options`.
    """

    def __init__(
        self,
        *,
        delivery: str | None = None,
        queue_size: int | None = None,
        batch_size: int | None = None,
        timeout: float | None = None,
        retry_backoff: tuple[float, float] | None = None,
        retry_deadline: float | None = None,
        shutdown_timeout: float | None = None,
        linger: float = 0.002,
        senders: int = 4,
        http_backend: Any = None,
        client_options: dict[str, Any] | None = None,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.delivery = delivery if delivery is not None else settings.PUSHERABLE_DELIVERY
        if self.delivery not in DELIVERY_MODES:
            raise ConfigurationError(
                f"PUSHERABLE_DELIVERY is {self.delivery!r}; use one of {DELIVERY_MODES}."
            )
        # In "background" mode the sender threads apply PUSHERABLE_MAX_PAYLOAD_SIZE
        # (and encode), not the request (read on every event: a plain attribute).
        self.limits_payload_size = self.delivery == "background"
        self.queue_size = max(1, int(queue_size or settings.PUSHERABLE_QUEUE_SIZE))
        self.batch_size = min(
            MAX_BATCH_SIZE, max(1, int(batch_size or settings.PUSHERABLE_BATCH_SIZE))
        )
        self.timeout = float(timeout if timeout is not None else settings.PUSHERABLE_TIMEOUT)
        first, longest = retry_backoff or settings.PUSHERABLE_RETRY_BACKOFF
        self.retry_backoff = (float(first), float(longest))
        self.retry_deadline = float(
            retry_deadline if retry_deadline is not None else settings.PUSHERABLE_RETRY_DEADLINE
        )
        self.shutdown_timeout = float(
            shutdown_timeout
            if shutdown_timeout is not None
            else settings.PUSHERABLE_SHUTDOWN_TIMEOUT
        )
        self.client_options = dict(
            client_options if client_options is not None else settings.pusher_client_options()
        )
        self.client_options["timeout"] = self.timeout
        self.linger = max(0.0, float(linger))
        self.senders = max(1, int(senders))
        self.http_backend = http_backend
        self.stats = DeliveryStats()
        self._init_state()
        _live_backends.add(self)

    def _init_state(self) -> None:
        # Everything a forked child must not share with its parent.
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._shards = [_Shard(threading.Condition(self._lock)) for _ in range(self.senders)]
        self._queued = 0  # items in every shard's queue
        self._closed = False
        self._stop_by: float | None = None
        self._client: Any = None
        self._client_lock = threading.Lock()
        self._logged_causes: set[str] = set()
        self._dropping = False
        self._burst_drops = 0
        self._retrying = False
        # The hand-off from the caller: events appended as they come, turned into
        # batch items (validated, encoded, size-limited, shared out among the
        # senders) by the first sender that looks, so that a request does none of it.
        self._inbox: deque[Event] = deque()
        self._dispatch_lock = threading.Lock()  # one dispatch at a time: order kept
        self._dispatching = 0  # batch items taken from the inbox, not yet queued

    # -- public API -----------------------------------------------------------

    @property
    def queued(self) -> int:
        """Batch items waiting in the queue or being sent right now."""
        with self._lock:
            waiting = sum(len(event.channels) for event in self._inbox)
            return (
                waiting
                + self._dispatching
                + self._queued
                + sum(shard.in_flight for shard in self._shards)
            )

    @property
    def workers(self) -> list[threading.Thread]:
        """The sender threads started so far (one per sender that had work)."""
        with self._lock:
            return [shard.worker for shard in self._shards if shard.worker is not None]

    def send_events(self, events: Sequence[Event]) -> int:
        """Queue ``events`` (or send them at once in ``"sync"`` mode); never raises.

        In ``"background"`` mode the caller only appends the events to an inbox
        (:meth:`submit`); a sender prepares them (:meth:`prepare_items`) and queues
        them for itself and the other senders (:meth:`enqueue`).
        """
        try:
            if self.delivery == "sync":
                self.deliver(self.prepare_items(events))
            elif self._closed:
                self.enqueue(self.prepare_items(events))  # refused and reported there
            else:
                self.submit(events)
        except Exception as exc:  # never into a view, whatever happens
            logger.exception("pusherable: could not queue %d event(s)", len(events))
            self.report_failure(list(events), exc)
            return 0
        return len(events)

    def submit(self, events: Sequence[Event]) -> None:
        """Hand ``events`` to the senders: the whole cost on the request path.

        The events go to an inbox; the sender of each event's channels is woken if
        it sleeps (a busy one looks at the inbox once its batch is done), and the
        first sender to look prepares everything in the inbox, in order.
        """
        inbox = self._inbox
        inbox.extend(events)
        if len(inbox) + self._dispatching + self._queued > self.queue_size:
            # The queue is full (the API is down, or far behind) or the senders are:
            # do their work here, where the oldest events are dropped, so that what
            # waits (including what a sender is preparing) stays within
            # PUSHERABLE_QUEUE_SIZE.
            self.dispatch_inbox()
            return
        shards = self._shards
        for event in events:
            for channel in event.channels:
                # An odd channel (refused later, when prepared) wakes the first sender.
                shard = shards[self.shard_index(channel) if type(channel) is str else 0]
                # Read after the append: a sender that saw an empty inbox said it
                # sleeps before it looked (see _take_batch), so no wake-up is lost.
                if shard.asleep or not shard.running:
                    with self._lock:
                        if not shard.running:
                            self._start_worker(shard)
                        else:
                            shard.wakeup.notify()

    def dispatch_inbox(self) -> None:
        """Prepare and queue every event in the inbox, in order (see :meth:`submit`)."""
        inbox = self._inbox
        with self._dispatch_lock:
            while inbox:
                taken: list[Event] = []
                with self._lock:
                    while inbox:
                        taken.append(inbox.popleft())
                    # Counted in batch items, the unit of ``queued`` and the queue bound.
                    preparing = sum(len(event.channels) for event in taken)
                    self._dispatching += preparing
                try:
                    items = self.prepare_items(taken)
                    # enqueue() takes them off the count in the step that queues them:
                    # released here afterwards, ``queued`` would count them twice
                    # in between.
                    handed_over, preparing = preparing, 0
                    self.enqueue(items, handed_over=handed_over)
                except Exception as exc:  # a sender must survive anything
                    logger.exception("pusherable: could not queue %d event(s)", len(taken))
                    self.report_failure(taken, exc)
                finally:
                    with self._lock:
                        self._dispatching -= preparing
                        if not self._dispatching and not self._queued:
                            # Nothing was queued (all refused): flush() may be done.
                            # Otherwise the senders tell it when they are.
                            self._idle.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued item was sent or given up on; True if the queue is empty."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while True:
                busy = [shard for shard in self._shards if shard.queue or shard.in_flight]
                if not busy and not self._inbox and not self._dispatching:
                    return True
                if any(not shard.running for shard in busy):
                    return False
                if (
                    self._inbox
                    and not self._dispatching
                    and not any(shard.running for shard in self._shards)
                ):
                    return False  # nobody left to look at the inbox
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._idle.wait(remaining)

    def close(self, timeout: float | None = None) -> None:
        """Stop accepting events, deliver what is queued within ``timeout``, fail the rest."""
        if timeout is None:
            timeout = self.shutdown_timeout
        with self._lock:
            if self._closed:
                return
        # What is still in the inbox goes to the senders' queues first.
        self.dispatch_inbox()
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._stop_by = stop_by = time.monotonic() + timeout
            for shard in self._shards:
                shard.wakeup.notify_all()
            workers = [shard.worker for shard in self._shards if shard.worker is not None]
        for worker in workers:
            if worker is not threading.current_thread():
                # A request in flight may outlive the deadline; the daemon thread
                # then dies with the process, and its batch counts as not delivered.
                worker.join(max(0.0, stop_by - time.monotonic()))
        # Events handed over while closing are refused by enqueue() (the backend is
        # closed now), counted and reported like any other.
        self.dispatch_inbox()
        with self._lock:
            leftover = [item for shard in self._shards for item in shard.queue]
            for shard in self._shards:
                shard.queue.clear()
            self._queued = 0
        if leftover:
            self.give_up(
                leftover,
                TransientDeliveryError(
                    f"{len(leftover)} event(s) still queued when the process stopped "
                    f"(PUSHERABLE_SHUTDOWN_TIMEOUT is {timeout:g}s)"
                ),
                cause="shutdown",
            )
        _live_backends.discard(self)

    # -- overridable pieces -----------------------------------------------------

    def build_client(self) -> Any:
        """Return the API client; called once per process (again after ``fork``)."""
        options = dict(self.client_options)
        if "backend" not in options:
            options["backend"] = self.http_backend_class()
            if options["backend"] is KeepAliveTransport:
                # A connection per sender, and a few more for "sync" delivery.
                options.setdefault("max_idle", max(4, self.senders))
        return pusher.Pusher(**options)

    def http_backend_class(self) -> type:
        """The ``pusher`` library's HTTP backend class to send through (see ``http_backend``)."""
        choice = self.http_backend
        if choice is None:
            return RequestsBackend if self._proxy_applies() else KeepAliveTransport
        if choice == "keepalive":
            return KeepAliveTransport
        if choice == "requests":
            return RequestsBackend
        if isinstance(choice, str):
            from django.utils.module_loading import import_string

            try:
                return import_string(choice)
            except ImportError as exc:
                raise ConfigurationError(
                    f"http_backend {choice!r} cannot be imported: {exc}"
                ) from exc
        return choice

    def _proxy_applies(self) -> bool:
        # requests honours HTTP(S)_PROXY and NO_PROXY; the lean transport does
        # not, so a deployment that relies on a proxy keeps the requests path.
        scheme = "https" if self.client_options.get("ssl", True) else "http"
        if not urllib.request.getproxies().get(scheme):
            return False
        host = self._api_location().split("://", 1)[1].rsplit(":", 1)[0]
        return not urllib.request.proxy_bypass(host)

    def encode_data(self, data: Any) -> str:
        """Serialize an event's data to the JSON string Pusher carries."""
        return json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":"))

    def event_data(self, event: Event) -> str:
        """The JSON string sent for ``event``: the one it already carries
        (:attr:`~pusherable.events.Event.encoded_data`, encoded by
        :func:`~pusherable.delivery.trigger` for the size limit), else
        :meth:`encode_data` of its data.

        A subclass that overrides :meth:`encode_data` always gets its own encoding.
        """
        encoded = event.encoded_data
        if encoded is not None and type(self).encode_data is Backend.encode_data:
            return encoded
        return self.encode_data(event.data)

    def classify_error(self, exc: BaseException) -> DeliveryError:
        """Map an exception from the client to a transient or permanent :class:`DeliveryError`."""
        if isinstance(exc, DeliveryError):
            return exc
        if isinstance(exc, (requests.Timeout, requests.ConnectionError, TransportError)):
            return TransientDeliveryError(_short_reason(exc))
        status: int | None = None
        if isinstance(exc, pusher_errors.PusherBadRequest):
            status = 400
        elif isinstance(exc, pusher_errors.PusherBadAuth):
            status = 401
        elif isinstance(exc, pusher_errors.PusherForbidden):
            status = 403
        elif isinstance(exc, pusher_errors.PusherBadStatus):
            match = STATUS_RE.match(str(exc))
            status = int(match.group(1)) if match else None
        if status is not None:
            message = f"HTTP {status}: {str(exc)[:300]}"
            if status >= 500 or status in TRANSIENT_STATUSES:
                return TransientDeliveryError(message, status=status)
            return PermanentDeliveryError(message, status=status)
        if isinstance(exc, requests.RequestException):
            return TransientDeliveryError(_short_reason(exc))
        return PermanentDeliveryError(f"{type(exc).__name__}: {exc}")

    def backoff_delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1, 2...): doubling, with jitter."""
        first, longest = self.retry_backoff
        # The exponent is capped: a long outage must not overflow the float.
        ceiling = min(longest, first * (2 ** min(attempt - 1, 64)))
        # "Equal jitter": never less than half the ceiling, so retries from
        # many processes spread out without retrying too eagerly.
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def fault_hint(self, error: DeliveryError, cause: str) -> str:
        """The actionable sentence logged (once) for a permanent fault ``cause``."""
        where = self._api_location()
        hints = {
            "400": "the API refused an event as malformed; check channel and event names "
            "(at most 200 characters of a-z A-Z 0-9 _ - = @ , . ;).",
            "401": f"the API at {where} refused the credentials; check that PUSHER_KEY and "
            "PUSHER_SECRET belong to PUSHER_APP_ID.",
            "403": f"the API at {where} refused the app; it may be disabled or over its "
            "message quota. Check PUSHER_APP_ID and the app's dashboard.",
            "404": f"no Pusher API at {where}; check PUSHER_HOST, PUSHER_PORT, PUSHER_SSL "
            "and PUSHER_APP_ID (or PUSHER_CLUSTER).",
            "413": "the API refused an event as too large (10 KB per event on Pusher); "
            "lower PUSHERABLE_MAX_PAYLOAD_SIZE or exclude fields from the payload.",
            "too-large": "an event's data is over 30 KB, more than the pusher library "
            "sends; lower PUSHERABLE_MAX_PAYLOAD_SIZE or exclude fields from the payload.",
            "invalid": "an event was refused before sending; check its channel and event "
            "names (at most 200 characters of a-z A-Z 0-9 _ - = @ , . ;).",
            "client": "the Pusher client cannot be built from the settings; check "
            "PUSHER_APP_ID (digits only), PUSHER_KEY, PUSHER_SECRET, PUSHER_PORT (an "
            "integer) and PUSHER_SSL (a boolean).",
            "deadline": "the API stayed unreachable for PUSHERABLE_RETRY_DEADLINE "
            f"({self.retry_deadline:g}s) at {where}; check that it is up and reachable.",
            "transient": f"the API at {where} is unreachable or overloaded, and "
            'PUSHERABLE_DELIVERY = "sync" does not retry; use "background" delivery.',
            "shutdown": "the process stopped before the API accepted them; raise "
            "PUSHERABLE_SHUTDOWN_TIMEOUT or check that the API is reachable at exit.",
        }
        return hints.get(cause, f"check the Pusher API at {where} and the PUSHER_* settings.")

    def report_failure(self, events: list[Event], error: BaseException) -> None:
        """Send :data:`pusherable.signals.delivery_failed` for ``events`` (never raises)."""
        from ..signals import delivery_failed

        if not events:
            return
        for _receiver, response in delivery_failed.send_robust(
            sender=type(self), events=events, error=error
        ):
            if isinstance(response, Exception):
                logger.error(
                    "pusherable: a delivery_failed receiver raised %r", response, exc_info=response
                )

    # -- preparing items --------------------------------------------------------

    def prepare_items(self, events: Iterable[Event]) -> list[BatchItem]:
        """Split events into one :class:`BatchItem` per channel; refuse what cannot go out."""
        items: list[BatchItem] = []
        refused: list[tuple[Event, str]] = []
        cls = type(self)
        # Without overrides, event_data() is the JSON the event already carries.
        own_encoding = (
            cls.event_data is Backend.event_data and cls.encode_data is Backend.encode_data
        )
        for event in events:
            if not _plainly_valid(event):
                reason = self._invalid_event_reason(event)
                if reason:
                    refused.append((event, reason))
                    continue
            data = event.encoded_data if own_encoding else None
            if data is None:
                try:
                    if self.limits_payload_size:
                        event = self.limit_event(event)
                        data = event.encoded_data if own_encoding else None
                    if data is None:
                        data = self.event_data(event)
                except (TypeError, ValueError) as exc:  # PayloadError is a ValueError
                    refused.append((event, f"data is not JSON-serializable: {exc}"))
                    continue
            if sys.getsizeof(data) > SINGLE_TRIGGER_SIZE_LIMIT:
                self._fail_event(event, f"data of {len(data)} characters", "too-large")
                continue
            socket_id = event.socket_id
            if socket_id and not SOCKET_ID_RE.match(str(socket_id)):
                # The pusher library raises on it; sending to every tab beats not sending.
                logger.debug("pusherable: ignoring malformed socket id %r", socket_id)
                socket_id = None
            for channel in event.channels:
                items.append(BatchItem(event, channel, data, socket_id))
        for event, reason in refused:
            self._fail_event(event, reason, "invalid")
        return items

    def limit_event(self, event: Event) -> Event:
        """``event`` within :data:`PUSHERABLE_MAX_PAYLOAD_SIZE`, with its JSON kept on it.

        The size guard :func:`pusherable.delivery.send_event` applies in the request
        for other backends (see :attr:`limits_payload_size`): an event over the
        limit becomes a small ``"truncated": true`` one, logged once per event.
        Raises :exc:`~pusherable.exceptions.PayloadError` for data that is not JSON.
        """
        data, encoded = limit_payload(event.data, event=event.name)
        if data is not event.data:
            return replace(event, data=data, encoded_data=encoded)
        event.encoded_data = encoded
        return event

    def _invalid_event_reason(self, event: Event) -> str | None:
        if not event.channels:
            return "no channel"
        if not isinstance(event.name, str) or not event.name:
            return f"event name {event.name!r} is not a non-empty string"
        if len(event.name) > EVENT_NAME_LIMIT:
            return f"event name longer than {EVENT_NAME_LIMIT} characters"
        for channel in event.channels:
            try:
                validate_channel(channel)
            except (TypeError, ValueError) as exc:
                return f"channel {channel!r}: {exc}"
        return None

    def _fail_event(self, event: Event, reason: str, cause: str) -> None:
        error = PermanentDeliveryError(f"event {event.name!r} on {event.channels}: {reason}")
        with self._lock:
            self.stats.failed += len(event.channels) or 1
        self.log_fault(error, cause)
        self.report_failure([event], error)

    # -- the queue --------------------------------------------------------------

    def enqueue(self, items: list[BatchItem], *, handed_over: int = 0) -> None:
        """Append ``items`` to their senders' queues; when full, drop (and report) the oldest.

        ``handed_over`` is how many batch items :meth:`dispatch_inbox` counted as
        being prepared: they leave that count under the same lock that queues
        ``items``, so that :attr:`queued` sees each of them exactly once.
        """
        if not items and not handed_over:
            return
        dropped: list[BatchItem] = []
        shards = self._shards
        with self._lock:
            self._dispatching -= handed_over
            if self._closed:
                dropped = items
            else:
                overflow = self._queued + len(items) - self.queue_size
                if overflow > 0:
                    dropped = self._drop_oldest(overflow, items)
                for item in items:
                    shard = shards[self.shard_index(item.channel)]
                    shard.queue.append(item)
                    # Wake the sender when it may wait for a first item or a full
                    # batch; waking it for every event would cost a thread switch.
                    size = len(shard.queue)
                    if size == 1 or size == self.batch_size:
                        if not shard.running:
                            self._start_worker(shard)
                        shard.wakeup.notify()
                self._queued += len(items)
            if dropped:
                self.stats.dropped += len(dropped)
                self._burst_drops += len(dropped)
                first_of_burst = not self._dropping
                self._dropping = True
        if dropped:
            # Logged once per burst; the worker logs the total when it ends.
            if first_of_burst:
                logger.warning(
                    "pusherable: the delivery queue is full (%d events, PUSHERABLE_QUEUE_SIZE); "
                    "dropping the oldest until the Pusher API at %s catches up",
                    self.queue_size,
                    self._api_location(),
                )
            self.report_failure(
                _events_of(dropped),
                TransientDeliveryError("delivery queue full (PUSHERABLE_QUEUE_SIZE)"),
            )

    def shard_index(self, channel: str) -> int:
        """The sender (``0`` to ``senders - 1``) that carries every event of ``channel``."""
        count = len(self._shards)
        # A stable hash (str hashes change from process to process).
        return zlib.crc32(channel.encode()) % count if count > 1 else 0

    def _drop_oldest(self, count: int, incoming: list[BatchItem]) -> list[BatchItem]:
        # Called with the lock held: take ``count`` items, oldest first, from the
        # queues, then from the head of ``incoming`` (a burst larger than the queue).
        dropped: list[BatchItem] = []
        while len(dropped) < count:
            heads = [shard for shard in self._shards if shard.queue]
            if not heads:
                break
            oldest = min(heads, key=lambda shard: shard.queue[0].queued_at)
            dropped.append(oldest.queue.popleft())
            self._queued -= 1
        del_count = count - len(dropped)
        if del_count > 0:
            dropped.extend(incoming[:del_count])
            del incoming[:del_count]
        return dropped

    def _start_worker(self, shard: _Shard) -> None:
        # Called with the lock held.
        shard.worker = threading.Thread(
            target=self._run_worker,
            args=(shard,),
            name=f"pusherable-delivery-{self._shards.index(shard)}",
            daemon=True,
        )
        shard.running = True
        try:
            shard.worker.start()
        except BaseException:
            shard.running = False
            raise

    def _take_batch(self, shard: _Shard) -> list[BatchItem] | None:
        # None: stop. []: the inbox has events, dispatch them and come back.
        with self._lock:
            while not shard.queue or self._past_stop_time():
                self._end_drop_burst()
                if self._closed:
                    return None
                # Say "asleep" before looking at the inbox: submit() appends, then
                # reads the flag, so one of the two sees the other's work.
                shard.asleep = True
                if self._inbox:
                    shard.asleep = False
                    return []
                self._idle.notify_all()  # idle indeed: flush() may be done
                shard.wakeup.wait()
                shard.asleep = False
            # Under load, fewer and fuller requests cost the process less CPU (and so
            # the requests sharing its GIL less time); a trickle goes out at once.
            if self.should_linger(
                len(shard.queue), time.monotonic() - shard.last_sent_at, shard.last_batch_size
            ):
                shard.wakeup.wait_for(
                    lambda: len(shard.queue) >= self.batch_size or self._closed,
                    timeout=self.linger,
                )
            count = min(self.batch_size, len(shard.queue))
            popleft = shard.queue.popleft
            batch = [popleft() for _ in range(count)]
            self._queued -= count
            shard.in_flight = count
            shard.last_batch_size = count
            return batch

    def should_linger(self, queued: int, since_last_batch: float, last_batch_size: int) -> bool:
        """Whether a sender waits up to ``linger`` seconds for its batch to fill.

        Only under load: the previous batch went out less than ``linger`` ago, and
        either more than one event is already waiting or the previous batch was
        full (a burst is going on). A trickle of single events, even a fast one,
        goes out at once rather than waiting for company that is not coming.
        """
        if not self.linger or queued >= self.batch_size or since_last_batch >= self.linger:
            return False
        return queued > 1 or last_batch_size >= self.batch_size

    def _past_stop_time(self) -> bool:
        # Called with the lock held: close() gave up waiting, leave the rest to it.
        return self._stop_by is not None and time.monotonic() >= self._stop_by

    def _end_drop_burst(self) -> None:
        # Called with the lock held, when the queue has room again.
        if self._dropping:
            logger.warning(
                "pusherable: %d event(s) were dropped because the delivery queue was full",
                self._burst_drops,
            )
            self._dropping = False
            self._burst_drops = 0

    def _run_worker(self, shard: _Shard) -> None:
        try:
            self._work(shard)
        finally:
            with self._lock:
                shard.running = False
                self._idle.notify_all()

    def _work(self, shard: _Shard) -> None:
        while True:
            if self._inbox:
                self.dispatch_inbox()
            batch = self._take_batch(shard)
            if batch is None:
                break
            if not batch:
                continue
            try:
                self.deliver(batch, retry=True)
            except Exception as exc:  # the worker must survive anything
                logger.exception("pusherable: unexpected error in the delivery worker")
                self.give_up(batch, self.classify_error(exc), cause="unexpected")
            finally:
                with self._lock:
                    shard.in_flight = 0
                    shard.last_sent_at = time.monotonic()
                    if not shard.queue:
                        self._idle.notify_all()

    # -- sending ----------------------------------------------------------------

    def get_client(self) -> Any:
        """The process's client, built on first use."""
        client = self._client
        if client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = self.build_client()
                client = self._client
        return client

    def deliver(self, items: list[BatchItem], *, retry: bool = False) -> None:
        """Send ``items`` in batches; with ``retry``, retry transient faults with backoff."""
        batch: list[BatchItem] = []
        for item in items:
            if sys.getsizeof(item.data) > BATCH_ITEM_SIZE_LIMIT:
                # Too large for trigger_batch's client-side check: trigger() allows up
                # to 30 KB and lets the server decide (dedicated clusters accept more).
                # What came before it goes first, so that the order is kept.
                if batch:
                    self._deliver_batch(batch, retry=retry)
                    batch = []
                self._deliver_batch([item], retry=retry)
                continue
            batch.append(item)
            if len(batch) == self.batch_size:
                self._deliver_batch(batch, retry=retry)
                batch = []
        if batch:
            self._deliver_batch(batch, retry=retry)

    def _deliver_batch(self, batch: list[BatchItem], *, retry: bool) -> None:
        while batch:
            try:
                self.send_batch(batch)
            except Exception as exc:
                error = self.classify_error(exc)
                if isinstance(error, TransientDeliveryError) and retry:
                    batch = self._wait_before_retry(batch, error)
                    continue
                if isinstance(error, TransientDeliveryError):
                    self.give_up(batch, error, cause="transient")
                elif error.status in (400, 413) and len(batch) > 1:
                    # One bad event must not take the rest of the batch with it.
                    half = len(batch) // 2
                    self._deliver_batch(batch[:half], retry=retry)
                    self._deliver_batch(batch[half:], retry=retry)
                else:
                    self.give_up(batch, error, cause=error.cause or _cause_of(exc))
                return
            with self._lock:
                self.stats.sent += len(batch)
                recovered, self._retrying = self._retrying, False
            if recovered:
                logger.warning("pusherable: the Pusher API is available again")
            return

    def send_batch(self, batch: list[BatchItem]) -> None:
        """One API call for ``batch``; raises what the client raises."""
        try:
            client = self.get_client()
        except (TypeError, ValueError) as exc:
            raise PermanentDeliveryError(
                f"invalid client settings: {exc}", cause="client"
            ) from exc
        try:
            if len(batch) == 1 and sys.getsizeof(batch[0].data) > BATCH_ITEM_SIZE_LIMIT:
                item = batch[0]
                client.trigger([item.channel], item.event.name, item.data, item.socket_id)
            else:
                # prepare_items() already validated and encoded the items; the
                # library must still encrypt private-encrypted- channels itself.
                encrypted = any(item.channel.startswith("private-encrypted-") for item in batch)
                client.trigger_batch(
                    [item.as_batch_dict() for item in batch], already_encoded=not encrypted
                )
        except json.JSONDecodeError:
            # A 200/202 with a body that is not JSON: the API took the events, but
            # the pusher library chokes on the answer. Count them as sent.
            self.log_fault(
                PermanentDeliveryError("the API answered 2xx with a non-JSON body"),
                "non-json",
                level=logging.WARNING,
                hint="the server is not fully Pusher-compatible (it must answer {}); "
                "events are delivered anyway.",
            )

    def _wait_before_retry(
        self, batch: list[BatchItem], error: TransientDeliveryError
    ) -> list[BatchItem]:
        now = time.monotonic()
        keep = [item for item in batch if now - item.queued_at < self.retry_deadline]
        expired = [item for item in batch if now - item.queued_at >= self.retry_deadline]
        if expired:
            self.give_up(expired, error, cause="deadline")
        if not keep:
            return []
        attempt = max(item.attempts for item in keep) + 1
        for item in keep:
            item.attempts += 1
        delay = self.backoff_delay(attempt)
        with self._lock:
            first_fault = not self._retrying
            self._retrying = True
        logger.log(
            logging.WARNING if first_fault else logging.DEBUG,
            "pusherable: the Pusher API at %s is unavailable (%s); retrying %d event(s) "
            "in %.2fs, for up to PUSHERABLE_RETRY_DEADLINE (%gs)",
            self._api_location(),
            error,
            len(keep),
            delay,
            self.retry_deadline,
        )
        with self._lock:
            stopped = self._wait_for_backoff(keep, delay)
            if not stopped:
                self.stats.retried += len(keep)
        if stopped:
            # close() already failed what was queued; this batch is the sender's own.
            self.give_up(
                keep,
                TransientDeliveryError(
                    f"{len(keep)} event(s) still being retried when the process stopped ({error})"
                ),
                cause="shutdown",
            )
            return []
        return keep

    def _wait_for_backoff(self, batch: list[BatchItem], delay: float) -> bool:
        # Called with the lock held. True when close()'s deadline came first.
        if self._closed and self._stop_by is not None:
            delay = min(delay, max(0.0, self._stop_by - time.monotonic()))
            if delay <= 0:
                return True
        wakeup = self._shard_of(batch).wakeup
        if self._closed:
            # Already closing: wait out the backoff (cut to the stop time above)
            # rather than retrying in a busy loop until the deadline.
            resume_at = time.monotonic() + delay
            while (remaining := resume_at - time.monotonic()) > 0:
                wakeup.wait(remaining)
        else:
            # Woken early only by close(), so that exit does not sit out a long backoff.
            wakeup.wait_for(lambda: self._closed, timeout=delay)
        return self._closed and self._past_stop_time()

    def _shard_of(self, batch: list[BatchItem]) -> _Shard:
        # Every item of a batch comes from the same sender's queue.
        return self._shards[self.shard_index(batch[0].channel)]

    def give_up(self, items: list[BatchItem], error: DeliveryError, *, cause: str) -> None:
        """Count ``items`` as failed, log the cause once, and send ``delivery_failed``."""
        if not items:
            return
        with self._lock:
            self.stats.failed += len(items)
        self.log_fault(error, cause)
        self.report_failure(_events_of(items), error)

    def log_fault(
        self,
        error: DeliveryError,
        cause: str,
        *,
        level: int = logging.ERROR,
        hint: str | None = None,
    ) -> None:
        """Log ``error`` with its hint the first time ``cause`` occurs; later ones at DEBUG."""
        with self._lock:
            first = cause not in self._logged_causes
            self._logged_causes.add(cause)
        if first:
            logger.log(
                level,
                "pusherable: events not delivered (%s): %s",
                error,
                hint or self.fault_hint(error, cause),
            )
        else:
            logger.debug("pusherable: events not delivered (%s)", error)

    def _api_location(self) -> str:
        options = self.client_options
        scheme = "https" if options.get("ssl", True) else "http"
        host = options.get("host") or f"api-{options.get('cluster') or 'mt1'}.pusher.com"
        port = options.get("port")
        return f"{scheme}://{host}{f':{port}' if port else ''}"

    # -- fork -------------------------------------------------------------------

    def reset_after_fork(self) -> None:
        """In a forked child: forget the parent's queue, thread and connections.

        The parent still delivers what it had queued; the child starts a fresh
        worker and client on its next event (gunicorn ``--preload``, multiprocessing).
        """
        self._init_state()
        self.stats = DeliveryStats()


def _plainly_valid(event: Event) -> bool:
    # The usual event, known good without the pusher library's checks (which
    # _invalid_event_reason() runs for anything else, to say what is wrong).
    name = event.name
    if type(name) is not str or not 0 < len(name) <= EVENT_NAME_LIMIT or not event.channels:
        return False
    for channel in event.channels:
        if (
            type(channel) is not str
            or len(channel) > CHANNEL_NAME_LIMIT
            or not CHANNEL_NAME_RE.match(channel)
        ):
            return False
    return True


def _events_of(items: Iterable[BatchItem]) -> list[Event]:
    # An event on three channels is one event for the signal's receivers.
    seen: dict[int, Event] = {}
    for item in items:
        seen.setdefault(id(item.event), item.event)
    return list(seen.values())


def _short_reason(exc: BaseException) -> str:
    # requests' messages repeat the whole signed URL; keep the part that explains.
    text = str(exc)
    match = ERRNO_RE.search(text) or TIMEOUT_RE.search(text)
    reason = match.group(0) if match else text[:200]
    return f"{type(exc).__name__}: {reason}"


def _cause_of(exc: BaseException) -> str:
    return type(exc).__name__
