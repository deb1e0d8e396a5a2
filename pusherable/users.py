"""The user a request is made by, found without work the page would not do otherwise."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject, empty
from django.utils.module_loading import import_string

from .conf import settings, settings_reloaded
from .exceptions import ConfigurationError

__all__ = ["default_display_name", "display_name", "request_user"]

_AUTH_MIDDLEWARE_MODULE = "django.contrib.auth.middleware"


def request_user(request: HttpRequest) -> Any:
    """``request.user``, without reading the session when the request is plainly anonymous.

    Django's ``AuthenticationMiddleware`` sets ``request.user`` to a lazy object
    that reads the session, then the user, the first time it is used. A page that
    shows no user never pays for that; an event naming the user would make it pay
    (and reading the session marks it accessed, which adds ``Vary: Cookie`` to
    the response). So when ``request.user`` is still that unread lazy object and
    the request has no session (no session cookie, nothing stored in it during
    this request), the user is known to be anonymous without asking: an
    :class:`~django.contrib.auth.models.AnonymousUser` is returned and the
    session is left untouched.

    In every other case (a session cookie, a user already read, set by
    :func:`~django.contrib.auth.login` or by another middleware) this is
    ``request.user`` as usual, or ``None`` when the request has none.
    """
    user = getattr(request, "user", None)
    if type(user) is not SimpleLazyObject or not _unread_middleware_user(user):
        return user
    session = getattr(request, "session", None)
    if session is None or getattr(session, "session_key", "") is not None:
        return user  # a session cookie (or an unknown kind of session): ask it
    if getattr(session, "_session_cache", None):
        return user  # data stored in this request's new session, maybe a login
    return _anonymous_user_class()()


@functools.cache
def _anonymous_user_class() -> type:
    # Imported on first use: django.contrib.auth.models needs the app registry ready.
    from django.contrib.auth.models import AnonymousUser

    return AnonymousUser


def _unread_middleware_user(user: SimpleLazyObject) -> bool:
    # The lazy object's own state, read without evaluating it.
    state = object.__getattribute__(user, "__dict__")
    if state.get("_wrapped", empty) is not empty:
        return False
    setup = state.get("_setupfunc")
    # The middleware makes a new function per request, always from the same code.
    code = getattr(setup, "__code__", None)
    verdict = _middleware_code_verdicts.get(code)
    if verdict is None:
        # Only Django's own AuthenticationMiddleware is known to take the user from
        # the session alone; a token or remote-user middleware may find one without it.
        verdict = getattr(setup, "__module__", None) == _AUTH_MIDDLEWARE_MODULE and getattr(
            setup, "__qualname__", ""
        ).startswith("AuthenticationMiddleware.")
        if code is not None and len(_middleware_code_verdicts) < 64:
            _middleware_code_verdicts[code] = verdict
    return verdict


# code object of a lazy user's setup function -> made by AuthenticationMiddleware?
_middleware_code_verdicts: dict[Any, bool] = {}


# -- the one name a user goes by --------------------------------------------------------


def default_display_name(user: Any) -> str:
    """The user's full name, else their username (``get_username()``)."""
    full_name = getattr(user, "get_full_name", None)
    name = full_name() if callable(full_name) else ""
    if not name:
        get_username = getattr(user, "get_username", None)
        name = get_username() if callable(get_username) else getattr(user, "username", "")
    return str(name or user)


_display_name_hooks: dict[str, Callable[[Any], str]] = {}


def _forget_display_name_hook(sender: Any, setting: str, **kwargs: Any) -> None:
    _display_name_hooks.clear()


settings_reloaded.connect(_forget_display_name_hook, dispatch_uid="pusherable.users")


def display_name(user: Any) -> str | None:
    """The name ``user`` goes by everywhere: presence, notices, refusals, merge messages.

    Calls :data:`PUSHERABLE_USER_DISPLAY_NAME` (a dotted path, by default
    :func:`default_display_name`); ``None`` for no user or an anonymous one.
    """
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    path = str(settings.PUSHERABLE_USER_DISPLAY_NAME)
    hook = _display_name_hooks.get(path)
    if hook is None:
        try:
            hook = import_string(path)
        except ImportError as exc:
            raise ConfigurationError(
                f"PUSHERABLE_USER_DISPLAY_NAME {path!r} cannot be imported: {exc}"
            ) from exc
        _display_name_hooks[path] = hook
    return str(hook(user))
