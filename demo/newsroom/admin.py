"""The newsroom in Django's admin (``/admin/``: alice and bob may use it).

``PusherableAdminMixin`` gives the change form a presence bar ("Alice is editing
this"), the live "changed by" notice and the three-way merge of stale saves, sends
``updated``/``created``/``deleted`` after each save and deletion, and keeps the
change list live. Saves made here reach the newsroom's own pages too: both use
the same channels.
"""

from django.contrib import admin

from pusherable.admin import PusherableAdminMixin

from .models import Article


# --8<-- [start:admin]
@admin.register(Article)
class ArticleAdmin(PusherableAdminMixin, admin.ModelAdmin):
    list_display = ["title", "section", "status", "author", "updated_at"]
    list_filter = ["status", "section"]
    search_fields = ["title", "standfirst", "body"]


# --8<-- [end:admin]
