"""Two Django processes behind one Pusher server agree on presence, intents and history.

Production runs several processes (workers, hosts); a webhook, an intent change
and a save each land on one of them, and a page may be rendered by another. With
a shared cache (here a file-based one, and one SQLite file) they all read the same
state; with a per-process cache (``LocMemCache``, what pusherable.W005 warns about)
process A would never see what the webhooks told process B.

Process A answers the browser (channel authorization, intents); the server sends
its webhooks to process B; Bob saves through B. Each process reports what it
knows through ``tests/multiprocess/urls.py``'s state view.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from django.middleware.csrf import _get_new_csrf_string

from pusherable.channels import channel_for
from tests.e2e.harness import wait_until
from tests.readme import PageReader
from tests.targets import free_port, running_process, start_target, wait_ready
from tests.testapp.models import Article
from tests.tools import require_node, require_npm_package

pytestmark = [pytest.mark.e2e, pytest.mark.node, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]
MEMBER_JS = ROOT / "tests" / "node" / "member.js"
HOST = "127.0.0.1"


class Browser:
    """What a browser of one user sends: the session cookie and a CSRF token."""

    def __init__(self, session: str) -> None:
        self.csrf = _get_new_csrf_string()
        self.cookie = f"sessionid={session}; csrftoken={self.csrf}"

    def request(self, url: str, data: dict[str, str] | None = None) -> tuple[str, bytes]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(url, data=body)
        request.add_header("Cookie", self.cookie)
        if data is not None:
            request.add_header("X-CSRFToken", self.csrf)
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.geturl(), response.read()


def state(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError):
        import socket

        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    return False


@contextlib.contextmanager
def member(config: dict[str, Any]):
    """A presence member in Node; yields its socket id; leaves on exit."""
    node = require_node()
    require_npm_package("pusher-js")
    # As a context manager, Popen closes its pipes on exit (else ResourceWarnings).
    with subprocess.Popen(
        [node, str(MEMBER_JS), json.dumps(config)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    ) as process:
        lines: queue.Queue[dict] = queue.Queue()
        assert process.stdout is not None and process.stdin is not None

        def read() -> None:
            for line in process.stdout:  # type: ignore[union-attr]
                lines.put(json.loads(line))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            first = lines.get(timeout=30)
            assert first["type"] == "here", first
            yield first["socket_id"], process
        finally:
            with contextlib.suppress(OSError):
                process.stdin.write("quit\n")
                process.stdin.flush()
            with contextlib.suppress(OSError):  # closed even if node left before "quit"
                process.stdin.close()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
            reader.join(5)  # it reads stdout to the end before the pipe is closed


def test_presence_intents_and_history_agree_across_two_processes(tmp_path: Path) -> None:
    ports = [free_port(), free_port()]
    a_url, b_url = (f"http://{HOST}:{port}" for port in ports)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        "DJANGO_SETTINGS_MODULE": "tests.multiprocess.settings",
        "PUSHERABLE_MP_DIR": str(tmp_path),
    }
    with start_target("bundled", webhook_urls=[b_url + "/pusherable/webhook/"]) as pusher:
        env.update(
            PUSHER_APP_ID=pusher.app_id,
            PUSHER_KEY=pusher.key,
            PUSHER_SECRET=pusher.secret,
            PUSHER_PORT=str(pusher.port),
        )
        prepared = subprocess.run(
            [sys.executable, "-m", "tests.multiprocess.prepare"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        setup = json.loads(prepared.stdout.strip().splitlines()[-1])
        check = subprocess.run(
            [sys.executable, "-m", "django", "check"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        assert "pusherable.W005" not in check.stdout + check.stderr  # the cache is shared

        pk = setup["article"]
        channel = channel_for(Article(pk=pk), "presence")
        alice, bob = (Browser(setup["users"][name]["session"]) for name in ("alice", "bob"))
        alice_id = setup["users"]["alice"]["id"]
        with contextlib.ExitStack() as stack:
            for index, port in enumerate(ports):
                log = tmp_path / f"django-{index}.log"
                command = [sys.executable, "-m", "django", "runserver", f"{HOST}:{port}"]
                process = stack.enter_context(
                    running_process([*command, "--noreload"], log=log, cwd=ROOT, env=env)
                )
                wait_ready(lambda port=port: port_open(port), process, log, f"Django on {port}")

            def both(expected: Any, key: str) -> None:
                wait_until(
                    lambda: all(
                        state(f"{u}/state/{pk}/")[key] == expected for u in (a_url, b_url)
                    ),
                    timeout=15,
                    message=f"{key}: {expected}; A: {state(f'{a_url}/state/{pk}/')}, "
                    f"B: {state(f'{b_url}/state/{pk}/')}",
                )

            # Alice's tab is authorized by A; the member_added webhook reaches B.
            config = {
                "key": pusher.key,
                "host": pusher.host,
                "port": pusher.port,
                "authUrl": a_url + "/pusherable/auth/",
                "channel": channel,
                "cookie": alice.cookie,
                "csrf": alice.csrf,
            }
            with member(config) as (socket_id, _):
                both([[alice_id, "viewing"]], "here")

                # She declares `editing` through A; B reports it.
                alice.request(
                    a_url + "/pusherable/intent/",
                    {"socket_id": socket_id, "channel_name": channel, "intent": "editing"},
                )
                both([[alice_id, "editing"]], "here")

                # Bob saves through B; A has the change in its history.
                page = PageReader()
                page.feed(bob.request(f"{b_url}/e2e/articles/{pk}/edit/")[1].decode())
                answer_url, _ = bob.request(
                    f"{b_url}/e2e/articles/{pk}/edit/", {**page.fields, "title": "Bob's"}
                )
                assert answer_url.endswith("/e2e/saved/")
                both([["bob", {"title": ["Draft", "Bob's"]}]], "history")

            # Her tab left: the member_removed webhook reached B, and A knows it.
            both([], "here")
