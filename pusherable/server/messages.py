"""The protocol's JSON messages: decoding what clients send, encoding what they receive.

Messages are encoded once, as strings, so a broadcast serializes its message one
time whatever the number of clients.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = [
    "InvalidJSON",
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
