"""Laravel Echo (the real ``laravel-echo`` from npm, with pusher-js) on our endpoints.

Echo hands its presence callbacks (``here``, ``joining``, ``leaving``) the member's
``user_info`` only, so the member id must be in it for Echo code to tell who came
and went: :func:`pusherable.members.default_user_info` puts it there.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from django.urls import reverse

from tests.e2e.conftest import Site
from tests.tools import require_node, require_npm_package

pytestmark = [pytest.mark.e2e, pytest.mark.node, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "node" / "echo.js"


def run_echo(config: dict, timeout: float = 60) -> list[dict]:
    node = require_node()
    require_npm_package("laravel-echo")
    result = subprocess.run(
        [node, str(SCRIPT), json.dumps(config)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert result.returncode == 0, (lines, result.stderr[-4000:])
    return lines


def test_echo_tells_who_joined_and_left(site_without_browser: Site) -> None:
    site = site_without_browser
    alice, bob = site.member_id("alice"), site.member_id("bob")
    config = {
        "key": site.pusher.key,
        "host": site.pusher.host,
        "authUrl": site.django.url + reverse("pusherable:auth"),
        "channel": site.channel.removeprefix("presence-"),
        # On a cluster, each user on a node of their own.
        "users": [
            {"port": site.pusher.ws_port(0), **site.session("alice")},
            {"port": site.pusher.ws_port(1), **site.session("bob")},
        ],
        "timeout_ms": 40_000,
    }
    lines = run_echo(config)
    by_type = {(line["type"], line.get("user")): line for line in lines}
    alice_info = {"id": alice, "name": "Alice", "intent": "viewing"}
    bob_info = {"id": bob, "name": "Bob", "intent": "viewing"}

    assert by_type["here", 0]["members"] == [alice_info]
    assert sorted(by_type["here", 1]["members"], key=lambda m: m["id"]) == sorted(
        [alice_info, bob_info], key=lambda m: m["id"]
    )
    assert by_type["joining", 0]["member"] == bob_info
    assert by_type["leaving", 0]["member"] == bob_info
    assert lines[-1] == {"type": "done"}
