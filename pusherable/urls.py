"""URLs of django-pusherable; include them once in the project's URLconf::

    path("pusherable/", include("pusherable.urls")),

``pusherable:auth`` (channel authorization), ``pusherable:user-auth`` (pusher-js
signin), ``pusherable:intent`` (intent changes), ``pusherable:field`` (which field
an editor is in), ``pusherable:lock`` (the edit lock), ``pusherable:changes``
(catch-up after a reconnection) and ``pusherable:webhook`` (Pusher webhooks).
``{% pusherable_script %}`` points ``pusherable.js`` at all but the last itself.
"""

from __future__ import annotations

from django.urls import path

from . import views

__all__ = ["app_name", "urlpatterns"]

app_name = "pusherable"

urlpatterns = [
    path("auth/", views.ChannelAuthView.as_view(), name="auth"),
    path("user-auth/", views.UserAuthView.as_view(), name="user-auth"),
    path("intent/", views.IntentView.as_view(), name="intent"),
    path("field/", views.FieldView.as_view(), name="field"),
    path("lock/", views.LockView.as_view(), name="lock"),
    path("changes/", views.ChangesView.as_view(), name="changes"),
    path("webhook/", views.WebhookView.as_view(), name="webhook"),
]
