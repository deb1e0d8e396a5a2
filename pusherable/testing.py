"""Test helpers: an outbox of triggered events, like ``django.core.mail.outbox``.

With ``PUSHERABLE_BACKEND = "pusherable.backends.locmem.Backend"`` every event
delivered is appended (as a deep copy) to :data:`outbox`.
"""

from __future__ import annotations

from .events import Event

__all__ = ["outbox"]

#: Events delivered through the locmem backend, oldest first.
outbox: list[Event] = []
