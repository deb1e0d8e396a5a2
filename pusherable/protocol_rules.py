"""The rules of the Pusher Channels protocol, written once.

Channel and event names, socket ids, channel-type prefixes and size limits are
used by the Django side (:mod:`pusherable.channels`, :mod:`pusherable.delivery`),
the delivery backends, the bundled server (:mod:`pusherable.server`) and, through
the page configuration (:func:`browser_rules`), ``pusherable.js``. They all read
them from here, so they cannot disagree.

This module imports neither Django nor the ``pusher`` library: the bundled server
runs without either.

Patterns are compiled without anchors and must be used with ``fullmatch``: ``$``
(and ``re.match`` with ``^...$``) also accepts a trailing newline, so
``"private-article_1\\n"`` would pass.
"""

from __future__ import annotations

import enum
import re
from typing import Any

__all__ = [
    "CACHE_PREFIXES",
    "CHANNEL_NAME_CHARACTERS",
    "CHANNEL_NAME_RE",
    "CLIENT_EVENT_PREFIX",
    "ENCRYPTED_PREFIX",
    "HOSTED_MAX_CHANNEL_NAME_LENGTH",
    "LIBRARY_EVENT_PREFIX",
    "MAX_BATCH_SIZE",
    "MAX_CHANNELS_PER_EVENT",
    "MAX_CHANNEL_NAME_LENGTH",
    "MAX_EVENT_DATA_SIZE",
    "MAX_EVENT_NAME_LENGTH",
    "MAX_PRESENCE_MEMBERS",
    "PRESENCE_PREFIX",
    "PRIVATE_PREFIX",
    "PROTOCOL_EVENT_PREFIXES",
    "SERVER_TO_USER_PREFIX",
    "SOCKET_ID_RE",
    "ChannelType",
    "browser_rules",
    "channel_type",
    "is_cache_channel",
    "is_protocol_event",
    "is_valid_channel_name",
    "is_valid_socket_id",
    "server_to_user_channel",
]

#: The characters of a channel name, as a regular-expression character class body.
CHANNEL_NAME_CHARACTERS = "-a-zA-Z0-9_=@,.;"
#: A channel name's characters; use with ``fullmatch``.
CHANNEL_NAME_RE = re.compile(f"[{CHANNEL_NAME_CHARACTERS}]+")
#: A socket id as Pusher writes it: ``"123.456"``. ASCII digits only (``\\d`` would
#: accept other scripts' digits, which the ``pusher`` library then refuses), bounded.
SOCKET_ID_RE = re.compile(r"[0-9]{1,20}\.[0-9]{1,20}")

PRIVATE_PREFIX = "private-"
ENCRYPTED_PREFIX = "private-encrypted-"
PRESENCE_PREFIX = "presence-"
#: pusher-js joins ``#server-to-user-{id}`` after signing in; only servers send on it.
SERVER_TO_USER_PREFIX = "#server-to-user-"
#: Cache channels replay their last event to a new subscriber.
CACHE_PREFIXES = ("cache-", "private-cache-", "private-encrypted-cache-", "presence-cache-")

#: Events only clients send to each other; allowed on private and presence channels.
CLIENT_EVENT_PREFIX = "client-"
#: Events of the protocol itself; no application event may be called so.
PROTOCOL_EVENT_PREFIXES = ("pusher:", "pusher_internal:")
#: Events this library sends itself (presence, field presence, the edit lock...).
LIBRARY_EVENT_PREFIX = "pusherable:"

#: The ``pusher`` library, soketi and the bundled server accept channel names this long.
MAX_CHANNEL_NAME_LENGTH = 200
#: Hosted Pusher's documented limit: a name that fits works on every server.
HOSTED_MAX_CHANNEL_NAME_LENGTH = 164
MAX_EVENT_NAME_LENGTH = 200
#: Bytes of an event's data string (Pusher's 10 KB; dedicated clusters allow more).
MAX_EVENT_DATA_SIZE = 10_240
#: Events in one ``batch_events`` call.
MAX_BATCH_SIZE = 10
#: Channels one ``events`` call may name.
MAX_CHANNELS_PER_EVENT = 100
#: Members of one presence channel.
MAX_PRESENCE_MEMBERS = 100


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
    """The type of channel *name* (prefixes are anchored, the longest first)."""
    if name.startswith(ENCRYPTED_PREFIX):
        return ChannelType.ENCRYPTED
    if name.startswith(PRIVATE_PREFIX):
        return ChannelType.PRIVATE
    if name.startswith(PRESENCE_PREFIX):
        return ChannelType.PRESENCE
    if name.startswith(SERVER_TO_USER_PREFIX):
        return ChannelType.SERVER_TO_USER
    return ChannelType.PUBLIC


def is_cache_channel(name: str) -> bool:
    """Whether *name* is a cache channel (``cache-``, ``private-cache-``, ...)."""
    return name.startswith(CACHE_PREFIXES)


def is_valid_channel_name(name: object, max_length: int = MAX_CHANNEL_NAME_LENGTH) -> bool:
    """Whether *name* is a channel name Pusher accepts, ``#server-to-user-{id}`` included."""
    if not isinstance(name, str) or not name or len(name) > max_length:
        return False
    if name.startswith(SERVER_TO_USER_PREFIX):
        name = name[len(SERVER_TO_USER_PREFIX) :]
    return CHANNEL_NAME_RE.fullmatch(name) is not None


def is_valid_socket_id(value: object) -> bool:
    """Whether *value* is a socket id as Pusher writes them (``"123.456"``)."""
    return isinstance(value, str) and SOCKET_ID_RE.fullmatch(value) is not None


def is_protocol_event(name: str) -> bool:
    """Whether *name* belongs to the protocol (``pusher:``, ``pusher_internal:``)."""
    return name.startswith(PROTOCOL_EVENT_PREFIXES)


def server_to_user_channel(user_id: str) -> str:
    """Name of the channel pusher-js joins after signing in as *user_id*."""
    return f"{SERVER_TO_USER_PREFIX}{user_id}"


def browser_rules() -> dict[str, Any]:
    """The rules ``pusherable.js`` needs, for the page configuration's ``protocol`` key.

    ``prefixes``
        ``{"private", "presence", "encrypted"}``: channel-type prefixes.
    ``protocolEventPrefixes``
        Prefixes of the protocol's own events.
    ``libraryEventPrefix``
        Prefix of the events this library sends itself.
    ``clientEventPrefix``
        Prefix of client events.
    """
    return {
        "prefixes": {
            "private": PRIVATE_PREFIX,
            "presence": PRESENCE_PREFIX,
            "encrypted": ENCRYPTED_PREFIX,
        },
        "protocolEventPrefixes": list(PROTOCOL_EVENT_PREFIXES),
        "libraryEventPrefix": LIBRARY_EVENT_PREFIX,
        "clientEventPrefix": CLIENT_EVENT_PREFIX,
    }
