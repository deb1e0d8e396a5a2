"""Connections, channels and presence members of one app: pure bookkeeping.

Presence is counted per user, not per socket: a user joins a presence channel with
their first socket and leaves it with their last one. A user keeps the
``user_info`` of their first socket until all of their sockets have left.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CachedEvent", "Channel", "Connection", "Member", "Registry"]


@dataclass
class Member:
    """One distinct user of a presence channel."""

    #: ``user_id`` as received (a string or a number), echoed back unchanged.
    user_id: Any
    user_info: Any
    #: Socket ids of this user in the channel.
    sockets: set[str] = field(default_factory=set)


@dataclass
class Channel:
    """An occupied channel: its subscribers and, for presence, its members."""

    name: str
    #: socket id -> presence user key (``None`` outside presence channels).
    subscribers: dict[str, str | None] = field(default_factory=dict)
    #: user key (``str(user_id)``) -> member.
    members: dict[str, Member] = field(default_factory=dict)


@dataclass
class CachedEvent:
    """Last event triggered on a cache channel."""

    event: str
    data: str
    expires_at: float


@dataclass(slots=True)
class Connection:
    """State of one WebSocket connection (slotted: there is one per socket)."""

    socket_id: str
    #: Monotonic time of the last frame received (any frame counts as activity).
    last_seen: float
    #: When we sent ``pusher:ping`` to this idle connection (``None``: not waiting).
    ping_sent_at: float | None = None
    #: Channels this connection is subscribed to.
    channels: set[str] = field(default_factory=set)
    #: Signed-in user id and the exact ``user_data`` string (``pusher:signin``).
    user_id: str | None = None
    user_data: str | None = None
    #: Times of the recent client events, for the per-second rate limit; created on
    #: the first client event (an empty deque costs about 600 bytes per socket).
    client_event_times: deque[float] | None = None
    closed: bool = False


def user_key(user_id: Any) -> str:
    """String form of a presence ``user_id``: 1 and "1" are the same member."""
    return user_id if isinstance(user_id, str) else str(user_id)


class Registry:
    """All the state of one app: connections, channels, members, cached events."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self.connections: dict[str, Connection] = {}
        self.channels: dict[str, Channel] = {}
        #: signed-in user id -> socket ids.
        self.users: dict[str, set[str]] = {}
        self.cache: dict[str, CachedEvent] = {}
        self._rng = rng or random.SystemRandom()

    # Connections -----------------------------------------------------------------

    def new_socket_id(self) -> str:
        """Return a fresh ``digits.digits`` socket id unique in this registry."""
        while True:
            socket_id = f"{self._rng.randint(1, 10**9)}.{self._rng.randint(1, 10**9)}"
            if socket_id not in self.connections:
                return socket_id

    def add_connection(self, now: float) -> Connection:
        """Register a new connection and return it."""
        connection = Connection(socket_id=self.new_socket_id(), last_seen=now)
        self.connections[connection.socket_id] = connection
        return connection

    def remove_connection(self, socket_id: str) -> Connection | None:
        """Forget a connection; its channels must have been left already."""
        connection = self.connections.pop(socket_id, None)
        if connection is not None and connection.user_id is not None:
            self.sign_out(connection)
        return connection

    # Users -------------------------------------------------------------------------

    def sign_in(self, connection: Connection, user_id: str, user_data: str) -> None:
        """Mark *connection* as signed in as *user_id*."""
        if connection.user_id is not None:
            self.sign_out(connection)
        connection.user_id = user_id
        connection.user_data = user_data
        self.users.setdefault(user_id, set()).add(connection.socket_id)

    def sign_out(self, connection: Connection) -> None:
        """Forget the user of *connection*."""
        if connection.user_id is None:
            return
        sockets = self.users.get(connection.user_id)
        if sockets is not None:
            sockets.discard(connection.socket_id)
            if not sockets:
                del self.users[connection.user_id]
        connection.user_id = None
        connection.user_data = None

    def user_sockets(self, user_id: str) -> list[str]:
        """Socket ids signed in as *user_id*."""
        return sorted(self.users.get(user_id, ()))

    # Channels ----------------------------------------------------------------------

    def is_subscribed(self, connection: Connection, channel: str) -> bool:
        """Whether *connection* is subscribed to *channel*."""
        return channel in connection.channels

    def subscribe(self, connection: Connection, channel: str) -> bool:
        """Subscribe *connection* to a non-presence *channel*.

        Return ``True`` when the channel was empty before (it became occupied).
        """
        state = self.channels.get(channel)
        occupied = state is None
        if state is None:
            state = self.channels[channel] = Channel(channel)
        state.subscribers[connection.socket_id] = None
        connection.channels.add(channel)
        return occupied

    def would_add_member(self, channel: str, user_id: Any) -> bool:
        """Whether *user_id* joining *channel* would be a new member."""
        state = self.channels.get(channel)
        return state is None or user_key(user_id) not in state.members

    def member_count(self, channel: str) -> int:
        """Number of distinct users in presence *channel*."""
        state = self.channels.get(channel)
        return 0 if state is None else len(state.members)

    def join_presence(
        self, connection: Connection, channel: str, user_id: Any, user_info: Any
    ) -> tuple[bool, Member | None]:
        """Subscribe *connection* to presence *channel* as *user_id*.

        Return ``(occupied, added)``: whether the channel became occupied, and the
        new member when this is the user's first socket in the channel.
        """
        occupied = self.subscribe(connection, channel)
        state = self.channels[channel]
        key = user_key(user_id)
        state.subscribers[connection.socket_id] = key
        member = state.members.get(key)
        added = None
        if member is None:
            member = added = state.members[key] = Member(user_id, user_info)
        member.sockets.add(connection.socket_id)
        return occupied, added

    def unsubscribe(
        self, connection: Connection, channel: str
    ) -> tuple[bool, Member | None] | None:
        """Unsubscribe *connection* from *channel*.

        Return ``None`` when it wasn't subscribed, else ``(vacated, removed)``:
        whether the channel became empty, and the member that left when this was
        the user's last socket in a presence channel.
        """
        if channel not in connection.channels:
            return None
        connection.channels.discard(channel)
        state = self.channels[channel]
        key = state.subscribers.pop(connection.socket_id, None)
        removed = None
        if key is not None:
            member = state.members[key]
            member.sockets.discard(connection.socket_id)
            if not member.sockets:
                removed = state.members.pop(key)
        vacated = not state.subscribers
        if vacated:
            del self.channels[channel]
        return vacated, removed

    def subscribers(self, channel: str) -> dict[str, str | None]:
        """Subscribers of *channel* (socket id -> presence user key); empty if none."""
        state = self.channels.get(channel)
        return {} if state is None else state.subscribers

    def presence_data(self, channel: str) -> dict[str, Any]:
        """``presence`` object of ``subscription_succeeded`` for *channel*."""
        state = self.channels.get(channel)
        members = {} if state is None else state.members
        return {
            "ids": list(members),
            "hash": {key: member.user_info for key, member in members.items()},
            "count": len(members),
        }

    # Cache channels ----------------------------------------------------------------

    def remember(self, channel: str, event: str, data: str, expires_at: float) -> None:
        """Keep the last event of a cache channel."""
        self.cache[channel] = CachedEvent(event, data, expires_at)

    def cached(self, channel: str, now: float) -> CachedEvent | None:
        """The cached event of *channel*, unless it expired (then it is dropped)."""
        entry = self.cache.get(channel)
        if entry is not None and entry.expires_at <= now:
            del self.cache[channel]
            return None
        return entry

    def expire_cache(self, now: float) -> None:
        """Drop every expired cached event."""
        for channel in [name for name, entry in self.cache.items() if entry.expires_at <= now]:
            del self.cache[channel]
