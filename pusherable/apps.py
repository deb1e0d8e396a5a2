"""Django application configuration for django-pusherable."""

from __future__ import annotations

from django.apps import AppConfig

__all__ = ["PusherableConfig"]


class PusherableConfig(AppConfig):
    name = "pusherable"
    verbose_name = "Pusherable"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        # Importing registers the system checks, the setting_changed receiver, and
        # the webhook receivers that end an edit lock when its holder leaves.
        from . import checks, conf, locks  # noqa: F401
