"""Memory goes back to the system after a crowd of connections left."""

from __future__ import annotations

import platform
import sys

import pytest

from pusherable.server.memory import MemoryReleaser, malloc_trim


def test_trims_once_after_a_large_drop_only() -> None:
    calls: list[int] = []

    def trim(pad: int) -> int:
        calls.append(pad)
        return 1

    releaser = MemoryReleaser(min_drop=500, trim=trim)
    for count in range(0, 2001, 100):
        assert not releaser.observe(count)
    assert not releaser.observe(1500)  # fell by 500 but not by half
    assert releaser.observe(900)
    assert calls == [0]
    assert not releaser.observe(500)  # measured from the new low: 400 fewer
    assert releaser.observe(0)  # 900 fewer than the last trim, and under half
    assert calls == [0, 0]
    assert releaser.trims == len(calls)


def test_small_servers_never_trim() -> None:
    releaser = MemoryReleaser(min_drop=500, trim=lambda pad: 1)
    for count in (0, 300, 0, 499, 0):
        assert not releaser.observe(count)


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="malloc_trim is a glibc function",
)
def test_glibc_malloc_trim_is_found() -> None:
    assert malloc_trim is not None
    assert malloc_trim(0) in (0, 1)
