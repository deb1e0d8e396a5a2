"""pusherable.W005: presence, intents, history and locks in a cache only one process sees."""

from __future__ import annotations

import pytest
from django.core import checks
from django.test import override_settings

from pusherable.checks import check_shared_caches

LOCMEM = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
DUMMY = {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}
FILES = {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": "/x"}
DATABASE = {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "cache"}
REDIS = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://x"}


def ids(caches: dict, **settings) -> list[tuple[str, str]]:
    with override_settings(CACHES=caches, DEBUG=False, **settings):
        return [(m.id, m.msg.split(" ", 1)[0]) for m in check_shared_caches(None)]


def test_a_per_process_cache_warns_for_each_use():
    assert ids({"default": LOCMEM}) == [
        ("pusherable.W005", "PUSHERABLE_PRESENCE_CACHE"),
        ("pusherable.W005", "PUSHERABLE_HISTORY_CACHE"),
        ("pusherable.W005", "PUSHERABLE_LOCK_CACHE"),
    ]
    assert ids({"default": FILES, "history": DUMMY}, PUSHERABLE_HISTORY_CACHE="history") == [
        ("pusherable.W005", "PUSHERABLE_HISTORY_CACHE")
    ]


@pytest.mark.parametrize("shared", [FILES, DATABASE, REDIS])
def test_a_shared_cache_is_quiet(shared):
    assert ids({"default": shared}) == []


def test_the_warning_names_the_cache_and_hints_at_the_fix():
    with override_settings(CACHES={"default": LOCMEM}, DEBUG=False):
        message = check_shared_caches(None)[0]
    assert isinstance(message, checks.Warning)
    assert "'default' (LocMemCache)" in message.msg
    assert "several Django processes" in message.msg
    assert "SILENCED_SYSTEM_CHECKS" in message.hint
    assert "Redis" in message.hint


def test_debug_and_silencing_keep_it_quiet():
    with override_settings(CACHES={"default": LOCMEM}, DEBUG=True):
        assert check_shared_caches(None) == []
    # The test settings silence it: the suite is one process.
    reported = [m for m in checks.run_checks() if m.id == "pusherable.W005"]
    assert reported
    assert all(m.is_silenced() for m in reported)
