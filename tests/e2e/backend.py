"""A synchronous delivery backend for the end-to-end tests and the latency benchmark.

It sends each event at once, in the calling thread, with the ``pusher`` library
configured from the ``PUSHER_*`` settings. It stands in for
``pusherable.backends.pusher.Backend`` where that backend is not available;
:func:`delivery_settings` picks the real one (in ``sync`` mode) when it is.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pusher

from pusherable.backends.base import BaseBackend
from pusherable.conf import settings
from pusherable.events import Event

__all__ = ["Backend", "delivery_settings", "real_backend_available"]

logger = logging.getLogger("pusherable")

REAL_BACKEND = "pusherable.backends.pusher.Backend"
STAND_IN_BACKEND = "tests.e2e.backend.Backend"


def real_backend_available() -> bool:
    """Whether ``pusherable.backends.pusher`` (the library's own backend) is importable."""
    try:
        import pusherable.backends.pusher  # noqa: F401
    except ImportError:
        return False
    return True


def delivery_settings() -> dict[str, Any]:
    """Settings that deliver events synchronously to the configured Pusher API.

    Synchronous delivery keeps the tests' ordering argument simple: an event
    triggered by a request has reached the server when the response is back.
    """
    if real_backend_available():
        return {"PUSHERABLE_BACKEND": REAL_BACKEND, "PUSHERABLE_DELIVERY": "sync"}
    return {"PUSHERABLE_BACKEND": STAND_IN_BACKEND}


class Backend(BaseBackend):
    """Trigger every event on the Pusher HTTP API before returning; log failures."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        # Built once: the delivery module drops the backend when a PUSHER* setting changes.
        self.client = pusher.Pusher(**settings.pusher_client_options())

    def send_events(self, events: Sequence[Event]) -> int:
        sent = 0
        for event in events:
            try:
                self.client.trigger(event.channels, event.name, event.data, event.socket_id)
            except Exception:
                logger.exception("e2e backend: could not trigger %r", event.name)
            else:
                sent += 1
        return sent
