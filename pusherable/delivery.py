"""Hand events to the configured backend, after the transaction commits.

This is the one path every event takes, from views and from code outside views
(signals, tasks, management commands, the admin)::

    from pusherable import trigger
    trigger("private-article_42", "published", {"by": "alice"})

Nothing here raises into the caller for a delivery fault: a failure is logged
and reported through :data:`pusherable.signals.delivery_failed`.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Collection, Iterable, Sequence
from dataclasses import replace
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, models
from django.http import HttpRequest
from django.utils.module_loading import import_string

from .backends.base import BaseBackend
from .channels import channel_for, channel_for_model
from .conf import settings, settings_reloaded
from .events import Event
from .exceptions import ConfigurationError, PayloadError
from .payload import build_payload, limit_payload
from .protocol_rules import is_valid_socket_id

__all__ = [
    "RENDER_EVENTS",
    "SOCKET_ID_HEADER",
    "clean_socket_id",
    "get_backend",
    "model_channel_events",
    "request_socket_id",
    "reset_backend",
    "send",
    "send_event",
    "set_backend",
    "trigger",
    "trigger_for",
]

logger = logging.getLogger("pusherable")

#: Events sent when a page renders. They say "someone opened this object" and never go
#: to a model's channel: a list page has no use for them, and they would be noise.
RENDER_EVENTS = frozenset({"view", "update", "delete"})

#: The request header that carries the sender's socket id (as Laravel Echo sends it).
SOCKET_ID_HEADER = "X-Socket-ID"
_SOCKET_ID_META_KEY = "HTTP_" + SOCKET_ID_HEADER.upper().replace("-", "_")

_backend: BaseBackend | None = None
_backend_lock = threading.Lock()


def get_backend() -> BaseBackend:
    """The process's backend, built once from ``PUSHERABLE_BACKEND`` and its options."""
    global _backend
    backend = _backend
    if backend is not None:
        return backend
    with _backend_lock:
        if _backend is None:
            path = settings.PUSHERABLE_BACKEND
            try:
                backend_class = import_string(path)
            except ImportError as exc:
                raise ConfigurationError(
                    f"PUSHERABLE_BACKEND {path!r} cannot be imported: {exc}"
                ) from exc
            _backend = backend_class(**settings.PUSHERABLE_BACKEND_OPTIONS)
        return _backend


def set_backend(backend: BaseBackend | None) -> BaseBackend | None:
    """Swap the process's backend (``None`` rebuilds it from settings); return the old one."""
    global _backend
    with _backend_lock:
        previous, _backend = _backend, backend
    return previous


def reset_backend(timeout: float | None = None) -> None:
    """Close the current backend (flushing it) and build a new one on next use."""
    previous = set_backend(None)
    if previous is not None:
        previous.close(timeout)


def _on_settings_reloaded(sender: Any, setting: str, **kwargs: Any) -> None:
    if setting.startswith("PUSHER"):
        # Closing flushes what the old backend still holds, with a short deadline:
        # override_settings must not hang a test on a backend that cannot deliver.
        reset_backend(timeout=0.5)


settings_reloaded.connect(_on_settings_reloaded, dispatch_uid="pusherable.delivery")


def clean_socket_id(value: Any) -> str | None:
    """Return ``value`` if it is a Pusher socket id (``123.456``), else ``None``.

    A malformed id from a browser is ignored rather than failing the request.
    """
    if is_valid_socket_id(value):
        return value
    return None


def request_socket_id(request: HttpRequest) -> str | None:
    """The sender's socket id: the ``X-Socket-ID`` header, else (on a POST) the form
    field named by ``PUSHERABLE_SOCKET_ID_FIELD``; ``None`` when absent or malformed.
    """
    # META, not request.headers: building the headers mapping costs more than the
    # whole hand-off to delivery, for a page that never reads it otherwise.
    raw = request.META.get(_SOCKET_ID_META_KEY)
    socket_id = None if raw is None else clean_socket_id(raw)
    if socket_id is None and request.method == "POST":
        socket_id = clean_socket_id(request.POST.get(settings.PUSHERABLE_SOCKET_ID_FIELD))
    return socket_id


def model_channel_events(events: Iterable[str] | None = None) -> frozenset[str]:
    """The events that also go to the model's channel (for live list pages).

    ``events`` defaults to :data:`PUSHERABLE_MODEL_CHANNEL_EVENTS`; render events
    (:data:`RENDER_EVENTS`) are never among them.
    """
    if events is None:
        events = settings.PUSHERABLE_MODEL_CHANNEL_EVENTS or ()
    if isinstance(events, str):
        events = events.replace(",", " ").split()
    return frozenset(str(name) for name in events) - RENDER_EVENTS


def _dispatch(events: Sequence[Event]) -> None:
    try:
        (_backend or get_backend()).send_events(events)
    except Exception as exc:  # a page must never fail because delivery did
        from .signals import delivery_failed

        logger.exception("pusherable: could not hand %d event(s) to the backend", len(events))
        delivery_failed.send(sender=BaseBackend, events=list(events), error=exc)


def send(events: Iterable[Event], *, on_commit: bool = True, using: str | None = None) -> None:
    """Deliver ``events``; inside a transaction, only once it commits (never if it rolls back)."""
    batch = list(events)
    if not batch:
        return
    if not on_commit:
        _dispatch(batch)
        return
    connection = connections[using or DEFAULT_DB_ALIAS]
    if connection.in_atomic_block or connection.connection is None or not connection.autocommit:
        # Django decides: after the commit, or an error for manual transaction management.
        connection.on_commit(lambda: _dispatch(batch))
    else:
        # What on_commit() does outside a transaction (at once), without its detour
        # through ensure_connection() on every page view.
        _dispatch(batch)


def trigger(
    channels: str | Iterable[str],
    event: str,
    data: dict[str, Any],
    socket_id: str | None = None,
    *,
    on_commit: bool = True,
    using: str | None = None,
) -> Event:
    """Trigger ``event`` with ``data`` on ``channels``; return the :class:`Event` sent.

    ``socket_id``, when it is a valid Pusher socket id, excludes that browser tab.
    ``data`` whose JSON is over ``PUSHERABLE_MAX_PAYLOAD_SIZE`` is replaced by a
    small ``"truncated": true`` event (see :func:`pusherable.payload.limit_payload_size`);
    ``data`` that cannot be serialized to JSON raises
    :exc:`~pusherable.exceptions.PayloadError` here, in the caller, not later in delivery.
    The data is encoded to JSON here, once: change ``data`` after the call and the
    event still carries what it was when triggered.
    """
    channel_list = [channels] if isinstance(channels, str) else list(channels)
    item = Event(channel_list, event, data, clean_socket_id(socket_id))
    # Encoded here, whatever the backend: a PayloadError belongs to the caller, and
    # later changes to ``data`` must not reach the event.
    return _send_limited(item, on_commit=on_commit, using=using)


def send_event(
    item: Event, *, on_commit: bool = True, using: str | None = None, defer_guard: bool = False
) -> Event:
    """Deliver one :class:`~pusherable.events.Event` through the size guard; return what is sent.

    :func:`trigger` builds the event from its arguments; the mixins hand over the
    event they already built. A malformed ``socket_id`` is dropped, as in :func:`trigger`.
    Every event takes this one path to the backend, whatever the backend: the size
    guard (:func:`pusherable.payload.limit_payload`) encodes the data once and
    the event keeps that JSON (:attr:`~pusherable.events.Event.encoded_data`), which
    the pusher backend sends as is. Data that is not JSON raises
    :exc:`~pusherable.exceptions.PayloadError` here.

    With ``defer_guard``, the size guard runs where the event's ``data`` or
    ``encoded_data`` is first read instead: every backend still gets the event
    within :data:`PUSHERABLE_MAX_PAYLOAD_SIZE` (the limit in force now), but the
    ``pusher`` backend in background mode reads it in its sender thread, so the
    request does not encode it. Data that is not JSON then fails there, reported
    through :data:`~pusherable.signals.delivery_failed`, and the data must not be
    changed after the call. The mixins and the admin mixin defer it: their
    payloads are built for the event alone, JSON-safe.
    """
    if item.socket_id is not None and clean_socket_id(item.socket_id) is None:
        item = replace(item, socket_id=None)
    if defer_guard:
        deferred = _GuardedOnRead(item.channels, item.name, item.data, item.socket_id)
        deferred._limit = settings.PUSHERABLE_MAX_PAYLOAD_SIZE or 0
        if item.encoded_data is not None:
            deferred.encoded_data = item.encoded_data
        send([deferred], on_commit=on_commit, using=using)
        return deferred
    return _send_limited(item, on_commit=on_commit, using=using)


def _send_limited(item: Event, *, on_commit: bool, using: str | None) -> Event:
    # The size guard encodes the data anyway: the event keeps that JSON, so that the
    # backend sends it as is instead of encoding the same data a second time.
    data, encoded = limit_payload(item.data, event=item.name)
    if data is not item.data:
        item = replace(item, data=data, encoded_data=encoded)
    else:
        # The same data: keep its JSON on the event itself (a cache, not part of
        # its identity) rather than copying the event.
        item.encoded_data = encoded
    send([item], on_commit=on_commit, using=using)
    return item


class _GuardedOnRead(Event):
    """An event whose size guard runs when its ``data`` or ``encoded_data`` is first
    read (:func:`send_event` with ``defer_guard``), then never again.

    Any backend that looks at the data gets it within the limit, with its JSON; the
    ``pusher`` backend first looks in a sender thread. When the data is not JSON,
    ``encoded_data`` raises the :exc:`~pusherable.exceptions.PayloadError` and
    ``data`` is what was handed over. A copy (the locmem outbox keeps deep copies)
    is a plain :class:`~pusherable.events.Event`, guarded.
    """

    #: The PUSHERABLE_MAX_PAYLOAD_SIZE in force when the event was handed over.
    _limit: int = 0

    def _guarded(self) -> tuple[dict[str, Any], str | None, PayloadError | None]:
        state = self.__dict__.get("_state")
        if state is None:
            raw = self.__dict__["_raw"]
            try:
                data, encoded = limit_payload(raw, event=self.name, limit=self._limit)
            except PayloadError as exc:
                state = (raw, None, exc)
            else:
                state = (data, encoded, None)
            # Two threads reading at once both work it out, alike; one assignment
            # keeps the state consistent.
            self.__dict__["_state"] = state
        return state

    @property
    def data(self) -> dict[str, Any]:
        return self._guarded()[0]

    @data.setter
    def data(self, value: dict[str, Any]) -> None:
        self.__dict__["_raw"] = value
        self.__dict__.pop("_state", None)

    @property
    def encoded_data(self) -> str | None:
        _, encoded, error = self._guarded()
        if error is not None:
            raise error
        return encoded

    @encoded_data.setter
    def encoded_data(self, value: str | None) -> None:
        if value is not None:  # already encoded (and so within the limit): as is
            self.__dict__["_state"] = (self.__dict__["_raw"], value, None)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return (self.channels, self.name, self.data, self.socket_id) == (
            other.channels,
            other.name,
            other.data,
            other.socket_id,
        )

    __hash__ = None  # type: ignore[assignment]

    def __deepcopy__(self, memo: dict[int, Any]) -> Event:
        encoded = self.encoded_data  # raises PayloadError for data that is not JSON
        return Event(
            copy.deepcopy(self.channels, memo),
            self.name,
            copy.deepcopy(self.data, memo),
            self.socket_id,
            encoded,
        )


def trigger_for(
    instance: models.Model,
    event: str,
    *,
    data: dict[str, Any] | None = None,
    user: Any = None,
    socket_id: str | None = None,
    fields: Collection[str] | None = None,
    exclude: Collection[str] | None = None,
    changed: Iterable[str] | None = None,
    channel_type: str | None = None,
    model_channel: bool | None = None,
    model_channel_type: str | None = None,
    on_commit: bool = True,
    using: str | None = None,
) -> Event:
    """Trigger ``event`` about ``instance`` on its channel, with the payload a view would send.

    For code outside views: signal receivers, tasks, management commands, the admin::

        from pusherable import trigger_for
        trigger_for(article, "published", user=request.user)

    The payload is :func:`pusherable.payload.build_payload` of ``instance`` (with
    ``fields``/``exclude`` and the ``changed`` field names), updated with ``data``
    when given. ``channel_type`` overrides ``PUSHERABLE_CHANNEL_TYPE``.

    The event also goes to the model's channel (:func:`~pusherable.channels.channel_for_model`,
    with ``model_channel_type`` or the default type) when ``model_channel`` is true,
    or, when it is ``None``, when ``event`` is one of :func:`model_channel_events`;
    the payload is the same on both, so the same fields are left out.
    Raises :exc:`~pusherable.exceptions.ChannelError` when ``instance`` has no pk.
    """
    channels = [channel_for(instance, channel_type)]
    if model_channel is None:
        model_channel = event in model_channel_events()
    if model_channel:
        channels.append(channel_for_model(instance, model_channel_type))
    payload = build_payload(
        instance, event, user=user, fields=fields, exclude=exclude, changed=changed
    )
    if data:
        payload.update(data)
    return trigger(channels, event, payload, socket_id, on_commit=on_commit, using=using)
