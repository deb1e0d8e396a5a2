"""A fixed-window request counter in Django's cache, shared by the endpoints' rate limits."""

from __future__ import annotations

from django.core.cache import caches

from .conf import settings

__all__ = ["within_limit"]


def within_limit(key: str, count: int, window: float) -> bool:
    """Count one request under ``key``; whether it is within ``count`` per ``window`` seconds.

    The counter lives in :data:`PUSHERABLE_PRESENCE_CACHE`, so every Django process
    shares it when that cache is shared. ``cache.add`` starts a window atomically and
    ``incr`` counts in it, so concurrent requests are never lost.
    """
    cache = caches[settings.PUSHERABLE_PRESENCE_CACHE]
    key = f"pusherable:rate:{key}"
    if cache.add(key, 1, timeout=window):
        return True
    try:
        current = cache.incr(key)
    except ValueError:  # the window ended between add() and incr(): a new one
        cache.add(key, 1, timeout=window)
        return True
    return bool(current <= count)
