"""The test kit: outbox, assertions that show what was sent, capture, mixin, fixture."""

from pathlib import Path

import pytest
from django.db import transaction
from django.test import TestCase
from test_plus.test import TestCase as PlusTestCase

from pusherable import delivery, testing
from pusherable.backends.dummy import Backend as DummyBackend
from pusherable.backends.locmem import Backend as LocmemBackend
from pusherable.events import Event
from pusherable.testing import (
    ANY,
    PusherableTestMixin,
    assert_not_triggered,
    assert_triggered,
    capture_triggers,
)

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent


def send(*events):
    delivery.send(list(events), on_commit=False)


def sample():
    send(
        Event(
            ["private-article_1"], "view", {"user": "alice", "object": {"title": "A", "tags": [1]}}
        ),
        Event(
            ["private-article_1", "private-article_2"],
            "updated",
            {"changed": {"title": "B"}},
            "1.2",
        ),
    )


def test_assert_triggered_matches_channel_event_and_data_subset():
    sample()
    [match] = assert_triggered("private-article_1", "view", {"object": {"title": "A"}})
    assert match.data["user"] == "alice"
    assert_triggered("private-article_2", "updated", count=1)
    assert_triggered(event="updated", data={"changed": ANY}, socket_id="1.2")
    assert_triggered("private-article_1", count=2)
    assert_triggered(count=2)


def test_data_lists_must_be_equal():
    sample()
    with pytest.raises(AssertionError):
        assert_triggered(data={"object": {"tags": []}})


def test_failure_message_lists_what_was_sent():
    sample()
    with pytest.raises(AssertionError) as info:
        assert_triggered("private-article_1", "deleted")
    message = str(info.value)
    assert (
        "Expected at least one event matching channel='private-article_1', "
        "event='deleted', found 0." in message
    )
    assert "2 event(s) were triggered:" in message
    assert "1. 'view' on ['private-article_1']" in message
    assert (
        "2. 'updated' on ['private-article_1', 'private-article_2'] (socket_id='1.2')" in message
    )
    assert "'alice'" in message


def test_count_mismatch_fails():
    sample()
    with pytest.raises(AssertionError, match="exactly 2 event matching event='view', found 1"):
        assert_triggered(event="view", count=2)


def test_assert_triggered_with_nothing_sent_says_so():
    with pytest.raises(AssertionError, match=r"No event was triggered\."):
        assert_triggered("c")


def test_assert_not_triggered():
    sample()
    assert_not_triggered(event="deleted")
    assert_not_triggered("private-article_3")
    with pytest.raises(AssertionError, match="Expected no event matching event='view', found 1"):
        assert_not_triggered(event="view")
    testing.outbox.clear()
    assert_not_triggered()


def test_outbox_filter_and_names():
    sample()
    assert testing.outbox.names == ["view", "updated"]
    assert [e.name for e in testing.outbox.filter("private-article_2")] == ["updated"]


def test_capture_triggers_switches_to_locmem_and_restores():
    previous = delivery.set_backend(DummyBackend())
    try:
        with capture_triggers() as sent:
            assert isinstance(delivery.get_backend(), testing.BaseBackend)
            send(Event(["c"], "inside", {}))
        assert isinstance(delivery.get_backend(), DummyBackend)
        send(Event(["c"], "outside", {}))
    finally:
        delivery.set_backend(previous)
    assert [e.name for e in sent] == ["inside"]
    assert testing.outbox.names == ["inside"]
    assert_triggered("c", "inside", events=sent)


@pytest.mark.django_db
def test_capture_triggers_runs_on_commit_callbacks():
    # The test's transaction never commits; capture_triggers acts as if it did.
    with capture_triggers() as sent:
        delivery.trigger("c", "after-commit", {})
        assert sent == []
    assert [e.name for e in sent] == ["after-commit"]


@pytest.mark.django_db
def test_capture_triggers_without_on_commit():
    with capture_triggers(on_commit=False) as sent:
        delivery.trigger("c", "after-commit", {})
    assert sent == []


@pytest.mark.django_db(transaction=True)
def test_capture_triggers_leaves_rolled_back_events_out():
    with capture_triggers() as sent:
        try:
            with transaction.atomic():
                delivery.trigger("c", "rolled-back", {})
                raise ValueError
        except ValueError:
            pass
        delivery.trigger("c", "kept", {})
    assert [e.name for e in sent] == ["kept"]


def test_pytest_fixture_switches_to_locmem(pusherable_outbox):
    assert pusherable_outbox is testing.outbox
    assert isinstance(delivery.get_backend(), LocmemBackend)
    send(Event(["c"], "e", {}))
    assert pusherable_outbox.names == ["e"]


def test_plugin_loads_through_its_entry_point_without_django_configured(pytester, monkeypatch):
    # A project that has django-pusherable installed but no Django settings
    # (or other tests) must still be able to run pytest.
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    pytester.makepyfile(
        test_one=f"""
        import sys

        ROOT = {str(ROOT)!r}

        def test_plugin_loaded(request):
            plugin = sys.modules["pusherable.pytest_plugin"]
            assert plugin.__file__.startswith(ROOT)
            assert request.config.pluginmanager.is_registered(plugin)
            from django.conf import settings
            assert not settings.configured
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


class MixinTests(PusherableTestMixin, TestCase):
    def test_outbox_is_empty_and_locmem_is_used(self):
        assert self.pusherable_outbox == []
        delivery.trigger("c", "e", {"a": 1})  # waits for a commit that never comes
        self.assertNotTriggered()
        with self.captureTriggers() as sent:
            delivery.trigger("c", "e", {"a": 1})
        self.assertTriggered("c", "e", {"a": 1}, count=1, events=sent)
        assert isinstance(delivery.get_backend(), LocmemBackend)


class PlusMixinTests(PusherableTestMixin, PlusTestCase):
    def test_works_with_django_test_plus(self):
        with self.captureTriggers():
            delivery.trigger(["a", "b"], "updated", {"changed": {"x": 1}}, socket_id="3.4")
        self.assertTriggered("b", "updated", {"changed": {"x": 1}}, socket_id="3.4")
        with pytest.raises(AssertionError, match="1 event"):
            self.assertNotTriggered("a")
