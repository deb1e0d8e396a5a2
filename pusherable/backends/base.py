"""The contract every delivery backend keeps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..events import Event

__all__ = ["BaseBackend"]


class BaseBackend:
    """Base class for delivery backends.

    A backend receives events that are ready to go (after the transaction
    committed) and hands them to their destination. ``send_events`` must not
    raise into the caller for delivery faults: views call it on the request path.
    """

    #: Whether the backend applies :data:`PUSHERABLE_MAX_PAYLOAD_SIZE` itself, off
    #: the caller's thread: :func:`pusherable.delivery.send_event` then hands it events
    #: without encoding them first (the pusher backend in ``"background"`` mode).
    limits_payload_size: bool = False

    def __init__(self, **options: Any) -> None:
        self.options = options

    def send_events(self, events: Sequence[Event]) -> int:
        """Send (or queue) ``events``; return how many were accepted."""
        raise NotImplementedError("subclasses of BaseBackend must override send_events()")

    def flush(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds for queued events; return True when none remain."""
        return True

    def close(self, timeout: float | None = None) -> None:
        """Flush, then release connections and threads. Called at interpreter exit."""
        self.flush(timeout)
