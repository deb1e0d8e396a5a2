"""The default backend: deliver events to the Pusher Channels HTTP API.

The request that triggers an event never waits on the network and never sees
an exception:

- one :class:`pusher.Pusher` client per process, built lazily and rebuilt after
  ``fork``; the library builds and signs each request, and
  :class:`~pusherable.backends.http.Urllib3Transport` sends it through a urllib3
  pool of keep-alive connections (TLS, proxies, timeouts);
- the caller only appends events to an inbox; sender threads check them, split
  them into batch items (one per channel) and send them as ``trigger_batch``
  calls of up to :data:`PUSHERABLE_BATCH_SIZE` items, from a bounded queue
  (:data:`PUSHERABLE_QUEUE_SIZE`, the oldest dropped when full): see
  :mod:`pusherable.backends.senders`;
- retries with exponential backoff and jitter for transient faults (refused
  connection, timeout, 5xx, 429) until :data:`PUSHERABLE_RETRY_DEADLINE`;
- one actionable log line per permanent fault cause (400, 401, 403, 404, 413,
  invalid settings), by status code and exception type
  (:mod:`pusherable.backends.faults`), and :data:`pusherable.signals.delivery_failed`
  for every event that is given up on;
- a flush at interpreter exit bounded by :data:`PUSHERABLE_SHUTDOWN_TIMEOUT`.

Delivery is *at least once*: when the API accepted a batch but its answer was
lost (a timeout after the request went out), the batch is sent again.

With :data:`PUSHERABLE_DELIVERY` set to ``"sync"`` events are sent in the
calling thread, once, without retries; faults are still logged, never raised.
"""

from __future__ import annotations

import json
import logging
import random
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

import pusher

from ..conf import DELIVERY_MODES, settings
from ..encoding import encode_json
from ..events import Event
from ..exceptions import (
    ConfigurationError,
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from ..protocol_rules import ENCRYPTED_PREFIX, MAX_BATCH_SIZE, is_valid_socket_id
from .base import BaseBackend
from .faults import cause_of, classify_error, fault_hint
from .http import Urllib3Transport, close_transport
from .items import (
    BATCH_ITEM_SIZE_LIMIT,
    SINGLE_TRIGGER_SIZE_LIMIT,
    BatchItem,
    DeliveryStats,
    events_of,
    invalid_event_reason,
    plainly_valid,
)
from .senders import SenderThreads

__all__ = ["Backend", "BatchItem", "DeliveryStats"]

logger = logging.getLogger("pusherable.delivery")


class Backend(SenderThreads, BaseBackend):
    """Send events to the Pusher HTTP API from background sender threads.

    Every option defaults to the matching setting; pass them through
    :data:`PUSHERABLE_BACKEND_OPTIONS` or to the constructor. An unknown option
    raises :exc:`TypeError`.

    :param delivery: ``"background"`` or ``"sync"`` (:data:`PUSHERABLE_DELIVERY`).
    :param queue_size: most batch items kept waiting (:data:`PUSHERABLE_QUEUE_SIZE`).
    :param batch_size: items per ``trigger_batch`` call, at most 10
        (:data:`PUSHERABLE_BATCH_SIZE`).
    :param timeout: seconds to connect, and to wait for an answer, per API request
        (:data:`PUSHERABLE_TIMEOUT`).
    :param retry_backoff: ``(first, longest)`` wait in seconds (:data:`PUSHERABLE_RETRY_BACKOFF`).
    :param retry_deadline: seconds an item is retried (:data:`PUSHERABLE_RETRY_DEADLINE`).
    :param shutdown_timeout: seconds to flush at exit (:data:`PUSHERABLE_SHUTDOWN_TIMEOUT`).
    :param linger: ``0`` (the default): a sender sends what is queued at once,
        up to a full batch, and what arrives while that request is in flight makes
        its next batch, so that no event waits for company. Above ``0``, seconds a
        sender waits for a batch to fill, only under load (the previous batch went
        out less than ``linger`` seconds ago, and more events are waiting or the
        previous batch was full; see :meth:`should_linger`).
    :param senders: sender threads, hence requests in flight at once. Each
        channel always goes through the same sender, so its events keep their order.
    :param proxy: ``None`` (the default) to use the proxy that the ``HTTPS_PROXY``
        / ``HTTP_PROXY`` / ``NO_PROXY`` environment variables give for the API's
        address, as ``requests`` does; ``False`` for no proxy; or a proxy URL.
    :param ca_certs: for ``PUSHER_SSL = True``, a file of trusted CA certificates;
        by default the bundle the ``pusher`` library trusts.
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
        linger: float = 0.0,
        senders: int = 4,
        proxy: str | bool | None = None,
        ca_certs: str | None = None,
        client_options: dict[str, Any] | None = None,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.delivery = delivery if delivery is not None else settings.PUSHERABLE_DELIVERY
        if self.delivery not in DELIVERY_MODES:
            raise ConfigurationError(
                f"PUSHERABLE_DELIVERY is {self.delivery!r}; use one of {DELIVERY_MODES}."
            )
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
        self.proxy = proxy
        self.ca_certs = ca_certs
        self.stats = DeliveryStats()
        self._init_state()
        self._register()

    def _init_state(self) -> None:
        # Everything a forked child must not share with its parent.
        self._init_queue()
        self._client: Any = None
        self._client_lock = threading.Lock()
        self._logged_causes: set[str] = set()
        self._retrying = False

    # -- public API -----------------------------------------------------------

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

    def get_client(self) -> Any:
        """The process's client, built on first use."""
        client = self._client
        if client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = self.build_client()
                client = self._client
        return client

    def close(self, timeout: float | None = None) -> None:
        """Stop accepting events, deliver what is queued within ``timeout``, fail the rest;
        then close the client's connections."""
        super().close(timeout)
        client, self._client = self._client, None
        close_transport(client)

    # -- overridable pieces -----------------------------------------------------

    def build_client(self) -> Any:
        """Return the API client; called once per process (again after ``fork``).

        A ``backend`` in ``client_options`` replaces the urllib3 transport
        (the ``pusher`` library's own, such as ``pusher.requests.RequestsBackend``).
        """
        options = dict(self.client_options)
        if "backend" not in options:
            options["backend"] = Urllib3Transport
            # A connection per sender, and a few more for "sync" delivery.
            options["maxsize"] = max(10, self.senders)
            options["proxy"] = self.proxy
            options["ca_certs"] = self.ca_certs
        return pusher.Pusher(**options)

    def classify_error(self, exc: BaseException) -> DeliveryError:
        """Map an exception from the client to a transient or permanent :class:`DeliveryError`
        (:func:`pusherable.backends.faults.classify_error`)."""
        return classify_error(exc)

    def backoff_delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1, 2...): doubling, with jitter."""
        first, longest = self.retry_backoff
        # The exponent is capped: a long outage must not overflow the float.
        ceiling = min(longest, first * (2 ** min(attempt - 1, 64)))
        # "Equal jitter": never less than half the ceiling, so retries from
        # many processes spread out without retrying too eagerly.
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def fault_hint(self, error: DeliveryError, cause: str) -> str:
        """The actionable sentence logged (once) for a fault ``cause``."""
        return fault_hint(cause, where=self.api_location(), retry_deadline=self.retry_deadline)

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

    def api_location(self) -> str:
        """The API's address, for log messages: ``https://api-mt1.pusher.com``."""
        options = self.client_options
        scheme = "https" if options.get("ssl", True) else "http"
        host = options.get("host") or f"api-{options.get('cluster') or 'mt1'}.pusher.com"
        port = options.get("port")
        return f"{scheme}://{host}{f':{port}' if port else ''}"

    # -- preparing items --------------------------------------------------------

    def prepare_items(self, events: Iterable[Event]) -> list[BatchItem]:
        """Split events into one :class:`BatchItem` per channel; refuse what cannot go out."""
        items: list[BatchItem] = []
        refused: list[tuple[Event, str]] = []
        for event in events:
            if not plainly_valid(event):
                reason = invalid_event_reason(event)
                if reason:
                    refused.append((event, reason))
                    continue
            # Events that came through pusherable.delivery carry the JSON the size
            # guard made (or make it now, when their guard was deferred to the first
            # read: in this sender thread); only those handed to send_events()
            # directly need encoding. A PayloadError is a ValueError.
            try:
                data = event.encoded_data
                if data is None:
                    data = encode_json(event.data)
            except (TypeError, ValueError) as exc:
                refused.append((event, f"data is not JSON-serializable: {exc}"))
                continue
            if sys.getsizeof(data) > SINGLE_TRIGGER_SIZE_LIMIT:
                self._fail_event(event, f"data of {len(data)} characters", "too-large")
                continue
            socket_id = event.socket_id
            if socket_id and not is_valid_socket_id(str(socket_id)):
                # The pusher library raises on it; sending to every tab beats not sending.
                logger.debug("pusherable: ignoring malformed socket id %r", socket_id)
                socket_id = None
            for channel in event.channels:
                items.append(BatchItem(event, channel, data, socket_id))
        for event, reason in refused:
            self._fail_event(event, reason, "invalid")
        return items

    def _fail_event(self, event: Event, reason: str, cause: str) -> None:
        error = PermanentDeliveryError(f"event {event.name!r} on {event.channels}: {reason}")
        with self._lock:
            self.stats.failed += len(event.channels) or 1
        self.log_fault(error, cause)
        self.report_failure([event], error)

    # -- sending ----------------------------------------------------------------

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
                    self.give_up(batch, error, cause=cause_of(error, exc))
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
                encrypted = any(item.channel.startswith(ENCRYPTED_PREFIX) for item in batch)
                client.trigger_batch(
                    [item.as_batch_dict() for item in batch], already_encoded=not encrypted
                )
        except json.JSONDecodeError:
            # A 200/202 with a body that is not JSON: the API took the events, but
            # its answer is not what the protocol says. Count them as sent.
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
            self.api_location(),
            error,
            len(keep),
            delay,
            self.retry_deadline,
        )
        with self._lock:
            stopped = self.wait_for_backoff(keep, delay)
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

    def give_up(self, items: list[BatchItem], error: DeliveryError, *, cause: str) -> None:
        """Count ``items`` as failed, log the cause once, and send ``delivery_failed``."""
        if not items:
            return
        with self._lock:
            self.stats.failed += len(items)
        self.log_fault(error, cause)
        self.report_failure(events_of(items), error)

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

    # -- fork -------------------------------------------------------------------

    def reset_after_fork(self) -> None:
        """In a forked child: forget the parent's queue, thread and connections.

        The parent still delivers what it had queued; the child starts a fresh
        worker and client on its next event (gunicorn ``--preload``, multiprocessing).
        """
        self._init_state()
        self.stats = DeliveryStats()
