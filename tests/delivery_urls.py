"""Views that trigger events, for the delivery tests (``ROOT_URLCONF`` override)."""

from django.http import JsonResponse
from django.urls import path

from pusherable.delivery import trigger


def notify(request, pk):
    trigger(
        f"private-article_{pk}",
        request.GET.get("event", "view"),
        {"pk": pk},
        socket_id=request.headers.get("X-Socket-ID"),
    )
    return JsonResponse({"ok": True})


urlpatterns = [path("notify/<int:pk>/", notify, name="notify")]
