from pathlib import Path

import pytest
from django.core import checks
from django.core.checks import Error, Warning
from django.db import models
from django.test import override_settings
from django.test.utils import isolate_apps

from pusherable import checks as pusherable_checks
from pusherable.conf import DEFAULTS, settings


def test_defaults_are_read_when_unset():
    assert settings.PUSHERABLE_CHANNEL_TYPE == "presence"
    assert settings.PUSHERABLE_MAX_PAYLOAD_SIZE == 10_240


def test_project_settings_win():
    assert settings.PUSHER_KEY == "test-key"


def test_override_settings_reloads():
    with override_settings(PUSHERABLE_CHANNEL_TYPE="public"):
        assert settings.PUSHERABLE_CHANNEL_TYPE == "public"
    assert settings.PUSHERABLE_CHANNEL_TYPE == "presence"


def test_a_value_already_read_is_dropped_on_override():
    assert settings.PUSHERABLE_BATCH_SIZE == 10  # read, hence kept
    with override_settings(PUSHERABLE_BATCH_SIZE=3):
        assert settings.PUSHERABLE_BATCH_SIZE == 3
    assert settings.PUSHERABLE_BATCH_SIZE == 10


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="not a django-pusherable setting"):
        settings.PUSHERABLE_NOPE


def test_every_default_is_documented():
    text = Path("docs/reference/settings.rst").read_text(encoding="utf-8")
    missing = [name for name in DEFAULTS if f".. data:: {name}\n" not in text]
    assert missing == []


def test_pusher_client_options_for_self_hosted_server():
    options = settings.pusher_client_options()
    assert options["host"] == "127.0.0.1"
    assert options["port"] == 9
    assert options["ssl"] is False
    assert "cluster" not in options


@override_settings(PUSHER_HOST=None, PUSHER_PORT=None, PUSHER_CLUSTER="eu", PUSHER_SSL=True)
def test_pusher_client_options_for_hosted_pusher():
    options = settings.pusher_client_options()
    assert options["cluster"] == "eu"
    assert "host" not in options and "port" not in options
    import pusher

    client = pusher.Pusher(**options)
    assert client._pusher_client.host == "api-eu.pusher.com"


def run(check):
    return check(None)


def test_checks_pass_on_the_test_settings():
    reported = [m for m in checks.run_checks() if m.id.startswith("pusherable.")]
    assert [m for m in reported if not m.is_silenced()] == []


@override_settings(PUSHERABLE_CHANNEL_TYPE="secret")
def test_e001_invalid_channel_type():
    assert run(pusherable_checks.check_channel_type) == [
        Error(
            "PUSHERABLE_CHANNEL_TYPE is 'secret', which is not a channel type.",
            hint="Set it to one of 'private', 'presence', 'public'.",
            id="pusherable.E001",
        )
    ]


@override_settings(PUSHERABLE_MODEL_CHANNEL_TYPE="everyone")
def test_e001_invalid_model_channel_type():
    [message] = run(pusherable_checks.check_channel_type)
    assert message.id == "pusherable.E001"
    assert (
        message.msg == "PUSHERABLE_MODEL_CHANNEL_TYPE is 'everyone', which is not a channel type."
    )


@override_settings(PUSHERABLE_BACKEND="nowhere.Backend")
def test_e002_backend_does_not_import():
    [message] = run(pusherable_checks.check_backend)
    assert message.id == "pusherable.E002"
    assert "nowhere.Backend" in message.msg
    assert "pusherable.backends.pusher.Backend" in message.hint


@override_settings(PUSHERABLE_DELIVERY="later")
def test_e003_invalid_delivery_mode():
    [message] = run(pusherable_checks.check_delivery_mode)
    assert message.id == "pusherable.E003"


@override_settings(PUSHERABLE_BACKEND="pusherable.backends.pusher.Backend", PUSHER_SECRET=None)
def test_w001_missing_credentials():
    assert run(pusherable_checks.check_credentials) == [
        Warning(
            "The Pusher backend is enabled but PUSHER_SECRET is not set; "
            "no event will be delivered.",
            hint="Set PUSHER_APP_ID, PUSHER_KEY and PUSHER_SECRET (and PUSHER_HOST/PUSHER_PORT "
            "for a self-hosted server such as `manage.py pusherable_server`), or set "
            "PUSHERABLE_BACKEND to 'pusherable.backends.console.Backend' in development.",
            id="pusherable.W001",
        )
    ]


@override_settings(PUSHER_SECRET=None)
def test_w001_silent_for_other_backends():
    assert run(pusherable_checks.check_credentials) == []


def test_w002_models_sharing_a_name(monkeypatch):
    with isolate_apps("tests.testapp", "django.contrib.auth") as registry:

        class Group(models.Model):
            class Meta:
                app_label = "testapp"

        class Note(models.Model):
            class Meta:
                app_label = "auth"

        class GROUP(models.Model):
            class Meta:
                app_label = "auth"

        monkeypatch.setattr(pusherable_checks, "apps", registry)
        [message] = run(pusherable_checks.check_model_names)
        assert message.id == "pusherable.W002"
        assert "auth.GROUP" in message.msg and "testapp.Group" in message.msg
        assert "auth.Note" not in message.msg
        with override_settings(PUSHERABLE_CHANNEL_APP_LABEL=True):
            assert run(pusherable_checks.check_model_names) == []


def test_checks_are_documented():
    text = Path("docs/reference/checks.rst").read_text(encoding="utf-8")
    for code in ("E001", "E002", "E003", "E004", "E005", "W001", "W002", "W005"):
        assert f"pusherable.{code}" in text


@override_settings(
    PUSHERABLE_BACKEND="pusherable.backends.pusher.Backend",
    PUSHERABLE_BACKEND_OPTIONS={"senderz": 8},
)
def test_e004_unknown_backend_option():
    [message] = run(pusherable_checks.check_backend_options)
    assert message.id == "pusherable.E004"
    assert "senderz" in message.msg


@override_settings(
    PUSHERABLE_BACKEND="pusherable.backends.locmem.Backend",
    PUSHERABLE_BACKEND_OPTIONS={"senders": 8},
)
def test_e004_option_of_another_backend():
    [message] = run(pusherable_checks.check_backend_options)
    assert message.id == "pusherable.E004"
    assert "senders" in message.msg


@override_settings(
    PUSHERABLE_BACKEND="pusherable.backends.pusher.Backend",
    PUSHERABLE_BACKEND_OPTIONS={"senders": 8, "proxy": False},
)
def test_e004_silent_for_known_options():
    assert run(pusherable_checks.check_backend_options) == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PUSHERABLE_PRESENCE_SOURCE", "magic"),
        ("PUSHER_SSL", "false"),
        ("PUSHER_SSL", 1),
        ("PUSHERABLE_CHANNEL_APP_LABEL", "yes"),
        ("PUSHERABLE_PRESENCE_CACHE", "nowhere"),
        ("PUSHERABLE_HISTORY_CACHE", "nowhere"),
    ],
)
def test_e005_setting_outside_its_values(name, value):
    with override_settings(**{name: value}):
        [message] = run(pusherable_checks.check_setting_choices)
    assert message.id == "pusherable.E005"
    assert message.msg == f"{name} is {value!r}, which is not one of its values."
    assert message.hint.startswith("Set it to one of ")


def test_e005_silent_for_the_values_a_setting_takes():
    with override_settings(PUSHERABLE_PRESENCE_SOURCE="webhooks", PUSHER_SSL=False):
        assert run(pusherable_checks.check_setting_choices) == []
