"""The newsroom demo in Chromium: who is editing which field, and "Edit alone" (lock mode)."""

from __future__ import annotations

import itertools

import pytest

from .helpers import create_article, wait_until_live

pytestmark = pytest.mark.browser

# A change reaches open pages through Django, the bundled server and pusher-js; this
# bounds the wait, it does not measure it.
EVENT_TIMEOUT_MS = 10_000

_numbers = itertools.count(1)


def test_the_presence_bar_and_the_field_say_who_is_editing_which_field(login):
    from playwright.sync_api import expect

    alice, bob = login("alice"), login("bob")
    path = create_article(alice, f"Fields #{next(_numbers)}")
    for page in (alice, bob):
        page.goto(path + "edit/")
        wait_until_live(page)
    alice.focus("#id_standfirst")
    expect(bob.locator("#presence .presence-list")).to_contain_text(
        "is editing Standfirst", timeout=EVENT_TIMEOUT_MS
    )
    expect(
        bob.locator(".pusherable-field-presence[data-pusherable-field=standfirst]")
    ).to_contain_text("is editing", timeout=EVENT_TIMEOUT_MS)
    alice.evaluate("document.activeElement.blur()")
    expect(bob.locator(".pusherable-field-presence")).to_have_count(0, timeout=EVENT_TIMEOUT_MS)


def test_edit_alone_gives_the_others_a_read_only_form_until_handed_over(login):
    from playwright.sync_api import expect

    alice, bob = login("alice"), login("bob")
    path = create_article(alice, f"Alone #{next(_numbers)}")
    alice.goto(path)
    alice.click("text=Edit alone")
    wait_until_live(alice)
    expect(alice.locator(".pusherable-lock")).to_contain_text("You are editing this")
    bob.goto(path + "edit-alone/")
    wait_until_live(bob)
    expect(bob.locator("#id_title")).to_be_disabled()
    bob.click("[data-pusherable-lock-action=ask]")
    alice.click("[data-pusherable-lock-action=handover]", timeout=EVENT_TIMEOUT_MS)
    expect(bob.locator("#id_title")).to_be_enabled(timeout=EVENT_TIMEOUT_MS)
    expect(alice.locator(".pusherable-lock")).to_contain_text("has the edit lock now")
