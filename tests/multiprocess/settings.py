"""Settings of Django processes that share state the way production does.

Several processes (here two ``runserver``) behind one Pusher server, with one
SQLite file and one file-based cache in ``PUSHERABLE_MP_DIR``: presence from
webhooks, intents and the change history must read the same in each. The cache
is shared, so pusherable.W005 stays quiet with DEBUG off.
"""

import os
from pathlib import Path

from tests.settings import *  # noqa: F403

STATE_DIR = Path(os.environ["PUSHERABLE_MP_DIR"])

DEBUG = False
SILENCED_SYSTEM_CHECKS: list[str] = []
ROOT_URLCONF = "tests.multiprocess.urls"
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(STATE_DIR / "db.sqlite3")}
}
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(STATE_DIR / "cache"),
    }
}

PUSHER_APP_ID = os.environ["PUSHER_APP_ID"]
PUSHER_KEY = os.environ["PUSHER_KEY"]
PUSHER_SECRET = os.environ["PUSHER_SECRET"]
PUSHER_HOST = "127.0.0.1"
PUSHER_PORT = int(os.environ["PUSHER_PORT"])
PUSHER_SSL = False
PUSHERABLE_BACKEND = "pusherable.backends.pusher.Backend"
PUSHERABLE_DELIVERY = "sync"
PUSHERABLE_PRESENCE_SOURCE = "webhooks"
PUSHERABLE_PRESENCE_GRACE_PERIOD = 0.3
