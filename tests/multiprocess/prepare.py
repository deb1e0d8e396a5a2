"""Create the shared database: ``python -m tests.multiprocess.prepare`` (settings from env).

Prints one JSON line: the article's pk and each user's session cookie value.
"""

from __future__ import annotations

import json

import django


def main() -> None:
    django.setup()
    from django.conf import settings
    from django.contrib.auth.models import Permission, User
    from django.core.management import call_command
    from django.test import Client

    from tests.testapp.models import Article

    call_command("migrate", run_syncdb=True, verbosity=0)  # the test app has no migrations
    perms = Permission.objects.filter(
        content_type__app_label="testapp", codename__in=["view_article", "change_article"]
    )
    sessions = {}
    for username, first_name in [("alice", "Alice"), ("bob", "Bob")]:
        user = User.objects.create_user(username, first_name=first_name, password="unused")
        user.user_permissions.set(perms)
        client = Client()
        client.force_login(user)
        sessions[username] = {
            "id": str(user.pk),
            "session": client.cookies[settings.SESSION_COOKIE_NAME].value,
        }
    article = Article.objects.create(title="Draft")
    print(json.dumps({"article": article.pk, "users": sessions}))


if __name__ == "__main__":
    main()
