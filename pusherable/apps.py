"""Django application configuration for django-pusherable."""

from __future__ import annotations

from django.apps import AppConfig

__all__ = ["PusherableConfig"]


class PusherableConfig(AppConfig):
    name = "pusherable"
    verbose_name = "Pusherable"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        # Importing registers the system checks and the setting_changed receiver.
        from . import checks, conf  # noqa: F401
