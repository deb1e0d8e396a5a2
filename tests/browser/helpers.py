"""Steps the browser tests share."""

from __future__ import annotations

import re

__all__ = ["CONNECT_TIMEOUT_MS", "HOME_URL", "create_article", "wait_until_live"]

# Generous: the first connection of a page goes through pusher-js, the
# bundled server and Django's channel authorization on a busy machine.
CONNECT_TIMEOUT_MS = 20_000

#: The article list, where logging in and deleting lead.
HOME_URL = re.compile(r"^https?://[^/]+/$")


def wait_until_live(page) -> None:
    """Wait until the page's presence subscription is up (``pusherable:here`` arrived)."""
    page.wait_for_selector("#presence[data-state=live]", timeout=CONNECT_TIMEOUT_MS)


def create_article(page, title: str) -> str:
    """Create a published article through the demo's form; returns its path."""
    page.goto("/articles/new/")
    page.fill("#id_title", title)
    page.fill("#id_standfirst", "Written by the browser tests.")
    page.select_option("#id_section", "science")
    page.select_option("#id_status", "published")
    page.fill("#id_body", "First paragraph.\n\nSecond paragraph.")
    page.click("#article-form button[type=submit]")
    page.wait_for_url(re.compile(r"/articles/\d+/$"))
    return re.sub(r"^https?://[^/]+", "", page.url)
