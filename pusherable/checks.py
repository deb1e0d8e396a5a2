"""System checks: ``pusherable.E001``... for errors, ``pusherable.W001``... for warnings.

Each id is listed, with its fix, in ``docs/reference/checks.rst``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.apps import apps
from django.conf import settings as django_settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.urls import NoReverseMatch, reverse
from django.utils.module_loading import import_string

from .conf import CHANNEL_TYPES, DELIVERY_MODES, settings

__all__ = [
    "check_backend",
    "check_backend_options",
    "check_channel_type",
    "check_credentials",
    "check_delivery_mode",
    "check_model_names",
    "check_pusher_js_integrity",
    "check_setting_choices",
    "check_shared_caches",
    "check_urls_included",
]

PUSHER_BACKEND = "pusherable.backends.pusher.Backend"


@register(Tags.compatibility)
def check_channel_type(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    values = {
        "PUSHERABLE_CHANNEL_TYPE": settings.PUSHERABLE_CHANNEL_TYPE,
        # None (unset) derives the model channels' type from PUSHERABLE_CHANNEL_TYPE.
        "PUSHERABLE_MODEL_CHANNEL_TYPE": settings.PUSHERABLE_MODEL_CHANNEL_TYPE or "private",
    }
    return [
        Error(
            f"{name} is {value!r}, which is not a channel type.",
            hint=f"Set it to one of {', '.join(repr(t) for t in CHANNEL_TYPES)}.",
            id="pusherable.E001",
        )
        for name, value in values.items()
        if value not in CHANNEL_TYPES
    ]


@register(Tags.compatibility)
def check_backend(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    path = settings.PUSHERABLE_BACKEND
    try:
        import_string(path)
    except ImportError as exc:
        return [
            Error(
                f"PUSHERABLE_BACKEND {path!r} cannot be imported: {exc}",
                hint="Use a dotted path to a class, such as "
                "'pusherable.backends.pusher.Backend' or 'pusherable.backends.locmem.Backend'.",
                id="pusherable.E002",
            )
        ]
    return []


@register(Tags.compatibility)
def check_delivery_mode(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    value = settings.PUSHERABLE_DELIVERY
    if value in DELIVERY_MODES:
        return []
    return [
        Error(
            f"PUSHERABLE_DELIVERY is {value!r}, which is not a delivery mode.",
            hint=f"Set it to one of {', '.join(repr(m) for m in DELIVERY_MODES)}.",
            id="pusherable.E003",
        )
    ]


@register(Tags.compatibility)
def check_backend_options(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    # Building the backend is what checks its options (an unknown one raises
    # TypeError); it starts no thread and opens no connection until an event comes.
    try:
        backend_class = import_string(settings.PUSHERABLE_BACKEND)
    except ImportError:
        return []  # pusherable.E002
    try:
        backend = backend_class(**settings.PUSHERABLE_BACKEND_OPTIONS)
    except TypeError as exc:
        return [
            Error(
                f"PUSHERABLE_BACKEND_OPTIONS do not fit PUSHERABLE_BACKEND: {exc}",
                hint="Remove or correct the option; the backend's reference lists its options.",
                id="pusherable.E004",
            )
        ]
    except Exception:
        return []  # a bad value of another setting, reported by its own check
    backend.close(0)
    return []


@register(Tags.compatibility)
def check_setting_choices(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    # Imported here: pusherable.presence imports the cache and the authorization hooks.
    from django.conf import settings as django_settings

    from .presence import PRESENCE_SOURCES

    choices: dict[str, tuple[Any, ...]] = {
        "PUSHERABLE_PRESENCE_SOURCE": PRESENCE_SOURCES,
        "PUSHER_SSL": (True, False),
        "PUSHERABLE_CHANNEL_APP_LABEL": (True, False),
        "PUSHERABLE_PRESENCE_CACHE": tuple(django_settings.CACHES),
        "PUSHERABLE_HISTORY_CACHE": tuple(django_settings.CACHES),
    }
    messages: list[CheckMessage] = []
    for name, allowed in choices.items():
        value = getattr(settings, name)
        # By type too, so that 1 and 0 do not pass for True and False.
        if any(type(value) is type(choice) and value == choice for choice in allowed):
            continue
        messages.append(
            Error(
                f"{name} is {value!r}, which is not one of its values.",
                hint=f"Set it to one of {', '.join(repr(choice) for choice in allowed)}.",
                id="pusherable.E005",
            )
        )
    return messages


@register(Tags.compatibility)
def check_credentials(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if settings.PUSHERABLE_BACKEND != PUSHER_BACKEND or settings.is_configured:
        return []
    missing = [
        name
        for name in ("PUSHER_APP_ID", "PUSHER_KEY", "PUSHER_SECRET")
        if not getattr(settings, name)
    ]
    return [
        Warning(
            f"The Pusher backend is enabled but {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set; no event will be delivered.",
            hint="Set PUSHER_APP_ID, PUSHER_KEY and PUSHER_SECRET (and PUSHER_HOST/PUSHER_PORT "
            "for a self-hosted server such as `manage.py pusherable_server`), or set "
            "PUSHERABLE_BACKEND to 'pusherable.backends.console.Backend' in development.",
            id="pusherable.W001",
        )
    ]


@register(Tags.models)
def check_model_names(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if settings.PUSHERABLE_CHANNEL_APP_LABEL:
        return []
    by_name: dict[str, list[str]] = defaultdict(list)
    for model in apps.get_models():
        by_name[str(model._meta.model_name)].append(model._meta.label)
    return [
        Warning(
            f"Models {', '.join(sorted(labels))} share the model name {name!r}, so their "
            f"objects would share channels such as '{name}_1'.",
            hint="Set PUSHERABLE_CHANNEL_APP_LABEL = True to name channels "
            "'<app_label>.<model>_<pk>'.",
            id="pusherable.W002",
        )
        for name, labels in sorted(by_name.items())
        if len(labels) > 1
    ]


@register(Tags.security)
def check_pusher_js_integrity(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    # Imported here: pusherable.page_config imports Django's URL and static helpers.
    from .page_config import is_cross_origin, pusher_js_script

    script = pusher_js_script()
    url = str(script["src"])
    if not is_cross_origin(url) or script["integrity"]:
        return []
    return [
        Warning(
            f"pusher-js is loaded from another origin ({url}) without an integrity hash, so "
            "whoever controls that server can run any script on your pages.",
            hint="Set PUSHERABLE_PUSHER_JS_INTEGRITY to the file's hash ('sha384-' + the "
            "output of `openssl dgst -sha384 -binary pusher.min.js | openssl base64 -A`), "
            "or serve pusher-js from your static files (PUSHERABLE_PUSHER_JS_URL = "
            "'pusher-js/pusher.min.js').",
            id="pusherable.W004",
        )
    ]


@register(Tags.urls)
def check_urls_included(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    # Object and model channels each need pusherable.urls unless they are public.
    guarded = {
        name: value
        for name, value in (
            ("PUSHERABLE_CHANNEL_TYPE", settings.PUSHERABLE_CHANNEL_TYPE),
            ("PUSHERABLE_MODEL_CHANNEL_TYPE", settings.PUSHERABLE_MODEL_CHANNEL_TYPE),
        )
        if value in ("private", "presence")
    }
    if not guarded:
        return []
    try:
        reverse("pusherable:auth")
    except NoReverseMatch:
        pass
    except Exception:  # a broken URLconf is reported by Django's own URL checks
        return []
    else:
        return []
    name, value = next(iter(guarded.items()))
    return [
        Warning(
            f"{name} is {value!r} but pusherable.urls is not included, so browsers cannot "
            "be authorized to listen, and pages with {% pusherable_subscribe %} fail to render.",
            hint='Add path("pusherable/", include("pusherable.urls")) to your root URLconf, '
            'or set PUSHERABLE_CHANNEL_TYPE = "public".',
            id="pusherable.W003",
        )
    ]


#: Cache backends whose entries live in one process only.
PER_PROCESS_CACHES = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)


@register(Tags.caches)
def check_shared_caches(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    # Development servers run one process; production runs several (workers, hosts),
    # and each would keep its own presence, intents and change history.
    if django_settings.DEBUG:
        return []
    caches = getattr(django_settings, "CACHES", {})
    messages: list[CheckMessage] = []
    uses = {
        "PUSHERABLE_PRESENCE_CACHE": "presence from webhooks, declared intents and their "
        "rate limit",
        "PUSHERABLE_HISTORY_CACHE": "the change history that pages catch up from",
        "PUSHERABLE_LOCK_CACHE": "edit locks (two editors could each hold one)",
    }
    for name, what in uses.items():
        alias = getattr(settings, name)
        backend = str(caches.get(alias, {}).get("BACKEND", ""))
        if backend not in PER_PROCESS_CACHES:
            continue
        messages.append(
            Warning(
                f"{name} is the cache {alias!r} ({backend.rsplit('.', 1)[-1]}), which each "
                f"process keeps for itself: with several Django processes, {what} would "
                "differ from one process to the next.",
                hint="Point it at a cache every process shares (Redis, Memcached, the "
                "database cache, or a file-based cache on a single machine), or add "
                "'pusherable.W005' to SILENCED_SYSTEM_CHECKS if only one process ever runs.",
                id="pusherable.W005",
            )
        )
    return messages
