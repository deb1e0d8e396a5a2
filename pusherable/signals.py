"""Signals sent by django-pusherable.

``delivery_failed``
    Sent with ``events`` (a list of :class:`pusherable.events.Event`) and ``error``
    (the exception) when events could not be delivered and will not be retried.
"""

from __future__ import annotations

from django.dispatch import Signal

__all__ = ["delivery_failed"]

delivery_failed = Signal()
