"""A backend that writes each event as one line of JSON, for development.

Like Django's console e-mail backend: set
``PUSHERABLE_BACKEND = "pusherable.backends.console.Backend"`` and watch the
events the views send in the terminal of ``runserver``.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from typing import Any, TextIO

from ..encoding import encode_json
from ..events import Event
from .base import BaseBackend

__all__ = ["Backend"]


class Backend(BaseBackend):
    """Write every event to ``stream`` (standard output by default) as a JSON line.

    :param stream: a text stream; :data:`sys.stdout` at the time of writing when omitted,
        so that output captured by a test runner lands in the right place.
    """

    def __init__(self, *, stream: TextIO | None = None, **options: Any) -> None:
        super().__init__(**options)
        self.stream = stream
        # Requests in several threads must not interleave their lines.
        self._lock = threading.Lock()

    def format_event(self, event: Event) -> str:
        """The line written for ``event``."""
        return encode_json(
            {
                "channels": event.channels,
                "event": event.name,
                "data": event.data,
                "socket_id": event.socket_id,
            },
            sort_keys=True,
            compact=False,
        )

    def send_events(self, events: Sequence[Event]) -> int:
        if not events:
            return 0
        lines = "".join(self.format_event(event) + "\n" for event in events)
        stream = self.stream or sys.stdout
        with self._lock:
            stream.write(lines)
            stream.flush()
        return len(events)
