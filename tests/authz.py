"""Helpers for the authorization, presence and webhook tests."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pusher
from django.contrib.auth.models import AnonymousUser, Permission, User
from django.test import Client

from tests.testapp.models import Article, Document, Tag, Ticket

APP_ID, KEY, SECRET = "123456", "test-key", "test-secret"

#: An object-level backend as django-guardian would be: authors may view and change
#: their own articles, whatever their model permissions.
OBJECT_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "tests.authz.AuthorBackend",
]


class AuthorBackend:
    def authenticate(self, request: Any, **credentials: Any) -> None:
        return None

    def get_user(self, user_id: Any) -> None:
        return None

    def has_perm(self, user: Any, perm: str, obj: Any = None) -> bool:
        return (
            isinstance(obj, Article)
            and user.is_active
            and obj.author_id == user.pk
            and perm in ("testapp.view_article", "testapp.change_article")
        )


def reference_client() -> pusher.Pusher:
    """A client built from the test constants, independent of the library's settings."""
    return pusher.Pusher(app_id=APP_ID, key=KEY, secret=SECRET, ssl=False, host="127.0.0.1")


def grant(user: User, *codenames: str) -> None:
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))


@dataclass
class World:
    users: dict[str, Any]
    article: Article  # written by "author"
    other_article: Article  # nobody's
    tag: Tag
    document: Document
    ticket: Ticket


def make_world() -> World:
    users: dict[str, Any] = {"anonymous": AnonymousUser()}
    for name in ("plain", "viewer", "editor", "author", "inactive", "admin"):
        users[name] = User.objects.create_user(
            name, password="pw", first_name=name.title(), last_name="Example"
        )
    users["admin"].is_superuser = True
    users["admin"].save()
    users["inactive"].is_active = False
    users["inactive"].save()
    grant(users["viewer"], "view_article", "view_tag", "view_document", "view_ticket")
    grant(users["editor"], "change_article", "change_tag")
    grant(users["inactive"], "view_article", "change_article")
    return World(
        users=users,
        article=Article.objects.create(title="Mine", author=users["author"]),
        other_article=Article.objects.create(title="Theirs"),
        tag=Tag.objects.create(name="news"),
        document=Document.objects.create(key="a b/ü"),
        ticket=Ticket.objects.create(subject="Help"),
    )


def client_for(user: Any, **kwargs: Any) -> Client:
    client = Client(**kwargs)
    if getattr(user, "is_authenticated", False):
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def post_form(client: Client, url: str, data: dict[str, Any], **extra: Any) -> Any:
    """POST like pusher-js: ``application/x-www-form-urlencoded``."""
    fields = {key: value for key, value in data.items() if value is not None}
    return client.post(
        url, urlencode(fields), content_type="application/x-www-form-urlencoded", **extra
    )


def signed_webhook(
    events: list[dict[str, Any]],
    *,
    secret: str = SECRET,
    key: str = KEY,
    time_ms: int | None = None,
) -> tuple[bytes, dict[str, str]]:
    """A webhook body and headers signed as Pusher signs them."""
    body = json.dumps(
        {"time_ms": int(time.time() * 1000) if time_ms is None else time_ms, "events": events}
    ).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"HTTP_X_PUSHER_KEY": key, "HTTP_X_PUSHER_SIGNATURE": signature}
