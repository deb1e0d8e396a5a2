"""The Pusher WebSocket protocol (version 7) as a pure state machine.

:class:`AppProtocol` holds one app's :class:`~.registry.Registry` and turns what
happens on a connection (it opens, a text frame arrives, time passes, it closes)
into :mod:`actions <.actions>` for the I/O layer. Nothing here does I/O, so every
rule is unit-tested without sockets; times are passed in (monotonic seconds).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from ..protocol_rules import (
    CLIENT_EVENT_PREFIX,
    SERVER_TO_USER_PREFIX,
    ChannelType,
    channel_type,
    is_cache_channel,
    is_valid_channel_name,
)
from .actions import Action, Close, Publish, Send, Webhook
from .config import AppConfig, ServerConfig
from .messages import InvalidJSON, encode_data, encode_frame, error_frame, parse_json
from .registry import Connection, Member, Registry
from .signatures import channel_auth_string, check_auth, signin_string

__all__ = [
    "CLOSE_APP_DISABLED",
    "CLOSE_GOING_AWAY",
    "CLOSE_OVER_CAPACITY",
    "CLOSE_OVER_QUOTA",
    "CLOSE_PONG_TIMEOUT",
    "CLOSE_UNAUTHORIZED",
    "CLOSE_UNKNOWN_APP",
    "CLOSE_UNSUPPORTED_PROTOCOL",
    "ERROR_CLIENT_EVENT_REJECTED",
    "ERROR_INVALID_MESSAGE",
    "AppProtocol",
    "check_protocol_version",
]

# Close codes (pusher-js: 4001-4099 refused, 4100-4199 back off, 4200-4299 retry now).
CLOSE_UNKNOWN_APP = 4001
CLOSE_APP_DISABLED = 4003
CLOSE_OVER_QUOTA = 4004
CLOSE_UNSUPPORTED_PROTOCOL = 4007
CLOSE_UNAUTHORIZED = 4009
CLOSE_OVER_CAPACITY = 4100
CLOSE_GOING_AWAY = 4200
CLOSE_PONG_TIMEOUT = 4201
# Codes sent only inside ``pusher:error`` frames, never as close codes (pusher-js
# would give up on a close code >= 4300).
ERROR_INVALID_MESSAGE = 4200
ERROR_CLIENT_EVENT_REJECTED = 4301

_SUPPORTED_PROTOCOLS = range(5, 8)


def check_protocol_version(value: str | None) -> bool:
    """Whether the ``protocol`` query parameter is one we speak (5-7, or missing)."""
    if value is None or value == "":
        return True
    return value.isdigit() and int(value) in _SUPPORTED_PROTOCOLS


def _subscription_error(channel: str, kind: str, error: str, status: int) -> str:
    return encode_frame(
        "pusher:subscription_error",
        channel=channel,
        data=encode_data({"type": kind, "error": error, "status": status}),
    )


def _decode_data(data: Any) -> Any:
    # Clients may send ``data`` as an object or as a JSON-encoded string.
    if isinstance(data, str):
        try:
            return parse_json(data)
        except InvalidJSON:
            return data
    return data


class AppProtocol:
    """Protocol logic and state of one app."""

    def __init__(self, app: AppConfig, server: ServerConfig, registry: Registry | None = None):
        self.app = app
        self.server = server
        self.limits = app.limits
        self.registry = registry if registry is not None else Registry()

    # Lifecycle -----------------------------------------------------------------------

    def over_quota(self) -> bool:
        """Whether one more connection would exceed the app's ``max_connections``."""
        limit = self.limits.max_connections
        return limit is not None and len(self.registry.connections) >= limit

    def connect(self, now: float) -> tuple[Connection, list[Action]]:
        """Register a new connection; the actions send ``connection_established``."""
        connection = self.registry.add_connection(now)
        data = encode_data(
            {
                "socket_id": connection.socket_id,
                "activity_timeout": self.server.activity_timeout,
            }
        )
        frame = encode_frame("pusher:connection_established", data=data)
        return connection, [Send(connection.socket_id, frame)]

    def disconnect(self, connection: Connection) -> list[Action]:
        """Forget a closed connection, leaving its channels as ``pusher:unsubscribe`` does."""
        actions: list[Action] = []
        if connection.closed:
            return actions
        connection.closed = True
        for channel in sorted(connection.channels):
            actions.extend(self._leave(connection, channel))
        self.registry.remove_connection(connection.socket_id)
        return actions

    def check_activity(self, connection: Connection, now: float) -> list[Action]:
        """Ping an idle connection, and close it when the ping got no answer.

        Called periodically by the I/O layer (the reaper).
        """
        if connection.closed:
            return []
        if connection.ping_sent_at is None:
            if now - connection.last_seen >= self.server.activity_timeout:
                connection.ping_sent_at = now
                return [Send(connection.socket_id, encode_frame("pusher:ping", data="{}"))]
            return []
        if now - connection.ping_sent_at >= self.server.pong_timeout:
            return [
                Send(
                    connection.socket_id,
                    error_frame(CLOSE_PONG_TIMEOUT, "Pong reply not received"),
                ),
                Close(connection.socket_id, CLOSE_PONG_TIMEOUT, "Pong reply not received"),
            ]
        return []

    def seen(self, connection: Connection, now: float) -> None:
        """Record activity (any frame, WebSocket pings and pongs included)."""
        connection.last_seen = now
        connection.ping_sent_at = None

    # Frames from the client -------------------------------------------------------------

    def receive_binary(self, connection: Connection, now: float) -> list[Action]:
        """A binary frame: not part of the protocol; answered, never fatal."""
        self.seen(connection, now)
        return [
            Send(
                connection.socket_id,
                error_frame(ERROR_INVALID_MESSAGE, "Binary frames are not supported"),
            )
        ]

    def receive(self, connection: Connection, text: str, now: float) -> list[Action]:
        """Handle one text frame from *connection*."""
        self.seen(connection, now)
        sid = connection.socket_id
        try:
            message = parse_json(text)
        except InvalidJSON as error:
            return [Send(sid, error_frame(ERROR_INVALID_MESSAGE, f"Invalid message: {error}"))]
        if not isinstance(message, dict) or not isinstance(message.get("event"), str):
            return [
                Send(
                    sid,
                    error_frame(
                        ERROR_INVALID_MESSAGE,
                        "Invalid message format: expected a JSON object with an 'event' string",
                    ),
                )
            ]
        try:
            return self._dispatch(connection, message, now)
        except RecursionError:
            # parse_json let it through, but re-encoding ``data`` (client events)
            # nests one level deeper than decoding it did.
            return [Send(sid, error_frame(ERROR_INVALID_MESSAGE, "The JSON is nested too deeply"))]

    def _dispatch(
        self, connection: Connection, message: dict[str, Any], now: float
    ) -> list[Action]:
        event: str = message["event"]
        data = _decode_data(message.get("data"))
        if event == "pusher:ping":
            return [Send(connection.socket_id, encode_frame("pusher:pong", data="{}"))]
        if event == "pusher:pong":
            return []
        if event == "pusher:subscribe":
            return self.subscribe(connection, data, now)
        if event == "pusher:unsubscribe":
            channel = data.get("channel") if isinstance(data, dict) else None
            return self._leave(connection, channel) if isinstance(channel, str) else []
        if event == "pusher:signin":
            return self.signin(connection, data)
        if event.startswith(CLIENT_EVENT_PREFIX):
            return self.client_event(connection, event, message.get("channel"), data, now)
        # Unknown events are ignored, as Pusher does.
        return []

    # Subscriptions -----------------------------------------------------------------------

    def subscribe(self, connection: Connection, data: Any, now: float) -> list[Action]:
        """Handle ``pusher:subscribe``."""
        sid = connection.socket_id
        if not isinstance(data, dict) or not isinstance(data.get("channel"), str):
            return [Send(sid, error_frame(ERROR_INVALID_MESSAGE, "Missing channel name"))]
        channel: str = data["channel"]
        if len(channel) > self.limits.max_channel_name_length:
            error = f"The channel name is longer than {self.limits.max_channel_name_length}"
            return [Send(sid, _subscription_error(channel, "LimitReached", error, 4009))]
        if not is_valid_channel_name(channel, self.limits.max_channel_name_length):
            error = "Invalid channel name: use only letters, digits and -_=@,.;"
            return [Send(sid, _subscription_error(channel, "InvalidChannel", error, 4009))]
        kind = channel_type(channel)
        if kind is ChannelType.SERVER_TO_USER:
            if connection.user_id is None or channel[len(SERVER_TO_USER_PREFIX) :] != (
                connection.user_id
            ):
                error = "Only the connection signed in as this user may subscribe"
                return [Send(sid, _subscription_error(channel, "AuthError", error, 403))]
            return self._subscribed(connection, channel, now)
        if not kind.needs_auth:
            return self._subscribed(connection, channel, now)
        channel_data = data.get("channel_data") if kind is ChannelType.PRESENCE else None
        if kind is ChannelType.PRESENCE and not isinstance(channel_data, str):
            error = "Presence subscriptions need channel_data"
            return [Send(sid, _subscription_error(channel, "AuthError", error, 401))]
        signed = channel_auth_string(sid, channel, channel_data)
        if not check_auth(data.get("auth"), self.app.key, self.app.secret, signed):
            error = f"Invalid signature: expected the HMAC SHA256 hex digest of {signed!r}"
            return [Send(sid, _subscription_error(channel, "AuthError", error, 401))]
        if kind is ChannelType.PRESENCE:
            assert isinstance(channel_data, str)
            return self._join_presence(connection, channel, channel_data, now)
        return self._subscribed(connection, channel, now)

    def _subscribed(self, connection: Connection, channel: str, now: float) -> list[Action]:
        sid = connection.socket_id
        already = self.registry.is_subscribed(connection, channel)
        actions: list[Action] = []
        if not already and self.registry.subscribe(connection, channel):
            actions.append(Webhook({"name": "channel_occupied", "channel": channel}))
        actions.append(
            Send(sid, encode_frame("pusher_internal:subscription_succeeded", channel=channel))
        )
        if not already:
            actions.extend(self._send_cached(connection, channel, now))
        return actions

    def _join_presence(
        self, connection: Connection, channel: str, channel_data: str, now: float
    ) -> list[Action]:
        sid = connection.socket_id
        try:
            member = parse_json(channel_data)
        except InvalidJSON:
            member = None
        user_id = member.get("user_id") if isinstance(member, dict) else None
        if isinstance(user_id, bool) or not isinstance(user_id, (str, int, float)):
            error = "channel_data must be a JSON object with a string or number user_id"
            return [Send(sid, _subscription_error(channel, "AuthError", error, 401))]
        assert isinstance(member, dict)
        user_info = member.get("user_info")
        if user_info is not None and not isinstance(user_info, dict):
            error = "user_info supplied to a presence subscription must be a JSON object"
            return [Send(sid, _subscription_error(channel, "AuthError", error, 401))]
        key = user_id if isinstance(user_id, str) else str(user_id)
        if not key or len(key) > self.limits.max_presence_user_id_length:
            error = (
                "The user id must be 1 to "
                f"{self.limits.max_presence_user_id_length} characters long"
            )
            return [Send(sid, _subscription_error(channel, "LimitReached", error, 4301))]
        if len(channel_data.encode("utf-8")) > self.limits.max_presence_user_info_size:
            error = (
                "The presence member data is larger than "
                f"{self.limits.max_presence_user_info_size} bytes"
            )
            return [Send(sid, _subscription_error(channel, "LimitReached", error, 4301))]
        if self.registry.is_subscribed(connection, channel):
            # Idempotent: answer again with the current members.
            data = encode_data({"presence": self.registry.presence_data(channel)})
            frame = encode_frame(
                "pusher_internal:subscription_succeeded", channel=channel, data=data
            )
            return [Send(sid, frame)]
        if (
            self.registry.would_add_member(channel, user_id)
            and self.registry.member_count(channel) >= self.limits.max_presence_members
        ):
            error = f"The presence channel already has {self.limits.max_presence_members} members"
            return [Send(sid, _subscription_error(channel, "LimitReached", error, 4100))]
        occupied, added = self.registry.join_presence(connection, channel, user_id, user_info)
        actions: list[Action] = []
        if occupied:
            actions.append(Webhook({"name": "channel_occupied", "channel": channel}))
        if added is not None:
            added_data = encode_data({"user_id": added.user_id, "user_info": added.user_info})
            actions.append(
                Publish(
                    channel,
                    encode_frame("pusher_internal:member_added", channel=channel, data=added_data),
                    except_socket_id=sid,
                )
            )
            actions.append(Webhook({"name": "member_added", "channel": channel, "user_id": key}))
        data = encode_data({"presence": self.registry.presence_data(channel)})
        actions.append(
            Send(
                sid,
                encode_frame("pusher_internal:subscription_succeeded", channel=channel, data=data),
            )
        )
        actions.extend(self._send_cached(connection, channel, now))
        return actions

    def _send_cached(self, connection: Connection, channel: str, now: float) -> list[Action]:
        if not is_cache_channel(channel):
            return []
        cached = self.registry.cached(channel, now)
        if cached is None:
            return [
                Send(connection.socket_id, encode_frame("pusher:cache_miss", channel=channel)),
                Webhook({"name": "cache_miss", "channel": channel}),
            ]
        frame = encode_frame(cached.event, channel=channel, data=cached.data)
        return [Send(connection.socket_id, frame)]

    def _leave(self, connection: Connection, channel: str) -> list[Action]:
        result = self.registry.unsubscribe(connection, channel)
        if result is None:
            return []
        vacated, removed = result
        actions: list[Action] = []
        if removed is not None:
            actions.extend(self._member_removed(channel, removed, announce=not vacated))
        if vacated:
            actions.append(Webhook({"name": "channel_vacated", "channel": channel}))
        return actions

    def _member_removed(self, channel: str, member: Member, *, announce: bool) -> list[Action]:
        key = member.user_id if isinstance(member.user_id, str) else str(member.user_id)
        actions: list[Action] = []
        if announce:
            data = encode_data({"user_id": member.user_id})
            frame = encode_frame("pusher_internal:member_removed", channel=channel, data=data)
            actions.append(Publish(channel, frame))
        actions.append(Webhook({"name": "member_removed", "channel": channel, "user_id": key}))
        return actions

    # Signin ---------------------------------------------------------------------------------

    def signin(self, connection: Connection, data: Any) -> list[Action]:
        """Handle ``pusher:signin``; a bad signature or user closes with 4009."""
        sid = connection.socket_id
        user_data = data.get("user_data") if isinstance(data, dict) else None
        auth = data.get("auth") if isinstance(data, dict) else None
        problem = None
        user_id = None
        if not isinstance(user_data, str):
            problem = "pusher:signin needs user_data"
        elif not check_auth(auth, self.app.key, self.app.secret, signin_string(sid, user_data)):
            problem = "Invalid signature for pusher:signin"
        else:
            try:
                user = parse_json(user_data)
            except InvalidJSON:
                user = None
            user_id = user.get("id") if isinstance(user, dict) else None
            if not isinstance(user_id, str) or not user_id:
                problem = "user_data must be a JSON object with a non-empty string id"
            elif not is_valid_channel_name(
                user_id, self.limits.max_channel_name_length - len(SERVER_TO_USER_PREFIX)
            ):
                problem = "The user id must be usable in a channel name"
        if problem is not None or user_id is None or not isinstance(user_data, str):
            message = problem or "Invalid signin"
            return [
                Send(sid, error_frame(CLOSE_UNAUTHORIZED, message)),
                Close(sid, CLOSE_UNAUTHORIZED, message),
            ]
        self.registry.sign_in(connection, user_id, user_data)
        frame = encode_frame("pusher:signin_success", data=encode_data({"user_data": user_data}))
        return [Send(sid, frame)]

    def terminate_user(self, user_id: str) -> list[Action]:
        """Close every connection signed in as *user_id* with 4009 (HTTP API)."""
        actions: list[Action] = []
        message = "Connection terminated by the server"
        for sid in self.registry.user_sockets(user_id):
            actions.append(Send(sid, error_frame(CLOSE_UNAUTHORIZED, message)))
            actions.append(Close(sid, CLOSE_UNAUTHORIZED, message))
        return actions

    # Client events ---------------------------------------------------------------------------

    def client_event(
        self, connection: Connection, event: str, channel: Any, data: Any, now: float
    ) -> list[Action]:
        """Handle a ``client-*`` event: checked, rate limited, never echoed."""
        sid = connection.socket_id

        def reject(code: int, message: str) -> list[Action]:
            return [Send(sid, error_frame(code, message))]

        if not self.app.client_events:
            return reject(
                ERROR_CLIENT_EVENT_REJECTED, "Client events are not enabled for this app"
            )
        if not isinstance(channel, str):
            return reject(ERROR_INVALID_MESSAGE, "Client events need a channel")
        if len(event) > self.limits.max_event_name_length:
            return reject(
                ERROR_CLIENT_EVENT_REJECTED,
                f"Event name is longer than {self.limits.max_event_name_length} characters",
            )
        kind = channel_type(channel)
        if not kind.allows_client_events:
            return reject(
                ERROR_CLIENT_EVENT_REJECTED,
                "Client events are only allowed on private and presence channels",
            )
        if not self.registry.is_subscribed(connection, channel):
            return reject(CLOSE_UNAUTHORIZED, f"Not subscribed to {channel}")
        times = connection.client_event_times
        if times is None:
            times = connection.client_event_times = deque()
        while times and now - times[0] >= 1.0:
            times.popleft()
        if len(times) >= self.limits.client_events_per_second:
            return reject(
                ERROR_CLIENT_EVENT_REJECTED,
                f"Rate limit of {self.limits.client_events_per_second} client events "
                "per second exceeded",
            )
        data_string = data if isinstance(data, str) else encode_data(data)
        if len(data_string.encode("utf-8")) > self.limits.max_event_data_size:
            return reject(
                ERROR_CLIENT_EVENT_REJECTED,
                f"Event data is larger than {self.limits.max_event_data_size} bytes",
            )
        times.append(now)
        user_id = None
        if kind is ChannelType.PRESENCE:
            user_id = self.registry.subscribers(channel).get(sid)
        frame = encode_frame(event, channel=channel, data=data, user_id=user_id)
        webhook: dict[str, Any] = {
            "name": "client_event",
            "channel": channel,
            "event": event,
            "data": data_string,
            "socket_id": sid,
        }
        if user_id is not None:
            webhook["user_id"] = user_id
        return [Publish(channel, frame, except_socket_id=sid), Webhook(webhook)]
