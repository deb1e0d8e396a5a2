import pytest
from django.test import override_settings
from hypothesis import given
from hypothesis import strategies as st

from pusherable.channels import (
    MAX_CHANNEL_NAME_LENGTH,
    channel_for,
    channel_for_model,
    decode_pk,
    encode_pk,
    parse_channel,
)
from pusherable.exceptions import (
    ChannelError,
    ChannelNameTooLong,
    ConfigurationError,
    InvalidChannelName,
    UnknownChannelModel,
)
from tests.testapp.models import Article, Document, Ticket

CHANNEL_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=@,.;")


def test_default_is_presence_model_pk():
    # One presence channel per object carries its events and who is here.
    assert channel_for(Article(pk=42)) == "presence-article_42"


@pytest.mark.parametrize(
    ("channel_type", "expected"),
    [
        ("public", "article_42"),
        ("private", "private-article_42"),
        ("presence", "presence-article_42"),
    ],
)
def test_prefix_follows_channel_type(channel_type, expected):
    with override_settings(PUSHERABLE_CHANNEL_TYPE=channel_type):
        assert channel_for(Article(pk=42)) == expected
    assert channel_for(Article(pk=42), channel_type) == expected


def test_public_is_exactly_the_original_name():
    with override_settings(PUSHERABLE_CHANNEL_TYPE="public"):
        assert channel_for(Article(pk=7)) == "article_7"


def test_unknown_channel_type_is_a_configuration_error():
    with override_settings(PUSHERABLE_CHANNEL_TYPE="secret"), pytest.raises(ConfigurationError):
        channel_for(Article(pk=1))


def test_unsaved_object_has_no_channel():
    with pytest.raises(ChannelError, match="no primary key"):
        channel_for(Article())


def test_app_label_setting():
    with override_settings(PUSHERABLE_CHANNEL_APP_LABEL=True):
        name = channel_for(Article(pk=3))
        assert name == "presence-testapp.article_3"
        parsed = parse_channel(name)
        assert parsed.model is Article
        assert parsed.pk == "3"


def test_model_channel():
    # Private while objects are presence: see test_model_channel_type_follows_the_settings.
    assert channel_for_model(Article) == "private-article"
    parsed = parse_channel("private-article")
    assert parsed.model is Article
    assert parsed.pk is None
    assert parsed.is_model_channel


@pytest.mark.parametrize("name", ["private-article_42", "presence-article_42", "article_42"])
def test_parse_round_trip(name):
    parsed = parse_channel(name)
    assert parsed.model is Article
    assert parsed.pk == "42"
    assert parsed.name == name


def test_parse_types():
    assert parse_channel("presence-article_1").type == "presence"
    assert parse_channel("private-article_1").type == "private"
    assert parse_channel("article_1").type == "public"


@pytest.mark.parametrize(
    "pk",
    [
        "a b",
        "a/b",
        "with:colon",
        "ümlaut",
        "x=y",
        "under_score",
        "emoji-🙂",
        "%41",
        "=41",
        "tab\tq",
    ],
)
def test_unsafe_pk_is_encoded_reversibly(pk):
    name = channel_for(Document(pk=pk))
    assert set(name) <= CHANNEL_CHARS
    parsed = parse_channel(name)
    assert parsed.model is Document
    assert parsed.pk == pk


def test_uuid_pk_needs_no_encoding():
    ticket = Ticket()
    assert channel_for(ticket) == f"presence-ticket_{ticket.pk}"
    assert parse_channel(channel_for(ticket)).pk == str(ticket.pk)


@given(st.text(min_size=1, max_size=30))
def test_encode_decode_property(text):
    encoded = encode_pk(text)
    assert set(encoded) <= CHANNEL_CHARS
    assert decode_pk(encoded) == text


@pytest.mark.parametrize("bad", ["=4", "=ZZ", "=41", "a=", "=C3"])
def test_malformed_or_non_canonical_escapes_are_refused(bad):
    with pytest.raises(InvalidChannelName):
        decode_pk(bad)


def test_too_long_name_is_a_clear_error():
    with pytest.raises(ChannelNameTooLong, match="Pusher allows"):
        channel_for(Document(pk="x" * MAX_CHANNEL_NAME_LENGTH))


def test_longest_allowed_name_fits():
    pk = "x" * (MAX_CHANNEL_NAME_LENGTH - len("presence-document_"))
    assert len(channel_for(Document(pk=pk))) == MAX_CHANNEL_NAME_LENGTH


@pytest.mark.parametrize(
    "name",
    ["", "private-", "bad name", "private-article 1", "a" * 300, "private-article_1#x", None, 42],
)
def test_invalid_names(name):
    with pytest.raises(ChannelError):
        parse_channel(name)


@pytest.mark.parametrize(
    "name",
    [
        "private-nosuchmodel_1",
        "private-encrypted-article_1",
        "private-cache-article_1",
        "private-_1",
    ],
)
def test_unknown_models(name):
    with pytest.raises(UnknownChannelModel):
        parse_channel(name)


def test_a_changed_setting_is_seen_by_the_next_name():
    # The settings-only part of a name is kept between calls; a change must reach it.
    assert channel_for(Article(pk=5)) == "presence-article_5"
    with override_settings(PUSHERABLE_CHANNEL_APP_LABEL=True, PUSHERABLE_CHANNEL_TYPE="private"):
        assert channel_for(Article(pk=5)) == "private-testapp.article_5"
    assert channel_for(Article(pk=5)) == "presence-article_5"
    assert channel_for(Ticket(pk="00000000-0000-0000-0000-000000000001")) == (
        "presence-ticket_00000000-0000-0000-0000-000000000001"
    )


@pytest.mark.parametrize(
    ("object_type", "model_type", "expected"),
    [
        ("presence", None, "private-article"),
        ("private", None, "private-article"),
        ("public", None, "article"),
        ("presence", "presence", "presence-article"),
        ("private", "public", "article"),
    ],
)
def test_model_channel_type_follows_the_settings(object_type, model_type, expected):
    with override_settings(
        PUSHERABLE_CHANNEL_TYPE=object_type, PUSHERABLE_MODEL_CHANNEL_TYPE=model_type
    ):
        assert channel_for_model(Article) == expected
        assert channel_for_model(Article, "presence") == "presence-article"
