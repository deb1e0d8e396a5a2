"""Live merge and catch-up in Chromium: a colleague's save fills Bob's open form (the
admin's change form too), and a page offline while Alice saves shows her change once
it is back, without a reload."""

from __future__ import annotations

import re

import pytest

from .conftest import LIVE_TIMEOUT_MS
from .test_admin_browser import open_change_form, record_subscriptions, wait_until_subscribed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# pusher-js notices a dead connection by a ping without a pong: short here, so that
# the test does not wait for the 30 s of its defaults.
FAST_PING = {"activityTimeout": 1000, "pongTimeout": 1000}


@pytest.fixture
def article(users):
    from tests.testapp.models import Article

    return Article.objects.create(title="Hello", body="Body")


def record_catch_up(page) -> None:
    """Keep every event pusherable.js delivers as caught up, and every connection state."""
    page.add_init_script(
        """window.__caughtUp = []; window.__states = [];
        document.addEventListener('pusherable:notify', (event) => {
          const {event: name, data} = event.detail;
          if (data && data.catch_up) window.__caughtUp.push({event: name, data: data});
        });
        window.pusherable_notify = (event, data) => {
          if (event === 'pusherable:state') window.__states.push(data.current);
        };"""
    )


def test_a_page_offline_while_a_colleague_saves_catches_up_when_back(
    login, live_site, settings, article
):
    from playwright.sync_api import expect

    settings.PUSHERABLE_JS_OPTIONS = FAST_PING
    edit = f"/articles/{article.pk}/edit/"
    bob = login("bob")
    record_subscriptions(bob)
    record_catch_up(bob)
    bob.goto(edit)
    wait_until_subscribed(bob, f"presence-article_{article.pk}")
    bob.fill("#id_body", "Bob's unsaved body")

    bob.context.set_offline(True)
    bob.wait_for_function(
        "() => window.pusherable.state() !== 'connected'", timeout=LIVE_TIMEOUT_MS
    )

    alice = login("alice")
    alice.goto(edit)
    alice.fill("#id_title", "Saved while Bob was away")
    alice.click("button[type=submit]")
    alice.wait_for_url(re.compile(r"/articles/$"))
    # Nothing reached Bob meanwhile.
    expect(bob.locator("#id_title")).to_have_value("Hello")

    bob.context.set_offline(False)
    # Back online: his form takes Alice's title, keeps his own body, says who.
    expect(bob.locator("#id_title")).to_have_value(
        "Saved while Bob was away", timeout=LIVE_TIMEOUT_MS
    )
    expect(bob.locator("#id_body")).to_have_value("Bob's unsaved body")
    expect(bob.locator(".pusherable-field-note[data-pusherable-field=title]")).to_have_text(
        "alice changed Title"
    )
    caught_up = bob.evaluate("window.__caughtUp")
    assert [item["event"] for item in caught_up] == ["updated", "pusherable:merged"]
    assert caught_up[0]["data"]["changed"] == {"title": "Saved while Bob was away"}
    assert caught_up[0]["data"]["user"] == "alice"
    states = bob.evaluate("window.__states")
    assert states[-1] == "connected" and "connected" in states[:-1]


def test_the_admin_change_form_merges_a_colleagues_save(login, article):
    from playwright.sync_api import expect

    alice = login("alice")
    bob = login("bob")
    open_change_form(alice, article)
    open_change_form(bob, article)
    bob.fill("#id_body", "Bob's body")

    alice.fill("#id_title", "Alice's title")
    alice.fill("#id_body", "Alice's body")
    alice.click("input[name=_save]")
    alice.wait_for_url(re.compile(r"/admin/testapp/article/$"))

    # The title Bob did not touch is Alice's now; his body stays, with hers beside it.
    expect(bob.locator("#id_title")).to_have_value("Alice's title", timeout=LIVE_TIMEOUT_MS)
    expect(bob.locator("#id_body")).to_have_value("Bob's body")
    body_note = bob.locator(".pusherable-field-note[data-pusherable-field=body]")
    expect(body_note).to_contain_text("alice changed this to “Alice's body”.")
    body_note.get_by_role("button", name="Use theirs").click()
    expect(bob.locator("#id_body")).to_have_value("Alice's body")
    expect(body_note).to_have_count(0)
