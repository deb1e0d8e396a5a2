"""What the pusher backend sends: one :class:`BatchItem` per event and channel.

Also the checks an event passes before it is queued (names the ``pusher``
library would refuse), and the counters of a backend (:class:`DeliveryStats`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pusher.util import validate_channel

from ..events import Event
from ..protocol_rules import (
    CHANNEL_NAME_RE,
    MAX_CHANNEL_NAME_LENGTH,
    MAX_EVENT_NAME_LENGTH,
)

__all__ = [
    "BATCH_ITEM_SIZE_LIMIT",
    "SINGLE_TRIGGER_SIZE_LIMIT",
    "BatchItem",
    "DeliveryStats",
    "events_of",
    "invalid_event_reason",
    "plainly_valid",
]

#: ``trigger_batch`` refuses an item whose data string has a larger
#: ``sys.getsizeof`` (Python object size, not bytes on the wire).
BATCH_ITEM_SIZE_LIMIT = 10_240
#: ``trigger`` allows up to this ``sys.getsizeof``; the server decides beyond
#: 10 KB (dedicated Pusher clusters accept more).
SINGLE_TRIGGER_SIZE_LIMIT = 30_720


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


def invalid_event_reason(event: Event) -> str | None:
    """Why the ``pusher`` library would refuse ``event``, or ``None`` if it would not."""
    if not event.channels:
        return "no channel"
    if not isinstance(event.name, str) or not event.name:
        return f"event name {event.name!r} is not a non-empty string"
    if len(event.name) > MAX_EVENT_NAME_LENGTH:
        return f"event name longer than {MAX_EVENT_NAME_LENGTH} characters"
    for channel in event.channels:
        try:
            validate_channel(channel)
        except (TypeError, ValueError) as exc:
            return f"channel {channel!r}: {exc}"
    return None


def plainly_valid(event: Event) -> bool:
    """Whether ``event`` is the usual kind, known good without the ``pusher`` library's
    checks (:func:`invalid_event_reason` runs them for anything else, to say what is wrong).
    """
    name = event.name
    if type(name) is not str or not 0 < len(name) <= MAX_EVENT_NAME_LENGTH or not event.channels:
        return False
    for channel in event.channels:
        if (
            type(channel) is not str
            or len(channel) > MAX_CHANNEL_NAME_LENGTH
            or CHANNEL_NAME_RE.fullmatch(channel) is None
        ):
            return False
    return True


def events_of(items: Iterable[BatchItem]) -> list[Event]:
    """The events of ``items``, each once: an event on three channels is one event
    for the receivers of :data:`~pusherable.signals.delivery_failed`.
    """
    seen: dict[int, Event] = {}
    for item in items:
        seen.setdefault(id(item.event), item.event)
    return list(seen.values())
