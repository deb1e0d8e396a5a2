"""The newsroom in Django's admin (``/admin/``: alice and bob may use it).

``PusherableAdminMixin`` gives the change form a presence bar ("Alice is editing
this"), the live "changed by" notice and the stale-save guard, sends
``updated``/``created``/``deleted`` after each save and deletion, and keeps the
change list live. Saves made here reach the newsroom's own pages too: both use
the same channels.
"""

from django.contrib import admin

from pusherable.admin import PusherableAdminMixin

from .models import Article
from .people import add_user_name


# --8<-- [start:admin]
@admin.register(Article)
class ArticleAdmin(PusherableAdminMixin, admin.ModelAdmin):
    list_display = ["title", "section", "status", "author", "updated_at"]
    list_filter = ["status", "section"]
    search_fields = ["title", "standfirst", "body"]

    def get_pusher_payload(self, request, obj, event, changed=None):
        # The newsroom's pages say "Bob changed the title", wherever Bob saved.
        payload = super().get_pusher_payload(request, obj, event, changed)
        return add_user_name(payload, request.user)


# --8<-- [end:admin]
