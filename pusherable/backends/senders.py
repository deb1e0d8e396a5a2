"""The queue and sender threads of the pusher backend.

:class:`SenderThreads` is the part of :class:`pusherable.backends.pusher.Backend`
that moves events from the request to the API, whatever the API is:

- the caller only appends events to an inbox (and wakes a sleeping sender): the
  whole cost on the request path;
- the first sender to look prepares everything in the inbox, in order, and
  shares the batch items out among the senders by a hash of their channel, so
  that several requests are in flight at once while each channel's events keep
  their order (one sender, one batch at a time, retried in place);
- a bounded queue (:data:`PUSHERABLE_QUEUE_SIZE`); when it is full the *oldest*
  item is dropped, counted, and logged once per burst;
- a sender sends what is queued at once, up to a full batch: what arrives while
  its request is in flight makes its next batch (with a ``linger``, under load it
  waits that long for a fuller batch);
- :meth:`~SenderThreads.flush`, :meth:`~SenderThreads.close` (at interpreter exit
  too, bounded by :data:`PUSHERABLE_SHUTDOWN_TIMEOUT`), and a fresh start in a
  ``fork``-ed child (both through :mod:`pusherable.backends.lifecycle`).

What a batch item is, how it is sent and what a fault means belong to the
subclass: :meth:`~SenderThreads.prepare_items`, :meth:`~SenderThreads.deliver`,
:meth:`~SenderThreads.give_up`, :meth:`~SenderThreads.report_failure`.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ..events import Event
from ..exceptions import DeliveryError, TransientDeliveryError
from . import lifecycle
from .items import BatchItem, DeliveryStats, events_of

__all__ = ["SenderThreads"]

logger = logging.getLogger("pusherable.delivery")


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


# Channels whose sender is remembered (see SenderThreads.shard_index()).
_SHARD_INDEXES_KEPT = 4096


class SenderThreads:
    """An inbox, a bounded queue per sender, and the sender threads; see the module docstring.

    A subclass sets :attr:`queue_size`, :attr:`batch_size`, :attr:`linger`,
    :attr:`senders` and :attr:`shutdown_timeout`, calls :meth:`_init_queue` (again
    after ``fork``) and :meth:`_register`, and sends through :meth:`deliver`.
    """

    queue_size: int
    batch_size: int
    linger: float
    senders: int
    shutdown_timeout: float
    stats: DeliveryStats

    def _init_queue(self) -> None:
        # Everything a forked child must not share with its parent.
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._shards = [_Shard(threading.Condition(self._lock)) for _ in range(self.senders)]
        self._queued = 0  # items in every shard's queue
        self._closed = False
        self._stop_by: float | None = None
        self._dropping = False
        self._burst_drops = 0
        # The hand-off from the caller: events appended as they come, turned into
        # batch items (validated, encoded, shared out among the senders) by the
        # first sender that looks, so that a request does none of it.
        self._inbox: deque[Event] = deque()
        self._dispatch_lock = threading.Lock()  # one dispatch at a time: order kept
        self._dispatching = 0  # batch items taken from the inbox, not yet queued
        # channel -> sender (shard_index()), worked out once per channel rather than
        # on every event; bounded, as channel names come from objects' keys.
        self._shard_indexes: dict[str, int] = {}

    def _register(self) -> None:
        lifecycle.track(self)

    # -- what the subclass provides ---------------------------------------------

    def prepare_items(self, events: Iterable[Event]) -> list[BatchItem]:
        """Turn events into batch items; report (never raise) what cannot go out."""
        raise NotImplementedError("subclasses of SenderThreads must override prepare_items()")

    def deliver(self, items: list[BatchItem], *, retry: bool = False) -> None:
        """Send ``items``; with ``retry``, retry transient faults (:meth:`wait_for_backoff`)."""
        raise NotImplementedError("subclasses of SenderThreads must override deliver()")

    def give_up(self, items: list[BatchItem], error: DeliveryError, *, cause: str) -> None:
        """Count ``items`` as failed, log the cause and report them."""
        raise NotImplementedError("subclasses of SenderThreads must override give_up()")

    def report_failure(self, events: list[Event], error: BaseException) -> None:
        """Report ``events`` as not delivered (never raises)."""
        raise NotImplementedError("subclasses of SenderThreads must override report_failure()")

    def classify_error(self, exc: BaseException) -> DeliveryError:
        """Map an exception to a transient or permanent :class:`DeliveryError`."""
        raise NotImplementedError("subclasses of SenderThreads must override classify_error()")

    def api_location(self) -> str:
        """Where events go, for log messages."""
        raise NotImplementedError("subclasses of SenderThreads must override api_location()")

    def reset_after_fork(self) -> None:
        """In a forked child: forget the parent's queue and threads."""
        self._init_queue()
        self.stats = DeliveryStats()

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
        lifecycle.forget(self)

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
                    self.api_location(),
                )
            self.report_failure(
                events_of(dropped),
                TransientDeliveryError("delivery queue full (PUSHERABLE_QUEUE_SIZE)"),
            )

    def shard_index(self, channel: str) -> int:
        """The sender (``0`` to ``senders - 1``) that carries every event of ``channel``."""
        index = self._shard_indexes.get(channel)
        if index is None:
            count = len(self._shards)
            # A stable hash (str hashes change from process to process).
            index = zlib.crc32(channel.encode()) % count if count > 1 else 0
            if len(self._shard_indexes) < _SHARD_INDEXES_KEPT:
                self._shard_indexes[channel] = index
        return index

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

    def wait_for_backoff(self, batch: list[BatchItem], delay: float) -> bool:
        """Wait ``delay`` seconds before a retry of ``batch``; True when :meth:`close`'s
        deadline came first. Called with the lock held.
        """
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
