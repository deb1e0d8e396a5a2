"""Django settings for django-pusherable's test suite."""

from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "pusherable",
    "tests.testapp",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "tests.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}

STATIC_URL = "/static/"
MEDIA_URL = "/media/"
MEDIA_ROOT = BASE_DIR / "media"

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

PUSHER_APP_ID = "123456"
PUSHER_KEY = "test-key"
PUSHER_SECRET = "test-secret"
PUSHER_HOST = "127.0.0.1"
PUSHER_PORT = 9
PUSHER_SSL = False

# Events stay in memory (pusherable.testing.outbox) unless a test says otherwise.
PUSHERABLE_BACKEND = "pusherable.backends.locmem.Backend"

# The suite runs one Django process (its caches are per process on purpose, and
# emptied between tests); the multi-process tests configure a shared cache.
SILENCED_SYSTEM_CHECKS = ["pusherable.W005"]
