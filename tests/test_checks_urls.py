"""pusherable.W003: private or presence channels without the authorization URLs."""

import pytest
from django.core.checks import Warning
from django.test import override_settings

from pusherable.checks import check_urls_included

W003 = Warning(
    "{} is {!r} but pusherable.urls is not included, so browsers cannot be authorized to "
    "listen, and pages with {{% pusherable_subscribe %}} fail to render.",
    hint='Add path("pusherable/", include("pusherable.urls")) to your root URLconf, '
    'or set PUSHERABLE_CHANNEL_TYPE = "public".',
    id="pusherable.W003",
)


@pytest.mark.parametrize("channel_type", ["private", "presence"])
def test_missing_urls_warn(channel_type):
    expected = Warning(
        W003.msg.format("PUSHERABLE_CHANNEL_TYPE", channel_type), hint=W003.hint, id=W003.id
    )
    with override_settings(
        ROOT_URLCONF="tests.urls_without_pusherable", PUSHERABLE_CHANNEL_TYPE=channel_type
    ):
        assert check_urls_included() == [expected]


def test_public_channels_need_no_urls():
    with override_settings(
        ROOT_URLCONF="tests.urls_without_pusherable", PUSHERABLE_CHANNEL_TYPE="public"
    ):
        assert check_urls_included() == []


def test_private_model_channels_need_the_urls_too():
    expected = Warning(
        W003.msg.format("PUSHERABLE_MODEL_CHANNEL_TYPE", "private"), hint=W003.hint, id=W003.id
    )
    with override_settings(
        ROOT_URLCONF="tests.urls_without_pusherable",
        PUSHERABLE_CHANNEL_TYPE="public",
        PUSHERABLE_MODEL_CHANNEL_TYPE="private",
    ):
        assert check_urls_included() == [expected]


def test_included_urls_pass():
    assert check_urls_included() == []


def test_broken_urlconf_is_left_to_django():
    with override_settings(ROOT_URLCONF="tests.no_such_urlconf"):
        assert check_urls_included() == []
