"""Every event of every mixin, through real views and the test client."""

import logging
import uuid

import pytest
from django.test import RequestFactory, override_settings
from django.urls import reverse

from pusherable.backends.base import BaseBackend
from pusherable.delivery import set_backend
from pusherable.mixins import PusherMixin
from pusherable.payload import serialize_object
from pusherable.testing import outbox
from tests.article_forms import form_data
from tests.testapp import views
from tests.testapp.models import Account, Article, Document, EmailUser, Tag, Ticket


def names():
    return [event.name for event in outbox]


# -- detail --------------------------------------------------------------------------


def test_detail_sends_view_with_the_full_payload(client, article, alice, commit):
    client.force_login(alice)
    with commit():
        response = client.get(reverse("article-detail", args=[article.pk]))
    assert response.status_code == 200
    [event] = outbox
    assert event.channels == [f"presence-article_{article.pk}"]
    assert event.name == "view"
    assert event.socket_id is None
    assert event.data == {
        "event": "view",
        "model": "testapp.article",
        "pk": article.pk,
        "object": serialize_object(article),
        "user": "alice",
        "user_id": str(alice.pk),
        "user_name": "alice",
    }


def test_anonymous_user_is_null(client, article, commit):
    with commit():
        client.get(reverse("article-detail", args=[article.pk]))
    [event] = outbox
    assert event.data["user"] is None
    assert event.data["user_id"] is None


def test_custom_user_model_without_username(article, commit):
    user = EmailUser.objects.create(email="carol@example.com")
    request = RequestFactory().get("/")
    request.user = user
    with commit():
        response = views.ArticleDetailView.as_view()(request, pk=article.pk)
        response.render()
    assert response.status_code == 200
    [event] = outbox
    assert event.data["user"] == "carol@example.com"
    assert event.data["user_id"] == str(user.pk)


def test_nothing_is_sent_before_the_commit(client, article, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client.get(reverse("article-detail", args=[article.pk]))
    assert outbox == []
    [callback] = callbacks
    callback()
    assert names() == ["view"]


def test_missing_object_sends_nothing(client, db, commit):
    with commit():
        response = client.get(reverse("article-detail", args=[999]))
    assert response.status_code == 404
    assert outbox == []


# -- update --------------------------------------------------------------------------


def test_update_form_get_sends_update(client, article, commit):
    with commit():
        response = client.get(reverse("article-update", args=[article.pk]))
    assert response.status_code == 200
    [event] = outbox
    assert event.name == "update"
    assert event.data["event"] == "update"
    assert "changed" not in event.data


def test_invalid_post_rerenders_and_sends_update(client, article, commit):
    with commit():
        response = client.post(
            reverse("article-update", args=[article.pk]), form_data(article, title="")
        )
    assert response.status_code == 200
    assert response.context["form"].errors["title"]
    assert names() == ["update"]
    assert Article.objects.get(pk=article.pk).title == "Hello"


def test_valid_post_sends_updated_with_the_changes(client, article, alice, commit):
    client.force_login(alice)
    new_tag = Tag.objects.create(name="tech")
    with commit():
        response = client.post(
            reverse("article-update", args=[article.pk]),
            form_data(article, title="New title", tags=[new_tag.pk]),
        )
    assert response.status_code == 302
    [event] = outbox
    assert event.name == "updated"
    assert event.channels == [f"presence-article_{article.pk}", "private-article"]
    assert event.data["changed"] == {"title": "New title", "tags": [new_tag.pk]}
    assert event.data["object"]["title"] == "New title"
    assert event.data["object"]["tags"] == [new_tag.pk]
    assert event.data["user"] == "alice"


def test_post_without_changes_sends_nothing(client, article, commit):
    with commit():
        response = client.post(reverse("article-update", args=[article.pk]), form_data(article))
    assert response.status_code == 302
    assert outbox == []


def test_line_endings_alone_are_no_change(client, article, commit):
    """Browsers send a textarea's line breaks as CRLF: an untouched text is unchanged."""
    Article.objects.filter(pk=article.pk).update(body="First.\n\nSecond.")
    article.refresh_from_db()
    url = reverse("article-update", args=[article.pk])
    with commit():
        response = client.post(url, form_data(article, body="First.\r\n\r\nSecond."))
    assert response.status_code == 302
    assert outbox == []

    with commit():
        client.post(url, form_data(article, body="First.\r\n\r\nSecond.", title="New title"))
    [event] = outbox
    assert event.data["changed"] == {"title": "New title"}


def test_a_real_change_in_a_multi_line_text_is_reported(client, article, commit):
    Article.objects.filter(pk=article.pk).update(body="First.\nSecond.")
    article.refresh_from_db()
    with commit():
        client.post(
            reverse("article-update", args=[article.pk]),
            form_data(article, body="First.\r\nSecond, longer."),
        )
    [event] = outbox
    assert list(event.data["changed"]) == ["body"]


def test_updated_waits_for_the_commit(client, article, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client.post(
            reverse("article-update", args=[article.pk]), form_data(article, title="Later")
        )
    assert outbox == []
    for callback in callbacks:
        callback()
    assert names() == ["updated"]


def test_updated_with_prefetched_tags_reports_the_new_tags(client, article, commit):
    tags = [Tag.objects.create(name=name) for name in ("a", "b")]
    with commit():
        client.post(
            reverse("article-update-prefetched", args=[article.pk]),
            form_data(article, tags=[tag.pk for tag in tags]),
        )
    [event] = outbox
    assert sorted(event.data["changed"]["tags"]) == sorted(tag.pk for tag in tags)


def test_updated_never_reveals_a_sensitive_field(client, article, commit):
    with override_settings(PUSHERABLE_SENSITIVE_FIELDS=("body",)), commit():
        client.post(
            reverse("article-update", args=[article.pk]),
            form_data(article, title="T2", body="secret body"),
        )
    [event] = outbox
    assert event.data["changed"] == {"title": "T2"}
    assert "body" not in event.data["object"]


# -- sender exclusion ----------------------------------------------------------------


def test_socket_id_from_header(client, article, commit):
    with commit():
        client.post(
            reverse("article-update", args=[article.pk]),
            form_data(article, title="X"),
            headers={"X-Socket-ID": "1234.5678"},
        )
    [event] = outbox
    assert event.socket_id == "1234.5678"


def test_socket_id_from_form_field(client, article, commit):
    with commit():
        client.post(
            reverse("article-update", args=[article.pk]),
            form_data(article, title="X", pusherable_socket_id="42.7"),
        )
    [event] = outbox
    assert event.socket_id == "42.7"


@override_settings(PUSHERABLE_SOCKET_ID_FIELD="sid")
def test_socket_id_field_name_is_a_setting(client, article, commit):
    with commit():
        client.post(
            reverse("article-update", args=[article.pk]),
            form_data(article, title="X", sid="42.8", pusherable_socket_id="1.1"),
        )
    [event] = outbox
    assert event.socket_id == "42.8"


@pytest.mark.parametrize("bad", ["abc", "1.2.3", "12", "1.2; DROP", "9" * 30 + ".1"])
def test_malformed_socket_ids_are_ignored(client, article, commit, bad):
    with commit():
        response = client.post(
            reverse("article-update", args=[article.pk]),
            form_data(article, title="X", pusherable_socket_id=bad),
            headers={"X-Socket-ID": bad},
        )
    assert response.status_code == 302
    [event] = outbox
    assert event.socket_id is None


def test_socket_id_on_render_events_from_header(client, article, commit):
    with commit():
        client.get(reverse("article-detail", args=[article.pk]), headers={"X-Socket-ID": "5.6"})
    assert outbox[0].socket_id == "5.6"


# -- create and delete ---------------------------------------------------------------


def test_create_form_sends_nothing_and_save_sends_created(client, db, alice, commit):
    client.force_login(alice)
    with commit():
        response = client.get(reverse("article-create"))
    assert response.status_code == 200
    assert outbox == []
    with commit():
        response = client.post(
            reverse("article-create"),
            {"title": "Fresh", "reference": str(uuid.uuid4()), "rating": "1", "metadata": "{}"},
            headers={"X-Socket-ID": "3.4"},
        )
    assert response.status_code == 302
    created = Article.objects.get(title="Fresh")
    [event] = outbox
    assert event.name == "created"
    assert event.channels == [f"presence-article_{created.pk}", "private-article"]
    assert event.socket_id == "3.4"
    assert event.data["pk"] == created.pk
    assert event.data["object"]["title"] == "Fresh"
    assert event.data["user"] == "alice"


def test_invalid_create_sends_nothing(client, db, commit):
    with commit():
        response = client.post(reverse("article-create"), {"title": ""})
    assert response.status_code == 200
    assert outbox == []


def test_delete_confirmation_sends_delete(client, article, commit):
    with commit():
        response = client.get(reverse("article-delete", args=[article.pk]))
    assert response.status_code == 200
    assert names() == ["delete"]


def test_delete_post_sends_deleted_with_the_snapshot(client, article, alice, commit):
    client.force_login(alice)
    pk = article.pk
    snapshot = serialize_object(article)
    with commit():
        response = client.post(reverse("article-delete", args=[pk]))
    assert response.status_code == 302
    assert not Article.objects.filter(pk=pk).exists()
    [event] = outbox
    assert event.name == "deleted"
    assert event.channels == [f"presence-article_{pk}", "private-article"]
    assert event.data["pk"] == pk
    assert event.data["object"] == snapshot
    assert event.data["object"]["tags"]  # read before the relations were deleted
    assert event.data["user"] == "alice"


def test_deleted_waits_for_the_commit(client, article, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client.post(reverse("article-delete", args=[article.pk]))
    assert outbox == []
    for callback in callbacks:
        callback()
    assert names() == ["deleted"]


def test_http_delete_method_sends_deleted(client, article, commit):
    pk = article.pk
    with commit():
        response = client.delete(reverse("article-delete", args=[pk]))
    assert response.status_code == 302
    [event] = outbox
    assert event.name == "deleted"
    assert event.data["object"]["title"] == "Hello"


# -- PusherMixin and hooks -----------------------------------------------------------


def test_plain_pusher_mixin_with_custom_event_name(client, article, commit):
    with commit():
        client.get(reverse("article-preview", args=[article.pk]))
    [event] = outbox
    assert event.name == "preview"
    assert event.data["event"] == "preview"


def test_pusher_mixin_on_a_view_that_sets_object_itself(client, article, commit):
    with commit():
        response = client.get(reverse("article-stats", args=[article.pk]))
    assert response.status_code == 200
    assert names() == ["stats"]


def test_pusher_mixin_without_event_name_or_object_sends_nothing(rf, db, commit):
    from django.views.generic import TemplateView

    class Plain(PusherMixin, TemplateView):
        template_name = "testapp/article_list.html"

    class NoObject(PusherMixin, TemplateView):
        template_name = "testapp/article_list.html"
        pusher_event_name = "ping"

    with commit():
        Plain.as_view()(rf.get("/")).render()
        NoObject.as_view()(rf.get("/")).render()
    assert outbox == []


def test_include_fields(client, article, commit):
    with commit():
        client.get(reverse("article-summary", args=[article.pk]))
    assert set(outbox[0].data["object"]) == {"title", "tags"}


def test_exclude_fields(client, article, commit):
    with commit():
        client.get(reverse("article-without-body", args=[article.pk]))
    data = outbox[0].data["object"]
    assert "body" not in data
    assert "metadata" not in data
    assert "title" in data


def test_hooks_overridden_in_a_subclass(client, article, alice, commit):
    client.force_login(alice)
    url = reverse("article-custom", args=[article.pk])
    with commit():
        client.get(url)
    assert outbox == []  # should_send_pusher_event(): not live
    Article.objects.filter(pk=article.pk).update(is_live=True)
    with commit():
        client.get(url)
    [event] = outbox
    assert event.name == "opened"
    assert event.channels == [f"presence-article_{article.pk}", "private-newsroom"]
    assert event.data["headline"] == "HELLO"
    assert event.data["user"] is None
    assert event.socket_id == "1.1"


def test_update_hooks_channels_for_event_and_changed_fields(client, article, commit):
    url = reverse("article-update-newsroom", args=[article.pk])
    with commit():
        assert client.get(url).status_code == 200
        client.post(url, form_data(article, slug="only-the-slug"))
    assert outbox == []  # no render event, and a slug-only change is not reported
    article.refresh_from_db()
    with commit():
        client.post(url, form_data(article, title="Breaking"))
    [event] = outbox
    assert event.name == "updated"
    assert event.channels == [f"presence-article_{article.pk}", "private-article"]
    assert event.data["changed"] == {"title": "Breaking"}


def test_one_event_per_channel_and_name_per_request(client, article, commit):
    with commit():
        client.get(reverse("article-chatty", args=[article.pk]))
    assert names() == ["view"]


# -- sensitive data, keys, channel types ---------------------------------------------


def test_sensitive_fields_stay_out_of_view_events(client, db, commit):
    account = Account.objects.create(
        name="Shop", password="hash", secret_answer="x", stripe_api_key="k", access_token="t"
    )
    with commit():
        client.get(reverse("account-detail", args=[account.pk]))
    assert outbox[0].data["object"] == {"id": account.pk, "name": "Shop"}


def test_sensitive_field_sent_when_the_view_names_it(client, db, commit):
    account = Account.objects.create(name="Shop", password="hash", access_token="t")
    with commit():
        client.get(reverse("account-with-password", args=[account.pk]))
    assert outbox[0].data["object"] == {"name": "Shop", "password": "hash"}


def test_free_text_primary_key(client, db, commit):
    document = Document.objects.create(key="a b/c", content="x")
    with commit():
        response = client.get(reverse("document-detail", args=["a b/c"]))
    assert response.status_code == 200
    [event] = outbox
    assert event.channels == ["presence-document_a=20b=2Fc"]
    assert event.data["pk"] == document.pk


def test_uuid_primary_key_and_presence_channel(client, db, commit):
    ticket = Ticket.objects.create(subject="Help")
    with commit():
        client.get(reverse("ticket-detail", args=[ticket.pk]))
        client.get(reverse("ticket-presence", args=[ticket.pk]))
    first, second = outbox
    assert first.channels == [f"presence-ticket_{ticket.pk}"]
    assert first.data["pk"] == str(ticket.pk)
    assert second.channels == [f"presence-ticket_{ticket.pk}"]


@override_settings(PUSHERABLE_CHANNEL_TYPE="public")
def test_public_channel_is_the_original_name(client, article, commit):
    with commit():
        client.get(reverse("article-detail", args=[article.pk]))
    assert outbox[0].channels == [f"article_{article.pk}"]


# -- size guard and failures ---------------------------------------------------------


def test_oversized_multibyte_object_sends_a_truncated_event(client, article, commit, caplog):
    Article.objects.filter(pk=article.pk).update(body="é" * 6000)  # 12,000 bytes
    with commit(), caplog.at_level(logging.WARNING, logger="pusherable"):
        response = client.get(reverse("article-detail", args=[article.pk]))
    assert response.status_code == 200
    [event] = outbox
    assert event.data == {
        "event": "view",
        "model": "testapp.article",
        "pk": article.pk,
        "user": None,
        "user_id": None,
        "user_name": None,
        "truncated": True,
    }
    [record] = [r for r in caplog.records if r.name == "pusherable"]
    assert "testapp.article" in record.getMessage()


class ExplodingBackend(BaseBackend):
    def send_events(self, events):
        raise ConnectionError("Pusher is down")


@pytest.fixture
def exploding_backend():
    previous = set_backend(ExplodingBackend())
    yield
    set_backend(previous)


@pytest.mark.usefixtures("exploding_backend")
def test_a_failing_backend_never_breaks_a_page(client, article, commit, caplog):
    with commit(), caplog.at_level(logging.ERROR, logger="pusherable"):
        detail = client.get(reverse("article-detail", args=[article.pk]))
        update = client.post(
            reverse("article-update", args=[article.pk]), form_data(article, title="Still saved")
        )
        delete = client.post(reverse("article-delete", args=[article.pk]))
    assert (detail.status_code, update.status_code, delete.status_code) == (200, 302, 302)
    assert not Article.objects.filter(pk=article.pk).exists()
    assert any("Pusher is down" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


def test_a_failing_payload_hook_never_breaks_a_page(client, article, commit, caplog):
    with commit(), caplog.at_level(logging.ERROR, logger="pusherable"):
        response = client.get(reverse("article-broken", args=[article.pk]))
    assert response.status_code == 200
    assert outbox == []
    [record] = [r for r in caplog.records if r.name == "pusherable"]
    assert "'view'" in record.getMessage()
