"""Which models browsers may ask about: those a view, the admin or the project exposes.

The authorization endpoints read a model and a primary key out of any channel
name a browser sends. Without a limit, a logged-in user could probe every
installed model (``private-session_<key>``) and learn from the answer whether a
row exists. So only exposed models can be asked about at all; a channel of any
other model is answered exactly like a channel of a model that does not exist.

A model is exposed by:

- a view with one of the mixins of :mod:`pusherable.mixins` whose class names
  it (``model = Article`` or ``queryset = Article.objects...``);
- :func:`pusherable.authorization.register_view` and ``register_queryset``;
- a ``ModelAdmin`` with :class:`~pusherable.admin.PusherableAdminMixin`;
- :data:`PUSHERABLE_EXPOSED_MODELS` (``["app_label.Model", ...]``), for models
  whose channels only templates, signals or tasks use;
- :func:`expose`, for a custom policy or an app's ``ready()``.
"""

from __future__ import annotations

from django.db import models

from .conf import settings

__all__ = ["expose", "exposed_labels", "is_exposed"]

_exposed: set[str] = set()


def _label(model: type[models.Model] | models.Model) -> str:
    return str(model._meta.label_lower)


def expose(*model_classes: type[models.Model]) -> None:
    """Let browsers ask about the channels of ``model_classes``."""
    _exposed.update(_label(model) for model in model_classes)


def exposed_labels() -> frozenset[str]:
    """``app_label.model`` (lower case) of every exposed model."""
    configured = {str(label).lower() for label in settings.PUSHERABLE_EXPOSED_MODELS or ()}
    return frozenset(_exposed | configured)


def is_exposed(model: type[models.Model] | models.Model) -> bool:
    """Whether browsers may ask about ``model``'s channels."""
    return _label(model) in exposed_labels()
