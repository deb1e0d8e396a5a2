"""The contract every delivery backend keeps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..events import Event

__all__ = ["BaseBackend"]


class BaseBackend:
    """Base class for delivery backends.

    A backend receives events that are ready to go (after the transaction
    committed, within :data:`PUSHERABLE_MAX_PAYLOAD_SIZE`, with their JSON in
    :attr:`~pusherable.events.Event.encoded_data` when the size guard is on; for
    the mixins' events the guard runs when ``data`` or ``encoded_data`` is first
    read, see :func:`pusherable.delivery.send_event`) and hands them to their
    destination. ``send_events`` must not raise into the caller
    for delivery faults: views call it on the request path.

    Options come from :data:`PUSHERABLE_BACKEND_OPTIONS` as keyword arguments; a
    subclass takes the ones it knows and passes the rest on, and an option nobody
    took raises :exc:`TypeError` here, so that a misspelt one is not silently ignored.
    """

    def __init__(self, **options: Any) -> None:
        if options:
            names = ", ".join(sorted(options))
            raise TypeError(
                f"{type(self).__name__} got unknown option(s): {names} "
                "(check PUSHERABLE_BACKEND_OPTIONS)"
            )

    def send_events(self, events: Sequence[Event]) -> int:
        """Send (or queue) ``events``; return how many were accepted."""
        raise NotImplementedError("subclasses of BaseBackend must override send_events()")

    def flush(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds for queued events; return True when none remain."""
        return True

    def close(self, timeout: float | None = None) -> None:
        """Flush, then release connections and threads. Called at interpreter exit."""
        self.flush(timeout)
