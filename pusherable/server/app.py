"""The aiohttp layer: sockets, HTTP routes, the reaper, webhooks and shutdown.

All protocol decisions are made by :class:`~.protocol.AppProtocol` and
:func:`~.http_api.handle_request`; this module only moves bytes and carries out
the :mod:`actions <.actions>` they return.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from .actions import Action, Close, Publish, Send, Webhook
from .config import ServerConfig
from .http_api import handle_request
from .listener import ConnectionGuard
from .memory import MemoryReleaser
from .messages import error_frame
from .protocol import (
    CLOSE_APP_DISABLED,
    CLOSE_GOING_AWAY,
    CLOSE_OVER_QUOTA,
    CLOSE_UNAUTHORIZED,
    CLOSE_UNKNOWN_APP,
    CLOSE_UNSUPPORTED_PROTOCOL,
    AppProtocol,
    check_protocol_version,
)
from .webhook_sender import WebhookSender

__all__ = ["SERVER", "AppRuntime", "Client", "Server", "create_app"]

logger = logging.getLogger("pusherable.server")


# aiohttp's writer awaits the transport's drain once it wrote this many bytes since
# its last check, which would make a broadcast wait on whichever client stopped
# reading. Past this (never reached) budget it would; the server applies its own
# per-client limit instead (Server.send), without awaiting anyone.
_NEVER_DRAIN = 2**62


class Client:
    """A connected WebSocket and the transport used to spot slow consumers."""

    __slots__ = ("transport", "ws")

    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.Transport | None) -> None:
        self.ws = ws
        self.transport = transport


@dataclass
class AppRuntime:
    """One app while the server runs: its protocol state, sockets and webhooks."""

    protocol: AppProtocol
    webhooks: WebhookSender
    clients: dict[str, Client] = field(default_factory=dict)


class Server:
    """State of a running server, stored on the aiohttp application under :data:`SERVER`."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.apps: dict[str, AppRuntime] = {}
        for app in config.apps:
            self.apps[app.app_id] = AppRuntime(
                protocol=AppProtocol(app, config),
                webhooks=WebhookSender(
                    app,
                    batch_size=config.webhook_batch_size,
                    retry_deadline=config.webhook_retry_deadline,
                    debounce=config.webhook_debounce,
                ),
            )
        self.by_key = {runtime.protocol.app.key: runtime for runtime in self.apps.values()}
        self.shutting_down = False
        #: Set by :func:`~.cli.serve` when it owns the listening socket.
        self.guard: ConnectionGuard | None = None
        self.memory = MemoryReleaser()
        self._background: set[asyncio.Task[None]] = set()

    def open_connections(self) -> int:
        """WebSocket connections open on every app."""
        return sum(len(runtime.clients) for runtime in self.apps.values())

    @property
    def protocols(self) -> dict[str, AppProtocol]:
        """App id -> protocol state."""
        return {app_id: runtime.protocol for app_id, runtime in self.apps.items()}

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run *coro* in the background, keeping a reference until it finishes."""
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def cancel_background(self) -> None:
        """Cancel the background tasks (reaper, pending closes)."""
        for task in list(self._background):
            task.cancel()

    async def execute(self, runtime: AppRuntime, actions: list[Action]) -> None:
        """Carry out the actions the protocol core returned, in order."""
        for action in actions:
            if isinstance(action, Publish):
                await self.publish(runtime, action)
            elif isinstance(action, Send):
                client = runtime.clients.get(action.socket_id)
                if client is not None:
                    await self.send(runtime, action.socket_id, client, action.frame.encode())
            elif isinstance(action, Close):
                client = runtime.clients.get(action.socket_id)
                if client is not None:
                    self.spawn(self.close(client, action.code, action.reason))
            elif isinstance(action, Webhook):
                runtime.webhooks.enqueue(action.event)

    async def publish(self, runtime: AppRuntime, action: Publish) -> None:
        """Send one frame to a channel: encoded once, written to each subscriber."""
        subscribers = runtime.protocol.registry.subscribers(action.channel)
        if not subscribers:
            return
        payload = action.frame.encode()
        clients = runtime.clients
        skip = action.except_socket_id
        for socket_id in list(subscribers):
            if socket_id == skip:
                continue
            client = clients.get(socket_id)
            if client is not None:
                await self.send(runtime, socket_id, client, payload)

    async def send(
        self, runtime: AppRuntime, socket_id: str, client: Client, payload: bytes
    ) -> None:
        """Write one text frame, dropping a client that stopped reading.

        Never waits for the client: the frame goes to the transport's buffer (the
        writer never drains, see :data:`_NEVER_DRAIN`), so one stalled socket can't
        hold up a broadcast, the HTTP request behind it, or any other client. A
        client whose unsent bytes would pass ``max_write_buffer`` is aborted.
        """
        transport = client.transport
        if client.ws.closed or transport is None or transport.is_closing():
            return
        pending = transport.get_write_buffer_size()
        if pending + len(payload) > self.config.max_write_buffer:
            self.drop(runtime, socket_id, client, pending)
            return
        with contextlib.suppress(ConnectionError, RuntimeError):
            await client.ws.send_frame(payload, WSMsgType.TEXT)

    def drop(self, runtime: AppRuntime, socket_id: str, client: Client, pending: int) -> None:
        """Abort a client that stopped reading.

        A close frame would queue behind the megabytes it isn't reading, and a clean
        close would wait for its answer; aborting frees the buffer at once. The
        connection's handler then sees the socket end and cleans up as for any close
        (channels left, presence and webhooks). pusher-js reconnects after a second.
        """
        logger.warning(
            "slow client dropped", extra={"socket_id": socket_id, "unsent_bytes": pending}
        )
        runtime.clients.pop(socket_id, None)
        if client.transport is not None:
            client.transport.abort()

    async def close(self, client: Client, code: int, reason: str) -> None:
        """Close one socket with *code* (errors of an already dead socket are ignored).

        A transport still holding unsent bytes would only close once the client read
        them (a stalled client never does), and the close frame would queue behind
        them: such a client is aborted instead.
        """
        transport = client.transport
        if transport is not None and transport.get_write_buffer_size():
            transport.abort()
            return
        with contextlib.suppress(ConnectionError, RuntimeError, asyncio.TimeoutError):
            await client.ws.close(code=code, message=reason.encode()[:120])
        if transport is not None and transport.get_write_buffer_size():
            transport.abort()

    async def reap(self) -> None:
        """Ping idle connections and close the ones that don't answer, forever."""
        config = self.config
        interval = min(max(min(config.activity_timeout, config.pong_timeout) / 4, 0.25), 5.0)
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            for runtime in self.apps.values():
                protocol = runtime.protocol
                for connection in list(protocol.registry.connections.values()):
                    actions = protocol.check_activity(connection, now)
                    if actions:
                        await self.execute(runtime, actions)
                protocol.registry.expire_cache(now)
            self.memory.observe(self.open_connections())


SERVER = web.AppKey("pusherable_server", Server)


async def _refuse(ws: web.WebSocketResponse, code: int, message: str) -> web.WebSocketResponse:
    # pusher-js reads the code of a pusher:error received during the handshake.
    with contextlib.suppress(ConnectionError, RuntimeError):
        await ws.send_str(error_frame(code, message))
        await ws.close(code=code, message=message.encode()[:120])
    return ws


async def websocket_handler(request: web.Request) -> web.StreamResponse:
    """``GET {prefix}/app/{key}``: one Pusher connection."""
    server = request.app[SERVER]
    config = server.config
    ws = web.WebSocketResponse(
        compress=False,  # one encoding per broadcast, not one deflate per client
        autoping=False,  # we answer pings ourselves so that they count as activity
        max_msg_size=config.max_message_size,
        writer_limit=_NEVER_DRAIN,
    )
    if not ws.can_prepare(request).ok:
        return web.json_response(
            {"error": "Expected a WebSocket upgrade", "code": 400}, status=400
        )
    await ws.prepare(request)
    runtime = server.by_key.get(request.match_info["key"])
    if runtime is None:
        return await _refuse(ws, CLOSE_UNKNOWN_APP, "App key not in this server")
    if not check_protocol_version(request.query.get("protocol")):
        return await _refuse(ws, CLOSE_UNSUPPORTED_PROTOCOL, "Unsupported protocol version")
    origin = request.headers.get("Origin")
    if config.allowed_origins and origin is not None and origin not in config.allowed_origins:
        return await _refuse(ws, CLOSE_UNAUTHORIZED, "Origin not allowed")
    if server.shutting_down:
        return await _refuse(ws, CLOSE_GOING_AWAY, "Server shutting down, reconnect")
    protocol = runtime.protocol
    if not protocol.app.enabled:
        return await _refuse(ws, CLOSE_APP_DISABLED, "App disabled")
    if protocol.over_quota():
        return await _refuse(ws, CLOSE_OVER_QUOTA, "Over connection quota")
    connection, actions = protocol.connect(time.monotonic())
    runtime.clients[connection.socket_id] = Client(ws, request.transport)
    logger.debug("connection opened", extra={"socket_id": connection.socket_id})
    try:
        await server.execute(runtime, actions)
        # The read loop is inline, not a helper: each awaiting frame lives as long
        # as the connection, and there is one per socket.
        async for message in ws:
            now = time.monotonic()
            if message.type is WSMsgType.TEXT:
                actions = protocol.receive(connection, message.data, now)
            elif message.type is WSMsgType.BINARY:
                actions = protocol.receive_binary(connection, now)
            elif message.type is WSMsgType.PING:
                protocol.seen(connection, now)
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await ws.pong(message.data)
                continue
            elif message.type is WSMsgType.PONG:
                protocol.seen(connection, now)
                continue
            else:  # ERROR (e.g. a message over max_message_size: aiohttp closes with 1009)
                break
            if actions:
                await server.execute(runtime, actions)
    finally:
        runtime.clients.pop(connection.socket_id, None)
        await server.execute(runtime, protocol.disconnect(connection))
        logger.debug("connection closed", extra={"socket_id": connection.socket_id})
    return ws


async def api_handler(request: web.Request) -> web.StreamResponse:
    """The HTTP API (``/apps/...`` and ``/users/.../terminate_connections``)."""
    server = request.app[SERVER]
    config = server.config
    if request.content_length is not None and request.content_length > config.max_request_size:
        return _api_json(request, 413, {"error": "Request body too large", "code": 413})
    try:
        body = await asyncio.wait_for(request.read(), config.body_timeout)
    except web.HTTPRequestEntityTooLarge:
        return _api_json(request, 413, {"error": "Request body too large", "code": 413})
    except asyncio.TimeoutError:
        response = _api_json(request, 408, {"error": "Request body too slow", "code": 408})
        response.force_close()
        return response
    raw_path = request.raw_path.split("?", 1)[0]
    result = handle_request(
        server.protocols,
        request.method,
        raw_path,
        dict(request.query),
        body,
        wall_time=time.time(),
        now=time.monotonic(),
        timestamp_window=config.timestamp_window,
        cache_ttl=config.cache_ttl,
    )
    if result.app is not None and result.actions:
        await server.execute(server.apps[result.app.app.app_id], result.actions)
    return _api_json(request, result.status, result.body)


def _api_json(request: web.Request, status: int, body: dict[str, object]) -> web.Response:
    log = logger.info if status < 400 else logger.warning
    log(
        "http api",
        extra={"method": request.method, "path": request.path, "status": status},
    )
    return web.json_response(body, status=status)


async def health_handler(request: web.Request) -> web.Response:
    """``GET /`` and ``GET /up``: a health check."""
    return web.json_response({"ok": True})


async def _start_background(app: web.Application) -> None:
    server = app[SERVER]
    for runtime in server.apps.values():
        runtime.webhooks.start()
    server.spawn(server.reap())


async def _tell_clients_to_reconnect(app: web.Application) -> None:
    # pusher-js reconnects at once on 4200, so a restart is a short blip for clients.
    server = app[SERVER]
    server.shutting_down = True
    closes = []
    frame = error_frame(CLOSE_GOING_AWAY, "Server shutting down, reconnect").encode()
    for runtime in server.apps.values():
        for socket_id, client in list(runtime.clients.items()):
            await server.send(runtime, socket_id, client, frame)
            closes.append(server.close(client, CLOSE_GOING_AWAY, "Server shutting down"))
    if closes:
        await asyncio.wait_for(asyncio.gather(*closes, return_exceptions=True), 10)


async def _stop_background(app: web.Application) -> None:
    server = app[SERVER]
    server.cancel_background()
    for runtime in server.apps.values():
        await runtime.webhooks.close()


async def _request_started(request: web.Request, response: web.StreamResponse) -> None:
    # The server answers its first request: the connection is no longer half-open.
    # (A signal rather than a middleware: a middleware's frame would live as long
    # as each WebSocket.)
    guard = request.app[SERVER].guard
    if guard is not None:
        guard.started(request.protocol)


def create_app(config: ServerConfig) -> web.Application:
    """Build the aiohttp application of a server for *config*."""
    app = web.Application(client_max_size=config.max_request_size)
    app.on_response_prepare.append(_request_started)
    app[SERVER] = Server(config)
    app.router.add_get(config.path_prefix + "/app/{key}", websocket_handler)
    app.router.add_route("*", "/apps/{tail:.*}", api_handler)
    app.router.add_route("*", "/users/{tail:.*}", api_handler)
    app.router.add_get("/", health_handler)
    app.router.add_get("/up", health_handler)
    app.on_startup.append(_start_background)
    app.on_shutdown.append(_tell_clients_to_reconnect)
    app.on_cleanup.append(_stop_background)
    return app
