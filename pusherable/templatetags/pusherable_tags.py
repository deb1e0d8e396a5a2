"""Template tags of django-pusherable: ``{% load pusherable_tags %}``.

``{% pusherable_script %}``
    Once per page (usually in the base template): the configuration as JSON, pusher-js,
    and the :data:`SCRIPTS` (``pusherable/pusherable.js`` and the files that plug into
    it), in that order. Rendering it again on the same page outputs nothing.

``{% pusherable_subscribe 'update' object %}``
    Any number per page: declares a subscription, as non-executable JSON that
    ``pusherable.js`` reads; every subscription shares the page's one connection.

``{% pusherable_version_field form %}``
    The collision guard's hidden version input, for templates that render a form's
    fields one by one (``{{ form }}`` already includes it).

``{% pusherable_lock %}``
    In an edit view in lock mode: who holds the edit lock, with "Ask to edit".

Both render through templates in ``pusherable/templates/pusherable/`` and put data
in ``<script type="application/json">`` elements, so no value can become markup or
code. Both accept ``nonce=...``; by default they use the ``csp_nonce`` of the context
(Django 6's CSP context processor) or ``request.csp_nonce`` (django-csp).
"""

from __future__ import annotations

from typing import Any

from django import template
from django.template.base import FilterExpression, Parser, Token, Variable, VariableDoesNotExist
from django.template.context import Context
from django.template.library import InclusionNode
from django.utils.safestring import SafeString, mark_safe

from ..catchup import declaration_extras
from ..guard import version_field_name
from ..page_config import browser_config, pusher_js_script, subscription, to_script_json

__all__ = [
    "SCRIPTS",
    "pusherable_lock",
    "pusherable_script",
    "pusherable_subscribe",
    "pusherable_version_field",
    "register",
]

register = template.Library()

#: The static files ``{% pusherable_script %}`` loads after pusher-js, in the order they
#: run (all ``defer``): the core's requests, the core, the files that plug into it,
#: then the add-ons.
SCRIPTS = (
    "pusherable/pusherable-http.js",  # requests to Django's endpoints, no state
    "pusherable/pusherable.js",  # the connection, subscriptions, dispatch, plugins
    "pusherable/pusherable-page.js",  # declarations in the page, socket id in forms
    "pusherable/pusherable-presence.js",  # here / joined / left, intent
    "pusherable/pusherable-guard.js",  # version inputs: pusherable:conflict, notice
    "pusherable/pusherable-forms.js",  # live merge of edit forms
    "pusherable/pusherable-catchup.js",  # catch-up after a reconnection
    "pusherable/pusherable-fields.js",  # who is editing which field
    "pusherable/pusherable-lock.js",  # the edit lock's banner
)

# Where "the script was already rendered for this page" is remembered: on the request
# when there is one (it spans every template rendered for the page), else on the context.
_RENDERED_MARK = "_pusherable_script_rendered"


def _request(context: Context) -> Any:
    return getattr(context, "request", None) or context.get("request")


def _nonce(context: Context, nonce: Any) -> str | None:
    if nonce is None:
        nonce = context.get("csp_nonce")
    if nonce is None:
        nonce = getattr(_request(context), "csp_nonce", None)
    return str(nonce) if nonce else None


def _script_json(value: Any) -> SafeString:
    # to_script_json() leaves no "<", ">" or "&" in its output, so the text cannot
    # leave the <script type="application/json"> element it is rendered into.
    return mark_safe(to_script_json(value))  # noqa: S308


def _first_render(context: Context, request: Any) -> bool:
    root = context.dicts[0]
    if root.get(_RENDERED_MARK) or getattr(request, _RENDERED_MARK, False):
        return False
    root[_RENDERED_MARK] = True
    if request is not None:
        setattr(request, _RENDERED_MARK, True)
    return True


@register.inclusion_tag("pusherable/script.html", takes_context=True)
def pusherable_script(context: Context, nonce: str | None = None) -> dict[str, Any]:
    """Load pusher-js and the :data:`SCRIPTS` with the page's configuration, once per page."""
    request = _request(context)
    if not _first_render(context, request):
        return {"render": False}
    user = None if request is not None else context.get("user")
    script = pusher_js_script()
    return {
        "render": True,
        "config_json": _script_json(browser_config(request, user=user)),
        "pusher_js_url": script["src"],
        "integrity": script["integrity"],
        "scripts": SCRIPTS,
        "nonce": _nonce(context, nonce),
    }


@register.inclusion_tag("pusherable/subscribe.html", takes_context=True)
def pusherable_subscribe(
    context: Context,
    events: Any,
    obj: Any = None,
    *,
    intent: str | None = None,
    channel_type: str | None = None,
    model: Any = None,
    callback: str | None = None,
    nonce: str | None = None,
) -> dict[str, Any]:
    """Subscribe the page to ``events`` on an object's channel (or a model's, with ``model=``).

    ``events`` is one name, several separated by spaces or commas, or ``'*'`` for every
    event of the channel. See :func:`pusherable.page_config.subscription` for the rest.
    """
    try:
        declaration = subscription(
            events,
            obj,
            view=context.get("view"),
            channel_type=channel_type,
            model=model,
            intent=intent,
            callback=callback,
            request=_request(context),
        )
    except ValueError as exc:
        raise template.TemplateSyntaxError(f"pusherable_subscribe: {exc}") from exc
    if model is None:
        # The version the page holds, so that it can catch up after a reconnection.
        view = context.get("view")
        target = obj if obj is not None else getattr(view, "object", None)
        declaration.update(
            declaration_extras(
                target, view=view, adminform=context.get("adminform"), request=_request(context)
            )
        )
    return {"subscription_json": _script_json(declaration), "nonce": _nonce(context, nonce)}


def _undefined(expression: FilterExpression, context: Context) -> bool:
    """Whether ``expression`` is a bare variable that the context does not define."""
    variable = expression.var
    if expression.filters or not isinstance(variable, Variable) or variable.literal is not None:
        return False
    try:
        variable.resolve(context)
    except VariableDoesNotExist:
        return True
    return False


def _undefined_message(argument: str, text: str) -> str:
    if argument == "events":
        return (
            f"the event names must be quoted: write '{text}', not {text}. Unquoted, `{text}` "
            "is read as a template variable, and the template context has none by that name."
        )
    if argument == "obj":
        return (
            f"the object argument is empty: is the variable `{text}` defined in the "
            "template context?"
        )
    return (
        f"{argument}= is empty: is the variable `{text}` defined in the template context? "
        f"Quote it ({argument}='{text}') if you meant the text."
    )


class SubscribeNode(InclusionNode):
    """``{% pusherable_subscribe %}``: an inclusion tag that names an undefined variable.

    Django resolves a variable missing from the context to ``string_if_invalid``
    (``""``), which the tag could only reject for a misleading reason ("needs a model
    instance, not str"). The text the template author wrote is known only here.
    """

    # The tag's positional parameters, after the context.
    positional = ("events", "obj")

    def get_resolved_arguments(self, context: Context) -> tuple[list[Any], dict[str, Any]]:
        # zip() stops at the arguments given: the object is optional.
        named = [*zip(self.positional, self.args, strict=False), *self.kwargs.items()]
        for argument, expression in named:
            # A nonce is optional: a page without CSP passes an undefined csp_nonce.
            if argument != "nonce" and _undefined(expression, context):
                message = _undefined_message(argument, expression.token)
                raise template.TemplateSyntaxError(f"pusherable_subscribe: {message}")
        return super().get_resolved_arguments(context)


_compile_inclusion_tag = register.tags["pusherable_subscribe"]


@register.tag("pusherable_subscribe")
def _compile_subscribe(parser: Parser, token: Token) -> SubscribeNode:
    # Django's own parsing of an inclusion tag's arguments, in a SubscribeNode.
    node = _compile_inclusion_tag(parser, token)
    return SubscribeNode(node.func, node.takes_context, node.args, node.kwargs, node.filename)


@register.simple_tag
def pusherable_version_field(form: Any) -> str:
    """The hidden version input of a form guarded against stale saves, or nothing.

    :class:`~pusherable.mixins.PusherUpdateMixin` and the admin mixin add the field;
    render it with this tag when the template lists fields one by one.
    """
    fields = getattr(form, "fields", None)
    name = version_field_name(form)
    if not fields or name not in fields:
        return ""
    # A BoundField renders its widget through a template: already safe HTML.
    return str(form[name])


@register.inclusion_tag("pusherable/lock.html", takes_context=True)
def pusherable_lock(context: Context) -> dict[str, Any]:
    """The edit lock's banner of a view in lock mode: who holds it, "Ask to edit".

    Renders nothing unless the view (or the admin) put ``pusherable_lock`` in the
    context: see :class:`~pusherable.mixins.PusherEditLockMixin`.
    """
    return {"lock": context.get("pusherable_lock")}
