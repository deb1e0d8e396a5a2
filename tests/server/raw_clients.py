"""Raw-socket clients that misbehave on purpose: they stop reading, or never finish.

Real clients (aiohttp, pusher-js) always read what they are sent and always finish
their handshake, so they cannot play a stuck or hostile peer. These can: a
WebSocket client built on a plain socket with a tiny receive buffer that stops
reading after it subscribed, and a TCP connection that sends half a request line.
Shared by the server tests and ``benchmarks/server_slow_client.py``; loopback only.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
from typing import Any

__all__ = ["SilentSubscriber", "half_open_request", "masked_text_frame"]


def masked_text_frame(payload: bytes) -> bytes:
    """One client-to-server text frame (clients must mask, RFC 6455 5.3)."""
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x81, 0x80 | length)
    elif length < 65536:
        header = struct.pack("!BBH", 0x81, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x81, 0x80 | 127, length)
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return header + mask + masked


class SilentSubscriber:
    """A WebSocket client that subscribes to *channel*, then never reads again.

    Its receive buffer is made small before connecting, so the server's writes
    pile up on the server side, as with a real client on a stalled network.
    """

    def __init__(self, host: str, port: int, key: str, channel: str, rcvbuf: int = 4096) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(10)
        self.sock.connect((host, port))
        self._buffer = b""
        nonce = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET /app/{key}?protocol=7 HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {nonce}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        while b"\r\n\r\n" not in self._buffer:
            self._recv()
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 101"):
            raise AssertionError(f"upgrade refused: {head!r}")
        established = self.read_frame()
        assert established["event"] == "pusher:connection_established", established
        self.socket_id = json.loads(established["data"])["socket_id"]
        subscribe = {"event": "pusher:subscribe", "data": {"channel": channel}}
        self.sock.sendall(masked_text_frame(json.dumps(subscribe).encode()))
        succeeded = self.read_frame()
        assert succeeded["event"] == "pusher_internal:subscription_succeeded", succeeded

    def _recv(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed by the server")
        self._buffer += chunk

    def read_frame(self) -> dict[str, Any]:
        """Read one unmasked server text frame and decode its JSON."""
        while len(self._buffer) < 2:
            self._recv()
        length = self._buffer[1] & 0x7F
        offset = 2
        if length == 126:
            while len(self._buffer) < 4:
                self._recv()
            (length,) = struct.unpack("!H", self._buffer[2:4])
            offset = 4
        elif length == 127:
            while len(self._buffer) < 10:
                self._recv()
            (length,) = struct.unpack("!Q", self._buffer[2:10])
            offset = 10
        while len(self._buffer) < offset + length:
            self._recv()
        payload = self._buffer[offset : offset + length]
        self._buffer = self._buffer[offset + length :]
        return json.loads(payload)

    def read_then_stop(self, count: int) -> None:
        """Read and discard *count* bytes, then stop reading (run it in a thread).

        A client that read for a while before stalling is the harder case: the
        bytes it did read still count in the server writer's flow-control budget.
        """
        received = len(self._buffer)
        self._buffer = b""
        while received < count:
            chunk = self.sock.recv(min(65536, count - received))
            if not chunk:
                return
            received += len(chunk)

    def close(self) -> None:
        self.sock.close()


def half_open_request(host: str, port: int) -> socket.socket:
    """A TCP connection that sends half a request line and then nothing."""
    sock = socket.create_connection((host, port), timeout=10)
    sock.sendall(b"GET /app/key?protocol=7 HTTP/1.1\r\nHost: ")
    return sock
