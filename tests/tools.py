"""The programs some tests need besides Python packages, and what happens without them.

``make test`` installs every one: Node.js packages from package.json (``npm ci``:
pusher-js, laravel-echo, soketi), Debian's Chromium and redis-server. A test that
needs a missing one is skipped, with a reason that says what installs it (``-ra``
prints it). With ``PUSHERABLE_REQUIRE_TARGETS`` set (``make test`` sets it) the
skip is a failure instead: a run meant to cover everything never passes with part
of it left out. :func:`tests.targets.require_target` and
:func:`tests.chromium.require_chromium` go through :func:`unavailable` too.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import NoReturn

import pytest

__all__ = ["NODE_MODULES", "REQUIRE_ALL", "require_node", "require_npm_package", "unavailable"]

ROOT = Path(__file__).resolve().parents[1]
NODE_MODULES = ROOT / "node_modules"
#: The environment variable that turns a skip for a missing program into a failure.
REQUIRE_ALL = "PUSHERABLE_REQUIRE_TARGETS"


def unavailable(reason: str) -> NoReturn:
    """Skip the calling test because of ``reason``; fail it when :data:`REQUIRE_ALL` is set."""
    if os.environ.get(REQUIRE_ALL):
        pytest.fail(f"required ({REQUIRE_ALL} is set) but unavailable: {reason}", pytrace=False)
    pytest.skip(reason)


def require_node() -> str:
    """The path of ``node``, or :func:`unavailable`."""
    node = shutil.which("node")
    if node is None:
        unavailable("Node.js is not installed: these tests need `node` (>= 18) on PATH")
    return node


def require_npm_package(name: str) -> Path:
    """``node_modules/<name>`` (from package.json), or :func:`unavailable`."""
    path = NODE_MODULES / name
    if not path.is_dir():
        unavailable(f"node_modules/{name} is missing: run `npm ci` (make install does)")
    return path
