"""Typed configuration of the bundled server: apps, limits and server options.

Everything here is plain data (frozen dataclasses) so that the pure protocol core,
the aiohttp layer and the command line share one description of the server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..protocol_rules import (
    MAX_BATCH_SIZE,
    MAX_CHANNEL_NAME_LENGTH,
    MAX_CHANNELS_PER_EVENT,
    MAX_EVENT_DATA_SIZE,
    MAX_EVENT_NAME_LENGTH,
    MAX_PRESENCE_MEMBERS,
)

__all__ = ["AppConfig", "ConfigError", "Limits", "ServerConfig"]

# Matched with fullmatch: ``$`` would also accept a trailing newline.
_APP_ID_RE = re.compile(r"[0-9]+")
_KEY_RE = re.compile(r"[A-Za-z0-9_.-]+")


class ConfigError(ValueError):
    """Raised when a server option or an app's credentials are invalid."""


@dataclass(frozen=True)
class Limits:
    """Per-app limits; the defaults are Pusher's documented ones (see the server docs)."""

    #: Longest channel name accepted on subscribe and trigger.
    max_channel_name_length: int = MAX_CHANNEL_NAME_LENGTH
    #: Longest event name accepted from the HTTP API and from client events.
    max_event_name_length: int = MAX_EVENT_NAME_LENGTH
    #: Largest ``data`` of one event, in UTF-8 bytes (HTTP API 413, client events 4301).
    max_event_data_size: int = MAX_EVENT_DATA_SIZE
    #: Channels in one ``POST /events``.
    max_channels_per_event: int = MAX_CHANNELS_PER_EVENT
    #: Events in one ``POST /batch_events``.
    max_batch_size: int = MAX_BATCH_SIZE
    #: Distinct users in one presence channel.
    max_presence_members: int = MAX_PRESENCE_MEMBERS
    #: Size of one presence member (``user_info`` as received), in UTF-8 bytes.
    max_presence_user_info_size: int = 1024
    #: Longest presence user id.
    max_presence_user_id_length: int = 128
    #: Client events one connection may send per second.
    client_events_per_second: int = 10
    #: Connections this app may hold at once (``None``: no limit); over it, 4004.
    max_connections: int | None = None

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if value is not None and value < 1:
                raise ConfigError(f"limit {name} must be at least 1, got {value!r}")


@dataclass(frozen=True)
class AppConfig:
    """One Pusher app: credentials and per-app switches."""

    app_id: str
    key: str
    secret: str
    #: A disabled app refuses connections (4003) and HTTP API calls (403).
    enabled: bool = True
    #: Accept ``client-*`` events on private and presence channels (off, as on Pusher).
    client_events: bool = False
    #: URLs that receive signed webhooks (empty: no webhooks).
    webhook_urls: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)

    def __post_init__(self) -> None:
        # pusher-http-python refuses a non-numeric app id ("Invalid app id").
        if not _APP_ID_RE.fullmatch(self.app_id or ""):
            raise ConfigError(f"the app id must be digits only, got {self.app_id!r}")
        if not _KEY_RE.fullmatch(self.key or ""):
            raise ConfigError(
                "the app key must be non-empty and use only letters, digits, '_', '.' and '-'"
            )
        if not self.secret:
            raise ConfigError("the app secret must not be empty")


@dataclass(frozen=True)
class ServerConfig:
    """Options of one server process."""

    apps: tuple[AppConfig, ...]
    host: str = "127.0.0.1"
    port: int = 6001
    #: Prefix before ``/app/{key}`` (pusher-js ``wsPath``), e.g. ``/ws``.
    path_prefix: str = ""
    #: ``activity_timeout`` sent in the handshake, in seconds (pusher-js pings after it).
    activity_timeout: int = 30
    #: How long a connection may stay silent after our ``pusher:ping`` before it is closed.
    pong_timeout: float = 30.0
    #: Allowed ``Origin`` headers of WebSocket connections (empty: any origin).
    allowed_origins: tuple[str, ...] = ()
    #: Largest WebSocket message accepted from a client, in bytes.
    max_message_size: int = 65_536
    #: Largest HTTP API request body, in bytes.
    max_request_size: int = 1_048_576
    #: Accepted clock skew of ``auth_timestamp`` in signed HTTP requests (0: not checked).
    timestamp_window: int = 600
    #: Seconds to hold ``channel_vacated``/``member_removed`` webhooks, dropping the pair
    #: when the channel/member comes back meanwhile (Pusher uses about 3 s).
    webhook_debounce: float = 0.0
    #: Seconds a failing webhook keeps being retried with exponential backoff.
    webhook_retry_deadline: float = 300.0
    #: Webhook events sent in one request (1: one per request, as Pusher by default).
    webhook_batch_size: int = 50
    #: Seconds a cached event of a ``cache-`` channel is kept.
    cache_ttl: int = 1800
    #: Seconds a new TCP connection has to deliver its first request (the WebSocket
    #: handshake or an HTTP API request's headers) before it is closed (nginx's
    #: ``client_header_timeout`` is 60 s).
    handshake_timeout: float = 60.0
    #: Seconds an HTTP API request has to deliver its body before a 408.
    body_timeout: float = 60.0
    #: Seconds an idle HTTP keep-alive connection stays open (nginx: 75 s; aiohttp's
    #: own default, about an hour, would hold descriptors for nothing).
    keepalive_timeout: float = 75.0
    #: Bytes held for a client that stopped reading; a frame that would pass it drops
    #: (aborts) the client. Broadcasts never wait for any client.
    max_write_buffer: int = 4_194_304

    def __post_init__(self) -> None:
        if not self.apps:
            raise ConfigError("at least one app is required")
        keys = [app.key for app in self.apps]
        ids = [app.app_id for app in self.apps]
        if len(set(keys)) != len(keys) or len(set(ids)) != len(ids):
            raise ConfigError("app ids and keys must be unique")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be between 0 and 65535, got {self.port}")
        if self.activity_timeout < 1:
            raise ConfigError("activity_timeout must be at least 1 second (0 breaks pusher-js)")
        if self.pong_timeout <= 0:
            raise ConfigError("pong_timeout must be positive")
        if self.path_prefix and (
            not self.path_prefix.startswith("/") or self.path_prefix.endswith("/")
        ):
            raise ConfigError("path_prefix must start with '/' and not end with '/', e.g. '/ws'")
        for name in ("max_message_size", "max_request_size", "webhook_batch_size", "cache_ttl"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1")
        for name in ("handshake_timeout", "body_timeout", "keepalive_timeout"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive")
        if self.timestamp_window < 0 or self.webhook_debounce < 0:
            raise ConfigError("timestamp_window and webhook_debounce must not be negative")

    @property
    def max_connections(self) -> int | None:
        """Connections the whole server holds at most: the apps' limits added up.

        ``None`` (no limit) when any app has none. Half-open connections count.
        """
        limits = [app.limits.max_connections for app in self.apps]
        if any(limit is None for limit in limits):
            return None
        return sum(limit for limit in limits if limit is not None)
