"""Receivers of the Pusher webhooks, which django-pusherable turns into signals.

The bundled server posts a webhook when someone joins or leaves an article's
presence channel; the demo writes it to the development server's console.
"""

import logging

from django.dispatch import receiver

from pusherable.signals import member_added, member_removed

logger = logging.getLogger("newsroom")


@receiver(member_added)
def log_member_added(sender, **kwargs):
    logger.info("user %s joined %s", kwargs.get("user_id"), kwargs.get("channel"))


@receiver(member_removed)
def log_member_removed(sender, **kwargs):
    logger.info("user %s left %s", kwargs.get("user_id"), kwargs.get("channel"))
