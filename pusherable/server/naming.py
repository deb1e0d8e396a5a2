"""Channel names and types of the Pusher protocol."""

from __future__ import annotations

import enum
import re

__all__ = [
    "SERVER_TO_USER_PREFIX",
    "ChannelType",
    "channel_type",
    "is_cache_channel",
    "is_valid_channel_name",
    "server_to_user_channel",
]

SERVER_TO_USER_PREFIX = "#server-to-user-"
# Matched with fullmatch: ``$`` would also accept a trailing newline ("abc\n").
_NAME_RE = re.compile(r"[-a-zA-Z0-9_=@,.;]+")


class ChannelType(enum.Enum):
    """Kind of a channel, decided by the prefix of its name."""

    PUBLIC = "public"
    PRIVATE = "private"
    ENCRYPTED = "private-encrypted"
    PRESENCE = "presence"
    SERVER_TO_USER = "server-to-user"

    @property
    def needs_auth(self) -> bool:
        """Whether subscribing needs a signature from the app's auth endpoint."""
        return self in (ChannelType.PRIVATE, ChannelType.ENCRYPTED, ChannelType.PRESENCE)

    @property
    def allows_client_events(self) -> bool:
        """Whether ``client-*`` events may be sent on it (private and presence only).

        pusher-js refuses client events on encrypted channels, and so do we.
        """
        return self in (ChannelType.PRIVATE, ChannelType.PRESENCE)


def channel_type(name: str) -> ChannelType:
    """Return the type of channel *name* (prefixes are anchored, longest first)."""
    if name.startswith("private-encrypted-"):
        return ChannelType.ENCRYPTED
    if name.startswith("private-"):
        return ChannelType.PRIVATE
    if name.startswith("presence-"):
        return ChannelType.PRESENCE
    if name.startswith(SERVER_TO_USER_PREFIX):
        return ChannelType.SERVER_TO_USER
    return ChannelType.PUBLIC


def is_cache_channel(name: str) -> bool:
    """Whether *name* is a cache channel (``cache-``, ``private-cache-``, ...)."""
    return name.startswith(
        ("cache-", "private-cache-", "private-encrypted-cache-", "presence-cache-")
    )


def is_valid_channel_name(name: object, max_length: int) -> bool:
    """Whether *name* is a channel name Pusher accepts, ``#server-to-user-{id}`` included."""
    if not isinstance(name, str) or not name or len(name) > max_length:
        return False
    if name.startswith(SERVER_TO_USER_PREFIX):
        rest = name[len(SERVER_TO_USER_PREFIX) :]
        return _NAME_RE.fullmatch(rest) is not None
    return _NAME_RE.fullmatch(name) is not None


def server_to_user_channel(user_id: str) -> str:
    """Name of the channel pusher-js joins after signing in as *user_id*."""
    return f"{SERVER_TO_USER_PREFIX}{user_id}"
