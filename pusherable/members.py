"""Who a presence member is: the member id, the intent, and the ``user_info`` others see.

Shared by the authorization endpoint (which signs a member into a presence
channel), :mod:`pusherable.presence` (which reads members back) and the edit lock,
so none of them imports the others for it.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.db import models
from django.http import HttpRequest
from django.utils.module_loading import import_string

from .channels import ParsedChannel, encode_pk
from .conf import settings
from .encoding import encode_json
from .exceptions import BadAuthorizationRequest, ConfigurationError
from .users import display_name

__all__ = ["clean_intent", "default_user_info", "fit_user_info", "member_id", "user_info_for"]

logger = logging.getLogger("pusherable")


def default_user_info(*, user: Any, **kwargs: Any) -> dict[str, Any]:
    """``{"id": ..., "name": ...}``: what the others see of a member.

    ``id`` is the member id (:func:`member_id`), because clients such as Laravel
    Echo hand only ``user_info`` to their ``here``/``joining``/``leaving``
    callbacks; ``name`` comes from :func:`pusherable.users.display_name`, as
    everywhere else.
    """
    return {"id": member_id(user), "name": display_name(user) or str(user)}


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
