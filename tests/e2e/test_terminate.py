"""Ending a signed-in user's connections, on every target.

The ``pusher`` library posts to ``/users/<id>/terminate_connections``, which soketi
answers with 404 (it serves ``/apps/<app_id>/users/<id>/terminate_connections``):
:func:`pusherable.pusher_client.terminate_user_connections` takes whichever path the server has.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse

from pusherable.pusher_client import terminate_user_connections
from tests.e2e.conftest import Site, running_site
from tests.tools import require_node, require_npm_package

pytestmark = [pytest.mark.e2e, pytest.mark.node, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "node" / "signin.js"


@pytest.fixture
def signin_site(transactional_db: None, settings: Any, pusher_target: str) -> Iterator[Site]:
    # soketi handles pusher:signin only with user authentication on (which then
    # closes any connection that does not sign in): scaling.rst says so.
    with running_site(settings, pusher_target, None, user_authentication=True) as site:
        yield site


def test_a_signed_in_user_is_disconnected(signin_site: Site) -> None:
    site = signin_site
    node = require_node()
    require_npm_package("pusher-js")
    config = {
        "key": site.pusher.key,
        "host": site.pusher.host,
        "port": site.pusher.ws_port(1),  # on a cluster, not the node Django talks to
        "authUrl": site.django.url + reverse("pusherable:user-auth"),
        "timeout_ms": 30_000,
        **site.session("alice"),
    }
    # As a context manager, Popen closes its pipes on exit (else ResourceWarnings).
    with subprocess.Popen(
        [node, str(SCRIPT), json.dumps(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    ) as process:
        lines: list[dict] = []
        signed_in = threading.Event()

        def read() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                lines.append(json.loads(line))
                if lines[-1]["type"] == "signed_in":
                    signed_in.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            assert signed_in.wait(30), lines
            terminate_user_connections(site.users["alice"])
            process.wait(30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(5)
            reader.join(5)
        stderr = process.stderr.read() if process.stderr else ""
    assert process.returncode == 0, (lines, stderr)
    assert lines[-1]["type"] == "closed"
    assert lines[-1]["code"] == 4009  # refused: pusher-js does not reconnect by itself
