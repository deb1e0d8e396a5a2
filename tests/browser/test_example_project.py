"""The tutorial's example project (``example/``), run as a newcomer runs it, in Chromium.

The project is copied to a temporary directory with pusher-js where ``npm install``
puts it, and run with its own settings plus two lines (free loopback ports and a
fresh database): ``migrate``, ``add_editor`` for Alice and Bob, ``pusherable_server``
and ``runserver`` in processes of their own, stopped by PID. The browser may reach
nothing but those two servers, so the pages prove they work offline.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from demo.launcher import free_port, stop_process, wait_for_port
from tests.tools import require_npm_package

from .helpers import CONNECT_TIMEOUT_MS

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

REPO_DIR = Path(__file__).resolve().parents[2]
EXAMPLE_DIR = REPO_DIR / "example"
NODE_MODULES = REPO_DIR / "node_modules"
HOST = "127.0.0.1"
PASSWORD = "correct horse"


class Example:
    """The example project in ``directory``, run with ``mysite.test_settings``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.django_port = free_port(HOST)
        self.pusher_port = free_port(HOST)
        self.url = f"http://{HOST}:{self.django_port}"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "mysite.test_settings",
            "PYTHONUNBUFFERED": "1",
        }

    def command(self, *args: str) -> list[str]:
        return [sys.executable, str(self.directory / "manage.py"), *args]

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            self.command(*args),
            cwd=self.directory,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, f"manage.py {args[0]}:\n{result.stdout}{result.stderr}"
        return result.stdout

    def start(self, *args: str, port: int) -> subprocess.Popen:
        process = subprocess.Popen(
            self.command(*args),
            cwd=self.directory,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_for_port(HOST, port, process=process)
        except BaseException:
            stop_process(process)
            raise
        return process


@pytest.fixture(scope="module")
def example(chromium_path, tmp_path_factory):
    require_npm_package("pusher-js")
    directory = tmp_path_factory.mktemp("example") / "example"
    shutil.copytree(
        EXAMPLE_DIR,
        directory,
        ignore=shutil.ignore_patterns("node_modules", "*.sqlite3", "__pycache__"),
    )
    # Where `npm install` in the project's directory puts pusher-js.
    (directory / "node_modules").symlink_to(NODE_MODULES, target_is_directory=True)
    site = Example(directory)
    (directory / "mysite" / "test_settings.py").write_text(
        "from .settings import *  # noqa: F403\n\n"
        f"PUSHER_PORT = {site.pusher_port}\n"
        f"DATABASES['default']['NAME'] = {str(directory / 'test.sqlite3')!r}\n"
    )
    site.manage("migrate", "--no-input", "--verbosity=0")
    site.manage("add_editor", "alice", "--name", "Alice", "--password", PASSWORD)
    site.manage("add_editor", "bob", "--name", "Bob", "--password", PASSWORD)
    site.manage(
        "shell",
        "-c",
        "from articles.models import Article; "
        "print(Article.objects.create(title='Hello', body='First draft.').pk)",
    )
    pusher = site.start("pusherable_server", port=site.pusher_port)
    try:
        django = site.start(
            "runserver", "--noreload", f"{HOST}:{site.django_port}", port=site.django_port
        )
        try:
            yield site
        finally:
            stop_process(django)
    finally:
        stop_process(pusher)


@pytest.fixture
def login(browser, example):
    contexts = []
    local = re.compile(
        rf"^(https?|wss?)://{re.escape(HOST)}:({example.django_port}|{example.pusher_port})/"
    )

    def offline(route):
        # Nothing but the project's two servers: no CDN, no Pusher.
        if local.match(route.request.url):
            route.continue_()
        else:
            route.abort()

    def login_as(username: str):
        context = browser.new_context(base_url=example.url)
        contexts.append(context)
        context.route("**/*", offline)
        page = context.new_page()
        page.set_default_timeout(CONNECT_TIMEOUT_MS)
        page.goto("/accounts/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", PASSWORD)
        page.click("form:has(#id_username) button[type=submit]")
        page.wait_for_url(f"{example.url}/")
        return page

    yield login_as
    for context in contexts:
        context.close()


def test_bob_sees_alice_arrive_and_her_save_land(login):
    from playwright.sync_api import expect

    bob = login("bob")
    failed = []
    bob.on("requestfailed", lambda request: failed.append(request.url))
    bob.goto("/1/")
    alice = login("alice")
    alice.goto("/1/edit/")

    expect(bob.locator("#here")).to_have_text("Alice is editing", timeout=CONNECT_TIMEOUT_MS)
    expect(alice.locator("#here")).to_have_text("Bob is viewing", timeout=CONNECT_TIMEOUT_MS)
    expect(bob.locator("#notice")).to_have_text("Alice opened the edit form.")

    alice.fill("#id_title", "Hello, world")
    alice.click("form:has(#id_title) button[type=submit]")
    alice.wait_for_url(re.compile(r"/1/$"))

    expect(bob.locator("h1[data-field=title]")).to_have_text("Hello, world")
    expect(bob.locator("#notice")).to_have_text("Alice saved: title.")
    assert failed == []  # pusher-js and everything else came from the project itself


def test_two_editors_see_who_is_in_which_field_and_a_stale_save_merges(login):
    """The issue-15 and issue-11 behaviours in a project built only from the tutorial."""
    from playwright.sync_api import expect

    alice = login("alice")
    bob = login("bob")
    alice.goto("/1/edit/")
    bob.goto("/1/edit/")
    expect(bob.locator("#here")).to_contain_text("Alice is editing", timeout=CONNECT_TIMEOUT_MS)

    # Field presence: Bob sees the field Alice is in, by her display name.
    alice.focus("#id_body")
    mark = bob.locator(".pusherable-field-presence[data-pusherable-field=body]")
    expect(mark).to_have_text("Alice is editing", timeout=CONNECT_TIMEOUT_MS)
    alice.focus("#id_title")
    expect(mark).to_have_count(0, timeout=CONNECT_TIMEOUT_MS)

    # The merge: Alice saves the title; Bob, who typed in the body only, saves his
    # form (opened before her save): both changes stand.
    bob.fill("#id_body", "Bob's body.")
    alice.fill("#id_title", "Alice's title")
    alice.click("form:has(#id_title) button[type=submit]")
    alice.wait_for_url(re.compile(r"/1/$"))
    bob.click("form:has(#id_title) button[type=submit]")
    bob.wait_for_url(re.compile(r"/1/$"))
    expect(bob.locator("h1[data-field=title]")).to_have_text("Alice's title")
    expect(bob.locator("[data-field=body]")).to_contain_text("Bob's body.")
