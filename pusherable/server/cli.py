"""Command line of the bundled server: ``python -m pusherable.server``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence

from .config import AppConfig, ConfigError, Limits, ServerConfig

__all__ = [
    "add_server_arguments",
    "build_parser",
    "config_from_args",
    "main",
    "raise_open_file_limit",
    "serve",
]

logger = logging.getLogger("pusherable.server")

_DEFAULTS = ServerConfig(apps=(AppConfig("1", "key", "secret"),))
_LIMITS = Limits()


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """Add every server option to *parser* (shared with ``manage.py pusherable_server``)."""
    net = parser.add_argument_group("address")
    net.add_argument("--host", default=None, help="interface to listen on (default 127.0.0.1)")
    net.add_argument(
        "--port",
        type=int,
        default=None,
        help="port to listen on; 0 picks a free one (default 6001)",
    )
    net.add_argument(
        "--path-prefix",
        default="",
        help="prefix before /app/{key} for WebSocket connections (pusher-js wsPath), e.g. /ws",
    )

    app = parser.add_argument_group("app credentials")
    app.add_argument("--app-id", default=None, help="numeric app id (env PUSHER_APP_ID)")
    app.add_argument("--key", default=None, help="app key (env PUSHER_KEY)")
    app.add_argument("--secret", default=None, help="app secret (env PUSHER_SECRET)")
    app.add_argument(
        "--enable-client-events",
        action="store_true",
        help="accept client-* events on private and presence channels (off by default)",
    )

    conn = parser.add_argument_group("connections")
    conn.add_argument(
        "--activity-timeout",
        type=int,
        default=_DEFAULTS.activity_timeout,
        help="seconds of silence before a ping, sent in the handshake (default %(default)s)",
    )
    conn.add_argument(
        "--pong-timeout",
        type=float,
        default=_DEFAULTS.pong_timeout,
        help="seconds to wait for an answer to our ping before closing with 4201 "
        "(default %(default)s)",
    )
    conn.add_argument(
        "--allowed-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="allow WebSocket connections from this Origin only (repeatable; default: any). "
        "Connections without an Origin header (non-browser clients) are allowed.",
    )
    conn.add_argument(
        "--max-connections",
        type=int,
        default=None,
        help="connections the app may hold, half-open ones (handshake not finished) "
        "included; more are refused with 4004, or dropped at accept when half-open ones "
        "fill the limit (default: no limit)",
    )
    conn.add_argument(
        "--handshake-timeout",
        type=float,
        default=_DEFAULTS.handshake_timeout,
        help="seconds a new connection has to send its WebSocket handshake or HTTP request "
        "headers before it is closed (default %(default)s)",
    )
    conn.add_argument(
        "--max-message-size",
        type=int,
        default=_DEFAULTS.max_message_size,
        help="largest WebSocket message from a client, bytes (default %(default)s)",
    )
    conn.add_argument(
        "--max-write-buffer",
        type=int,
        default=_DEFAULTS.max_write_buffer,
        help="bytes held for a client that stopped reading; past it the client is dropped "
        "(aborted) and nobody else waits for it (default %(default)s)",
    )

    limits = parser.add_argument_group("limits")
    limits.add_argument(
        "--max-channel-name-length",
        type=int,
        default=_LIMITS.max_channel_name_length,
        help="longest channel name (default %(default)s)",
    )
    limits.add_argument(
        "--max-event-name-length",
        type=int,
        default=_LIMITS.max_event_name_length,
        help="longest event name (default %(default)s)",
    )
    limits.add_argument(
        "--max-event-data-size",
        type=int,
        default=_LIMITS.max_event_data_size,
        help="largest event data in bytes; larger is answered 413 (default %(default)s)",
    )
    limits.add_argument(
        "--max-channels-per-event",
        type=int,
        default=_LIMITS.max_channels_per_event,
        help="channels in one trigger (default %(default)s)",
    )
    limits.add_argument(
        "--max-batch-size",
        type=int,
        default=_LIMITS.max_batch_size,
        help="events in one batch trigger (default %(default)s)",
    )
    limits.add_argument(
        "--max-presence-members",
        type=int,
        default=_LIMITS.max_presence_members,
        help="distinct users in one presence channel (default %(default)s)",
    )
    limits.add_argument(
        "--max-user-info-size",
        type=int,
        default=_LIMITS.max_presence_user_info_size,
        help="size of one presence member's channel_data, bytes (default %(default)s)",
    )
    limits.add_argument(
        "--max-user-id-length",
        type=int,
        default=_LIMITS.max_presence_user_id_length,
        help="longest presence user id (default %(default)s)",
    )
    limits.add_argument(
        "--client-events-per-second",
        type=int,
        default=_LIMITS.client_events_per_second,
        help="client events one connection may send per second (default %(default)s)",
    )

    http = parser.add_argument_group("HTTP API")
    http.add_argument(
        "--max-request-size",
        type=int,
        default=_DEFAULTS.max_request_size,
        help="largest HTTP API request body, bytes (default %(default)s)",
    )
    http.add_argument(
        "--body-timeout",
        type=float,
        default=_DEFAULTS.body_timeout,
        help="seconds an HTTP API request has to send its body, else 408 (default %(default)s)",
    )
    http.add_argument(
        "--keepalive-timeout",
        type=float,
        default=_DEFAULTS.keepalive_timeout,
        help="seconds an idle HTTP keep-alive connection stays open (default %(default)s)",
    )
    http.add_argument(
        "--timestamp-window",
        type=int,
        default=_DEFAULTS.timestamp_window,
        help="accepted clock skew of auth_timestamp in seconds; 0 disables the check "
        "(default %(default)s)",
    )
    http.add_argument(
        "--cache-ttl",
        type=int,
        default=_DEFAULTS.cache_ttl,
        help="seconds the last event of a cache- channel is kept (default %(default)s)",
    )

    hooks = parser.add_argument_group("webhooks")
    hooks.add_argument(
        "--webhook-url",
        action="append",
        default=[],
        metavar="URL",
        help="POST signed webhooks to this URL (repeatable; default: none)",
    )
    hooks.add_argument(
        "--webhook-batch-size",
        type=int,
        default=_DEFAULTS.webhook_batch_size,
        help="events in one webhook request (default %(default)s)",
    )
    hooks.add_argument(
        "--webhook-debounce",
        type=float,
        default=_DEFAULTS.webhook_debounce,
        help="seconds to hold channel_vacated/member_removed, dropped if the channel or "
        "member comes back meanwhile (default %(default)s; Pusher uses about 3)",
    )
    hooks.add_argument(
        "--webhook-retry-deadline",
        type=float,
        default=_DEFAULTS.webhook_retry_deadline,
        help="seconds a failing webhook is retried with backoff (default %(default)s)",
    )

    logs = parser.add_argument_group("logging")
    logs.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="log level (default %(default)s)",
    )
    logs.add_argument(
        "--log-format",
        default="text",
        choices=["text", "json"],
        help="text (key=value) or json, one record per line on stderr (default %(default)s)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m pusherable.server``."""
    parser = argparse.ArgumentParser(
        prog="python -m pusherable.server",
        description=(
            "A Pusher Channels compatible server (protocol 7) for development, tests and "
            "single-machine use. pusher-js connects to ws://HOST:PORT/app/KEY; the pusher "
            "library posts to http://HOST:PORT/apps/APP_ID/..."
        ),
    )
    add_server_arguments(parser)
    return parser


def config_from_args(
    args: argparse.Namespace, environ: Mapping[str, str] | None = None
) -> ServerConfig:
    """Build a :class:`ServerConfig` from parsed options (credentials fall back to env)."""
    env = os.environ if environ is None else environ
    app_id = args.app_id or env.get("PUSHER_APP_ID")
    key = args.key or env.get("PUSHER_KEY")
    secret = args.secret or env.get("PUSHER_SECRET")
    missing = [
        option
        for option, value in (("--app-id", app_id), ("--key", key), ("--secret", secret))
        if not value
    ]
    if missing:
        raise ConfigError(
            f"missing {', '.join(missing)} (or the PUSHER_APP_ID / PUSHER_KEY / "
            "PUSHER_SECRET environment variables)"
        )
    limits = Limits(
        max_channel_name_length=args.max_channel_name_length,
        max_event_name_length=args.max_event_name_length,
        max_event_data_size=args.max_event_data_size,
        max_channels_per_event=args.max_channels_per_event,
        max_batch_size=args.max_batch_size,
        max_presence_members=args.max_presence_members,
        max_presence_user_info_size=args.max_user_info_size,
        max_presence_user_id_length=args.max_user_id_length,
        client_events_per_second=args.client_events_per_second,
        max_connections=args.max_connections,
    )
    app = AppConfig(
        app_id=str(app_id),
        key=str(key),
        secret=str(secret),
        client_events=args.enable_client_events,
        webhook_urls=tuple(args.webhook_url),
        limits=limits,
    )
    return ServerConfig(
        apps=(app,),
        host=args.host or _DEFAULTS.host,
        port=_DEFAULTS.port if args.port is None else args.port,
        path_prefix=args.path_prefix,
        activity_timeout=args.activity_timeout,
        pong_timeout=args.pong_timeout,
        allowed_origins=tuple(args.allowed_origin),
        max_message_size=args.max_message_size,
        max_request_size=args.max_request_size,
        timestamp_window=args.timestamp_window,
        webhook_debounce=args.webhook_debounce,
        webhook_retry_deadline=args.webhook_retry_deadline,
        webhook_batch_size=args.webhook_batch_size,
        cache_ttl=args.cache_ttl,
        max_write_buffer=args.max_write_buffer,
        handshake_timeout=args.handshake_timeout,
        body_timeout=args.body_timeout,
        keepalive_timeout=args.keepalive_timeout,
    )


def raise_open_file_limit() -> None:
    """Raise the soft limit of open files to the hard limit (one per connection)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def serve(
    config: ServerConfig,
    *,
    ready: Callable[[str], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run the server until SIGINT/SIGTERM (or *stop* is set), then shut down cleanly.

    *ready* is called with the listening URL once the socket accepts connections.
    """
    from aiohttp import web

    from .app import SERVER, create_app
    from .listener import AcceptErrorThrottle, ConnectionGuard, sweep_forever

    app = create_app(config)
    runner = web.AppRunner(
        app,
        access_log=None,
        handle_signals=False,
        shutdown_timeout=5,
        keepalive_timeout=config.keepalive_timeout,
    )
    await runner.setup()
    assert runner.server is not None
    server = app[SERVER]
    guard = ConnectionGuard(
        runner.server,
        handshake_timeout=config.handshake_timeout,
        limit=config.max_connections,
        open_connections=server.open_connections,
    )
    server.guard = guard
    server.spawn(sweep_forever(guard))
    loop = asyncio.get_running_loop()
    throttle = AcceptErrorThrottle()
    loop.set_exception_handler(throttle)
    # Our own listening socket instead of aiohttp's TCPSite, so that every accepted
    # connection goes through the guard.
    listener = await loop.create_server(
        guard, config.host, config.port, reuse_address=True, backlog=512
    )
    stop = stop or asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    host, port = listener.sockets[0].getsockname()[:2]
    url = f"http://{host}:{port}"
    logger.info("server ready", extra={"url": url, "apps": [a.app_id for a in config.apps]})
    if ready is not None:
        ready(url)
    try:
        await stop.wait()
    finally:
        logger.info("shutting down")
        listener.close()
        throttle.listener_closed = True
        await runner.cleanup()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)


def ready_line(url: str) -> str:
    """The line printed once the server is ready (parsed by :mod:`.testing`)."""
    return f"pusherable server listening on {url}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m pusherable.server``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ConfigError as error:
        parser.error(str(error))
    from .logs import configure_logging

    configure_logging(args.log_level, args.log_format)
    raise_open_file_limit()

    def announce(url: str) -> None:
        print(ready_line(url), flush=True)

    try:
        asyncio.run(serve(config, ready=announce))
    except OSError as error:
        print(
            f"pusherable server: cannot listen on {config.host}:{config.port}: {error}",
            file=sys.stderr,
        )
        return 1
    return 0
