"""A Pusher Channels compatible server (protocol 7) for development, tests and one machine.

Run it with ``python -m pusherable.server`` (needs the ``server`` extra, which
installs aiohttp). The package is layered:

- pure, I/O-free modules: :mod:`.config` (typed options), :mod:`.signatures`,
  :mod:`.registry` (channels and presence), :mod:`.protocol` (the WebSocket state
  machine), :mod:`.http_api` (the signed HTTP API), :mod:`.messages` (JSON in and
  out), :mod:`.actions` (what the core asks the I/O layer to do); the protocol's
  names and limits come from :mod:`pusherable.protocol_rules`;
- the aiohttp layer: :mod:`.app`, :mod:`.webhook_sender`, :mod:`.cli`;
- :mod:`.testing`: :func:`~.testing.run_server` for end-to-end tests.

Importing this package does not import aiohttp.
"""

from __future__ import annotations

from .config import AppConfig, ConfigError, Limits, ServerConfig

__all__ = ["AppConfig", "ConfigError", "Limits", "ServerConfig"]
