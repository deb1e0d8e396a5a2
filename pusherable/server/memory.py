"""Giving memory back to the operating system after a crowd of connections left.

After thousands of clients leave, the resident size stays near its peak for two
reasons: a closed connection's objects form reference cycles (tasks, requests,
protocols) that only a full collection of the cyclic garbage collector frees,
and it runs rarely; and glibc's allocator keeps freed heap pages for reuse.
:class:`MemoryReleaser` watches the number of open connections and, once it has
fallen well below its peak, runs a full collection and glibc's
``malloc_trim(0)`` (through :mod:`ctypes`). On other C libraries (musl, macOS)
only the collection runs.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import sys
from collections.abc import Callable

__all__ = ["MemoryReleaser", "malloc_trim"]

logger = logging.getLogger("pusherable.server")


def _find_malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    function.argtypes = [ctypes.c_size_t]
    function.restype = ctypes.c_int
    return function


#: glibc's ``malloc_trim``, or ``None`` where the C library has none.
malloc_trim = _find_malloc_trim()


class MemoryReleaser:
    """Collect and trim the heap once the connection count fell by *min_drop* and by half.

    Call :meth:`observe` periodically with the number of open connections. A full
    collection and a trim walk the whole heap (tens of milliseconds at hundreds of
    megabytes), so they run only after a real drop, never on every close.
    """

    def __init__(
        self, min_drop: int = 500, trim: Callable[[int], int] | None = malloc_trim
    ) -> None:
        self.min_drop = min_drop
        self._trim = trim
        self.peak = 0
        self.trims = 0

    def observe(self, connections: int) -> bool:
        """Record *connections*; return whether this call collected and trimmed."""
        if connections > self.peak:
            self.peak = connections
            return False
        if self.peak - connections < self.min_drop or connections > self.peak // 2:
            return False
        self.peak = connections
        gc.collect()
        if self._trim is not None:
            self._trim(0)
        self.trims += 1
        logger.debug("memory returned to the system", extra={"connections": connections})
        return True
