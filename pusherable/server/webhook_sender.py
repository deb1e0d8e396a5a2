"""Signed, batched, retried webhooks that never slow down delivery.

:class:`WebhookSender` takes events from the protocol core without waiting
(:meth:`~WebhookSender.enqueue` only appends to a queue) and posts them from a
background task per URL: several events per request, signed with
``X-Pusher-Key``/``X-Pusher-Signature``, retried with exponential backoff until a
deadline. ``channel_vacated`` and ``member_removed`` can be held for a few seconds
and dropped together with the ``channel_occupied``/``member_added`` that follows
quickly (a page reload), as Pusher does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

import aiohttp

from .config import AppConfig
from .signatures import sign_webhook

__all__ = ["WebhookSender", "webhook_body"]

logger = logging.getLogger("pusherable.server.webhooks")

_MAX_QUEUE = 10_000
_BACKOFF_START = 0.5
_BACKOFF_MAX = 30.0
_DEBOUNCED = {"channel_vacated": "channel_occupied", "member_removed": "member_added"}


def webhook_body(events: list[dict[str, Any]], time_ms: int | None = None) -> bytes:
    """Body of one webhook request: ``{"time_ms": ..., "events": [...]}``."""
    if time_ms is None:
        time_ms = int(time.time() * 1000)
    return json.dumps({"time_ms": time_ms, "events": events}, separators=(",", ":")).encode()


def _debounce_key(event: dict[str, Any]) -> tuple[str, ...]:
    return (event.get("channel", ""), str(event.get("user_id", "")))


class _Target:
    """One webhook URL with its own queue and worker, so a failing URL delays only itself."""

    def __init__(self, sender: WebhookSender, url: str) -> None:
        self.sender = sender
        self.url = url
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=_MAX_QUEUE)
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        while True:
            events = [await self.queue.get()]
            while len(events) < self.sender.batch_size and not self.queue.empty():
                events.append(self.queue.get_nowait())
            try:
                await self.deliver(events)
            finally:
                for _ in events:
                    self.queue.task_done()

    async def deliver(self, events: list[dict[str, Any]]) -> bool:
        """Post *events*, retrying until the deadline; return whether it succeeded."""
        deadline = time.monotonic() + self.sender.retry_deadline
        delay = _BACKOFF_START
        app = self.sender.app
        while True:
            body = webhook_body(events)
            headers = {
                "Content-Type": "application/json",
                "X-Pusher-Key": app.key,
                "X-Pusher-Signature": sign_webhook(app.secret, body),
            }
            problem: str
            try:
                session = await self.sender.session()
                async with session.post(self.url, data=body, headers=headers) as response:
                    await response.read()
                    if 200 <= response.status < 300:
                        return True
                    problem = f"HTTP {response.status}"
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as error:
                problem = f"{type(error).__name__}: {error}"
            if time.monotonic() + delay > deadline:
                logger.error(
                    "webhook dropped",
                    extra={"url": self.url, "events": len(events), "problem": problem},
                )
                return False
            logger.warning(
                "webhook failed, retrying",
                extra={"url": self.url, "problem": problem, "retry_in": delay},
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, _BACKOFF_MAX)


class WebhookSender:
    """Sends one app's webhooks to its configured URLs."""

    def __init__(
        self,
        app: AppConfig,
        *,
        batch_size: int = 50,
        retry_deadline: float = 300.0,
        debounce: float = 0.0,
        timeout: float = 5.0,
    ) -> None:
        self.app = app
        self.batch_size = batch_size
        self.retry_deadline = retry_deadline
        self.debounce = debounce
        self.timeout = timeout
        self._targets = [_Target(self, url) for url in app.webhook_urls]
        self._session: aiohttp.ClientSession | None = None
        self._held: dict[tuple[str, tuple[str, ...]], asyncio.TimerHandle] = {}
        self._held_events: dict[tuple[str, tuple[str, ...]], dict[str, Any]] = {}

    @property
    def enabled(self) -> bool:
        """Whether any URL is configured."""
        return bool(self._targets)

    async def session(self) -> aiohttp.ClientSession:
        """The shared HTTP client session (created on first use)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout)
            )
        return self._session

    def start(self) -> None:
        """Start one worker per URL (call from the running event loop)."""
        for target in self._targets:
            if target.task is None:
                target.task = asyncio.get_running_loop().create_task(target.run())

    def enqueue(self, event: dict[str, Any]) -> None:
        """Queue *event* without waiting; held events are debounced."""
        if not self._targets:
            return
        name = event.get("name", "")
        if self.debounce > 0:
            if name in _DEBOUNCED:
                key = (name, _debounce_key(event))
                self._cancel_held(key)
                self._held_events[key] = event
                self._held[key] = asyncio.get_running_loop().call_later(
                    self.debounce, self._release, key
                )
                return
            for held_name, opposite in _DEBOUNCED.items():
                if name == opposite:
                    key = (held_name, _debounce_key(event))
                    if key in self._held:
                        # Left and came back within the debounce: neither is reported.
                        self._cancel_held(key)
                        return
        self._put(event)

    def _cancel_held(self, key: tuple[str, tuple[str, ...]]) -> None:
        handle = self._held.pop(key, None)
        if handle is not None:
            handle.cancel()
        self._held_events.pop(key, None)

    def _release(self, key: tuple[str, tuple[str, ...]]) -> None:
        self._held.pop(key, None)
        event = self._held_events.pop(key, None)
        if event is not None:
            self._put(event)

    def _put(self, event: dict[str, Any]) -> None:
        for target in self._targets:
            try:
                target.queue.put_nowait(event)
            except asyncio.QueueFull:
                logger.error("webhook queue full, event dropped", extra={"url": target.url})

    async def close(self, timeout: float = 5.0) -> None:
        """Send held and queued events (for up to *timeout* seconds), then stop."""
        for key in list(self._held):
            handle = self._held.pop(key)
            handle.cancel()
            self._release(key)
        queues = [target.queue.join() for target in self._targets if target.task is not None]
        if queues:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.gather(*queues), timeout)
        for target in self._targets:
            if target.task is not None:
                target.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await target.task
                target.task = None
        if self._session is not None:
            await self._session.close()
            self._session = None
