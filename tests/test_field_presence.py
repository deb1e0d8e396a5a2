"""Who is editing which field: the signed field names and the field endpoint."""

import pytest
from django.test import override_settings

from pusherable import fields
from pusherable.channels import channel_for
from pusherable.exceptions import BadAuthorizationRequest
from pusherable.fields import FIELD_EVENT, read_field_names, sign_field_names
from pusherable.testing import outbox
from tests.authz import client_for, make_world, post_form
from tests.html_forms import input_attrs
from tests.testapp.models import Article

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]

SOCKET_ID = "42.17"
FIELD_URL = "/pusherable/field/"


@pytest.fixture
def world():
    return make_world()


@pytest.fixture
def channel(world):
    return channel_for(world.article, "presence")


def announce(user, channel, field, token):
    data = {"socket_id": SOCKET_ID, "channel_name": channel, "fields": token, "field": field}
    return post_form(client_for(user), FIELD_URL, data)


def test_token_names_the_fields_of_one_channel(channel):
    token = sign_field_names(channel, ["title", "body", "title"])
    assert read_field_names(token, channel) == {"title", "body"}
    with pytest.raises(BadAuthorizationRequest):
        read_field_names(token, "presence-article_999")
    with pytest.raises(BadAuthorizationRequest):
        read_field_names(token[:-2] + "xx", channel)
    with pytest.raises(BadAuthorizationRequest):
        read_field_names("", channel)


@pytest.mark.urls("tests.guard_urls")
def test_guarded_form_carries_its_signed_field_names(world, client):
    client.force_login(world.users["admin"])
    html = client.get(f"/articles/{world.article.pk}/edit/").content.decode()
    attrs = input_attrs(html, "pusherable_version")
    channel = channel_for(world.article, "presence")
    assert attrs[fields.FIELD_CHANNEL_ATTRIBUTE] == channel
    names = read_field_names(attrs[fields.FIELDS_ATTRIBUTE], channel)
    assert {"title", "body", "tags"} <= names
    assert "pusherable_version" not in names and "api_token" not in names


def test_focus_triggers_a_server_event_without_the_sender(world, channel):
    editor = world.users["editor"]
    token = sign_field_names(channel, ["title", "body"])
    response = announce(editor, channel, "body", token)
    assert response.status_code == 200, response.json()
    [event] = outbox
    assert (event.channels, event.name, event.socket_id) == ([channel], FIELD_EVENT, SOCKET_ID)
    assert event.data == {"user_id": str(editor.pk), "field": "body"}
    outbox.clear()
    assert announce(editor, channel, "", token).status_code == 200
    assert outbox[0].data == {"user_id": str(editor.pk), "field": None}


@pytest.mark.parametrize(
    ("field", "token_channel", "status"),
    [
        ("password", None, 400),  # not a field of the form
        ("<b>Bob</b>", None, 400),
        ("body", "presence-article_999", 400),  # a token of another object
        ("body", "forged", 400),
    ],
)
def test_forged_fields_are_refused(world, channel, field, token_channel, status):
    if token_channel == "forged":
        token = "eyJjIjoicHJlc2VuY2UtYXJ0aWNsZV8xIn0:forged:signature"
    else:
        token = sign_field_names(token_channel or channel, ["title", "body"])
    response = announce(world.users["editor"], channel, field, token)
    assert response.status_code == status
    assert outbox == []


def test_viewers_announce_no_field(world, channel):
    token = sign_field_names(channel, ["body"])
    assert announce(world.users["viewer"], channel, "body", token).status_code == 403
    assert announce(world.users["plain"], channel, "body", token).status_code == 403
    assert outbox == []


def test_only_on_presence_channels(world):
    private = channel_for(world.article, "private")
    token = sign_field_names(private, ["body"])
    assert announce(world.users["editor"], private, "body", token).status_code == 400


def test_socket_id_is_required(world, channel):
    token = sign_field_names(channel, ["body"])
    data = {"channel_name": channel, "fields": token, "field": "body"}
    assert post_form(client_for(world.users["editor"]), FIELD_URL, data).status_code == 400


@override_settings(PUSHERABLE_FIELD_RATE_LIMIT=(3, 60))
def test_rate_limited_per_user_and_channel(world, channel):
    token = sign_field_names(channel, ["title", "body"])
    codes = [announce(world.users["editor"], channel, "body", token).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert announce(world.users["admin"], channel, "body", token).status_code == 200
    assert len(outbox) == 4


def test_a_primary_key_without_a_channel_name_gives_no_field_presence(world):
    article = Article(pk=10**300, title="too long")
    assert fields.field_attributes(forms_with(["title"]), article) == {}


def forms_with(names):
    from django import forms as django_forms

    form = django_forms.Form()
    for name in names:
        form.fields[name] = django_forms.CharField()
    return form
