"""Encoding of the JSON frames the server sends, and the actions the core asks for.

The pure core (:mod:`.protocol`, :mod:`.http_api`) never touches a socket: it returns
*actions* that the I/O layer (:mod:`.app`) carries out. Frames are encoded once, as
strings, so a broadcast serializes its frame one time whatever the number of clients.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Action",
    "Close",
    "Publish",
    "Send",
    "Webhook",
    "encode_data",
    "encode_frame",
    "error_frame",
]

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def encode_data(data: Any) -> str:
    """Encode *data* as a JSON string (the protocol double-encodes server data)."""
    return _dumps(data)


def encode_frame(
    event: str,
    *,
    channel: str | None = None,
    data: Any = None,
    user_id: str | None = None,
) -> str:
    """Encode one frame. *data* goes out as given: pass a ``str`` for server events."""
    frame: dict[str, Any] = {"event": event}
    if channel is not None:
        frame["channel"] = channel
    if data is not None:
        frame["data"] = data
    if user_id is not None:
        frame["user_id"] = user_id
    return _dumps(frame)


def error_frame(code: int | None, message: str) -> str:
    """A ``pusher:error`` frame; its ``data`` is an object, as Pusher sends it."""
    return encode_frame("pusher:error", data={"code": code, "message": message})


@dataclass(frozen=True)
class Send:
    """Send *frame* to the connection *socket_id*."""

    socket_id: str
    frame: str


@dataclass(frozen=True)
class Publish:
    """Send *frame* to every subscriber of *channel* except *except_socket_id*."""

    channel: str
    frame: str
    except_socket_id: str | None = None


@dataclass(frozen=True)
class Close:
    """Close the connection *socket_id* with a WebSocket close *code*."""

    socket_id: str
    code: int
    reason: str


@dataclass(frozen=True)
class Webhook:
    """Queue one webhook event (``{"name": ..., "channel": ...}``)."""

    event: dict[str, Any]


Action = Send | Publish | Close | Webhook
