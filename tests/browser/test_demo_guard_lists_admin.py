"""The newsroom demo in Chromium: the live article list, the stale-save guard, the admin.

Each test creates its own article, so the tests share one running demo (for
this module) and stay independent of each other and of the seeded data.
"""

from __future__ import annotations

import itertools
import re

import pytest

from .helpers import CONNECT_TIMEOUT_MS, HOME_URL, create_article, wait_until_live

pytestmark = pytest.mark.browser

# A live change reaches open pages through Django, the bundled server and
# pusher-js; this bounds the wait, it does not measure it.
EVENT_TIMEOUT_MS = 10_000

_numbers = itertools.count(1)


def unique_title(prefix: str) -> str:
    return f"{prefix} #{next(_numbers)}"


def wait_until_list_is_live(page) -> None:
    """Wait until the list page is subscribed to the model's channel."""
    page.wait_for_selector("#list-live[data-state=live]", timeout=CONNECT_TIMEOUT_MS)


def row(page, title: str):
    return page.locator("#article-rows tr", has_text=title)


def test_the_list_shows_new_and_deleted_articles_without_a_reload(login):
    from playwright.sync_api import expect

    alice = login("alice")
    wait_until_list_is_live(alice)
    alice.evaluate("window.notReloaded = true")
    # Carol is a reader: the model's channel refuses her, and her list still works.
    carol = login("carol")
    expect(carol.locator("#list-live")).to_have_attribute(
        "data-state", "refused", timeout=CONNECT_TIMEOUT_MS
    )
    expect(carol.locator("#list-live")).to_be_hidden()

    bob = login("bob")
    title = unique_title("Live list")
    path = create_article(bob, title)

    # The new article tops Alice's list, with Bob's name, and the news says who added it.
    expect(alice.locator("#article-rows tr").first).to_contain_text(
        title, timeout=EVENT_TIMEOUT_MS
    )
    new_row = row(alice, title)
    expect(new_row).to_contain_text("Science")
    expect(new_row).to_contain_text("Published")
    expect(new_row).to_contain_text("Bob")
    expect(new_row.locator("a")).to_have_attribute("href", path)
    expect(alice.locator("#list-news")).to_have_text(f"Bob added “{title}”.")

    bob.goto(path + "delete/")
    bob.click("#delete-form button[type=submit]")
    bob.wait_for_url(HOME_URL)
    expect(row(alice, title)).to_have_count(0, timeout=EVENT_TIMEOUT_MS)
    expect(alice.locator("#list-news")).to_have_text(f"Bob deleted “{title}”.")
    assert alice.evaluate("window.notReloaded") is True

    # Carol heard of neither.
    expect(row(carol, title)).to_have_count(0)
    expect(carol.locator("#list-news")).to_be_hidden()


def test_a_stale_save_refuses_only_the_conflicting_field_and_reverts_nothing(login):
    from playwright.sync_api import expect

    alice = login("alice")
    bob = login("bob")
    title = unique_title("Stale save")
    path = create_article(alice, title)

    bob.goto(path + "edit/")
    wait_until_live(bob)
    # The collision guard's snapshot is a hidden input, not a labelled field.
    expect(bob.locator("input[type=hidden][name=pusherable_version]")).to_have_count(1)
    expect(bob.locator("#article-form label")).to_have_count(5)
    bob.fill("#id_title", "Bob's title")
    bob.fill("#id_body", "Bob's body.")

    alice.goto(path + "edit/")
    wait_until_live(alice)
    alice.fill("#id_title", "Alice's title")
    alice.fill("#id_standfirst", "Alice's standfirst.")
    alice.click("#article-form button[type=submit]")
    alice.wait_for_url(re.compile(re.escape(path) + "$"))

    # Bob's open form says at once who changed what, once: the demo's notice,
    # from pusherable.js's pusherable:conflict event, not a second one of its own.
    notice = bob.locator("#changed-notice")
    expect(notice).to_be_visible(timeout=EVENT_TIMEOUT_MS)
    expect(notice).to_contain_text("Changed by Alice since you opened this form")
    expect(notice).to_contain_text(f"Title: “{title}” → “Alice's title”")
    expect(bob.locator(".pusherable-conflict")).to_have_count(0)
    expect(bob.locator("#id_title")).to_have_value("Bob's title")

    # He saves anyway: only the title, which both changed, is refused, showing
    # Alice's value; his body is kept, and so is her standfirst.
    bob.click("#article-form button[type=submit]")
    expect(bob.locator(".form-errors")).to_contain_text(
        "Alice also changed Title since you opened this form, so nothing was saved yet."
    )
    expect(bob.locator("[data-field-row=title]")).to_contain_text(
        "Alice changed this to “Alice's title” since you opened the form."
    )
    expect(bob.locator(".messages")).to_have_count(0)  # no "Article saved."
    expect(bob.locator("#id_title")).to_have_value("Bob's title")
    expect(bob.locator("#id_body")).to_have_value("Bob's body.")
    expect(bob.locator("#id_standfirst")).to_have_value("Alice's standfirst.")
    alice.reload()
    expect(alice.locator("h1[data-field=title]")).to_have_text("Alice's title")

    # Saving again keeps his title and body, and reverts nothing of Alice's.
    bob.click("#article-form button[type=submit]")
    bob.wait_for_url(re.compile(re.escape(path) + "$"))
    expect(bob.locator("h1[data-field=title]")).to_have_text("Bob's title")
    expect(bob.locator("[data-field=standfirst]")).to_have_text("Alice's standfirst.")
    expect(bob.locator("[data-field=body]")).to_contain_text("Bob's body.")
    expect(bob.locator(".messages")).to_contain_text("Article saved.")


def test_a_stale_save_of_other_fields_merges(login):
    from playwright.sync_api import expect

    alice = login("alice")
    bob = login("bob")
    title = unique_title("Disjoint")
    path = create_article(alice, title)

    bob.goto(path + "edit/")
    wait_until_live(bob)
    bob.fill("#id_body", "Bob's body.")

    alice.goto(path + "edit/")
    wait_until_live(alice)
    alice.fill("#id_title", "Alice's title")
    alice.click("#article-form button[type=submit]")
    alice.wait_for_url(re.compile(re.escape(path) + "$"))
    expect(bob.locator("#changed-notice")).to_be_visible(timeout=EVENT_TIMEOUT_MS)

    bob.click("#article-form button[type=submit]")
    bob.wait_for_url(re.compile(re.escape(path) + "$"))
    expect(bob.locator("h1[data-field=title]")).to_have_text("Alice's title")
    expect(bob.locator("[data-field=body]")).to_contain_text("Bob's body.")


def test_two_users_on_one_admin_change_form_see_each_other(login):
    from playwright.sync_api import expect

    alice = login("alice")
    bob = login("bob")
    path = create_article(alice, unique_title("Admin"))
    pk = path.strip("/").split("/")[-1]
    change_form = f"/admin/newsroom/article/{pk}/change/"

    alice.goto(change_form)
    bob.goto(change_form)
    expect(alice.locator(".pusherable-presence")).to_contain_text(
        "Bob is editing this", timeout=CONNECT_TIMEOUT_MS
    )
    expect(bob.locator(".pusherable-presence")).to_contain_text(
        "Alice is editing this", timeout=CONNECT_TIMEOUT_MS
    )
    expect(alice.locator(".pusherable-presence")).not_to_contain_text("Alice")

    # A save in the admin reaches the open change form, and the demo's own pages.
    reader = alice.context.new_page()
    reader.goto(path)
    wait_until_live(reader)
    bob.fill("#id_title", "Saved in the admin")
    bob.click("input[name=_save]")
    bob.wait_for_url(re.compile(r"/admin/newsroom/article/$"))
    notice = alice.locator(".pusherable-conflict")
    expect(notice).to_contain_text("Changed by Bob since you opened it.", timeout=EVENT_TIMEOUT_MS)
    expect(reader.locator("h1[data-field=title]")).to_have_text("Saved in the admin")
    expect(reader.locator("#activity")).to_contain_text("Bob changed title")
