"""``manage.py pusherable_server``: the bundled server with the project's ``PUSHER_*`` settings.

The app id, key and secret come from ``PUSHER_APP_ID``, ``PUSHER_KEY`` and
``PUSHER_SECRET``, the address from ``PUSHER_HOST`` and ``PUSHER_PORT``; every
option of ``python -m pusherable.server`` is available and overrides them.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pusherable.conf import settings
from pusherable.server.cli import (
    add_server_arguments,
    config_from_args,
    raise_open_file_limit,
    ready_line,
)
from pusherable.server.config import ConfigError

__all__ = ["Command"]


class Command(BaseCommand):
    help = (
        "Run the bundled Pusher Channels compatible server with the project's PUSHER_* "
        "settings (development, tests and single-machine use)."
    )
    # The server does not use the database or the models.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        add_server_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            import aiohttp  # noqa: F401
        except ImportError:
            raise CommandError(
                "The bundled server needs aiohttp: "
                "python -m pip install 'django-pusherable[server]'"
            ) from None
        from pusherable.server.cli import serve
        from pusherable.server.logs import configure_logging

        namespace = argparse.Namespace(**options)
        namespace.app_id = options["app_id"] or _str_or_none(settings.PUSHER_APP_ID)
        namespace.key = options["key"] or settings.PUSHER_KEY
        namespace.secret = options["secret"] or settings.PUSHER_SECRET
        namespace.host = options["host"] or settings.PUSHER_HOST
        if options["port"] is None and settings.PUSHER_PORT is not None:
            namespace.port = int(settings.PUSHER_PORT)
        try:
            config = config_from_args(namespace, environ={})
        except ConfigError as error:
            raise CommandError(
                f"{error}. Set PUSHER_APP_ID, PUSHER_KEY and PUSHER_SECRET in the settings "
                "or pass --app-id, --key and --secret."
            ) from None
        configure_logging(options["log_level"], options["log_format"])
        raise_open_file_limit()

        def announce(url: str) -> None:
            self.stdout.write(ready_line(url))
            self.stdout.flush()

        try:
            asyncio.run(serve(config, ready=announce))
        except OSError as error:
            raise CommandError(f"cannot listen on {config.host}:{config.port}: {error}") from None


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)
