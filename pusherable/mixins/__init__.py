"""Class-based view mixins that trigger events on the object's channel.

Put the mixin first, before the Django view it extends::

    class ArticleUpdateView(PusherUpdateMixin, UpdateView):
        model = Article
        fields = ["title", "body", "tags"]

==========================  =====================================  ==========================
mixin                       when the page renders                  after a successful write
==========================  =====================================  ==========================
:class:`PusherDetailMixin`  ``view``                               -
:class:`PusherUpdateMixin`  ``update`` (GET, invalid POST)         ``updated`` (if changed)
:class:`PusherDeleteMixin`  ``delete`` (confirmation page)         ``deleted`` (snapshot)
:class:`PusherCreateMixin`  -                                      ``created``
:class:`PusherMixin`        ``pusher_event_name``, when set        -
==========================  =====================================  ==========================

Every event goes through :func:`pusherable.delivery.send_event`, so it leaves after
the transaction commits and never if it rolls back. Each step is a public method
to override; a fault in any of them is logged, never raised into the page.

Write events (``created``, ``updated``, ``deleted``; see
:data:`PUSHERABLE_MODEL_CHANNEL_EVENTS`) also go to the model's channel, so that
list pages update live. :class:`PusherUpdateMixin` merges a save made from a form
older than the object with the stored one, field by field, and refuses only true
conflicts (the collision guard, :mod:`pusherable.guard`); with
``pusher_edit_mode = "lock"`` one editor at a time holds the object instead
(:mod:`pusherable.locks`).
"""

from ..delivery import SOCKET_ID_HEADER
from .base import PusherCreateMixin, PusherDeleteMixin, PusherDetailMixin, PusherMixin
from .lock import PusherEditLockMixin
from .update import PusherUpdateMixin

__all__ = [
    "SOCKET_ID_HEADER",
    "PusherCreateMixin",
    "PusherDeleteMixin",
    "PusherDetailMixin",
    "PusherEditLockMixin",
    "PusherMixin",
    "PusherUpdateMixin",
]
