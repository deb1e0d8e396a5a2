"""HTTP endpoints for pusher-js and for Pusher: see :mod:`pusherable.urls`.

Every answer is JSON; an error is ``{"error": "<message>"}`` with 400, 401, 403,
404, 429 or 503. CSRF protection stays on for the browser endpoints (pusher-js
sends Django's token as ``X-CSRFToken``, which ``pusherable.js`` configures); only
the webhook receiver is exempt, because Pusher signs it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from . import authorization, catchup, fields, locks, members, presence, webhooks
from .conf import settings
from .delivery import clean_socket_id, trigger
from .encoding import JSONEncoder
from .exceptions import AuthorizationError, ConfigurationError
from .protocol_rules import PRESENCE_PREFIX
from .ratelimit import within_limit

__all__ = [
    "INTENT_EVENT",
    "ChangesView",
    "ChannelAuthView",
    "FieldView",
    "IntentView",
    "JsonEndpoint",
    "LockView",
    "UserAuthView",
    "WebhookView",
    "check_rate",
]

logger = logging.getLogger("pusherable")

#: The server-signed event an intent change triggers on a presence channel.
INTENT_EVENT = "pusherable:intent"


def json_response(data: dict[str, Any], status: int = 200) -> JsonResponse:
    """A JSON answer, written by :class:`pusherable.encoding.JSONEncoder`."""
    return JsonResponse(data, status=status, encoder=JSONEncoder)


def error_response(message: str, status: int) -> JsonResponse:
    return json_response({"error": message}, status=status)


@method_decorator(never_cache, name="dispatch")
class JsonEndpoint(View):
    """A POST-only view answering JSON; :exc:`AuthorizationError` becomes its status."""

    http_method_names = ["post", "options"]

    def http_method_not_allowed(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        response = error_response("Method not allowed; use POST.", 405)
        response["Allow"] = "POST"
        return response

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            request.POST  # noqa: B018  (parse now, so a malformed body is a JSON 400)
        except MultiPartParserError:
            return error_response("Malformed form data.", 400)
        try:
            return json_response(self.handle(request))
        except AuthorizationError as exc:
            return error_response(str(exc), exc.status)
        except ConfigurationError as exc:
            logger.error("pusherable: %s", exc)
            return error_response("Realtime updates are not configured on the server.", 503)

    def handle(self, request: HttpRequest) -> dict[str, Any]:
        """Return the JSON answer, or raise :exc:`AuthorizationError`."""
        raise NotImplementedError


class ChannelAuthView(JsonEndpoint):
    """pusher-js channel authorization: POST ``socket_id``, ``channel_name``, ``intent``."""

    def handle(self, request: HttpRequest) -> dict[str, Any]:
        return authorization.authorize_channel(
            request,
            channel_name=request.POST.get("channel_name"),
            socket_id=request.POST.get("socket_id"),
            intent=request.POST.get("intent"),
        )


class UserAuthView(JsonEndpoint):
    """pusher-js user authentication (signin): POST ``socket_id``."""

    def handle(self, request: HttpRequest) -> dict[str, Any]:
        return authorization.authorize_user(request, socket_id=request.POST.get("socket_id"))


class IntentView(JsonEndpoint):
    """Declare an intent on a presence channel: POST ``socket_id``, ``channel_name``, ``intent``.

    Authorized like the channel itself; then :data:`INTENT_EVENT` goes to the
    channel with ``{"user_id", "intent"}``, to every tab but the sender's.
    Presence ``user_info`` is frozen when a tab subscribes and client events can be
    spoofed, so intent changes go through the server.
    """

    def handle(self, request: HttpRequest) -> dict[str, Any]:
        socket_id = authorization.require_socket_id(request.POST.get("socket_id"))
        if request.POST.get("intent") in (None, ""):
            raise authorization.BadAuthorizationRequest("Missing intent.")
        intent = members.clean_intent(request.POST.get("intent"))
        channel, _ = authorization.check_access(request, request.POST.get("channel_name"), intent)
        if channel.type != "presence":
            raise authorization.BadAuthorizationRequest(
                "Intents are declared on presence channels only."
            )
        user_id = members.member_id(authorization.get_user(request))
        self.check_rate(user_id, channel.name)
        presence.remember_intent(channel.name, user_id, intent)
        # Not tied to a database write, so not delayed to a commit.
        trigger(
            channel.name,
            INTENT_EVENT,
            {"user_id": user_id, "intent": intent},
            socket_id=socket_id,
            on_commit=False,
        )
        return {"ok": True}

    def check_rate(self, user_id: str, channel: str) -> None:
        """Refuse (429) more than ``PUSHERABLE_INTENT_RATE_LIMIT`` intents per user and channel."""
        check_rate("intent", settings.PUSHERABLE_INTENT_RATE_LIMIT, user_id, channel)


def check_rate(
    kind: str, limit: Any, user_id: str, channel: str, *, what: str | None = None
) -> None:
    """Refuse (429) more than ``limit`` = ``(count, seconds)`` requests of ``kind``
    per user and channel; a falsy ``limit`` allows any number. ``what`` names them in
    the error (default: "<kind> changes")."""
    if not limit:
        return
    count, window = limit
    if not within_limit(f"{kind}:{channel}:{user_id}", count, window):
        raise AuthorizationError(f"Too many {what or kind + ' changes'}; slow down.", status=429)


class FieldView(JsonEndpoint):
    """Say which field of a guarded form the user is editing: POST ``socket_id``,
    ``channel_name``, ``fields`` (the form's signed field names) and ``field``
    (empty: none).

    The user must be allowed to edit the object (as the ``editing`` intent); the
    field must be one the signed token names (:mod:`pusherable.fields`). Then
    :data:`~pusherable.fields.FIELD_EVENT` goes to the presence channel with
    ``{"user_id", "field"}``, to every tab but the sender's; rate limited by
    ``PUSHERABLE_FIELD_RATE_LIMIT``.
    """

    def handle(self, request: HttpRequest) -> dict[str, Any]:
        socket_id = authorization.require_socket_id(request.POST.get("socket_id"))
        channel_name = request.POST.get("channel_name")
        if not isinstance(channel_name, str) or not channel_name.startswith(PRESENCE_PREFIX):
            raise authorization.BadAuthorizationRequest(
                "Fields are announced on presence channels only."
            )
        allowed = fields.read_field_names(request.POST.get("fields"), channel_name)
        field = fields.clean_field(request.POST.get("field"), allowed)
        channel, _ = authorization.check_access(request, channel_name, "editing")
        user_id = members.member_id(authorization.get_user(request))
        check_rate("field", settings.PUSHERABLE_FIELD_RATE_LIMIT, user_id, channel.name)
        trigger(
            channel.name,
            fields.FIELD_EVENT,
            {"user_id": user_id, "field": field},
            socket_id=socket_id,
            on_commit=False,
        )
        return {"ok": True}


class LockView(JsonEndpoint):
    """The edit lock of an object: POST ``channel_name``, ``action``, ``socket_id``,
    and ``to`` (a member id) for ``handover``.

    ``action`` is ``renew`` (the holder's page, while open), ``ask``, ``handover``
    (to someone who asked), ``take`` (with the lock's take-over permission) or
    ``release``; see :mod:`pusherable.locks`. The user must be allowed to edit the
    object. Answers ``{"ok": true, "lock": {"holder", "mine", "asks"} or null, "at":
    <epoch seconds>}``: ``at`` is a time before the lock was read, so that the page
    can drop an answer older than a ``pusherable:lock`` event it already applied.
    """

    actions = ("renew", "ask", "handover", "take", "release")

    def handle(self, request: HttpRequest) -> dict[str, Any]:
        action = request.POST.get("action")
        if action not in self.actions:
            raise authorization.BadAuthorizationRequest(
                f"Unknown action; expected one of: {', '.join(self.actions)}."
            )
        socket_id = clean_socket_id(request.POST.get("socket_id"))
        channel, obj = authorization.check_access(
            request, request.POST.get("channel_name"), "editing"
        )
        if channel.type != "presence":
            raise authorization.BadAuthorizationRequest("Locks live on presence channels.")
        user = authorization.get_user(request)
        name = channel.name
        # Before the action reads the lock, so never later than that read: the page
        # drops an answer older than a lock event it already applied (see locks._announce).
        at = time.time()
        lock: locks.EditLock | None
        if action == "renew":
            lock = locks.renew(name, user)
        elif action == "ask":
            me = members.member_id(user)
            limit = settings.PUSHERABLE_INTENT_RATE_LIMIT
            check_rate("ask", limit, me, name, what="requests to edit")
            lock = locks.ask(name, user, socket_id=socket_id)
        elif action == "handover":
            lock = locks.hand_over(name, user, request.POST.get("to"), socket_id=socket_id)
        elif action == "take":
            lock = locks.take_over(name, user, obj, socket_id=socket_id)
        else:
            locks.release(name, user, socket_id=socket_id)
            lock = None
        me = members.member_id(user)
        return {"ok": True, "lock": None if lock is None else lock.as_json(me), "at": at}


@method_decorator(never_cache, name="dispatch")
class ChangesView(View):
    """Catch-up after a reconnection: GET ``channel``, ``since``, optional ``scope``.

    Authorized like a subscription to ``channel`` (see
    :func:`pusherable.catchup.check_access`); answers what changed on its object
    since the version ``since``: :func:`pusherable.catchup.changes_answer`.
    Read-only, so a GET without a CSRF token.
    """

    http_method_names = ["get", "head", "options"]

    def http_method_not_allowed(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        response = error_response("Method not allowed; use GET.", 405)
        response["Allow"] = "GET"
        return response

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return json_response(
                catchup.changes_answer(
                    request,
                    channel_name=request.GET.get("channel"),
                    since=request.GET.get("since"),
                    scope=request.GET.get("scope"),
                )
            )
        except AuthorizationError as exc:
            return error_response(str(exc), exc.status)
        except ConfigurationError as exc:
            logger.error("pusherable: %s", exc)
            return error_response("Realtime updates are not configured on the server.", 503)


@method_decorator(csrf_exempt, name="dispatch")
class WebhookView(JsonEndpoint):
    """Pusher webhooks: verified on the raw body, then sent as Django signals.

    An unsigned or stale webhook answers 401. A receiver that raises is logged and
    the answer is still 200, so Pusher does not retry the whole batch.
    """

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            payload = webhooks.verify(request)
        except ConfigurationError as exc:
            logger.error("pusherable: %s", exc)
            return error_response("Webhooks are not configured on the server.", 503)
        except webhooks.InvalidWebhook as exc:
            return error_response(str(exc), 400)
        if payload is None:
            return error_response("Invalid webhook signature, key or time.", 401)
        return json_response({"ok": True, "handled": webhooks.dispatch(payload)})
