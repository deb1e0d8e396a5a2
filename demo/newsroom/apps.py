"""Application configuration of the newsroom."""

from django.apps import AppConfig


class NewsroomConfig(AppConfig):
    name = "newsroom"
    verbose_name = "Newsroom"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connects the receivers of the Pusher webhooks (who joined, who left).
        from . import receivers  # noqa: F401
