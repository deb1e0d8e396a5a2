"""The base mixin and the detail, create and delete mixins (see :mod:`pusherable.mixins`)."""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from django.db import models
from django.http import HttpRequest, HttpResponse

from ..channels import channel_for, channel_for_model
from ..delivery import RENDER_EVENTS, model_channel_events, request_socket_id, send_event
from ..events import Event
from ..exposure import expose
from ..payload import build_payload
from ..users import request_user

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
    "PusherCreateMixin",
    "PusherDeleteMixin",
    "PusherDetailMixin",
    "PusherMixin",
]

logger = logging.getLogger("pusherable")


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
    #: Events also sent to the model's channel; ``None`` follows
    #: ``PUSHERABLE_MODEL_CHANNEL_EVENTS``, ``()`` sends none there. Render events never go.
    pusher_model_channel_events: Collection[str] | None = None
    #: Type of the model's channel; ``None`` follows ``PUSHERABLE_MODEL_CHANNEL_TYPE``
    #: (see :func:`pusherable.channels.model_channel_type`), as
    #: ``{% pusherable_subscribe ... model=... %}`` does.
    pusher_model_channel_type: str | None = None

    request: HttpRequest

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A view that names its model exposes that model's channels to the
        # authorization endpoints (see pusherable.exposure).
        model = getattr(cls, "model", None)
        queryset = getattr(cls, "queryset", None)
        if model is None and queryset is not None:
            model = getattr(queryset, "model", None)
        if isinstance(model, type) and issubclass(model, models.Model):
            expose(model)

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
        """The channels ``event`` goes to: :meth:`get_pusher_channels`, plus
        :meth:`get_pusher_model_channels`.

        Override this (rather than :meth:`get_pusher_channels`, which also names
        what a page subscribes to) to send some events to more channels.
        """
        channels = self.get_pusher_channels()
        if event in RENDER_EVENTS:
            return channels  # never to the model's channel (see get_pusher_model_channels)
        return channels + self.get_pusher_model_channels(event)

    def get_pusher_model_channels(self, event: str) -> list[str]:
        """The model's channel when ``event`` is one of its events, else ``[]``.

        Which events: ``pusher_model_channel_events``, else
        ``PUSHERABLE_MODEL_CHANNEL_EVENTS``; never a render event (``view``,
        ``update``, ``delete``, nor the view's ``pusher_event_name``).
        """
        # Render events never go (the answer on every page view): known without
        # reading the setting and building the set of events.
        if event in RENDER_EVENTS or event == self.get_pusher_event_name():
            return []
        obj = self.get_pusher_object()
        if obj is None or obj.pk is None:
            return []
        if event not in model_channel_events(self.pusher_model_channel_events):
            return []
        return [channel_for_model(obj, self.pusher_model_channel_type)]

    def get_pusher_user(self) -> Any:
        """The user named in payloads: ``request.user``, or ``None``.

        An anonymous request without a session is recognised without reading the
        session (see :func:`pusherable.users.request_user`), so that a page that
        does not show the user does not look it up only for the event.
        """
        return request_user(self.request)

    def get_pusher_socket_id(self) -> str | None:
        """The sender's socket id, so that its own tab is left out of the delivery.

        Read from the ``X-Socket-ID`` header, else from the POST field named by
        ``PUSHERABLE_SOCKET_ID_FIELD``; a malformed value is ignored.
        """
        return request_socket_id(self.request)

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
        if len(channels) > 1:
            # A subclass may add a channel the default already has: send once to each.
            channels = list(dict.fromkeys(channels))
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
        sent: set[tuple[str, str]] | None = self.__dict__.get("_pusher_sent")
        if sent is None:
            sent = self.__dict__["_pusher_sent"] = set()
        name = item.name
        if sent:
            channels = [channel for channel in item.channels if (channel, name) not in sent]
            if not channels:
                return None
        else:
            channels = item.channels
        if len(channels) < len(item.channels):
            item = replace(item, channels=channels)
        try:
            # The payload was built for this event alone: its size guard (and the
            # encoding it does) can wait for the sender thread, off the request.
            result = send_event(item, defer_guard=True)
        except Exception:
            logger.exception("pusherable: could not send event %r in %s", name, type(self))
            return None
        for channel in channels:
            sent.add((channel, name))
        return result

    def render_to_response(self, context: dict[str, Any], **response_kwargs: Any) -> HttpResponse:
        event = self.get_pusher_event_name()
        if event:
            self.send_pusher_event(event)
        return super().render_to_response(context, **response_kwargs)


class PusherDetailMixin(PusherMixin):
    """Send ``view`` when the object's page renders."""

    pusher_event_name: str | None = "view"


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
