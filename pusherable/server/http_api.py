"""The Pusher HTTP API as pure functions: request in, status + JSON body + actions out.

:func:`handle_request` authenticates a signed request (``auth_key``,
``auth_timestamp``, ``auth_version``, ``body_md5``, ``auth_signature``), validates
it, and returns an :class:`ApiResponse`. The events to deliver are
:class:`~.actions.Publish` actions (one frame encoded per channel) that the I/O layer
carries out. Every response, errors included, has a JSON body.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from ..protocol_rules import (
    PRESENCE_PREFIX,
    SERVER_TO_USER_PREFIX,
    ChannelType,
    channel_type,
    is_cache_channel,
    is_protocol_event,
    is_valid_channel_name,
    is_valid_socket_id,
)
from .actions import Action, Publish
from .messages import InvalidJSON, encode_frame, parse_json
from .protocol import AppProtocol
from .signatures import body_md5, constant_time_equal, sign_request

__all__ = ["ApiResponse", "handle_request", "match_route"]

# Routes are matched with fullmatch: ``$`` would also accept a trailing newline.
_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile(r"/apps/(?P<app_id>[^/]+)/events"), "events"),
    ("POST", re.compile(r"/apps/(?P<app_id>[^/]+)/batch_events"), "batch_events"),
    ("GET", re.compile(r"/apps/(?P<app_id>[^/]+)/channels"), "channels"),
    ("GET", re.compile(r"/apps/(?P<app_id>[^/]+)/channels/(?P<channel>[^/]+)"), "channel"),
    ("GET", re.compile(r"/apps/(?P<app_id>[^/]+)/channels/(?P<channel>[^/]+)/users"), "users"),
    (
        "POST",
        re.compile(r"/apps/(?P<app_id>[^/]+)/users/(?P<user_id>[^/]+)/terminate_connections"),
        "terminate",
    ),
    # pusher-http-python 3.3.4 posts here, without /apps/{id}: the app is found by auth_key.
    ("POST", re.compile(r"/users/(?P<user_id>[^/]+)/terminate_connections"), "terminate"),
]


@dataclass
class ApiResponse:
    """Outcome of one HTTP API request."""

    status: int
    body: dict[str, Any]
    #: The app the actions belong to (``None`` when there are none).
    app: AppProtocol | None = None
    actions: list[Action] = field(default_factory=list)


class _ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _error(status: int, message: str) -> ApiResponse:
    return ApiResponse(status, {"error": message, "code": status})


def match_route(method: str, path: str) -> tuple[str, dict[str, str]] | None:
    """Return ``(endpoint, path parameters)`` for an API path, or ``None``.

    A known path with the wrong method returns ``("method_not_allowed", {})``.
    """
    decoded = unquote(path)
    path_known = False
    for route_method, pattern, name in _ROUTES:
        match = pattern.fullmatch(decoded)
        if match is None:
            continue
        path_known = True
        if route_method == method.upper():
            return name, match.groupdict()
    return ("method_not_allowed", {}) if path_known else None


def _authenticate(
    app: AppProtocol,
    method: str,
    path: str,
    query: Mapping[str, str],
    body: bytes,
    wall_time: float,
    timestamp_window: int,
) -> None:
    for name in ("auth_key", "auth_timestamp", "auth_version", "auth_signature"):
        if not query.get(name):
            raise _ApiError(401, f"Missing the {name} query parameter")
    if not constant_time_equal(query["auth_key"], app.app.key):
        raise _ApiError(401, "Unknown auth_key")
    if query["auth_version"] != "1.0":
        raise _ApiError(401, "auth_version must be 1.0")
    try:
        timestamp = int(query["auth_timestamp"])
    except ValueError:
        raise _ApiError(401, "auth_timestamp must be an integer") from None
    if timestamp_window and abs(wall_time - timestamp) > timestamp_window:
        raise _ApiError(
            401,
            f"auth_timestamp is more than {timestamp_window} seconds away from the server "
            "time: check the clock",
        )
    if "body_md5" in query:
        if not constant_time_equal(query["body_md5"], body_md5(body)):
            raise _ApiError(401, "body_md5 does not match the body")
    elif body:
        raise _ApiError(401, "Missing the body_md5 query parameter")
    given = query["auth_signature"]
    # Sign against the path as the client built it, and accept its decoded form too.
    candidates = [path] if unquote(path) == path else [path, unquote(path)]
    for candidate in candidates:
        expected = sign_request(app.app.secret, method, candidate, query)
        if constant_time_equal(given, expected):
            return
    raise _ApiError(401, "Invalid signature: check the app secret and the request path")


def _json_body(body: bytes) -> dict[str, Any]:
    try:
        value = parse_json(body)
    except InvalidJSON as error:
        raise _ApiError(400, f"The body must be a JSON object: {error}") from None
    if not isinstance(value, dict):
        raise _ApiError(400, "The body must be a JSON object")
    return value


def _parse_info(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if not isinstance(value, str):
        raise _ApiError(400, "info must be a comma-separated string")
    return [item.strip() for item in value.split(",") if item.strip()]


def _channel_info(app: AppProtocol, channel: str, info: list[str]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if "user_count" in info:
        result["user_count"] = app.registry.member_count(channel)
    if "subscription_count" in info:
        result["subscription_count"] = len(app.registry.subscribers(channel))
    return result


def _check_info(info: list[str], channels: list[str], allowed: tuple[str, ...]) -> None:
    for attribute in info:
        if attribute not in allowed:
            raise _ApiError(400, f"Unsupported info attribute {attribute!r}")
    if "user_count" in info:
        for channel in channels:
            if channel_type(channel) is not ChannelType.PRESENCE:
                raise _ApiError(400, "info=user_count is only available on presence channels")


@dataclass
class _Event:
    name: str
    data: str
    channels: list[str]
    socket_id: str | None
    info: list[str]


def _validate_event(app: AppProtocol, item: Any, *, batch: bool) -> _Event:
    limits = app.limits
    if not isinstance(item, dict):
        raise _ApiError(400, "Each event must be a JSON object")
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise _ApiError(400, "Missing the event name")
    if len(name) > limits.max_event_name_length:
        raise _ApiError(
            400, f"The event name is longer than {limits.max_event_name_length} characters"
        )
    if is_protocol_event(name):
        raise _ApiError(400, "Event names starting with pusher: are reserved")
    data = item.get("data")
    if not isinstance(data, str):
        raise _ApiError(400, "data must be a string (JSON-encode it)")
    if len(data.encode("utf-8")) > limits.max_event_data_size:
        raise _ApiError(413, f"The event data is larger than {limits.max_event_data_size} bytes")
    if batch or "channels" not in item:
        channel = item.get("channel")
        if not isinstance(channel, str):
            raise _ApiError(400, "Missing the channel" if batch else "Missing channels")
        channels = [channel]
    else:
        channels = item["channels"]
        if not isinstance(channels, list) or not channels:
            raise _ApiError(400, "channels must be a non-empty list")
    if len(channels) > limits.max_channels_per_event:
        raise _ApiError(
            400, f"An event may go to at most {limits.max_channels_per_event} channels"
        )
    for channel in channels:
        if not is_valid_channel_name(channel, limits.max_channel_name_length):
            raise _ApiError(400, f"Invalid channel name {channel!r}")
    if len(channels) > 1 and any(
        channel_type(channel) is ChannelType.ENCRYPTED for channel in channels
    ):
        raise _ApiError(400, "Encrypted channels must be triggered one at a time")
    socket_id = item.get("socket_id")
    if socket_id is not None and not is_valid_socket_id(socket_id):
        raise _ApiError(400, "Invalid socket_id")
    info = _parse_info(item.get("info"))
    _check_info(info, channels, ("user_count", "subscription_count"))
    return _Event(name, data, list(channels), socket_id, info)


def _publish(app: AppProtocol, event: _Event, now: float, cache_ttl: int) -> list[Action]:
    actions: list[Action] = []
    for channel in event.channels:
        frame = encode_frame(event.name, channel=channel, data=event.data)
        actions.append(Publish(channel, frame, except_socket_id=event.socket_id))
        if is_cache_channel(channel):
            app.registry.remember(channel, event.name, event.data, now + cache_ttl)
    return actions


def handle_request(
    apps: Mapping[str, AppProtocol],
    method: str,
    path: str,
    query: Mapping[str, str],
    body: bytes,
    *,
    wall_time: float,
    now: float,
    timestamp_window: int = 600,
    cache_ttl: int = 1800,
) -> ApiResponse:
    """Handle one HTTP API request.

    *apps* maps app ids to their protocol state; *path* is the raw request path
    (percent-encoded as sent), *query* the decoded query parameters, *wall_time*
    the Unix time (for ``auth_timestamp``) and *now* the monotonic time.
    """
    route = match_route(method, path)
    if route is None:
        return _error(404, "Not found")
    endpoint, params = route
    if endpoint == "method_not_allowed":
        return _error(405, "Method not allowed")
    if "app_id" in params:
        app = apps.get(params["app_id"])
        if app is None:
            return _error(404, f"Unknown app id {params['app_id']!r}")
    else:
        key = query.get("auth_key", "")
        found = [candidate for candidate in apps.values() if candidate.app.key == key]
        if not found:
            return _error(401, "Unknown auth_key")
        app = found[0]
    try:
        _authenticate(app, method, path, query, body, wall_time, timestamp_window)
        if not app.app.enabled:
            raise _ApiError(403, "This app is disabled")
        return _dispatch(app, endpoint, params, query, body, now, cache_ttl)
    except _ApiError as error:
        return _error(error.status, error.message)


def _dispatch(
    app: AppProtocol,
    endpoint: str,
    params: dict[str, str],
    query: Mapping[str, str],
    body: bytes,
    now: float,
    cache_ttl: int,
) -> ApiResponse:
    if endpoint == "events":
        event = _validate_event(app, _json_body(body), batch=False)
        actions = _publish(app, event, now, cache_ttl)
        response: dict[str, Any] = {}
        if event.info:
            response["channels"] = {
                channel: _channel_info(app, channel, event.info) for channel in event.channels
            }
        return ApiResponse(200, response, app, actions)
    if endpoint == "batch_events":
        batch = _json_body(body).get("batch")
        if not isinstance(batch, list) or not batch:
            raise _ApiError(400, "batch must be a non-empty list of events")
        if len(batch) > app.limits.max_batch_size:
            raise _ApiError(400, f"A batch holds at most {app.limits.max_batch_size} events")
        events = [_validate_event(app, item, batch=True) for item in batch]
        actions = []
        for event in events:
            actions.extend(_publish(app, event, now, cache_ttl))
        response = {}
        if any(event.info for event in events):
            response["batch"] = [
                _channel_info(app, event.channels[0], event.info) for event in events
            ]
        return ApiResponse(200, response, app, actions)
    if endpoint == "channels":
        prefix = query.get("filter_by_prefix", "")
        info = _parse_info(query.get("info"))
        for attribute in info:
            if attribute not in ("user_count", "subscription_count"):
                raise _ApiError(400, f"Unsupported info attribute {attribute!r}")
        if "user_count" in info and not prefix.startswith(PRESENCE_PREFIX):
            raise _ApiError(400, "info=user_count needs filter_by_prefix=presence-")
        channels = {
            name: _channel_info(app, name, info)
            for name in sorted(app.registry.channels)
            if name.startswith(prefix) and not name.startswith(SERVER_TO_USER_PREFIX)
        }
        return ApiResponse(200, {"channels": channels})
    if endpoint == "channel":
        channel = params["channel"]
        _check_channel_name(app, channel)
        info = _parse_info(query.get("info"))
        _check_info(info, [channel], ("user_count", "subscription_count", "cache"))
        occupied = channel in app.registry.channels
        result: dict[str, Any] = {"occupied": occupied}
        if occupied:
            result.update(_channel_info(app, channel, info))
        if "cache" in info:
            cached = app.registry.cached(channel, now)
            if cached is not None:
                result["cache"] = {
                    "data": cached.data,
                    "ttl": max(0, int(cached.expires_at - now)),
                }
        return ApiResponse(200, result)
    if endpoint == "users":
        channel = params["channel"]
        _check_channel_name(app, channel)
        if channel_type(channel) is not ChannelType.PRESENCE:
            raise _ApiError(400, "Users are only available on presence channels")
        state = app.registry.channels.get(channel)
        members = [] if state is None else list(state.members)
        return ApiResponse(200, {"users": [{"id": user_id} for user_id in members]})
    # terminate (the path parameters are decoded already)
    user_id = params["user_id"]
    return ApiResponse(200, {}, app, app.terminate_user(user_id))


def _check_channel_name(app: AppProtocol, channel: str) -> None:
    if not is_valid_channel_name(channel, app.limits.max_channel_name_length):
        raise _ApiError(400, f"Invalid channel name {channel!r}")
