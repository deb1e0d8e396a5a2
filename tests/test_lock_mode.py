"""Lock mode in an edit view and in the admin: read-only forms and refused saves.

Every request is a plain form request, as a browser without JavaScript sends it:
the server enforces the lock whatever the browser does.
"""

import json
from html import unescape

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ImproperlyConfigured

from pusherable import locks
from pusherable.channels import channel_for
from tests.article_forms import form_data
from tests.html_forms import input_attrs, shown_form
from tests.testapp.models import Article, Ticket

pytestmark = [pytest.mark.urls("tests.guard_urls"), pytest.mark.usefixtures("empty_cache")]


def editor(django_user_model, name, *codenames):
    user = django_user_model.objects.create_user(name, password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


@pytest.fixture
def alice(db, django_user_model):
    return editor(django_user_model, "alice", "view_article", "change_article")


@pytest.fixture
def bob(db, django_user_model):
    return editor(django_user_model, "bob", "view_article", "change_article")


@pytest.fixture
def chief(db, django_user_model):
    return editor(django_user_model, "chief", "view_article", "change_article", "delete_article")


@pytest.fixture
def article(db):
    return Article.objects.create(title="Hello", body="Body")


def url(article):
    return f"/articles/{article.pk}/locked/"


def get_as(client, user, address):
    client.force_login(user)
    response = client.get(address)
    assert response.status_code == 200
    return response


def lock_state(response):
    html = response.content.decode()
    marker = 'data-pusherable-lock-state="'
    start = html.index(marker) + len(marker)
    return json.loads(unescape(html[start : html.index('"', start)]))


def test_first_editor_holds_the_lock_and_edits(client, alice, article):
    response = get_as(client, alice, url(article))
    assert lock_state(response)["mine"] is True
    assert "disabled" not in input_attrs(response.content.decode(), "title")
    assert "You are editing this article" in response.content.decode()
    assert locks.holds_lock(channel_for(article, "presence"), alice)


def test_the_others_get_a_read_only_form_naming_the_holder(client, alice, bob, article):
    get_as(client, alice, url(article))
    response = get_as(client, bob, url(article))
    html = response.content.decode()
    assert "disabled" in input_attrs(html, "title")
    assert "alice is editing this article, so it is read-only for you" in html
    state = lock_state(response)
    assert state["mine"] is False and state["holder"]["id"] == str(alice.pk)
    assert state["canTakeOver"] is False


def test_a_save_without_the_lock_is_refused(client, alice, bob, article):
    get_as(client, alice, url(article))
    client.force_login(bob)
    # Whatever the browser sends: a forged form with the fields enabled.
    response = client.post(url(article), form_data(article, title="Bob's"))
    assert response.status_code == 200
    assert "Your save was refused: alice is editing this" in unescape(response.content.decode())
    article.refresh_from_db()
    assert article.title == "Hello"


def test_the_holder_saves(client, alice, article):
    html = get_as(client, alice, url(article)).content.decode()
    response = client.post(url(article), shown_form(html, title="Alice's"))
    assert response.status_code == 302
    article.refresh_from_db()
    assert article.title == "Alice's"


def test_a_free_lock_is_taken_by_the_save(client, bob, article):
    client.force_login(bob)
    response = client.post(url(article), form_data(article, title="Bob's"))
    assert response.status_code == 302
    assert locks.holds_lock(channel_for(article, "presence"), bob)


def test_after_a_hand_over_the_new_holder_edits_and_saves(client, alice, bob, article):
    channel = channel_for(article, "presence")
    get_as(client, alice, url(article))
    get_as(client, bob, url(article))
    locks.ask(channel, bob)
    locks.hand_over(channel, alice, str(bob.pk))
    html = get_as(client, bob, url(article)).content.decode()
    assert "disabled" not in input_attrs(html, "title")
    response = client.post(url(article), shown_form(html, title="Bob's"))
    assert response.status_code == 302
    client.force_login(alice)
    refused = client.post(url(article), form_data(article, title="Alice's"))
    assert "Your save was refused: bob is editing this" in unescape(refused.content.decode())


def test_take_over_is_offered_to_those_with_the_permission(client, alice, chief, article):
    get_as(client, alice, url(article))
    assert lock_state(get_as(client, chief, url(article)))["canTakeOver"] is True


def test_merge_mode_is_the_default(client, alice, bob, article):
    get_as(client, alice, f"/articles/{article.pk}/edit/")
    html = get_as(client, bob, f"/articles/{article.pk}/edit/").content.decode()
    assert "disabled" not in input_attrs(html, "title")
    assert "data-pusherable-lock" not in html
    assert locks.get_lock(channel_for(article, "presence")) is None


def test_an_unknown_edit_mode_is_a_configuration_error(rf, alice, article):
    from tests.guard_urls import LockedArticleEdit

    view = LockedArticleEdit(pusher_edit_mode="exclusive")
    view.setup(rf.get("/"), pk=article.pk)
    view.object = article
    with pytest.raises(ImproperlyConfigured, match="pusher_edit_mode"):
        view.uses_pusher_lock()


# -- the admin ---------------------------------------------------------------------------


@pytest.fixture
def ticket(db):
    return Ticket.objects.create(subject="Printer on fire")


def admin_url(ticket):
    return f"/admin/testapp/ticket/{ticket.pk}/change/"


@pytest.fixture
def carol(db, django_user_model):
    return editor(django_user_model, "carol", "view_ticket", "change_ticket")


@pytest.fixture
def dave(db, django_user_model):
    return editor(django_user_model, "dave", "view_ticket", "change_ticket")


def test_admin_holder_gets_the_change_form(client, carol, ticket):
    html = get_as(client, carol, admin_url(ticket)).content.decode()
    assert 'name="subject"' in html and 'name="_save"' in html
    assert "You are editing this ticket" in html


def test_admin_others_get_a_read_only_change_form(client, carol, dave, ticket):
    get_as(client, carol, admin_url(ticket))
    response = get_as(client, dave, admin_url(ticket))
    html = response.content.decode()
    assert 'name="subject"' not in html and 'name="_save"' not in html
    assert "Printer on fire" in html
    assert "carol is editing this ticket, so it is read-only for you" in html
    assert response.context["pusherable_intent"] == "viewing"


def test_admin_save_without_the_lock_is_refused(client, carol, dave, ticket):
    get_as(client, carol, admin_url(ticket))
    client.force_login(dave)
    response = client.post(admin_url(ticket), {"subject": "Dave's", "_save": "Save"})
    assert response.status_code == 200
    assert "Your save was refused: carol is editing this" in unescape(response.content.decode())
    ticket.refresh_from_db()
    assert ticket.subject == "Printer on fire"


def test_admin_holder_saves(client, carol, ticket):
    get_as(client, carol, admin_url(ticket))
    response = client.post(admin_url(ticket), {"subject": "Fire out", "_save": "Save"})
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.subject == "Fire out"


def test_admin_history_page_takes_no_lock(client, carol, ticket):
    get_as(client, carol, f"/admin/testapp/ticket/{ticket.pk}/history/")
    assert locks.get_lock(channel_for(ticket, "presence")) is None
