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
    """

    channels: list[str]
    name: str
    data: dict[str, Any] = field(default_factory=dict)
    socket_id: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.channels, str):
            self.channels = [self.channels]
        else:
            self.channels = list(self.channels)
