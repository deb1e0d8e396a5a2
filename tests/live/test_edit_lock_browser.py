"""The edit lock in Chromium, with two and three users: asked for and handed over, taken
over with the permission, released when the holder's tab closes, and a save without
the lock refused whatever the page sends. Also in the admin."""

from __future__ import annotations

import time

import pytest

from .conftest import LIVE_TIMEOUT_MS
from .test_admin_browser import record_subscriptions, wait_until_subscribed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def article(users, django_user_model):
    from django.contrib.auth.models import Permission

    from tests.testapp.models import Article

    # carol may delete articles: the locked view lets her take the lock over.
    carol = django_user_model.objects.create_user("carol", password="live-pw", is_staff=True)
    carol.user_permissions.set(
        Permission.objects.filter(
            codename__in=["view_article", "change_article", "delete_article"]
        )
    )
    return Article.objects.create(title="Hello", body="Body")


def open_locked(page, obj, path: str | None = None) -> float:
    """Open the lock-mode form; return when the page joined the object's presence channel."""
    from pusherable.channels import channel_for

    record_subscriptions(page)
    opened = time.monotonic()
    page.goto(path or f"/articles/{obj.pk}/locked/")
    wait_until_subscribed(page, channel_for(obj, "presence"))
    return opened


def banner(page):
    return page.locator("[data-pusherable-lock]")


def test_ask_to_edit_and_hand_over(login, article):
    from playwright.sync_api import expect

    alice, bob = login("alice"), login("bob")
    open_locked(alice, article)
    open_locked(bob, article)
    expect(banner(alice)).to_contain_text("You are editing this")
    expect(banner(bob)).to_contain_text("alice is editing this, so it is read-only for you")
    expect(bob.locator("#id_title")).to_be_disabled()
    expect(bob.locator("[data-pusherable-lock-action=take]")).to_have_count(0)

    bob.click("[data-pusherable-lock-action=ask]")
    expect(banner(bob)).to_contain_text("You asked them to hand it over")
    expect(alice.locator("[data-pusherable-lock-asker]")).to_contain_text(
        "bob asks to edit", timeout=LIVE_TIMEOUT_MS
    )
    alice.fill("#id_body", "Alice's unsaved body")
    alice.click("[data-pusherable-lock-action=handover]")

    # Bob's page reloads with the form editable; Alice's says why hers is read-only.
    expect(bob.locator("#id_title")).to_be_enabled(timeout=LIVE_TIMEOUT_MS)
    expect(banner(bob)).to_contain_text("You are editing this")
    expect(banner(alice)).to_contain_text("bob has the edit lock now (you handed it over)")
    expect(alice.locator("#id_body")).to_have_js_property("readOnly", True)
    expect(alice.locator("#id_body")).to_have_value("Alice's unsaved body")

    bob.fill("#id_title", "Bob's title")
    bob.click("button[type=submit]")
    bob.wait_for_url("**/articles/")
    article.refresh_from_db()
    assert article.title == "Bob's title"


def test_the_lock_is_released_when_the_holder_closes_the_tab(login, article):
    from playwright.sync_api import expect

    alice, bob = login("alice"), login("bob")
    opened = open_locked(alice, article)
    open_locked(bob, article)
    expect(bob.locator("#id_title")).to_be_disabled()
    # A lock renewed within the last two seconds is never taken as abandoned (its
    # holder's page may not have joined yet): let that pass before Alice goes.
    time.sleep(max(0.0, opened + 2.5 - time.monotonic()))
    alice.context.close()

    # No webhooks here: Bob's page sees Alice leave (after the grace period), and the
    # server, asked through "Edit now", finds her gone from the presence channel.
    expect(banner(bob)).to_contain_text(
        "alice left. Nobody is editing this now.", timeout=LIVE_TIMEOUT_MS
    )
    bob.click("[data-pusherable-lock-action=edit]")
    expect(bob.locator("#id_title")).to_be_enabled(timeout=LIVE_TIMEOUT_MS)
    expect(banner(bob)).to_contain_text("You are editing this")


def test_a_save_without_the_lock_is_refused_and_a_take_over(login, article):
    from playwright.sync_api import expect

    from pusherable.channels import channel_for

    alice, bob, carol = login("alice"), login("bob"), login("carol")
    open_locked(alice, article)
    open_locked(bob, article)
    open_locked(carol, article)

    # Bob's page pretends the form is his: the server refuses the save all the same.
    bob.evaluate(
        """() => {
            for (const control of document.querySelectorAll('#edit-form [disabled]')) {
                control.disabled = false;
            }
        }"""
    )
    bob.fill("#id_title", "Bob's forced title")
    bob.click("button[type=submit]")
    expect(bob.locator("#edit-form")).to_contain_text(
        "Your save was refused: alice is editing this", timeout=LIVE_TIMEOUT_MS
    )
    wait_until_subscribed(bob, channel_for(article, "presence"))  # the refusal's new page
    article.refresh_from_db()
    assert article.title == "Hello"

    # Carol may take the lock over: Alice's page loses it at once.
    expect(bob.locator("[data-pusherable-lock-action=take]")).to_have_count(0)
    carol.click("[data-pusherable-lock-action=take]")
    expect(carol.locator("#id_title")).to_be_enabled(timeout=LIVE_TIMEOUT_MS)
    expect(banner(alice)).to_contain_text(
        "carol has the edit lock now (they took it over)", timeout=LIVE_TIMEOUT_MS
    )
    expect(banner(bob)).to_contain_text("carol is editing this", timeout=LIVE_TIMEOUT_MS)


def test_admin_lock_mode(login, users):
    from django.contrib.auth.models import Permission
    from playwright.sync_api import expect

    from tests.testapp.models import Ticket

    users["bob"].user_permissions.add(
        *Permission.objects.filter(codename__in=["view_ticket", "change_ticket"])
    )
    ticket = Ticket.objects.create(subject="Printer on fire")
    change = f"/admin/testapp/ticket/{ticket.pk}/change/"
    alice, bob = login("alice"), login("bob")
    open_locked(alice, ticket, change)
    open_locked(bob, ticket, change)
    expect(banner(bob)).to_contain_text("alice is editing this, so it is read-only for you")
    expect(bob.locator("input[name=subject]")).to_have_count(0)
    expect(bob.locator(".field-subject")).to_contain_text("Printer on fire")

    bob.click("[data-pusherable-lock-action=ask]")
    alice.click("[data-pusherable-lock-action=handover]", timeout=LIVE_TIMEOUT_MS)
    expect(bob.locator("input[name=subject]")).to_be_editable(timeout=LIVE_TIMEOUT_MS)
    bob.fill("input[name=subject]", "Fire out")
    bob.click("input[name=_save]")
    bob.wait_for_url("**/testapp/ticket/")
    ticket.refresh_from_db()
    assert ticket.subject == "Fire out"
