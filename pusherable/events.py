"""The unit of delivery: one event, to one or more channels."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Event"]


@dataclass
class Event:
    """An event to trigger on ``channels`` with a JSON-safe ``data`` dict.

    ``socket_id`` names the browser connection that caused the event; Pusher
    leaves it out of the delivery, so a tab does not hear its own change.

    ``encoded_data`` is ``data`` as compact JSON when it is already known
    (:func:`pusherable.delivery.trigger` encodes it once to apply the size
    limit), so that a backend sending JSON does not encode it a second time.
    It is not part of the event's identity (equality, ``repr``), and ``None``
    means "not encoded yet".
    """

    channels: list[str]
    name: str
    data: dict[str, Any] = field(default_factory=dict)
    socket_id: str | None = None
    encoded_data: str | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.channels, str):
            self.channels = [self.channels]
        else:
            self.channels = list(self.channels)
