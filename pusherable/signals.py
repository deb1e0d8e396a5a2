"""Signals sent by django-pusherable.

``delivery_failed``
    Sent with ``events`` (a list of :class:`pusherable.events.Event`) and ``error``
    (the exception) when events could not be delivered and will not be retried.

Webhook signals
    Sent by the webhook receiver (URL name ``pusherable:webhook``) once per event
    of a verified Pusher webhook. The ``sender`` is the model the channel names
    (so ``@receiver(member_added, sender=Article)`` filters), or ``None`` for a
    channel this library did not name. Every one carries these keyword arguments:

    - ``channel``: the channel name, such as ``"presence-article_42"``;
    - ``parsed_channel``: its :class:`~pusherable.channels.ParsedChannel`, or ``None``;
    - ``model`` and ``pk``: the model class and the object's pk as a string (``pk`` is
      ``None`` for a model's own channel; both ``None`` for a foreign channel);
    - ``time_ms``: when Pusher sent the webhook, in milliseconds since the epoch.

    ``channel_occupied``
        The channel got its first subscriber.
    ``channel_vacated``
        Its last subscriber left.
    ``member_added``
        A user joined a presence channel (their first tab): adds ``user_id`` (a string)
        and ``stale``.
    ``member_removed``
        A user left a presence channel (their last tab): adds ``user_id`` and ``stale``.
        ``stale`` is ``True`` when later news of that member was already applied: Pusher
        and soketi send webhooks concurrently, so a reload's ``member_removed`` can
        arrive after the ``member_added`` that followed it. A receiver that acts on
        who is present should ignore a stale one.
    ``client_event``
        A browser sent a ``client-`` event: adds ``event``, ``data`` (the string the
        browser sent), ``socket_id``, and ``user_id`` (``None`` outside presence channels).

    A receiver that raises is logged and does not fail the webhook: Pusher would
    retry it for minutes, re-sending every event to every receiver.
"""

from __future__ import annotations

from django.dispatch import Signal

__all__ = [
    "channel_occupied",
    "channel_vacated",
    "client_event",
    "delivery_failed",
    "member_added",
    "member_removed",
]

delivery_failed = Signal()

channel_occupied = Signal()
channel_vacated = Signal()
member_added = Signal()
member_removed = Signal()
client_event = Signal()
