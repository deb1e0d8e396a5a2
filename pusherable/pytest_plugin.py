"""pytest plugin of django-pusherable, registered through the ``pytest11`` entry point.

It provides the ``pusherable_outbox`` fixture::

    def test_view(client, pusherable_outbox, django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=True):
            client.post("/articles/1/edit/", {"title": "New"})
        assert pusherable_outbox.names == ["updated"]

This module is imported by pytest before Django is configured (in every project
that has django-pusherable installed), so it imports nothing from Django or
from the rest of the package at import time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .testing import Outbox

__all__ = ["pusherable_outbox"]


@pytest.fixture
def pusherable_outbox() -> Iterator[Outbox]:
    """Switch to the locmem backend, empty the outbox, and yield it.

    The previous backend comes back and the outbox is emptied after the test.
    """
    from .delivery import set_backend
    from .testing import outbox, use_locmem_backend

    previous = use_locmem_backend()
    outbox.clear()
    try:
        yield outbox
    finally:
        set_backend(previous)
        outbox.clear()
