"""Settings of django-pusherable, read in this one module.

Every other module reads settings through :data:`settings`, never through
``django.conf.settings``: values are cached on first use and the cache is
dropped on :data:`django.test.signals.setting_changed`, so ``override_settings``
works in tests.

Two families of names:

- ``PUSHER_*``: the credentials and address of the Pusher Channels API, with the
  names the original django-pusherable used, so existing projects keep working.
- ``PUSHERABLE_*``: options of this library, each with a documented default.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings as django_settings
from django.dispatch import Signal, receiver
from django.test.signals import setting_changed

from .protocol_rules import MAX_EVENT_DATA_SIZE

__all__ = [
    "CHANNEL_TYPES",
    "DEFAULTS",
    "DELIVERY_MODES",
    "PUSHER_JS_INTEGRITY",
    "PUSHER_JS_URL",
    "PUSHER_JS_VERSION",
    "Settings",
    "settings",
    "settings_reloaded",
]

CHANNEL_TYPES = ("private", "presence", "public")
DELIVERY_MODES = ("background", "sync")

#: The pusher-js ``{% pusherable_script %}`` loads by default: the npm package's browser
#: build on jsDelivr, of the version package.json pins for the tests, pinned by the
#: subresource-integrity hash of that file (a test recomputes it from node_modules).
PUSHER_JS_VERSION = "8.6.0"
PUSHER_JS_URL = (
    f"https://cdn.jsdelivr.net/npm/pusher-js@{PUSHER_JS_VERSION}/dist/web/pusher.min.js"
)
PUSHER_JS_INTEGRITY = "sha384-yz6oLe92Sren05O3WPhu8DK05E9PEkh7kTQJ819acmwKwcCMwJXGu9Kta5wYhfaJ"

DEFAULTS: dict[str, Any] = {
    # Credentials and address of the Pusher Channels HTTP API.
    "PUSHER_APP_ID": None,
    "PUSHER_KEY": None,
    "PUSHER_SECRET": None,
    "PUSHER_CLUSTER": "mt1",
    "PUSHER_HOST": None,
    "PUSHER_PORT": None,
    "PUSHER_SSL": True,
    "PUSHER_ENCRYPTION_MASTER_KEY_BASE64": None,
    # Delivery.
    "PUSHERABLE_BACKEND": "pusherable.backends.pusher.Backend",
    "PUSHERABLE_BACKEND_OPTIONS": {},
    "PUSHERABLE_DELIVERY": "background",
    "PUSHERABLE_TIMEOUT": 5.0,
    "PUSHERABLE_QUEUE_SIZE": 10_000,
    "PUSHERABLE_BATCH_SIZE": 10,
    "PUSHERABLE_RETRY_DEADLINE": 300.0,
    "PUSHERABLE_RETRY_BACKOFF": (0.1, 30.0),
    "PUSHERABLE_SHUTDOWN_TIMEOUT": 5.0,
    # Channels.
    "PUSHERABLE_CHANNEL_TYPE": "presence",
    "PUSHERABLE_MODEL_CHANNEL_TYPE": None,
    "PUSHERABLE_CHANNEL_APP_LABEL": False,
    "PUSHERABLE_EXPOSED_MODELS": (),
    # Payloads.
    "PUSHERABLE_SENSITIVE_FIELDS": ("password",),
    "PUSHERABLE_SENSITIVE_FIELD_PATTERN": (
        r"password|passwd|secret|token|api_?key|private_?key|salt"
    ),
    "PUSHERABLE_MAX_PAYLOAD_SIZE": MAX_EVENT_DATA_SIZE,
    "PUSHERABLE_SOCKET_ID_FIELD": "pusherable_socket_id",
    # Authorization and presence.
    "PUSHERABLE_AUTHORIZER": "pusherable.authorization.default_policy",
    "PUSHERABLE_USER_INFO": "pusherable.members.default_user_info",
    "PUSHERABLE_USER_DISPLAY_NAME": "pusherable.users.default_display_name",
    "PUSHERABLE_MAX_USER_INFO_SIZE": 1024,
    "PUSHERABLE_INTENTS": ("viewing", "editing"),
    "PUSHERABLE_INTENT_RATE_LIMIT": (30, 60),
    "PUSHERABLE_PRESENCE_SOURCE": "auto",
    "PUSHERABLE_PRESENCE_CACHE": "default",
    "PUSHERABLE_PRESENCE_TTL": 86_400,
    "PUSHERABLE_PRESENCE_TIMEOUT": 1.0,
    # Browser side.
    "PUSHERABLE_PUSHER_JS_URL": PUSHER_JS_URL,
    "PUSHERABLE_PUSHER_JS_INTEGRITY": PUSHER_JS_INTEGRITY,
    "PUSHERABLE_WS_HOST": None,
    "PUSHERABLE_WS_PORT": None,
    "PUSHERABLE_JS_OPTIONS": {},
    "PUSHERABLE_PRESENCE_GRACE_PERIOD": 3.0,
    # Who is editing which field, and the optional edit lock.
    "PUSHERABLE_FIELD_RATE_LIMIT": (240, 60),
    "PUSHERABLE_LOCK_CACHE": "default",
    "PUSHERABLE_LOCK_LEASE": 60.0,
    # Live list pages and the collision guard.
    "PUSHERABLE_MODEL_CHANNEL_EVENTS": ("created", "updated", "deleted"),
    "PUSHERABLE_VERSION_FORM_FIELD": "pusherable_version",
    "PUSHERABLE_HISTORY_CACHE": "default",
    "PUSHERABLE_HISTORY_LENGTH": 20,
    "PUSHERABLE_HISTORY_TIMEOUT": 86_400,
}

#: Sent after the cached settings were dropped because a ``PUSHER*`` setting
#: changed, so that modules holding derived state (the backend) rebuild it.
settings_reloaded = Signal()


class Settings:
    """Read-only view of the ``PUSHER_*`` and ``PUSHERABLE_*`` settings with defaults."""

    def __getattr__(self, name: str) -> Any:
        # Called only for a setting not read yet: the value is then kept as an
        # instance attribute, so that later reads (several per request) are plain
        # attribute lookups that never come back here.
        if name not in DEFAULTS:
            raise AttributeError(f"{name!r} is not a django-pusherable setting")
        value = getattr(django_settings, name, DEFAULTS[name])
        self.__dict__[name] = value
        return value

    def reload(self) -> None:
        """Forget cached values; the next read goes back to Django's settings."""
        self.__dict__.clear()

    @property
    def is_configured(self) -> bool:
        """Whether the three credentials the Pusher API needs are set."""
        return all((self.PUSHER_APP_ID, self.PUSHER_KEY, self.PUSHER_SECRET))

    def pusher_client_options(self) -> dict[str, Any]:
        """Keyword arguments for :class:`pusher.Pusher` built from the ``PUSHER_*`` settings.

        ``cluster`` is ignored by the ``pusher`` library when ``host`` is set, and the
        port is always passed on its own (a port inside ``host`` breaks its URLs).
        """
        options: dict[str, Any] = {
            "app_id": str(self.PUSHER_APP_ID or ""),
            "key": str(self.PUSHER_KEY or ""),
            "secret": str(self.PUSHER_SECRET or ""),
            "ssl": bool(self.PUSHER_SSL),
            "timeout": self.PUSHERABLE_TIMEOUT,
        }
        if self.PUSHER_HOST:
            options["host"] = self.PUSHER_HOST
        else:
            options["cluster"] = self.PUSHER_CLUSTER
        if self.PUSHER_PORT:
            options["port"] = int(self.PUSHER_PORT)
        if self.PUSHER_ENCRYPTION_MASTER_KEY_BASE64:
            options["encryption_master_key_base64"] = self.PUSHER_ENCRYPTION_MASTER_KEY_BASE64
        return options


settings = Settings()


@receiver(setting_changed)
def _reload_settings(*, setting: str, **kwargs: Any) -> None:
    if setting in DEFAULTS:
        settings.reload()
        settings_reloaded.send(sender=Settings, setting=setting)
