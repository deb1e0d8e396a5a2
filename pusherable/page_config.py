"""What the browser needs to know: the configuration and subscriptions read by ``pusherable.js``.

The template tags in :mod:`pusherable.templatetags.pusherable_tags` only glue these
functions to templates; everything here returns plain, JSON-safe data, so it can be
tested (and reused, e.g. by a project that renders its own script tags) without
parsing HTML.

The configuration object (:func:`browser_config`) has these keys:

``key``
    :data:`PUSHER_KEY`, public by design.
``options``
    pusher-js constructor options (:func:`pusher_js_options`).
``endpoints``
    ``{"auth", "userAuth", "intent", "changes", "field", "lock"}``: URLs of the views
    in ``pusherable.urls``, each ``null`` when those URLs are not included in the project.
``csrfToken``
    Django's CSRF token for the request, sent as ``X-CSRFToken`` with every POST
    ``pusherable.js`` makes; ``null`` without a request.
``socketIdField`` / ``socketIdHeader``
    Where ``pusherable.js`` puts the page's socket id for sender exclusion.
``user``
    ``{"id", "username", "name"}`` of the authenticated user, or ``null``.
``presenceGracePeriod``
    Milliseconds a presence leave is held back (:data:`PUSHERABLE_PRESENCE_GRACE_PERIOD`).
``protocol``
    The protocol's prefixes (:func:`pusherable.protocol_rules.browser_rules`), so that
    ``pusherable.js`` reads them instead of keeping its own copy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.apps import apps
from django.db import models
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.templatetags.static import static
from django.urls import NoReverseMatch, reverse

from .channels import PREFIXES, channel_for, channel_for_model, model_channel_type
from .conf import PUSHER_JS_INTEGRITY, PUSHER_JS_URL, settings
from .delivery import SOCKET_ID_HEADER
from .encoding import encode_json
from .exceptions import ConfigurationError
from .exposure import is_exposed
from .protocol_rules import (
    LIBRARY_EVENT_PREFIX,
    MAX_EVENT_NAME_LENGTH,
    PROTOCOL_EVENT_PREFIXES,
    ChannelType,
    browser_rules,
)
from .protocol_rules import (
    channel_type as protocol_channel_type,
)
from .users import display_name

__all__ = [
    "ALL_EVENTS",
    "ENDPOINT_URL_NAMES",
    "RESERVED_EVENT_PREFIXES",
    "SOCKET_ID_HEADER",
    "browser_config",
    "check_intent",
    "current_user",
    "endpoint_urls",
    "is_cross_origin",
    "parse_events",
    "pusher_js_options",
    "pusher_js_script",
    "require_auth_endpoint",
    "resolve_model",
    "subscription",
    "subscription_channels",
    "to_script_json",
]

#: The event argument that subscribes to every event of a channel.
ALL_EVENTS = "*"

#: Config key -> URL name of each endpoint ``pusherable.js`` calls.
ENDPOINT_URL_NAMES: dict[str, str] = {
    "auth": "pusherable:auth",
    "userAuth": "pusherable:user-auth",
    "intent": "pusherable:intent",
    "changes": "pusherable:changes",
    "field": "pusherable:field",
    "lock": "pusherable:lock",
}

#: Event names that belong to the protocol (``pusher:``) or to this library's own
#: presence events, delivered separately: a subscription cannot name them.
RESERVED_EVENT_PREFIXES = (*PROTOCOL_EVENT_PREFIXES, LIBRARY_EVENT_PREFIX)


_CALLBACK_RE = re.compile(r"^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*$")
_EVENT_SEPARATORS_RE = re.compile(r"[\s,]+")

# The characters that could end a <script> element or open an HTML comment inside
# it, written as JSON escapes (the same set Django's json_script uses).
_SCRIPT_JSON_ESCAPES = {ord("<"): "\\u003C", ord(">"): "\\u003E", ord("&"): "\\u0026"}


def to_script_json(value: Any) -> str:
    """Serialize ``value`` as JSON that is safe as the text of a ``<script>`` element.

    The result is JSON (``JSON.parse`` reads it back unchanged) with no ``<``, ``>``
    or ``&`` left in it, so no value can close the element or start markup.
    """
    try:
        text = encode_json(value, ensure_ascii=True)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"Cannot send this value to the browser as JSON: {exc}") from exc
    return text.translate(_SCRIPT_JSON_ESCAPES)


def pusher_js_options() -> dict[str, Any]:
    """pusher-js constructor options derived from the settings.

    Hosted Pusher needs only the cluster. A self-hosted server (``PUSHER_HOST``, or
    ``PUSHERABLE_WS_HOST`` when browsers reach it under another name) gets its host,
    the same port for ``ws`` and ``wss``, TLS as ``PUSHER_SSL`` says, and transports
    limited to WebSockets: otherwise pusher-js falls back to ``sockjs-<cluster>.pusher.com``
    when the socket fails. ``cluster`` is always set: pusher-js 8 refuses to start
    without one. ``PUSHERABLE_JS_OPTIONS`` is merged over the result.
    """
    options: dict[str, Any] = {"cluster": settings.PUSHER_CLUSTER or "mt1"}
    host = settings.PUSHERABLE_WS_HOST or settings.PUSHER_HOST
    port = settings.PUSHERABLE_WS_PORT or (settings.PUSHER_PORT if host else None)
    if host:
        options["wsHost"] = str(host)
        options["forceTLS"] = bool(settings.PUSHER_SSL)
        options["enabledTransports"] = ["ws", "wss"]
    else:
        options["forceTLS"] = True
    if port:
        options["wsPort"] = int(port)
        options["wssPort"] = int(port)
    extra = settings.PUSHERABLE_JS_OPTIONS
    if not isinstance(extra, Mapping):
        raise ConfigurationError(
            "PUSHERABLE_JS_OPTIONS must be a dict of pusher-js options, "
            f"not {type(extra).__name__}."
        )
    options.update(extra)
    return options


def is_cross_origin(url: str) -> bool:
    """Whether ``url`` names another origin: ``https://...``, ``http://...`` or ``//host/...``."""
    return url.startswith("//") or "://" in url


def pusher_js_script() -> dict[str, str | None]:
    """``{"src", "integrity"}`` of the pusher-js ``<script>``.

    :data:`PUSHERABLE_PUSHER_JS_URL` is used as it is when it is a URL (``https://...``)
    or a path (``/...``); anything else is a static file path (``"pusher-js/pusher.min.js"``),
    resolved like ``{% static %}``, so it follows ``STATIC_URL`` (relative in
    ``startproject``'s settings) and hashed file names. The default
    :data:`PUSHERABLE_PUSHER_JS_INTEGRITY` is the hash of the default URL's file, so it
    is dropped when only the URL was changed; a hash set in the settings is always kept.
    """
    url = str(settings.PUSHERABLE_PUSHER_JS_URL)
    integrity = settings.PUSHERABLE_PUSHER_JS_INTEGRITY or None
    if integrity == PUSHER_JS_INTEGRITY and url != PUSHER_JS_URL:
        integrity = None
    if not url.startswith("/") and not is_cross_origin(url):
        url = static(url)
    return {"src": url, "integrity": None if integrity is None else str(integrity)}


def endpoint_urls(request: HttpRequest | None = None) -> dict[str, str | None]:
    """URLs of the :data:`ENDPOINT_URL_NAMES` views, ``None`` for each one not routed."""
    urlconf = getattr(request, "urlconf", None)
    urls: dict[str, str | None] = {}
    for key, name in ENDPOINT_URL_NAMES.items():
        try:
            urls[key] = reverse(name, urlconf=urlconf)
        except NoReverseMatch:
            urls[key] = None
    return urls


def current_user(user: Any) -> dict[str, str] | None:
    """``{"id", "username", "name"}`` for an authenticated user, else ``None``."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    username = str(user.get_username()) if hasattr(user, "get_username") else str(user)
    return {"id": str(user.pk), "username": username, "name": display_name(user) or username}


def browser_config(request: HttpRequest | None = None, user: Any = None) -> dict[str, Any]:
    """The configuration object ``{% pusherable_script %}`` hands to ``pusherable.js``.

    ``user`` defaults to ``request.user``.
    """
    if user is None and request is not None:
        user = getattr(request, "user", None)
    return {
        "key": str(settings.PUSHER_KEY or ""),
        "options": pusher_js_options(),
        "endpoints": endpoint_urls(request),
        "csrfToken": get_token(request) if request is not None else None,
        "socketIdField": settings.PUSHERABLE_SOCKET_ID_FIELD,
        "socketIdHeader": SOCKET_ID_HEADER,
        "user": current_user(user),
        "presenceGracePeriod": round(float(settings.PUSHERABLE_PRESENCE_GRACE_PERIOD) * 1000),
        "protocol": browser_rules(),
    }


def parse_events(events: str | Iterable[str]) -> list[str] | str:
    """Read the event argument: ``"update"``, ``"update updated deleted"``, a list, or ``"*"``.

    Returns :data:`ALL_EVENTS` or the list of names, without duplicates, in order.
    Raises :exc:`ValueError` for an empty argument or a reserved or over-long name.
    """
    names = _EVENT_SEPARATORS_RE.split(events) if isinstance(events, str) else list(events)
    names = [str(name) for name in names if name]
    if not names:
        raise ValueError("pusherable_subscribe needs at least one event name, or '*'.")
    if ALL_EVENTS in names:
        return ALL_EVENTS
    for name in names:
        if name.startswith(RESERVED_EVENT_PREFIXES):
            raise ValueError(
                f"Event {name[:40]!r} is reserved: names starting with "
                f"{', '.join(RESERVED_EVENT_PREFIXES)} are delivered by pusherable.js itself."
            )
        if len(name) > MAX_EVENT_NAME_LENGTH:
            raise ValueError(
                f"Event name {name[:40]!r}... is longer than Pusher's "
                f"{MAX_EVENT_NAME_LENGTH} characters."
            )
    return list(dict.fromkeys(names))


def resolve_model(model: Any) -> type[models.Model]:
    """A model class from a class, instance, queryset, manager, or ``"app.Model"`` label."""
    if isinstance(model, str):
        try:
            return apps.get_model(model)
        except (LookupError, ValueError) as exc:
            raise ValueError(
                f"{model!r} is not an installed model ('app_label.ModelName')."
            ) from exc
    if isinstance(model, type) and issubclass(model, models.Model):
        return model
    if isinstance(model, models.Model):
        return type(model)
    related = getattr(model, "model", None)  # QuerySet and Manager
    if isinstance(related, type) and issubclass(related, models.Model):
        return related
    raise ValueError(f"Cannot find a model in {model!r}.")


def _channel_type_of(name: str) -> str:
    """``"presence"``, ``"private"`` (encrypted ones too: both need an authorization)
    or ``"public"``, as :func:`~pusherable.protocol_rules.channel_type` reads the name."""
    kind = protocol_channel_type(name)
    if kind is ChannelType.PRESENCE:
        return "presence"
    return "private" if kind.needs_auth else "public"


def _view_channels(view: Any) -> list[str] | None:
    getter = getattr(view, "get_pusher_channels", None)
    if not callable(getter):
        return None
    channels = getter()
    if isinstance(channels, str):
        channels = [channels]
    names = [str(name) for name in channels or ()]
    return list(dict.fromkeys(names)) or None


def _same_object(left: Any, right: Any) -> bool:
    if left is right:
        return True
    return isinstance(left, models.Model) and isinstance(right, models.Model) and left == right


def _presence_needed(intent: str, sent_on: str, change: str) -> ValueError:
    return ValueError(
        f"intent={intent!r} needs a presence channel, but {sent_on}: {change}, or drop intent=."
    )


def _view_subscription(
    names: list[str], channel_type: str | None, intent: str | None
) -> list[str]:
    # The page listens where the view sends (rule 8): arguments may pick among the
    # view's channels, never add one the view does not send to.
    wanted = channel_type or ("presence" if intent is not None else None)
    if wanted is None:
        return names
    kept = [name for name in names if _channel_type_of(name) == wanted]
    if kept:
        return kept
    listed = ", ".join(names)
    if channel_type is None:
        raise _presence_needed(
            str(intent),
            f"this view sends its events on {listed}",
            "set PUSHERABLE_CHANNEL_TYPE = 'presence' or the view's "
            "pusher_channel_type = 'presence'",
        )
    raise ValueError(
        f"channel_type={channel_type!r} names none of the channels this view sends its "
        f"events on ({listed}): drop channel_type=, or set the view's "
        f"pusher_channel_type = {channel_type!r}."
    )


def subscription_channels(
    obj: Any = None,
    *,
    view: Any = None,
    channel_type: str | None = None,
    model: Any = None,
    intent: str | None = None,
) -> list[str]:
    """The channels a subscription listens on.

    - ``model`` given: the model's channel (list pages), from :func:`channel_for_model`.
    - Otherwise, when ``view`` has ``get_pusher_channels()`` and ``obj`` is the view's own
      object (or omitted), the view's channels: the page then listens exactly where the
      view sends. ``channel_type`` (or an ``intent``, which needs ``"presence"``) keeps
      those of that type; none of that type is an error, never another channel.
    - Otherwise :func:`channel_for` of ``obj`` (or of ``view.object`` when ``obj`` is
      omitted), of the type :data:`PUSHERABLE_CHANNEL_TYPE` gives unless ``channel_type``
      says otherwise.

    Raises :exc:`ValueError`, with what to change, when the page would listen on a
    channel the events do not go to: an ``intent`` while the events go to a private or
    public channel, or a ``channel_type`` the view sends on no channel of.
    """
    if model is not None:
        model_class = resolve_model(model)
        if intent is not None and channel_type is None and model_channel_type() != "presence":
            raise _presence_needed(
                intent,
                f"model channels are {channel_for_model(model_class)}",
                "pass channel_type='presence' and set the sending views' "
                "pusher_model_channel_type = 'presence' (or PUSHERABLE_MODEL_CHANNEL_TYPE)",
            )
        return _exposed_only(model_class, [channel_for_model(model_class, channel_type)])
    view_object = getattr(view, "object", None)
    if obj is None or _same_object(obj, view_object):
        names = _view_channels(view)
        if names:
            return _view_subscription(names, channel_type, intent)
        obj = obj if obj is not None else view_object
    if obj is None:
        raise ValueError(
            "pusherable_subscribe needs an object, model=..., or a view in the template "
            "context that has an object or get_pusher_channels()."
        )
    if not isinstance(obj, models.Model):
        raise ValueError(f"pusherable_subscribe needs a model instance, not {type(obj).__name__}.")
    if intent is not None and channel_type is None:
        # No view says where the events go, so they go where the settings say.
        if settings.PUSHERABLE_CHANNEL_TYPE != "presence":
            raise _presence_needed(
                intent,
                f"PUSHERABLE_CHANNEL_TYPE is {settings.PUSHERABLE_CHANNEL_TYPE!r}, so events "
                f"about this object go to {channel_for(obj)}",
                "set PUSHERABLE_CHANNEL_TYPE = 'presence', pass channel_type='presence' if "
                "your events are sent there",
            )
        channel_type = "presence"
    return _exposed_only(type(obj), [channel_for(obj, channel_type)])


def _exposed_only(model: type[models.Model], channels: list[str]) -> list[str]:
    """``channels``, or a ValueError when the endpoints would refuse them (not exposed)."""
    if is_exposed(model) or all(_channel_type_of(name) == "public" for name in channels):
        return channels
    label = model._meta.label
    raise ValueError(
        f"{label} is not exposed to browsers, so {channels[0]} cannot be authorized: no "
        f"view with a pusherable mixin names it. Add {label!r} to "
        "PUSHERABLE_EXPOSED_MODELS (or call pusherable.exposure.expose() in your app's "
        "ready())."
    )


def require_auth_endpoint(channels: Iterable[str], request: HttpRequest | None = None) -> None:
    """Raise :exc:`ValueError` when a channel needs authorization no URL can give.

    Private and presence channels are joined only with a signature from the
    ``pusherable:auth`` view; without ``pusherable.urls`` the page could never listen.
    """
    guarded = [name for name in channels if _channel_type_of(name) != "public"]
    if not guarded or endpoint_urls(request)["auth"] is not None:
        return
    raise ValueError(
        f"{guarded[0]} is a {_channel_type_of(guarded[0])} channel, which browsers join only "
        "once pusherable.urls authorizes them, and pusherable.urls is not in the URLconf: "
        'add path("pusherable/", include("pusherable.urls")) to your urls.py, or use public '
        "channels (PUSHERABLE_CHANNEL_TYPE = 'public')."
    )


def check_intent(intent: Any) -> str:
    """Return ``intent`` if it is one of :data:`PUSHERABLE_INTENTS`; else :exc:`ValueError`.

    The intent endpoint refuses any other, so the page would only fail in the browser.
    """
    allowed = [str(name) for name in settings.PUSHERABLE_INTENTS]
    if str(intent) in allowed:
        return str(intent)
    raise ValueError(
        f"intent={str(intent)[:40]!r} is not one of PUSHERABLE_INTENTS "
        f"({', '.join(repr(name) for name in allowed)}): use one of those, or add it to "
        "the setting."
    )


def subscription(
    events: str | Sequence[str],
    obj: Any = None,
    *,
    view: Any = None,
    channel_type: str | None = None,
    model: Any = None,
    intent: str | None = None,
    callback: str | None = None,
    request: HttpRequest | None = None,
) -> dict[str, Any]:
    """The declaration ``{% pusherable_subscribe %}`` hands to ``pusherable.js``.

    ``{"channels": [...], "events": [...] or "*", "intent": ..., "callback": ...}``.
    An ``intent`` (one of :data:`PUSHERABLE_INTENTS`) only means something on a
    presence channel; the channels come from :func:`subscription_channels`, which
    refuses any the events do not go to. ``request`` picks the URLconf in which
    private and presence channels need ``pusherable:auth``.
    Raises :exc:`ValueError`, with what to change, for arguments that cannot work.
    """
    if intent is not None:
        intent = check_intent(intent)
        if channel_type is not None and channel_type != "presence":
            raise ValueError(
                f"intent={intent!r} needs a presence channel, but channel_type="
                f"{channel_type!r}: use channel_type='presence', or drop intent=."
            )
    if channel_type is not None and channel_type not in PREFIXES:
        raise ValueError(
            f"Unknown channel_type {channel_type!r}; choose one of {', '.join(PREFIXES)}."
        )
    if callback is not None and not _CALLBACK_RE.match(str(callback)):
        raise ValueError(
            f"callback {str(callback)[:40]!r} must name a global function, e.g. 'onArticleEvent' "
            "or 'app.onEvent'."
        )
    # Channel errors (a pk too long for a name...) are ValueErrors too.
    channels = subscription_channels(
        obj, view=view, channel_type=channel_type, model=model, intent=intent
    )
    require_auth_endpoint(channels, request)
    return {
        "channels": channels,
        "events": parse_events(events),
        "intent": intent,
        "callback": callback,
    }
