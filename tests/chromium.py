"""Debian's Chromium for the browser tests: where it is, how it is launched.

One place for the executable and its command-line switches, so that the demo
browser tests, the live admin tests and the end-to-end harness start the same
browser the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.tools import unavailable

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "launch_chromium", "require_chromium"]

CHROMIUM = Path("/usr/bin/chromium")

#: No sandbox (containers and CI lack the namespaces it needs), no GPU, and none
#: of the background traffic a fresh profile starts: the tests stay on loopback.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def require_chromium() -> Path:
    """Return the path of Debian's Chromium, or :func:`tests.tools.unavailable` (skip or fail)."""
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing: install Debian's chromium (make test does)")
    return CHROMIUM


def launch_chromium(
    playwright: Any, executable_path: str | Path = CHROMIUM, **options: Any
) -> Any:
    """Launch Chromium through a started Playwright, with :data:`CHROMIUM_ARGS`.

    ``options`` go to Playwright's ``chromium.launch()`` as they are (a ``timeout``).
    """
    return playwright.chromium.launch(
        executable_path=str(executable_path), args=CHROMIUM_ARGS, **options
    )
