"""Fixtures shared by the whole test suite."""

import pytest

from pusherable.testing import outbox


@pytest.fixture(autouse=True)
def _empty_pusherable_outbox():
    """Every test starts and ends with an empty outbox, like Django's mail.outbox."""
    outbox.clear()
    yield
    outbox.clear()
