"""Who may listen to an object's channel, and what the others see of them.

A browser asks to subscribe to ``private-article_42``; :func:`authorize_channel`
reads the name back to the model and the pk (:func:`pusherable.channels.parse_channel`),
loads the object, asks the **policy** named by ``PUSHERABLE_AUTHORIZER``, and signs
the answer with the ``pusher`` library.

The policy
    A callable called with keyword arguments, returning ``True`` to grant::

        def policy(*, request, user, channel, obj, intent, **kwargs) -> bool: ...

    ``channel`` is the :class:`~pusherable.channels.ParsedChannel` (``channel.model``,
    ``channel.pk``, ``channel.type``), ``obj`` the object (``None`` for a model's own
    channel), ``intent`` one of ``PUSHERABLE_INTENTS``. It may raise
    :exc:`~django.core.exceptions.PermissionDenied` with a message for the browser.
    Accept ``**kwargs``: later versions may pass more. :func:`default_policy` grants
    an active, authenticated user the ``view`` or ``change`` permission on the model
    or on the object (so object-level backends such as django-guardian work);
    ``editing`` needs ``change``.

The user info
    A callable named by ``PUSHERABLE_USER_INFO``, called with the same keyword
    arguments (``request`` and ``obj`` may be ``None`` when the server lists who is
    here), returning a small JSON-safe dict: :func:`default_user_info`. The
    endpoint adds the member's ``intent`` and keeps the whole member under
    ``PUSHERABLE_MAX_USER_INFO_SIZE`` bytes.

Scoping by a view
    :func:`register_view` makes a view's ``get_queryset()`` decide which objects a
    user may subscribe to, so the channel's rules are the page's rules.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

from django.contrib.auth import get_permission_codename
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db import DatabaseError, models
from django.http import HttpRequest
from django.utils.module_loading import import_string

from . import api
from .channels import ParsedChannel, channel_for_model, encode_pk, parse_channel
from .conf import settings
from .delivery import clean_socket_id
from .encoding import encode_json
from .exceptions import (
    AuthorizationDenied,
    BadAuthorizationRequest,
    ChannelError,
    ConfigurationError,
    ObjectNotFound,
    UnknownChannelModel,
)
from .exposure import expose, is_exposed
from .users import display_name

__all__ = [
    "ENCRYPTED_PREFIX",
    "ask_policy",
    "authorize_channel",
    "authorize_user",
    "check_access",
    "clean_intent",
    "default_policy",
    "default_user_info",
    "fit_user_info",
    "get_object",
    "get_queryset",
    "get_user",
    "member_id",
    "model_channel_of",
    "parse_exposed_channel",
    "parse_requested_channel",
    "register_queryset",
    "register_view",
    "require_socket_id",
    "unregister",
    "user_info_for",
]

logger = logging.getLogger("pusherable")

ENCRYPTED_PREFIX = "private-encrypted-"

QuerysetFactory = Callable[[HttpRequest], "models.QuerySet[Any]"]
_querysets: dict[type[models.Model], QuerysetFactory] = {}

ViewClass = TypeVar("ViewClass", bound=type)


# -- Scoping by a view ---------------------------------------------------------------


def register_queryset(model: type[models.Model], factory: QuerysetFactory) -> None:
    """Limit the objects of ``model`` a user may subscribe to: ``factory(request)``.

    An object outside the returned queryset answers 404, as the page itself would.
    Registering exposes the model (:mod:`pusherable.exposure`).
    """
    _querysets[model] = factory
    expose(model)


def register_view(
    view_class: ViewClass | None = None, *, model: type[models.Model] | None = None
) -> Any:
    """Scope ``model``'s channels by the view's own ``get_queryset()``.

    Use it as a class decorator (``@register_view``) on a ``DetailView``/``UpdateView``,
    or call ``register_view(ArticleDetail)``. The view is set up with the
    authorization request (no URL arguments), so ``self.request.user`` is there.
    """

    def decorate(cls: ViewClass) -> ViewClass:
        queryset = getattr(cls, "queryset", None)
        target = model or getattr(cls, "model", None)
        if target is None and queryset is not None:
            target = queryset.model
        if target is None:
            raise ConfigurationError(
                f"{cls.__name__} has neither `model` nor `queryset`; pass model=..."
            )

        def factory(request: HttpRequest) -> models.QuerySet[Any]:
            view = cls()
            view.setup(request)
            return view.get_queryset()

        register_queryset(target, factory)
        return cls

    return decorate if view_class is None else decorate(view_class)


def unregister(model: type[models.Model]) -> None:
    """Remove the scope of ``model``; its channels use the default manager again."""
    _querysets.pop(model, None)


def get_queryset(request: HttpRequest | None, model: type[models.Model]) -> models.QuerySet[Any]:
    """The objects of ``model`` the request may subscribe to (registered scope or all)."""
    factory = _querysets.get(model)
    if factory is not None and request is not None:
        return factory(request)
    return model._default_manager.all()


# -- Defaults ------------------------------------------------------------------------


def default_policy(
    *,
    user: Any,
    channel: ParsedChannel,
    obj: models.Model | None,
    intent: str,
    **kwargs: Any,
) -> bool:
    """Grant an active, authenticated user with the ``view`` or ``change`` permission.

    Permissions are checked on the model, then on ``obj`` (``user.has_perm(perm, obj)``,
    which object-level backends answer). ``editing`` requires ``change``.
    """
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", True):
        return False
    opts = channel.model._meta
    actions = ("change",) if intent == "editing" else ("view", "change")
    for action in actions:
        perm = f"{opts.app_label}.{get_permission_codename(action, opts)}"
        if user.has_perm(perm) or (obj is not None and user.has_perm(perm, obj)):
            return True
    return False


def default_user_info(*, user: Any, **kwargs: Any) -> dict[str, Any]:
    """``{"id": ..., "name": ...}``: what the others see of a member.

    ``id`` is the member id (:func:`member_id`), because clients such as Laravel
    Echo hand only ``user_info`` to their ``here``/``joining``/``leaving``
    callbacks; ``name`` comes from :func:`pusherable.users.display_name`, as
    everywhere else.
    """
    return {"id": member_id(user), "name": display_name(user) or str(user)}


# -- Pieces of a request -------------------------------------------------------------


def get_user(request: HttpRequest) -> Any:
    """``request.user``, or an anonymous user when the auth middleware is not installed."""
    return getattr(request, "user", None) or AnonymousUser()


def require_socket_id(value: Any) -> str:
    """Return ``value`` if it is a Pusher socket id (``123.456``); else 400."""
    socket_id = clean_socket_id(value)
    if socket_id is not None:
        return socket_id
    raise BadAuthorizationRequest("Missing or malformed socket_id.")


def clean_intent(value: Any) -> str:
    """The intent asked for (the first of ``PUSHERABLE_INTENTS`` when absent); else 400."""
    intents = tuple(settings.PUSHERABLE_INTENTS)
    if value in (None, ""):
        return str(intents[0])
    if isinstance(value, str) and value in intents:
        return value
    raise BadAuthorizationRequest(f"Unknown intent; expected one of: {', '.join(intents)}.")


def member_id(user: Any) -> str:
    """A user's id in presence channels and signin: ``str(user.pk)``.

    Characters Pusher refuses in ids are escaped as in channel names, so any
    primary key works; integer and UUID keys are unchanged.
    """
    return encode_pk(user.pk)


def parse_requested_channel(name: Any) -> ParsedChannel:
    """Read a requested channel name back to model and pk; 400/404 when it is not ours.

    ``private-encrypted-<model>_<pk>`` is accepted when
    ``PUSHER_ENCRYPTION_MASTER_KEY_BASE64`` is set; the result keeps the full name.
    """
    if not isinstance(name, str) or not name:
        raise BadAuthorizationRequest("Missing channel_name.")
    encrypted = name.startswith(ENCRYPTED_PREFIX)
    if encrypted and not settings.PUSHER_ENCRYPTION_MASTER_KEY_BASE64:
        raise BadAuthorizationRequest(
            "End-to-end encrypted channels need PUSHER_ENCRYPTION_MASTER_KEY_BASE64 on the server."
        )
    inner = "private-" + name[len(ENCRYPTED_PREFIX) :] if encrypted else name
    parsed = parse_exposed_channel(inner)
    if parsed.type == "public":
        raise BadAuthorizationRequest("Public channels need no authorization.")
    return replace(parsed, name=name) if encrypted else parsed


def parse_exposed_channel(name: str) -> ParsedChannel:
    """:func:`~pusherable.channels.parse_channel`, for exposed models only.

    A model nobody exposed (:mod:`pusherable.exposure`) is answered exactly like a
    name that is no model at all (404), so its rows cannot be probed.
    """
    try:
        parsed = parse_channel(name)
    except UnknownChannelModel as exc:
        raise ObjectNotFound(str(exc)) from exc
    except ChannelError as exc:
        raise BadAuthorizationRequest(str(exc)) from exc
    if not is_exposed(parsed.model):
        raise ObjectNotFound(f"Channel {name!r} does not name an installed model.")
    return parsed


def get_object(request: HttpRequest | None, channel: ParsedChannel) -> models.Model | None:
    """The object a channel names, through :func:`get_queryset`; ``None`` for a model channel.

    The pk goes through the pk field's ``to_python``: an invalid one answers 400, and
    so does one that is not written as :func:`~pusherable.channels.channel_for` writes
    it (``article_01`` for ``article_1``): one object has one channel, never aliases
    with rate limits of their own. A missing object answers 404.
    """
    if channel.pk is None:
        return None
    model = channel.model
    label = model._meta.verbose_name
    try:
        pk = model._meta.pk.to_python(channel.pk)
    except (ValidationError, ValueError, TypeError) as exc:
        raise BadAuthorizationRequest(f"{channel.pk!r} is not a valid {label} key.") from exc
    if str(pk) != channel.pk:
        raise BadAuthorizationRequest(
            f"{channel.name!r} is not the channel of a {label}: its key is not written the "
            "way this site writes it."
        )
    try:
        return get_queryset(request, model).get(pk=pk)
    except (ObjectDoesNotExist, ValidationError, ValueError, TypeError, OverflowError) as exc:
        raise ObjectNotFound(f"No {label} matches this channel.") from exc
    except DatabaseError as exc:
        # A key the database cannot compare (out of range for its column) names nothing.
        logger.info("pusherable: lookup of %r failed: %s", channel.name, exc)
        raise ObjectNotFound(f"No {label} matches this channel.") from exc


def check_access(
    request: HttpRequest, channel_name: Any, intent: str
) -> tuple[ParsedChannel, models.Model | None]:
    """Parse the channel, load its object and ask the policy; return both or raise.

    Raises :exc:`~pusherable.exceptions.AuthorizationError` subclasses (400/403/404).
    """
    channel = parse_requested_channel(channel_name)
    try:
        obj = get_object(request, channel)
    except ObjectNotFound:
        # Only a user the policy lets onto the model's channel may learn that a row
        # is missing; anyone else gets the answer a forbidden existing row gets.
        ask_policy(request, model_channel_of(channel), None, intent)
        raise
    ask_policy(request, channel, obj, intent)
    return channel, obj


def model_channel_of(channel: ParsedChannel) -> ParsedChannel:
    """The model's own channel for an object's ``channel`` (same model and type)."""
    if channel.pk is None:
        return channel
    return replace(channel, pk=None, name=channel_for_model(channel.model, channel.type))


def ask_policy(
    request: HttpRequest, channel: ParsedChannel, obj: models.Model | None, intent: str
) -> None:
    """Ask ``PUSHERABLE_AUTHORIZER`` about ``channel``; raise 403 unless it grants.

    The refusal says what the user may not do with the model, never whether the
    object exists.
    """
    user = get_user(request)
    policy = import_string(settings.PUSHERABLE_AUTHORIZER)
    try:
        allowed = policy(request=request, user=user, channel=channel, obj=obj, intent=intent)
    except PermissionDenied as exc:
        raise AuthorizationDenied(str(exc) or "Permission denied.") from exc
    if allowed is not True:
        if not user.is_authenticated:
            raise AuthorizationDenied("Authentication required.")
        raise AuthorizationDenied(
            f"You may not {'edit' if intent == 'editing' else 'view'} this "
            f"{channel.model._meta.verbose_name}."
        )


# -- User info -----------------------------------------------------------------------


def _json_size(value: Any) -> int:
    # As the pusher library writes channel_data: json.dumps()'s defaults.
    return len(encode_json(value, ensure_ascii=True, compact=False).encode())


def fit_user_info(user_id: str, info: dict[str, Any], *, limit: int | None = None) -> dict:
    """Make ``info`` JSON-safe and keep ``{"user_id", "user_info"}`` under ``limit`` bytes.

    Too large, it is trimmed (and a warning logged): other keys are dropped, last
    first, then ``name`` is shortened; ``id`` and ``intent`` are kept. If even that
    does not fit, :exc:`~pusherable.exceptions.BadAuthorizationRequest` is raised.
    """
    if not isinstance(info, dict):
        raise ConfigurationError(
            f"PUSHERABLE_USER_INFO must return a dict, not {type(info).__name__}."
        )
    limit = settings.PUSHERABLE_MAX_USER_INFO_SIZE if limit is None else limit
    info = json.loads(encode_json(info))
    size = _json_size({"user_id": user_id, "user_info": info})
    if size <= limit:
        return info
    logger.warning(
        "pusherable: user info of user %s is %d bytes, more than "
        "PUSHERABLE_MAX_USER_INFO_SIZE (%d); trimming it.",
        user_id,
        size,
        limit,
    )
    for key in reversed([k for k in info if k not in ("id", "name", "intent")]):
        del info[key]
        if _json_size({"user_id": user_id, "user_info": info}) <= limit:
            return info
    name = str(info.get("name", ""))
    while name:
        name = name[: len(name) // 2]
        info["name"] = name + "…" if name else ""
        if _json_size({"user_id": user_id, "user_info": info}) <= limit:
            return info
    logger.error("pusherable: user info of user %s cannot fit in %d bytes.", user_id, limit)
    raise BadAuthorizationRequest(
        "The presence member information is larger than PUSHERABLE_MAX_USER_INFO_SIZE."
    )


def user_info_for(
    user: Any,
    *,
    request: HttpRequest | None = None,
    channel: ParsedChannel | None = None,
    obj: models.Model | None = None,
    intent: str | None = None,
) -> dict[str, Any]:
    """The ``user_info`` of a member: the ``PUSHERABLE_USER_INFO`` hook, plus ``intent``."""
    hook = import_string(settings.PUSHERABLE_USER_INFO)
    info = hook(request=request, user=user, channel=channel, obj=obj, intent=intent)
    if isinstance(info, dict) and intent is not None:
        info = {**info, "intent": intent}
    return fit_user_info(member_id(user), info)


# -- Signing -------------------------------------------------------------------------


def _signing_client() -> Any:
    try:
        return api.get_client()
    except ConfigurationError:
        logger.exception("pusherable: cannot sign an authorization")
        raise


def authorize_channel(
    request: HttpRequest, *, channel_name: Any, socket_id: Any, intent: Any = None
) -> dict[str, Any]:
    """The JSON answer to a pusher-js channel authorization request, or raise.

    Private: ``{"auth"}``; presence: ``{"auth", "channel_data"}``; encrypted:
    ``{"auth", "shared_secret"}``. Raises
    :exc:`~pusherable.exceptions.AuthorizationError` (with its HTTP status).
    """
    socket_id = require_socket_id(socket_id)
    intent = clean_intent(intent)
    channel, obj = check_access(request, channel_name, intent)
    custom_data = None
    if channel.type == "presence":
        user = get_user(request)
        info = user_info_for(user, request=request, channel=channel, obj=obj, intent=intent)
        custom_data = {"user_id": member_id(user), "user_info": info}
    try:
        answer = dict(_signing_client().authenticate(channel.name, socket_id, custom_data))
    except (ValueError, TypeError) as exc:  # the library's own checks
        raise BadAuthorizationRequest(f"Cannot authorize this channel: {exc}") from exc
    secret = answer.get("shared_secret")
    if isinstance(secret, bytes):
        # The library returns base64 bytes, which JSON cannot carry.
        answer["shared_secret"] = secret.decode("ascii")
    if channel.type == "presence":
        from . import presence

        presence.remember_intent(channel.name, member_id(get_user(request)), intent)
    return answer


def authorize_user(request: HttpRequest, *, socket_id: Any) -> dict[str, Any]:
    """The JSON answer to a pusher-js signin request: ``{"auth", "user_data"}``, or raise."""
    socket_id = require_socket_id(socket_id)
    user = get_user(request)
    if not user.is_authenticated or not getattr(user, "is_active", True):
        raise AuthorizationDenied("Authentication required.")
    user_data = {"id": member_id(user), "user_info": user_info_for(user, request=request)}
    try:
        return dict(_signing_client().authenticate_user(socket_id, user_data))
    except (ValueError, TypeError) as exc:
        raise BadAuthorizationRequest(f"Cannot sign this user in: {exc}") from exc
