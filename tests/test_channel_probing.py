"""One channel per object, and no way to probe which rows exist through the endpoints."""

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.test import override_settings

from pusherable import exposure
from pusherable.channels import channel_for
from tests.authz import client_for, make_world, post_form
from tests.testapp.models import Attachment

pytestmark = pytest.mark.django_db

SOCKET_ID = "1234.5678"
AUTH_URL = "/pusherable/auth/"
INTENT_URL = "/pusherable/intent/"


@pytest.fixture
def world():
    return make_world()


def authorize(user, channel, url=AUTH_URL, intent=None):
    data = {"socket_id": SOCKET_ID, "channel_name": channel, "intent": intent}
    return post_form(client_for(user), url, data)


def answer(response):
    return response.status_code, response.content


@pytest.mark.parametrize(
    "alias",
    ["presence-article_0{pk}", "presence-article_00{pk}", "presence-article_{pk}=20"],
)
def test_a_key_not_written_as_the_site_writes_it_is_refused(world, alias):
    editor = world.users["editor"]
    canonical = channel_for(world.article, "presence")
    assert authorize(editor, canonical).status_code == 200
    name = alias.format(pk=world.article.pk)
    response = authorize(editor, name)
    assert response.status_code == 400
    assert "not written the way this site writes it" in response.json()["error"]
    # Nor can an alias buy a rate-limit budget of its own on the intent endpoint.
    assert authorize(editor, name, INTENT_URL, intent="editing").status_code == 400


def test_uuid_keys_must_be_written_canonically(world):
    ticket = world.ticket
    viewer = world.users["viewer"]
    assert authorize(viewer, channel_for(ticket, "private")).status_code == 200
    upper = channel_for(ticket, "private").upper().replace("PRIVATE-TICKET_", "private-ticket_")
    assert authorize(viewer, upper).status_code == 400
    bare = "private-ticket_" + ticket.pk.hex
    assert authorize(viewer, bare).status_code == 400


def test_users_who_may_not_see_a_model_learn_nothing_about_its_rows(world):
    plain = world.users["plain"]  # no permission on articles
    existing = channel_for(world.article, "private")
    missing = f"private-article_{world.article.pk + 1000}"
    assert answer(authorize(plain, existing)) == answer(authorize(plain, missing))
    assert authorize(plain, missing).status_code == 403
    # Those who may see the model's rows are told that one is missing.
    assert authorize(world.users["viewer"], missing).status_code == 404


def test_models_nobody_exposed_cannot_be_asked_about(world):
    admin = world.users["admin"]  # a superuser: every permission
    session = SessionStore()
    session.create()
    known = f"private-session_{session.session_key}"
    unknown = "private-session_" + "x" * 32
    nothing = "private-nosuchmodel_1"
    assert authorize(admin, known).status_code == 404
    assert answer(authorize(admin, known))[0] == answer(authorize(admin, unknown))[0] == 404
    assert authorize(admin, known).json()["error"] == authorize(admin, known).json()["error"]
    assert authorize(admin, nothing).status_code == 404


def test_exposing_a_model_by_setting_or_code(world):
    attachment = Attachment.objects.create()
    channel = channel_for(attachment, "private")
    admin = world.users["admin"]
    assert not exposure.is_exposed(Attachment)
    assert authorize(admin, channel).status_code == 404
    with override_settings(PUSHERABLE_EXPOSED_MODELS=["testapp.Attachment"]):
        assert exposure.is_exposed(Attachment)
        assert authorize(admin, channel).status_code == 200
    exposure.expose(Attachment)
    try:
        assert authorize(admin, channel).status_code == 200
    finally:
        exposure._exposed.discard("testapp.attachment")


def test_views_and_admins_expose_their_models(client):
    client.get("/")  # loads the URLconf, and with it the views, as any first request does
    labels = exposure.exposed_labels()
    assert {"testapp.article", "testapp.document", "testapp.ticket"} <= labels
    assert "sessions.session" not in labels and "auth.user" not in labels


def test_the_tag_refuses_a_model_nobody_exposed_at_render():
    from django.template import Context, Template, TemplateSyntaxError

    attachment = Attachment.objects.create()
    template = Template("{% load pusherable_tags %}{% pusherable_subscribe 'updated' obj %}")
    with pytest.raises(TemplateSyntaxError, match="PUSHERABLE_EXPOSED_MODELS"):
        template.render(Context({"obj": attachment}))
    with override_settings(PUSHERABLE_EXPOSED_MODELS=["testapp.Attachment"]):
        assert "pusherable-subscription" in template.render(Context({"obj": attachment}))
