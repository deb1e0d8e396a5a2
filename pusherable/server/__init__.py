"""A Pusher Channels compatible server (protocol 7) for development, tests and one machine.

Run it with ``python -m pusherable.server`` (needs the ``server`` extra, which
installs aiohttp). The package is layered:

- pure, I/O-free modules: :mod:`.config` (typed options), :mod:`.signatures`,
  :mod:`.naming`, :mod:`.registry` (channels and presence), :mod:`.protocol` (the
  WebSocket state machine), :mod:`.http_api` (the signed HTTP API), :mod:`.frames`;
- the aiohttp layer: :mod:`.app`, :mod:`.webhooks`, :mod:`.cli`;
- :mod:`.testing`: :func:`~.testing.run_server` for end-to-end tests.

Importing this package does not import aiohttp.
"""

from __future__ import annotations

from .config import AppConfig, ConfigError, Limits, ServerConfig

__all__ = ["AppConfig", "ConfigError", "Limits", "ServerConfig"]
