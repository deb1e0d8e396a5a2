"""Fixtures of the browser tests: the demo running on free loopback ports, and
Debian's Chromium driven by Playwright's synchronous API.

The demo runs in processes of its own (Django's development server on a fresh
SQLite file, and the bundled server through ``run_server``), so Playwright's
event loop and Django never share a thread, and everything is stopped by PID.

Playwright's synchronous API keeps an asyncio loop running in the thread that
started it, until it stops: every later ``asyncio.run()`` in that thread would
fail. So it lives for one test module at most, and so does the demo.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.chromium import launch_chromium, require_chromium

from .helpers import HOME_URL


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    return require_chromium()


@pytest.fixture(scope="module")
def demo_site(chromium_path, tmp_path_factory):
    from demo.launcher import running_demo

    with running_demo(tmp_path_factory.mktemp("demo")) as site:
        yield site


@pytest.fixture(scope="module")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, chromium_path)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def login(browser, demo_site) -> Iterator[Callable]:
    """``login("alice")``: a new browser context signed in as that user; returns a page."""
    contexts = []

    def login_as(username: str):
        context = browser.new_context(base_url=demo_site.url)
        contexts.append(context)
        page = context.new_page()
        page.goto("/accounts/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", "demo")
        page.click("button[type=submit]")
        page.wait_for_url(HOME_URL)
        return page

    yield login_as
    for context in contexts:
        context.close()
