"""``python -m pusherable.server``: run the bundled Pusher-compatible server."""

from __future__ import annotations

import sys

__all__: list[str] = []


def _run() -> int:
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        print(
            "The bundled server needs aiohttp. Install it with:\n"
            "    python -m pip install 'django-pusherable[server]'",
            file=sys.stderr,
        )
        return 2
    from .cli import main

    return main()


if __name__ == "__main__":
    sys.exit(_run())
