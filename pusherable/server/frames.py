"""JSON in and out: decoding what clients send, encoding frames, and the core's actions.

The pure core (:mod:`.protocol`, :mod:`.http_api`) never touches a socket: it returns
*actions* that the I/O layer (:mod:`.app`) carries out. Frames are encoded once, as
strings, so a broadcast serializes its frame one time whatever the number of clients.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Action",
    "Close",
    "InvalidJSON",
    "Publish",
    "Send",
    "Webhook",
    "encode_data",
    "encode_frame",
    "error_frame",
    "parse_json",
]

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
# A ``\\uD800``-``\\uDFFF`` escape: the only way a lone surrogate gets into decoded
# JSON (the text itself is strict UTF-8). Only texts that have one pay for the
# full check.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]", re.ASCII)


class InvalidJSON(ValueError):
    """Raised by :func:`parse_json`; the message says what is wrong, for the client."""


def parse_json(raw: str | bytes) -> Any:
    """Decode JSON from a client, or raise :exc:`InvalidJSON` with a short reason.

    Besides malformed JSON this refuses what :func:`json.loads` accepts but the
    server could not send on: bytes that are not UTF-8, nesting deeper than the
    interpreter's recursion limit (``RecursionError`` otherwise escapes), and
    lone UTF-16 surrogates (``"\\ud800"``), which no UTF-8 frame can carry.
    """
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidJSON("The body is not valid UTF-8") from None
    else:
        text = raw
    try:
        value = json.loads(text)
    except RecursionError:
        raise InvalidJSON("The JSON is nested too deeply") from None
    except ValueError:
        raise InvalidJSON("Invalid JSON") from None
    if _SURROGATE_ESCAPE.search(text) is not None:
        try:
            _dumps(value).encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidJSON("The JSON holds a lone UTF-16 surrogate") from None
        except RecursionError:
            raise InvalidJSON("The JSON is nested too deeply") from None
    return value


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
