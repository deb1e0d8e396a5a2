"""Who is editing which field: the server's half of ``pusherable-fields.js``.

When an editor focuses a field of a guarded form, ``pusherable-fields.js`` tells
the field endpoint (``pusherable:field``), which triggers :data:`FIELD_EVENT` on
the object's presence channel; the others' pages show "Bob is editing Body".

The page cannot choose which names it may announce: the guarded form's hidden
input carries ``data-pusherable-fields``, a token signed with ``SECRET_KEY``
that binds the form's own field names to the object's presence channel
(:func:`sign_field_names`). The endpoint accepts a field only if that token
names it (:func:`read_field_names`), so a forged request cannot put arbitrary
text in front of the other editors. The event is a server event, never a client
event: nobody can speak for another user.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django import forms
from django.core import signing
from django.db import models

from .channels import channel_for
from .exceptions import BadAuthorizationRequest, PusherableError

__all__ = [
    "FIELDS_ATTRIBUTE",
    "FIELD_CHANNEL_ATTRIBUTE",
    "FIELD_EVENT",
    "MAX_FIELD_NAME_LENGTH",
    "field_attributes",
    "read_field_names",
    "sign_field_names",
]

logger = logging.getLogger("pusherable")

#: The server event that says which field a member is editing (``field`` ``null``: none).
FIELD_EVENT = "pusherable:field"
#: Attributes of the guarded form's hidden input read by ``pusherable-fields.js``.
FIELDS_ATTRIBUTE = "data-pusherable-fields"
FIELD_CHANNEL_ATTRIBUTE = "data-pusherable-field-channel"
#: Longer names are refused before the signature is even read.
MAX_FIELD_NAME_LENGTH = 200

_SALT = "pusherable.fields"


def sign_field_names(channel: str, names: Iterable[str]) -> str:
    """A token binding ``names`` (a form's fields) to the presence channel ``channel``."""
    return signing.dumps({"c": channel, "f": sorted(set(names))}, salt=_SALT, compress=True)


def read_field_names(token: Any, channel: str) -> frozenset[str]:
    """The field names ``token`` allows on ``channel``; 400 when it is forged or elsewhere."""
    if not isinstance(token, str) or not token:
        raise BadAuthorizationRequest("Missing fields token.")
    try:
        value = signing.loads(token, salt=_SALT)
    except signing.BadSignature:
        raise BadAuthorizationRequest("Invalid fields token.") from None
    if not isinstance(value, dict) or value.get("c") != channel:
        raise BadAuthorizationRequest("The fields token is for another object.")
    names = value.get("f")
    if not isinstance(names, list):
        raise BadAuthorizationRequest("Invalid fields token.")
    return frozenset(name for name in names if isinstance(name, str))


def clean_field(value: Any, allowed: frozenset[str]) -> str | None:
    """The field asked for (``None`` for "no field", an empty value); 400 for any other."""
    if value in (None, ""):
        return None
    if isinstance(value, str) and len(value) <= MAX_FIELD_NAME_LENGTH and value in allowed:
        return value
    raise BadAuthorizationRequest("This form has no such field.")


def field_attributes(
    form: forms.BaseForm, instance: models.Model, *, exclude: Iterable[str] = ()
) -> dict[str, str]:
    """The attributes that let the page announce which of ``form``'s fields is focused.

    ``{}`` when the object has no presence channel name (a primary key too long for
    one): the form then works as before, without field presence.
    """
    try:
        channel = channel_for(instance, "presence")
    except PusherableError:
        logger.info("pusherable: no presence channel for %r: no field presence", instance)
        return {}
    skipped = set(exclude)
    names = [name for name in form.fields if name not in skipped]
    return {
        FIELD_CHANNEL_ATTRIBUTE: channel,
        FIELDS_ATTRIBUTE: sign_field_names(channel, names),
    }
