"""Settings of the newsroom demo.

Everything the launcher (``demo/run.py``) or the browser tests may change comes
from a ``DEMO_*`` environment variable with a default that works out of the box:
the database file, and the address and credentials of the Pusher-compatible
server that ships with django-pusherable.
"""

import os
from pathlib import Path

import django

DEMO_DIR = Path(__file__).resolve().parent.parent
REPO_DIR = DEMO_DIR.parent

# A demo, never deployed: a fixed key and the development server's static files.
SECRET_KEY = "demo-only-not-secret"
DEBUG = os.environ.get("DEMO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", *os.environ.get("DEMO_ALLOWED_HOSTS", "").split()]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "pusherable",
    "newsroom",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "newsroom_project.urls"
WSGI_APPLICATION = "newsroom_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "newsroom.context_processors.article_choices",
            ],
        },
    }
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DEMO_DATABASE", str(DEMO_DIR / "db.sqlite3")),
        # Seconds a save waits for another one's write lock before "database is locked".
        "OPTIONS": {"timeout": 20},
    }
}
if django.VERSION >= (5, 1):
    # Two editors saving at once: each save takes SQLite's write lock when its
    # transaction begins, so the second waits for the first. With the default
    # ("DEFERRED") it would read first and then fail to write, at once, with
    # "database is locked" (PusherUpdateMixin retries that; Django 4.2 has no
    # transaction_mode).
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "newsroom:article-list"
LOGOUT_REDIRECT_URL = "login"

STATIC_URL = "/static/"
# pusher-js comes from npm and is served by the demo itself: no CDN, works offline.
STATICFILES_DIRS = [("pusher-js", REPO_DIR / "node_modules" / "pusher-js" / "dist" / "web")]

# The Pusher-compatible server bundled with django-pusherable, on this machine.
# For hosted Pusher, drop PUSHER_HOST/PORT/SSL and set PUSHER_CLUSTER instead.
PUSHER_APP_ID = os.environ.get("DEMO_PUSHER_APP_ID", "100001")
PUSHER_KEY = os.environ.get("DEMO_PUSHER_KEY", "newsroom-key")
PUSHER_SECRET = os.environ.get("DEMO_PUSHER_SECRET", "newsroom-secret")
PUSHER_HOST = os.environ.get("DEMO_PUSHER_HOST", "127.0.0.1")
PUSHER_PORT = int(os.environ.get("DEMO_PUSHER_PORT", "6001"))
PUSHER_SSL = False

# The browser loads pusher-js from the demo's own static files (a static path).
PUSHERABLE_PUSHER_JS_URL = "pusher-js/pusher.min.js"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "pusherable": {"handlers": ["console"], "level": "INFO"},
        "newsroom": {"handlers": ["console"], "level": "INFO"},
    },
}
