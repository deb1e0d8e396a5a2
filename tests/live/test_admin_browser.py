"""The admin and live lists in Chromium: presence, the stale-save guard, new rows live."""

from __future__ import annotations

import re

import pytest

from .conftest import LIVE_TIMEOUT_MS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def wait_until_subscribed(page, channel: str) -> None:
    """Wait until pusherable.js joined ``channel`` (its ``pusherable:subscribed`` arrived)."""
    page.wait_for_function(
        """(channel) => window.pusherable && window.pusherable.state() === 'connected'
            && (window.__subscribed || []).includes(channel)""",
        arg=channel,
        timeout=LIVE_TIMEOUT_MS,
    )


def record_subscriptions(page) -> None:
    """Note every channel the page subscribes to, before any script of the page runs."""
    page.add_init_script(
        """document.addEventListener('pusherable:notify', (event) => {
            if (event.detail.event === 'pusherable:subscribed') {
              (window.__subscribed = window.__subscribed || []).push(event.detail.channel);
            }
        });"""
    )


@pytest.fixture
def article(users):
    from tests.testapp.models import Article

    return Article.objects.create(title="Hello", body="Body")


def open_change_form(page, article) -> None:
    record_subscriptions(page)
    page.goto(f"/admin/testapp/article/{article.pk}/change/")
    from pusherable.channels import channel_for

    wait_until_subscribed(page, channel_for(article, "presence"))  # who is here
    wait_until_subscribed(page, channel_for(article))  # the events: the same channel by default


def test_two_users_on_one_change_form_see_each_other(login, article):
    from playwright.sync_api import expect

    alice = login("alice")
    bob = login("bob")
    open_change_form(alice, article)
    open_change_form(bob, article)

    expect(alice.locator(".pusherable-presence")).to_contain_text("bob is editing this")
    expect(bob.locator(".pusherable-presence")).to_contain_text("alice is editing this")
    # Nobody sees themselves.
    expect(alice.locator(".pusherable-presence")).not_to_contain_text("alice")

    bob.close()
    expect(alice.locator(".pusherable-presence")).to_be_hidden(timeout=LIVE_TIMEOUT_MS)


def test_a_stale_save_of_the_same_field_is_refused_with_the_other_value(login, article):
    from playwright.sync_api import expect

    alice = login("alice")
    bob = login("bob")
    open_change_form(alice, article)
    open_change_form(bob, article)

    alice.fill("#id_title", "Alice's title")
    alice.click("input[name=_save]")
    alice.wait_for_url(re.compile(r"/admin/testapp/article/$"))

    # Bob's open form says at once who changed what.
    notice = bob.locator(".pusherable-conflict")
    expect(notice).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    expect(notice).to_contain_text("Changed by alice since you opened it.")
    expect(notice).to_contain_text("Title: “Hello” → “Alice's title”")

    # He saves anyway: the title, which both changed, is refused, showing Alice's
    # value; his input is kept.
    bob.locator(".pusherable-conflict__keep").click()
    bob.fill("#id_title", "Bob's title")
    bob.click("input[name=_save]")
    expect(bob.locator(".errornote")).to_be_visible()
    expect(bob.locator(".errorlist.nonfield")).to_contain_text(
        "alice also changed Title since you opened this form, so nothing was saved yet."
    )
    expect(bob.locator(".field-title")).to_contain_text(
        "alice changed this to “Alice's title” since you opened the form."
    )
    expect(bob.locator("#id_title")).to_have_value("Bob's title")
    article.refresh_from_db()
    assert article.title == "Alice's title"

    # Saving again keeps his title.
    bob.click("input[name=_save]")
    bob.wait_for_url(re.compile(r"/admin/testapp/article/$"))
    article.refresh_from_db()
    assert article.title == "Bob's title"


def test_list_pages_show_a_new_object_without_a_reload(login, article):
    from playwright.sync_api import expect

    alice = login("alice")
    record_subscriptions(alice)
    alice.goto("/articles/")
    wait_until_subscribed(alice, "private-article")
    admin_list = alice.context.new_page()
    record_subscriptions(admin_list)
    admin_list.goto("/admin/testapp/article/")
    wait_until_subscribed(admin_list, "private-article")
    for page in (alice, admin_list):
        page.evaluate("window.notReloaded = true")

    bob = login("bob")
    bob.goto("/admin/testapp/article/add/")
    bob.fill("#id_title", "Breaking news")
    bob.click("input[name=_save]")
    bob.wait_for_url(re.compile(r"/admin/testapp/article/$"))

    # The project's own list page, through pusherable_notify.
    expect(alice.locator("#articles")).to_contain_text("Breaking news", timeout=LIVE_TIMEOUT_MS)
    # The admin's change list, refreshed in place by admin.js.
    expect(admin_list.locator("#result_list")).to_contain_text(
        "Breaking news", timeout=LIVE_TIMEOUT_MS
    )
    expect(admin_list.locator(".pusherable-live-list")).to_contain_text(
        "Updated live: 1 added by bob."
    )
    expect(admin_list.locator("tr.pusherable-changed")).to_contain_text("Breaking news")
    for page in (alice, admin_list):
        assert page.evaluate("window.notReloaded") is True
