"""Catch-up after a reconnect: what changed on an object since the version a page holds.

A page that was offline (the connection dropped, the laptop slept, the tab was
frozen) missed the ``updated`` and ``deleted`` events of that time. When it is
back, ``pusherable.js`` asks :class:`pusherable.views.ChangesView`
(``pusherable:changes``) what changed since the version it holds, and hands each
missed change to the page as if it had arrived live, marked ``"catch_up": true``.

The answer is built from the change history (:mod:`pusherable.history`) and the
stored object, through the payload functions (:mod:`pusherable.payload`), so it
carries what the live events carry and never more: sensitive and excluded fields
stay out.

Which version token and which payload rules
    A page's version comes from the view (or ``ModelAdmin``) that rendered it:
    its ``get_pusher_version()`` (``pusher_version_field``) and its
    ``pusher_include_model_fields`` / ``pusher_exclude_model_fields``. The browser
    cannot be trusted to name those (a field it chose as "version" would read that
    field's value back), so ``{% pusherable_subscribe %}`` adds to its declaration,
    besides the ``version``, a *scope*: the view class (or admin site) signed with
    ``SECRET_KEY``. The endpoint rebuilds the view from it. Without a scope (a page
    rendered without such a view), the model's defaults apply:
    :func:`pusherable.versions.object_version` and the global payload rules.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.core import signing
from django.db import models
from django.http import HttpRequest
from django.utils.module_loading import import_string

from .authorization import (
    ask_policy,
    get_object,
    get_user,
    model_channel_of,
    parse_exposed_channel,
    parse_requested_channel,
)
from .channels import ParsedChannel
from .exceptions import (
    AuthorizationError,
    BadAuthorizationRequest,
    ObjectNotFound,
)
from .history import Change, changes_since
from .members import clean_intent
from .payload import json_safe, serialize_object
from .protocol_rules import ENCRYPTED_PREFIX
from .ratelimit import within_limit
from .versions import object_version

__all__ = [
    "CATCH_UP_RATE_LIMIT",
    "MAX_VERSION_LENGTH",
    "changes_answer",
    "check_access",
    "check_rate",
    "declaration_extras",
    "read_scope",
    "scope_token",
]

logger = logging.getLogger("pusherable")

#: At most this many catch-up requests per user and channel in this many seconds
#: (429 beyond): a page asks once per reconnection or wake-up.
CATCH_UP_RATE_LIMIT = (30, 60)

#: Longest ``since`` accepted: version tokens are short (a date-time or a digest).
MAX_VERSION_LENGTH = 256

_SCOPE_SALT = "pusherable.catchup.scope"


# -- The scope: which view's rules the page follows ------------------------------------


def scope_token(source: Any, model: type[models.Model]) -> str | None:
    """A signed reference to ``source`` (a view or a ``ModelAdmin``) for ``model``.

    ``None`` when ``source`` cannot be found again from a reference: the model's
    defaults then apply.
    """
    label = model._meta.label_lower
    site = getattr(source, "admin_site", None)
    if site is not None:
        return signing.dumps([label, "admin", site.name], salt=_SCOPE_SALT)
    cls = type(source)
    if "<locals>" in cls.__qualname__:
        return None  # a class made in a function cannot be imported back
    return signing.dumps([label, "view", f"{cls.__module__}.{cls.__qualname__}"], salt=_SCOPE_SALT)


def read_scope(
    token: str | None, model: type[models.Model], request: HttpRequest | None = None
) -> Any:
    """The view or ``ModelAdmin`` a :func:`scope_token` names, or ``None`` for defaults.

    A token that was tampered with, or made for another model, answers 400; one
    naming a view or admin site that no longer exists falls back to the defaults.
    """
    if not token:
        return None
    try:
        label, kind, ref = signing.loads(token, salt=_SCOPE_SALT)
    except (signing.BadSignature, ValueError, TypeError):
        raise BadAuthorizationRequest("Invalid scope.") from None
    if label != model._meta.label_lower:
        raise BadAuthorizationRequest("The scope belongs to another model.")
    if kind == "admin":
        # Imported here: projects without the admin never get an "admin" scope.
        from django.contrib.admin.sites import all_sites

        for site in list(all_sites):
            if site.name == ref:
                return site._registry.get(model)
        return None
    try:
        cls = import_string(ref)
    except ImportError:
        return None
    try:
        view = cls()
        if request is not None and callable(getattr(view, "setup", None)):
            view.setup(request)
    except Exception:
        logger.exception("pusherable: could not set up %s for a catch-up request", ref)
        return None
    return view


def _version(source: Any, obj: models.Model) -> str:
    getter = getattr(source, "get_pusher_version", None)
    if callable(getter):
        return str(getter(obj))
    return object_version(obj, getattr(source, "pusher_version_field", None))


def _payload_rules(source: Any) -> tuple[Any, Any]:
    return (
        getattr(source, "pusher_include_model_fields", None),
        getattr(source, "pusher_exclude_model_fields", None),
    )


def _source_of(obj: models.Model, view: Any, adminform: Any) -> Any:
    """The view or ``ModelAdmin`` whose rules a subscription to ``obj`` follows."""
    model_admin = getattr(adminform, "model_admin", None)
    if model_admin is not None and getattr(model_admin, "model", None) is type(obj):
        return model_admin
    if view is None:
        return None
    getter = getattr(view, "get_pusher_object", None)
    own = getter() if callable(getter) else getattr(view, "object", None)
    if own is None or own is obj or (isinstance(own, models.Model) and own == obj):
        return view
    return None


def declaration_extras(
    obj: Any, *, view: Any = None, adminform: Any = None, request: Any = None
) -> dict[str, Any]:
    """``{"version", "scope"}`` for a subscription to ``obj``'s channel, else ``{}``.

    ``version`` is what the page holds, so that it can ask what it missed after a
    reconnection. After a POST (a refused form), the view's object may hold the
    submitted values in memory, so the version is read from the stored row. Never
    raises: a page renders even when its version cannot be worked out.
    """
    if not isinstance(obj, models.Model) or obj.pk is None:
        return {}
    try:
        source = _source_of(obj, view, adminform)
        if getattr(request, "method", "GET") not in ("GET", "HEAD"):
            stored = type(obj)._default_manager.filter(pk=obj.pk).first()
            if stored is None:
                return {}
            obj = stored
        version = _version(source, obj)
        scope = scope_token(source, type(obj)) if source is not None else None
    except Exception:
        logger.exception("pusherable: could not work out the version of %r", obj)
        return {}
    return {"version": version, "scope": scope}


# -- Who may ask ------------------------------------------------------------------------


def _parse(name: Any) -> ParsedChannel:
    if not isinstance(name, str) or not name:
        raise BadAuthorizationRequest("Missing channel.")
    if name.startswith(ENCRYPTED_PREFIX):
        parsed = parse_requested_channel(name)
    else:
        # Public channels too: the answer reads the database, so the policy decides
        # even where subscribing needs no authorization.
        parsed = parse_exposed_channel(name)
    if parsed.pk is None:
        raise BadAuthorizationRequest("Catch-up is for one object's channel, not a model's.")
    return parsed


def check_access(
    request: HttpRequest, channel_name: Any
) -> tuple[ParsedChannel, models.Model | None]:
    """Authorize a catch-up request as a subscription to the channel: ``(channel, obj)``.

    ``obj`` is ``None`` when the object is gone (or out of the user's scope); only a
    user the policy lets subscribe to the model's channel learns that (answered as
    deleted). Anyone else is refused with 403 whether the row exists or not, so the
    answer tells nothing about rows they may not see.
    """
    channel = _parse(channel_name)
    viewing = clean_intent(None)  # the first intent: viewing
    try:
        obj = get_object(request, channel)
    except ObjectNotFound:
        ask_policy(request, model_channel_of(channel), None, viewing)
        return channel, None
    ask_policy(request, channel, obj, viewing)
    return channel, obj


def check_rate(request: HttpRequest, channel: str) -> None:
    """Refuse (429) more than :data:`CATCH_UP_RATE_LIMIT` requests per user and channel."""
    count, window = CATCH_UP_RATE_LIMIT
    user = get_user(request)
    who = str(user.pk) if user.is_authenticated else "ip:" + request.META.get("REMOTE_ADDR", "")
    if not within_limit(f"catch-up:{channel}:{who}", count, window):
        raise AuthorizationError("Too many catch-up requests; slow down.", status=429)


# -- The answer ------------------------------------------------------------------------


def _change_data(change: Change, label: str, pk: Any, shown: Mapping[str, Any]) -> dict[str, Any]:
    # Only fields the object payload carries: an entry recorded by another view (or
    # the admin) with other rules, or a sensitive field kept by name only, stays out.
    values = {
        name: pair for name, pair in change.fields.items() if pair is not None and name in shown
    }
    return {
        "event": "updated",
        "model": label,
        "pk": pk,
        "changed": {name: pair[1] for name, pair in values.items()},
        "previous": {name: pair[0] for name, pair in values.items()},
        "version": change.version,
        "previous_version": change.previous_version,
        "user": change.user,
        "user_id": change.user_id,
        "user_name": change.who,
        "at": change.at,
    }


def changes_answer(
    request: HttpRequest, *, channel_name: Any, since: Any, scope: Any = None
) -> dict[str, Any]:
    """The JSON answer of the catch-up endpoint, or raise :exc:`AuthorizationError`.

    ``{"model", "pk", "version", "deleted", "changes", "object"}``: ``changes`` lists
    the missed saves, oldest first, each shaped like an ``updated`` event's data
    (plus ``at``); ``[]`` when ``since`` is the current version; ``null`` when the
    history cannot tell (evicted, or a change made where nothing records it), in
    which case ``object`` is all the page can go by.
    """
    if not isinstance(since, str) or not since:
        raise BadAuthorizationRequest("Missing since.")
    if len(since) > MAX_VERSION_LENGTH:
        raise BadAuthorizationRequest("since is not a version token.")
    channel, obj = check_access(request, channel_name)
    check_rate(request, channel.name)
    model = channel.model
    label = model._meta.label_lower
    if obj is None:
        pk = json_safe(model._meta.pk.to_python(channel.pk))
        return {
            "model": label,
            "pk": pk,
            "version": None,
            "deleted": True,
            "changes": [],
            "object": None,
        }
    source = read_scope(scope if isinstance(scope, str) else None, model, request)
    include, exclude = _payload_rules(source)
    shown = serialize_object(obj, include, exclude)
    pk = json_safe(obj.pk)
    current = _version(source, obj)
    changes: list[dict[str, Any]] | None
    if since == current:
        changes = []
    else:
        chain = changes_since(model, obj.pk, since)
        if chain and chain[-1].version == current:
            changes = [_change_data(change, label, pk, shown) for change in chain]
        else:
            changes = None
    return {
        "model": label,
        "pk": pk,
        "version": current,
        "deleted": False,
        "changes": changes,
        "object": shown,
    }
