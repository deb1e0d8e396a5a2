"""Payloads: object -> JSON-safe dict, sensitive fields, size guard, trigger_for()."""

import datetime
import json
import logging
import math
import uuid
from decimal import Decimal

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.forms.models import model_to_dict
from django.test import override_settings
from hypothesis import given
from hypothesis import strategies as st

import pusherable
from pusherable import payload as payload_module
from pusherable.delivery import trigger, trigger_for
from pusherable.events import Event
from pusherable.exceptions import ChannelError, ConfigurationError, PayloadError
from pusherable.payload import (
    build_payload,
    describe_user,
    encode_payload,
    is_sensitive_field,
    json_safe,
    limit_payload,
    limit_payload_size,
    payload_size,
    serialize_object,
)
from pusherable.testing import outbox
from tests.testapp.models import Account, Article, Attachment, EmailUser, Tag


@pytest.fixture
def article(db, django_user_model):
    author = django_user_model.objects.create_user("alice", password="pw")
    article = Article.objects.create(
        title="Hello",
        slug="hello",
        body="Body",
        author=author,
        price=Decimal("12.50"),
        reference=uuid.UUID("12345678-1234-5678-1234-567812345678"),
        published_on=datetime.date(2024, 5, 1),
        starts_at=datetime.time(9, 30),
        reading_time=datetime.timedelta(minutes=5),
        rating=4.5,
        is_live=True,
        metadata={"lang": "en", "scores": [1, 2.5], "nested": {"ok": True}},
        api_token="tok-123",
    )
    article.attachment.name = "attachments/notes.txt"
    tags = [Tag.objects.create(name=name) for name in ("news", "tech")]
    article.tags.set(tags)
    return article


# -- the object ---------------------------------------------------------------------


def test_every_field_type_is_json_safe(article):
    data = serialize_object(article)
    assert data == {
        "id": article.pk,
        "title": "Hello",
        "slug": "hello",
        "body": "Body",
        "author": article.author_id,
        "tags": sorted(article.tags.values_list("pk", flat=True)),
        "price": "12.50",
        "reference": "12345678-1234-5678-1234-567812345678",
        "published_on": "2024-05-01",
        "starts_at": "09:30:00",
        "reading_time": "P0DT00H05M00S",
        "rating": 4.5,
        "is_live": True,
        "metadata": {"lang": "en", "scores": [1, 2.5], "nested": {"ok": True}},
        "attachment": "/media/attachments/notes.txt",
        "cover": None,
    }
    # Plain JSON types only: strict JSON needs no encoder.
    json.dumps(data, allow_nan=False)


def test_same_values_as_model_to_dict_through_django_json_encoder(article):
    """The original's dumps/loads round trip, minus the fields it crashed on."""
    original = model_to_dict(article)
    ours = serialize_object(article)
    for name in ("tags", "attachment", "cover"):
        original.pop(name)
        ours.pop(name)
    original.pop("api_token")  # sensitive
    expected = json.loads(json.dumps(original, cls=DjangoJSONEncoder))
    assert ours == expected


def test_non_editable_fields_are_left_out_like_model_to_dict(article):
    assert "updated_at" not in serialize_object(article)


def test_a_non_editable_field_named_explicitly_is_included(article):
    article.refresh_from_db()
    data = serialize_object(article, fields=["title", "updated_at"])
    assert set(data) == {"title", "updated_at"}
    assert data["updated_at"] == json_safe(article.updated_at)
    assert data["updated_at"].endswith("Z")


def test_datetime_follows_django_json_encoder():
    moment = datetime.datetime(2024, 5, 1, 9, 30, 15, 123456, tzinfo=datetime.timezone.utc)
    assert json_safe(moment) == "2024-05-01T09:30:15.123Z"


def test_many_to_many_unsaved_object_is_empty_without_a_query(db, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert serialize_object(Article(title="draft"), fields=["tags"]) == {"tags": []}


def test_many_to_many_costs_one_query(article, django_assert_num_queries):
    article = Article.objects.get(pk=article.pk)
    with django_assert_num_queries(1):
        data = serialize_object(article)
    assert sorted(data["tags"]) == sorted(article.tags.values_list("pk", flat=True))


def test_many_to_many_keys_come_from_the_join_table_alone(article, django_assert_num_queries):
    # Integer keys, a join table made by Django, a plain manager: one query of the
    # join table, without the ORM's join to the related table.
    other = Article.objects.create(title="Other")
    other.tags.set([Tag.objects.create(name="unrelated")])
    article = Article.objects.get(pk=article.pk)
    with django_assert_num_queries(1) as context:
        data = serialize_object(article, fields=["tags"])
    (query,) = context.captured_queries
    assert "JOIN" not in query["sql"].upper()
    assert Article.tags.through._meta.db_table in query["sql"]
    assert sorted(data["tags"]) == sorted(article.tags.values_list("pk", flat=True))


def test_many_to_many_of_an_ordered_related_model_goes_through_the_orm(
    article, django_assert_num_queries, monkeypatch
):
    # The related manager orders by the related model's Meta.ordering, which the
    # join table alone cannot: the ORM's query is kept, in its order.
    payload_module._join_table_query.cache_clear()
    monkeypatch.setattr(Tag._meta, "ordering", ["-name"])
    try:
        article = Article.objects.get(pk=article.pk)
        with django_assert_num_queries(1) as context:
            data = serialize_object(article, fields=["tags"])
        assert "JOIN" in context.captured_queries[0]["sql"].upper()
        assert data["tags"] == list(article.tags.values_list("pk", flat=True))
        assert data["tags"] == [tag.pk for tag in Tag.objects.order_by("-name")]
    finally:
        payload_module._join_table_query.cache_clear()


def test_many_to_many_uses_prefetched_data(article, django_assert_num_queries):
    article = Article.objects.prefetch_related("tags").get(pk=article.pk)
    with django_assert_num_queries(0):
        data = serialize_object(article)
    assert sorted(data["tags"]) == sorted(tag.pk for tag in Tag.objects.all())


def test_empty_file_is_null_and_a_storage_without_urls_gives_the_name(db):
    attachment = Attachment(blob=b"\x00\xffdata")
    assert serialize_object(attachment)["file"] is None
    attachment.file.name = "private/report.pdf"
    data = serialize_object(attachment)
    assert data["file"] == "private/report.pdf"
    assert data["blob"] == "AP9kYXRh"  # base64


def test_json_field_values_are_walked_recursively():
    value = {
        "price": Decimal("1.10"),
        "when": datetime.date(2024, 1, 2),
        "ids": (uuid.UUID(int=1), {2, 2}),
        3: "int key",
    }
    assert json_safe(value) == {
        "price": "1.10",
        "when": "2024-01-02",
        "ids": ["00000000-0000-0000-0000-000000000001", [2]],
        "3": "int key",
    }


def test_non_finite_floats_become_null_as_in_javascript():
    assert json_safe(math.nan) is None
    assert json_safe(math.inf) is None
    assert json_safe([1.5, -math.inf]) == [1.5, None]


def test_choices_and_unknown_types():
    class Colour(models.TextChoices):
        RED = "red"

    class Size(models.IntegerChoices):
        BIG = 3

    assert type(json_safe(Colour.RED)) is str
    assert json_safe(Colour.RED) == "red"
    assert type(json_safe(Size.BIG)) is int

    class Odd:
        def __str__(self):
            return "odd"

    assert json_safe(Odd()) == "odd"


json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(),
    st.decimals(),
    st.uuids(),
    st.dates(),
    st.times(),
    st.timedeltas(),
    st.binary(),
)


json_values = st.recursive(
    json_leaves, lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner)
)


@given(json_values)
def test_json_safe_output_is_always_strict_json(value):
    json.dumps(json_safe(value), allow_nan=False)


# -- include / exclude / sensitive ---------------------------------------------------


def test_include_and_exclude(article):
    assert set(serialize_object(article, fields=["title", "tags"])) == {"title", "tags"}
    data = serialize_object(article, exclude=["body", "tags"])
    assert "body" not in data
    assert "tags" not in data
    assert "title" in data
    assert serialize_object(article, fields=["title", "body"], exclude=["body"]) == {
        "title": "Hello"
    }


def test_sensitive_fields_are_left_out_by_default(db):
    account = Account.objects.create(
        name="Shop", password="hash", secret_answer="x", stripe_api_key="k", access_token="t"
    )
    assert serialize_object(account) == {"id": account.pk, "name": "Shop"}


def test_sensitive_field_included_by_name(db):
    account = Account.objects.create(name="Shop", password="hash", access_token="t")
    assert serialize_object(account, fields=["name", "password"]) == {
        "name": "Shop",
        "password": "hash",
    }


def test_exclude_cannot_reveal_sensitive_fields(db):
    account = Account.objects.create(name="Shop", password="hash")
    assert "password" not in serialize_object(account, exclude=["name"])


@pytest.mark.parametrize(
    "name",
    ["password", "PASSWORD", "api_key", "stripe_API_KEY", "apikey", "access_token", "salt"],
)
def test_sensitive_names(name):
    assert is_sensitive_field(name)


@pytest.mark.parametrize("name", ["title", "body", "author", "tags", "keyboard"])
def test_ordinary_names(name):
    assert not is_sensitive_field(name)


@override_settings(PUSHERABLE_SENSITIVE_FIELDS=("Name",), PUSHERABLE_SENSITIVE_FIELD_PATTERN="")
def test_sensitive_settings_are_configurable(db):
    account = Account.objects.create(name="Shop", password="hash")
    assert serialize_object(account, fields=["id", "password", "name"]) == {
        "id": account.pk,
        "password": "hash",
        "name": "Shop",
    }
    assert serialize_object(account) == {
        "id": account.pk,
        "password": "hash",
        "secret_answer": "",
        "stripe_api_key": "",
        "access_token": "",
    }


@override_settings(PUSHERABLE_SENSITIVE_FIELD_PATTERN="(unclosed")
def test_invalid_pattern_is_a_clear_error():
    with pytest.raises(ConfigurationError, match="PUSHERABLE_SENSITIVE_FIELD_PATTERN"):
        is_sensitive_field("title")


# -- user and payload ----------------------------------------------------------------


def test_describe_user(db, django_user_model):
    user = django_user_model.objects.create_user("bob")
    assert describe_user(user) == ("bob", str(user.pk))
    assert describe_user(AnonymousUser()) == (None, None)
    assert describe_user(None) == (None, None)


def test_describe_user_without_username_field(db):
    user = EmailUser.objects.create(email="carol@example.com")
    assert not hasattr(user, "username")
    assert describe_user(user) == ("carol@example.com", str(user.pk))


def test_build_payload_shape(article):
    payload = build_payload(article, "view", user=article.author)
    assert payload == {
        "event": "view",
        "model": "testapp.article",
        "pk": article.pk,
        "object": serialize_object(article),
        "user": "alice",
        "user_id": str(article.author.pk),
        "user_name": "alice",
    }


def test_build_payload_changed_hides_what_object_hides(article):
    payload = build_payload(
        article, "updated", fields=["title", "body"], changed=["title", "api_token", "tags"]
    )
    assert payload["changed"] == {"title": "Hello"}


# -- size guard ----------------------------------------------------------------------


def test_payload_size_counts_compact_utf8_bytes():
    assert payload_size({"a": "é"}) == len('{"a":"é"}'.encode())  # 10, not 13 or 15
    assert payload_size({"a": [1, 2]}) == len('{"a":[1,2]}')


def test_small_payload_is_returned_unchanged():
    data = {"event": "view", "object": {"title": "x"}}
    assert limit_payload_size(data) is data


def test_limit_is_inclusive_and_multibyte_characters_count_in_bytes(caplog):
    data = {"event": "view", "model": "testapp.article", "pk": 7, "body": "€" * 100}
    size = payload_size(data)
    assert size > len(json.dumps(data, ensure_ascii=False, separators=(",", ":")))
    assert limit_payload_size(data, limit=size) is data
    with caplog.at_level(logging.WARNING, logger="pusherable"):
        small = limit_payload_size(data, limit=size - 1)
    assert small == {
        "event": "view",
        "model": "testapp.article",
        "pk": 7,
        "user": None,
        "user_id": None,
        "user_name": None,
        "truncated": True,
    }
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert "testapp.article" in message
    assert "pk=7" in message
    assert str(size) in message


def test_oversized_multibyte_payload_under_the_limit_in_characters(article, caplog):
    article.body = "é" * 6000  # 6,000 characters, 12,000 bytes
    payload = build_payload(article, "view", user=article.author)
    assert len(json.dumps(payload, ensure_ascii=False, separators=(",", ":"))) < 10_240
    small = limit_payload_size(payload)
    assert small["truncated"] is True
    assert small["pk"] == article.pk
    assert small["user"] == "alice"


@override_settings(PUSHERABLE_MAX_PAYLOAD_SIZE=None)
def test_guard_can_be_turned_off():
    data = {"blob": "x" * 50_000}
    assert limit_payload_size(data) is data


def test_unserializable_data_is_a_clear_error():
    with pytest.raises(PayloadError, match="JSON"):
        limit_payload_size({"thing": object()})


def test_limit_payload_returns_the_json_it_measured(caplog):
    data = {"event": "view", "pk": 7, "body": "€" * 10}
    same, text = limit_payload(data)
    assert same is data
    assert text == encode_payload(data) == '{"event":"view","pk":7,"body":"' + "€" * 10 + '"}'
    assert json.loads(text) == data
    with caplog.at_level(logging.WARNING, logger="pusherable"):
        small, small_text = limit_payload(data, limit=20)
    assert small["truncated"] is True
    assert json.loads(small_text) == small
    assert limit_payload(data, limit=0) == (data, None)  # guard off: nothing encoded


def test_payload_size_counts_a_lone_surrogate():
    assert payload_size({"a": "\ud800"}) == len('{"a":""}') + 3


def test_unserializable_data_is_a_clear_error_when_encoding():
    with pytest.raises(PayloadError, match="JSON"):
        encode_payload({"thing": object()})


def test_trigger_keeps_the_json_on_the_event(db):
    event = trigger("private-article_1", "e", {"at": datetime.date(2024, 1, 2)}, on_commit=False)
    assert event.encoded_data == '{"at":"2024-01-02"}'
    assert event == Event(["private-article_1"], "e", {"at": datetime.date(2024, 1, 2)})
    with override_settings(PUSHERABLE_MAX_PAYLOAD_SIZE=0):
        assert trigger("c", "e", {}, on_commit=False).encoded_data is None


def test_raw_trigger_gets_the_size_guard(db, django_capture_on_commit_callbacks, caplog):
    with (
        django_capture_on_commit_callbacks(execute=True),
        caplog.at_level(logging.WARNING, logger="pusherable"),
    ):
        event = trigger("private-article_1", "big", {"blob": "x" * 20_000})
    assert event.data == {
        "event": "big",
        "model": None,
        "pk": None,
        "user": None,
        "user_id": None,
        "user_name": None,
        "truncated": True,
    }
    assert [item.data for item in outbox] == [event.data]
    assert len(caplog.records) == 1


# -- trigger_for ---------------------------------------------------------------------


def test_trigger_for_sends_the_view_payload_after_commit(
    article, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        event = pusherable.trigger_for(
            article,
            "published",
            user=article.author,
            socket_id="12.34",
            fields=["title", "tags"],
            changed=["title"],
            data={"note": "front page"},
        )
    assert outbox == []
    assert len(callbacks) == 1
    callbacks[0]()
    [sent] = outbox
    assert sent.channels == [f"presence-article_{article.pk}"]
    assert sent.name == "published"
    assert sent.socket_id == "12.34"
    assert sent.data == event.data
    assert sent.data == {
        "event": "published",
        "model": "testapp.article",
        "pk": article.pk,
        "object": {"title": "Hello", "tags": serialize_object(article)["tags"]},
        "user": "alice",
        "user_id": str(article.author.pk),
        "user_name": "alice",
        "changed": {"title": "Hello"},
        "note": "front page",
    }


def test_trigger_for_rolled_back_sends_nothing(article, django_capture_on_commit_callbacks):
    class Rollback(Exception):
        pass

    def save_and_fail():
        with transaction.atomic():
            trigger_for(article, "updated")
            raise Rollback

    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(Rollback):
        save_and_fail()
    assert callbacks == []
    assert outbox == []


def test_trigger_for_without_commit_and_other_channel_type(article):
    trigger_for(article, "ping", channel_type="public", on_commit=False, socket_id="bad id")
    [sent] = outbox
    assert sent.channels == [f"article_{article.pk}"]
    assert sent.socket_id is None
    assert sent.data["user"] is None


def test_trigger_for_unsaved_object_is_a_clear_error(db):
    with pytest.raises(ChannelError, match="no primary key"):
        trigger_for(Article(title="draft"), "created")


@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=True, allow_infinity=True)
        | st.text()
        | st.dates()
        | st.decimals(allow_nan=False)
        | st.uuids(),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=5), children, max_size=4)
        ),
        max_leaves=12,
    )
)
def test_encoding_is_exactly_django_json_encoders(data):
    # encode_payload() takes a faster path than JSONEncoder.encode(); the text
    # (what the size limit counts and Pusher carries) must not differ by a byte.
    expected = json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":"))
    assert encode_payload(data) == expected


def test_circular_data_is_a_clear_error():
    data: dict = {"a": 1}
    data["self"] = data
    with pytest.raises(PayloadError, match="circular"):
        encode_payload(data)
    assert encode_payload({"a": 1}) == '{"a":1}'  # nothing left over from the failure
