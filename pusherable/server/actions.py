"""What the pure core asks the I/O layer to do.

The protocol core (:mod:`.protocol`, :mod:`.http_api`) never touches a socket: it
returns these actions, and the aiohttp layer (:mod:`.app`) carries them out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Action", "Close", "Publish", "Send", "Webhook"]


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
