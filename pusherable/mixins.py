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

Every event goes through :func:`pusherable.delivery.trigger`, so it leaves after
the transaction commits and never if it rolls back. Each step is a public method
to override; a fault in any of them is logged, never raised into the page.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.db import models
from django.http import HttpRequest, HttpResponse

from .channels import channel_for
from .conf import settings
from .delivery import clean_socket_id, trigger
from .events import Event
from .payload import build_payload, changed_values

if TYPE_CHECKING:
    from django.forms import BaseForm
    from django.views.generic.base import TemplateResponseMixin, View
    from django.views.generic.edit import DeletionMixin, FormMixin

    class _ViewBase(TemplateResponseMixin, View):
        pass

    class _FormViewBase(FormMixin, _ViewBase):
        pass

    class _DeleteViewBase(DeletionMixin, _FormViewBase):
        pass

else:
    _ViewBase = _FormViewBase = _DeleteViewBase = object

__all__ = [
    "SOCKET_ID_HEADER",
    "PusherCreateMixin",
    "PusherDeleteMixin",
    "PusherDetailMixin",
    "PusherMixin",
    "PusherUpdateMixin",
]

logger = logging.getLogger("pusherable")

#: The request header that carries the sender's socket id (as Laravel Echo sends it).
SOCKET_ID_HEADER = "X-Socket-ID"
_SOCKET_ID_META_KEY = "HTTP_" + SOCKET_ID_HEADER.upper().replace("-", "_")


class PusherMixin(_ViewBase):
    """Trigger ``pusher_event_name`` on the object's channel when the view renders.

    Works with any view that sets ``self.object`` before rendering, as the
    original django-pusherable did. The steps, each a method to override:
    :meth:`should_send_pusher_event`, :meth:`get_pusher_channels_for` (by default
    :meth:`get_pusher_channels`), :meth:`get_pusher_payload`,
    :meth:`get_pusher_socket_id` and :meth:`get_pusher_user`.
    """

    #: Event triggered when the view renders; ``None`` sends nothing on render.
    pusher_event_name: str | None = None
    #: Model fields the payload's ``object`` is limited to (``None``: every editable field).
    pusher_include_model_fields: Sequence[str] | None = None
    #: Model fields left out of the payload's ``object``.
    pusher_exclude_model_fields: Sequence[str] | None = None
    #: ``"private"``, ``"presence"`` or ``"public"``; ``None`` follows ``PUSHERABLE_CHANNEL_TYPE``.
    pusher_channel_type: str | None = None

    request: HttpRequest

    # -- what to send ---------------------------------------------------------------

    def get_pusher_object(self) -> models.Model | None:
        """The object events are about: ``self.object`` by default."""
        return getattr(self, "object", None)

    def get_pusher_event_name(self) -> str | None:
        """The event triggered when the view renders (``pusher_event_name``)."""
        return self.pusher_event_name

    def get_pusher_channels(self) -> list[str]:
        """The channels of the object: ``[channel_for(object)]``, or ``[]`` without one."""
        obj = self.get_pusher_object()
        if obj is None or obj.pk is None:
            return []
        return [channel_for(obj, self.pusher_channel_type)]

    def get_pusher_channels_for(self, event: str) -> list[str]:
        """The channels ``event`` goes to; :meth:`get_pusher_channels` by default.

        Override this (rather than :meth:`get_pusher_channels`, which also names
        what a page subscribes to) to send some events to more channels, such as
        a model's list channel.
        """
        return self.get_pusher_channels()

    def get_pusher_user(self) -> Any:
        """The user named in payloads: ``request.user``, or ``None``."""
        return getattr(self.request, "user", None)

    def get_pusher_socket_id(self) -> str | None:
        """The sender's socket id, so that its own tab is left out of the delivery.

        Read from the ``X-Socket-ID`` header, else from the POST field named by
        ``PUSHERABLE_SOCKET_ID_FIELD``; a malformed value is ignored.
        """
        request = self.request
        # META, not request.headers: building the headers mapping costs more than
        # the whole hand-off to delivery, for a page that never reads it otherwise.
        socket_id = clean_socket_id(request.META.get(_SOCKET_ID_META_KEY))
        if socket_id is None and request.method == "POST":
            socket_id = clean_socket_id(request.POST.get(settings.PUSHERABLE_SOCKET_ID_FIELD))
        return socket_id

    def get_pusher_payload(self, event: str) -> dict[str, Any]:
        """The ``data`` of ``event``: see :func:`pusherable.payload.build_payload`."""
        obj = self.get_pusher_object()
        assert obj is not None  # should_send_pusher_event() returned False otherwise
        return build_payload(
            obj,
            event,
            user=self.get_pusher_user(),
            fields=self.pusher_include_model_fields,
            exclude=self.pusher_exclude_model_fields,
        )

    def should_send_pusher_event(self, event: str) -> bool:
        """Whether to send ``event`` at all; by default, whenever there is a saved object."""
        obj = self.get_pusher_object()
        return obj is not None and obj.pk is not None

    # -- how it is sent -------------------------------------------------------------

    def get_pusher_event(self, event: str) -> Event | None:
        """Build the :class:`~pusherable.events.Event` for ``event``, or ``None`` to skip it.

        Runs every hook above but sends nothing, so that an event can be built
        before the change it describes (the ``deleted`` snapshot) and sent after.
        """
        if not self.should_send_pusher_event(event):
            return None
        channels = self.get_pusher_channels_for(event)
        if not channels:
            return None
        return Event(channels, event, self.get_pusher_payload(event), self.get_pusher_socket_id())

    def prepare_pusher_event(self, event: str) -> Event | None:
        """:meth:`get_pusher_event`, with any error logged instead of raised."""
        try:
            return self.get_pusher_event(event)
        except Exception:
            logger.exception("pusherable: could not build event %r in %s", event, type(self))
            return None

    def send_pusher_event(self, event: str | Event | None) -> Event | None:
        """Send an event (by name, or built by :meth:`prepare_pusher_event`); never raises.

        A request sends one event per (channel, event name) at most: a channel
        that already got this event in this request is skipped. Returns the
        event handed to delivery, or ``None`` when nothing was sent.
        """
        item = self.prepare_pusher_event(event) if isinstance(event, str) else event
        if item is None:
            return None
        sent: set[tuple[str, str]] = self.__dict__.setdefault("_pusher_sent", set())
        channels = [channel for channel in item.channels if (channel, item.name) not in sent]
        if not channels:
            return None
        try:
            result = trigger(channels, item.name, item.data, item.socket_id)
        except Exception:
            logger.exception("pusherable: could not send event %r in %s", item.name, type(self))
            return None
        sent.update((channel, item.name) for channel in channels)
        return result

    def render_to_response(self, context: dict[str, Any], **response_kwargs: Any) -> HttpResponse:
        event = self.get_pusher_event_name()
        if event:
            self.send_pusher_event(event)
        return super().render_to_response(context, **response_kwargs)


class PusherDetailMixin(PusherMixin):
    """Send ``view`` when the object's page renders."""

    pusher_event_name: str | None = "view"


class PusherUpdateMixin(PusherMixin, _FormViewBase):
    """Send ``update`` when the form renders, ``updated`` after a save that changed something.

    ``updated`` carries ``"changed"``: the new values of the fields in
    ``form.changed_data`` (see :meth:`get_pusher_changed_fields`). A form
    submitted without changes sends nothing.
    """

    pusher_event_name: str | None = "update"
    #: Event sent after a successful save that changed something.
    pusher_updated_event_name = "updated"
    #: The names from :meth:`get_pusher_changed_fields`, once the form was saved.
    pusher_changed_fields: list[str] | None = None

    def get_pusher_changed_fields(self, form: BaseForm) -> list[str]:
        """The names of the fields the save changed: ``form.changed_data``.

        An empty list sends no ``updated`` event.
        """
        return list(form.changed_data)

    def get_pusher_payload(self, event: str) -> dict[str, Any]:
        payload = super().get_pusher_payload(event)
        if event == self.pusher_updated_event_name and self.pusher_changed_fields is not None:
            payload["changed"] = changed_values(
                payload.get("object", {}), self.pusher_changed_fields
            )
        return payload

    def form_valid(self, form: BaseForm) -> HttpResponse:
        response = super().form_valid(form)
        try:
            changed = self.get_pusher_changed_fields(form)
        except Exception:
            logger.exception("pusherable: could not list the changed fields in %s", type(self))
            return response
        if changed:
            self.pusher_changed_fields = changed
            self.send_pusher_event(self.pusher_updated_event_name)
        return response


class PusherCreateMixin(PusherMixin, _FormViewBase):
    """Send ``created`` on the new object's channel after it is saved."""

    #: Event sent after the object was created.
    pusher_created_event_name = "created"

    def form_valid(self, form: BaseForm) -> HttpResponse:
        response = super().form_valid(form)
        self.send_pusher_event(self.pusher_created_event_name)
        return response


class PusherDeleteMixin(PusherMixin, _DeleteViewBase):
    """Send ``delete`` when the confirmation page renders, ``deleted`` after the deletion.

    ``deleted`` carries the object as it was just before it was deleted: its
    payload is built first, and sent once the deletion went through.
    """

    pusher_event_name: str | None = "delete"
    #: Event sent after the object was deleted.
    pusher_deleted_event_name = "deleted"

    def form_valid(self, form: BaseForm) -> HttpResponse:
        # Django >= 4.0: a POST deletes in form_valid(), with self.object already loaded.
        snapshot = self.prepare_pusher_event(self.pusher_deleted_event_name)
        response = super().form_valid(form)
        self.send_pusher_event(snapshot)
        return response

    def delete(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # An HTTP DELETE goes through DeletionMixin.delete(), which loads the object
        # itself; load it here first so the snapshot exists before it is gone.
        self.object = self.get_object()  # type: ignore[attr-defined]
        snapshot = self.prepare_pusher_event(self.pusher_deleted_event_name)
        response = super().delete(request, *args, **kwargs)
        self.send_pusher_event(snapshot)
        return response
