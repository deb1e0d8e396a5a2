"""The newsroom demo in Chromium: presence, live changes, deletion, authorization.

Each test creates its own article, so the tests share one running demo and
stay independent of each other and of the seeded data.
"""

from __future__ import annotations

import itertools
import re

import pytest

from .helpers import CONNECT_TIMEOUT_MS, HOME_URL, create_article, wait_until_live

pytestmark = pytest.mark.browser

# What the issue promises: the other user shows up in the presence bar within 2 s
# of both pages being subscribed.
PRESENCE_TIMEOUT_MS = 2_000
# A live change reaches open pages through Django, the bundled server and
# pusher-js; this bounds the wait, it does not measure it.
EVENT_TIMEOUT_MS = 10_000

_numbers = itertools.count(1)


def unique_title(prefix: str) -> str:
    return f"{prefix} #{next(_numbers)}"


def presence(page):
    return page.locator("#presence .presence-list")


def test_two_editors_see_each_other(login):
    from playwright.sync_api import expect

    alice = login("alice")
    bob = login("bob")
    path = create_article(bob, unique_title("Presence"))

    alice.goto(path)
    wait_until_live(alice)
    bob.goto(path + "edit/")
    wait_until_live(bob)

    expect(presence(alice)).to_contain_text(
        re.compile(r"Bob is editing", re.I), timeout=PRESENCE_TIMEOUT_MS
    )
    expect(presence(bob)).to_contain_text(
        re.compile(r"Alice is viewing", re.I), timeout=PRESENCE_TIMEOUT_MS
    )
    # The mixin's ``update`` event: Bob opened the form.
    expect(alice.locator("#activity")).to_contain_text("opened the edit form")
    # Nobody sees themselves in the bar.
    expect(presence(alice)).not_to_contain_text(re.compile("alice", re.I))
    expect(presence(bob)).not_to_contain_text(re.compile("bob", re.I))


def test_a_saved_change_reaches_open_pages_but_not_the_reader(login):
    from playwright.sync_api import expect

    alice = login("alice")
    bob = login("bob")
    carol = login("carol")
    old_title = unique_title("Live change")
    new_title = old_title + " (updated)"
    path = create_article(bob, old_title)

    # Carol is a reader: she may read the article but not join its channel.
    with carol.expect_response(
        lambda response: "/pusherable/auth/" in response.url, timeout=CONNECT_TIMEOUT_MS
    ) as carol_auth:
        carol.goto(path)
    assert carol_auth.value.status == 403
    expect(carol.locator("h1")).to_have_text(old_title)

    alice.goto(path)
    wait_until_live(alice)
    alice_form = alice.context.new_page()
    alice_form.goto(path + "edit/")
    wait_until_live(alice_form)
    # Alice has typed in her form; a remote save must not erase it.
    alice_form.fill("#id_standfirst", "Alice's unsaved standfirst.")
    for page in (alice, alice_form):
        page.evaluate("window.notReloaded = true")

    bob.goto(path + "edit/")
    wait_until_live(bob)
    bob.fill("#id_title", new_title)
    bob.fill("#id_standfirst", "Bob's new standfirst.")
    bob.click("#article-form button[type=submit]")
    bob.wait_for_url(re.compile(re.escape(path) + "$"))

    # Alice's open article shows the change without a reload.
    expect(alice.locator("h1[data-field=title]")).to_have_text(new_title, timeout=EVENT_TIMEOUT_MS)
    expect(alice.locator("[data-field=standfirst]")).to_have_text("Bob's new standfirst.")
    assert alice.evaluate("window.notReloaded") is True

    # Her open form takes the new title, keeps her own standfirst, and says who changed
    # what: the title and the standfirst, not the body (whose line breaks the browser
    # sent back as CRLF).
    notice = alice_form.locator("#changed-notice")
    expect(notice).to_be_visible(timeout=EVENT_TIMEOUT_MS)
    expect(notice).to_contain_text(re.compile(r"Changed by Bob", re.I))
    expect(notice).to_contain_text("Title and Standfirst")
    expect(notice).not_to_contain_text("Body")
    expect(alice_form.locator("#id_title")).to_have_value(new_title)
    expect(alice_form.locator("#id_standfirst")).to_have_value("Alice's unsaved standfirst.")
    # pusherable-forms.js filled in the title and kept her standfirst, showing Bob's.
    expect(alice_form.locator("[data-field-row=title] .pusherable-field-note")).to_have_text(
        "Bob changed Title"
    )
    standfirst_note = alice_form.locator("[data-field-row=standfirst] .pusherable-field-note")
    expect(standfirst_note).to_contain_text("Bob changed this to “Bob's new standfirst.”")
    expect(standfirst_note.get_by_role("button", name="Use theirs")).to_be_visible()
    assert alice_form.evaluate("window.notReloaded") is True

    # Bob's own page shows his change, and no "changed by someone else" notice.
    expect(bob.locator("h1[data-field=title]")).to_have_text(new_title)
    expect(bob.locator("#changed-notice")).to_be_hidden()
    expect(bob.locator("#deleted-banner")).to_be_hidden()

    # Carol heard nothing: her page still shows the old title. Alice's pages have
    # had the event already, and the server sends to every subscriber at once.
    carol.wait_for_timeout(500)
    expect(carol.locator("h1")).to_have_text(old_title)
    expect(carol.locator("#changed-notice")).to_be_hidden()
    expect(presence(carol)).to_be_empty()
    expect(presence(alice)).not_to_contain_text(re.compile("carol", re.I))


def test_a_deletion_shows_a_banner(login):
    from playwright.sync_api import expect

    alice = login("alice")
    bob = login("bob")
    path = create_article(bob, unique_title("Deleted"))

    alice.goto(path + "edit/")
    wait_until_live(alice)
    bob.goto(path + "delete/")
    wait_until_live(bob)
    bob.click("#delete-form button[type=submit]")
    bob.wait_for_url(HOME_URL)

    banner = alice.locator("#deleted-banner")
    expect(banner).to_be_visible(timeout=EVENT_TIMEOUT_MS)
    expect(banner).to_contain_text(re.compile(r"Bob deleted this article", re.I))
    # The form is locked: saving would only fail.
    expect(alice.locator("#article-form button[type=submit]")).to_be_disabled()
