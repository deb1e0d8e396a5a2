"""Command line, ``manage.py pusherable_server``, the optional aiohttp extra and run_server."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from pusherable.server.cli import build_parser, config_from_args
from pusherable.server.config import ConfigError
from pusherable.server.testing import ServerStartError, run_server, server_command

ROOT = Path(__file__).resolve().parents[2]
BLOCK_AIOHTTP = "import sys; sys.modules['aiohttp'] = None; "


def python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
    )


def test_help_documents_every_option() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pusherable.server", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0
    parser = build_parser()
    for action in parser._actions:
        for flag in action.option_strings:
            assert flag in result.stdout
        assert action.help, action.option_strings


def test_credentials_from_options_or_environment() -> None:
    parser = build_parser()
    args = parser.parse_args(["--port", "0"])
    config = config_from_args(
        args, {"PUSHER_APP_ID": "5", "PUSHER_KEY": "k", "PUSHER_SECRET": "s"}
    )
    assert (config.apps[0].app_id, config.apps[0].key, config.port) == ("5", "k", 0)
    args = parser.parse_args(
        [
            "--app-id",
            "6",
            "--key",
            "k2",
            "--secret",
            "s2",
            "--enable-client-events",
            "--webhook-url",
            "http://a/",
            "--allowed-origin",
            "http://o",
            "--max-connections",
            "3",
        ]
    )
    config = config_from_args(args, {"PUSHER_APP_ID": "5"})
    app = config.apps[0]
    assert (app.app_id, app.client_events, app.webhook_urls, app.limits.max_connections) == (
        "6",
        True,
        ("http://a/",),
        3,
    )
    assert config.allowed_origins == ("http://o",)
    with pytest.raises(ConfigError, match="--secret"):
        config_from_args(parser.parse_args(["--app-id", "1", "--key", "k"]), {})


def test_non_numeric_app_id_is_a_usage_error() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pusherable.server",
            "--app-id",
            "my-app",
            "--key",
            "k",
            "--secret",
            "s",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 2
    assert "digits" in result.stderr


def test_importing_pusherable_never_needs_aiohttp() -> None:
    result = python(
        BLOCK_AIOHTTP + "import pusherable, pusherable.server, "
        "pusherable.server.protocol, pusherable.server.http_api, "
        "pusherable.server.testing, pusherable.server.cli; print('ok')"
    )
    assert result.stdout.strip() == "ok", result.stderr


def test_running_without_aiohttp_says_how_to_install_it() -> None:
    result = python(
        BLOCK_AIOHTTP + "import runpy; runpy.run_module('pusherable.server', run_name='__main__')"
    )
    assert result.returncode == 2
    assert "pip install 'django-pusherable[server]'" in result.stderr


def test_server_command() -> None:
    command = server_command(
        {
            "port": 0,
            "enable_client_events": True,
            "debug": False,
            "webhook_url": ["a", "b"],
            "key": None,
        }
    )
    assert command[3:] == [
        "--port",
        "0",
        "--enable-client-events",
        "--webhook-url",
        "a",
        "--webhook-url",
        "b",
    ]


def test_run_server_reports_a_failed_start() -> None:
    with (
        pytest.raises(ServerStartError, match="exited with status 2") as raised,
        run_server(activity_timeout=0),
    ):
        pass
    assert "activity_timeout" in str(raised.value)


@pytest.fixture
def server_loggers() -> Iterator[None]:
    """Put back the loggers the command configures (in this process, unlike the CLI tests).

    ``configure_logging`` stops them propagating and gives them a handler on the
    stderr of the moment; left so, later tests' ``caplog`` sees none of their records.
    """
    loggers = [logging.getLogger(name) for name in ("pusherable.server", "aiohttp")]
    saved = [(log, log.handlers[:], log.propagate, log.level) for log in loggers]
    yield
    for log, handlers, propagate, level in saved:
        log.handlers[:] = handlers
        log.propagate = propagate
        log.setLevel(level)


@pytest.mark.e2e
@pytest.mark.usefixtures("server_loggers")
def test_management_command_uses_the_project_settings() -> None:
    out = io.StringIO()
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            call_command("pusherable_server", "--port", "0", stdout=out)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    with override_settings(
        PUSHER_APP_ID=77,
        PUSHER_KEY="proj-key",
        PUSHER_SECRET="proj-secret",
        PUSHER_HOST="127.0.0.1",
        PUSHER_PORT=1,
    ):
        # The command runs until SIGINT; here it is stopped through its event loop.
        import asyncio

        from pusherable.server import cli

        stop_holder: dict[str, Any] = {}
        original = cli.serve

        async def serve_until_told(config: Any, **kwargs: Any) -> None:
            stop_holder["event"] = asyncio.Event()
            stop_holder["loop"] = asyncio.get_running_loop()
            stop_holder["config"] = config
            await original(config, stop=stop_holder["event"], **kwargs)

        cli.serve = serve_until_told  # type: ignore[assignment]
        try:
            thread = threading.Thread(target=serve)
            thread.start()
            for _ in range(200):
                if "listening on" in out.getvalue() or errors:
                    break
                threading.Event().wait(0.05)
            assert "pusherable server listening on http://127.0.0.1:" in out.getvalue(), errors
            config = stop_holder["config"]
            assert (config.apps[0].app_id, config.apps[0].key, config.port) == (
                "77",
                "proj-key",
                0,
            )
            stop_holder["loop"].call_soon_threadsafe(stop_holder["event"].set)
            thread.join(20)
            assert not thread.is_alive()
        finally:
            cli.serve = original  # type: ignore[assignment]
    assert errors == []


def test_management_command_without_credentials() -> None:
    with (
        override_settings(PUSHER_APP_ID=None, PUSHER_KEY=None, PUSHER_SECRET=None),
        pytest.raises(CommandError, match="PUSHER_APP_ID"),
    ):
        call_command("pusherable_server", "--port", "0")
