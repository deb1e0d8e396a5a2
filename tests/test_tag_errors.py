"""Mistakes in ``{% pusherable_subscribe %}`` fail at render with a message that names the cause.

Django renders a variable missing from the context as ``""`` (``string_if_invalid``),
which used to reach the tag as an empty string and come back as a misleading reason.
"""

import pytest
from django.template import Context, Template, TemplateSyntaxError
from django.test import override_settings

from tests.testapp.models import Article


def render(arguments, context=None):
    source = "{% load pusherable_tags %}{% pusherable_subscribe " + arguments + " %}"
    return Template(source).render(Context(context or {}))


def error_of(arguments, context=None):
    with pytest.raises(TemplateSyntaxError) as error:
        render(arguments, context)
    return str(error.value)


def test_a_misspelt_object_variable():
    assert error_of("'update' objcet", {"object": Article(pk=1)}) == (
        "pusherable_subscribe: the object argument is empty: is the variable `objcet` "
        "defined in the template context?"
    )


def test_a_missing_attribute_of_a_defined_variable():
    message = error_of("'update' view.objcet", {"view": object()})
    assert "is the variable `view.objcet` defined in the template context?" in message


def test_unquoted_event_names():
    assert error_of("update object", {"object": Article(pk=1)}) == (
        "pusherable_subscribe: the event names must be quoted: write 'update', not update. "
        "Unquoted, `update` is read as a template variable, and the template context has "
        "none by that name."
    )


def test_events_from_a_defined_variable_still_work():
    html = render("names object", {"names": "update updated", "object": Article(pk=1)})
    assert '"events":["update","updated"]' in html


@pytest.mark.parametrize("argument", ["intent", "channel_type", "model", "callback"])
def test_an_undefined_keyword_variable(argument):
    assert error_of(f"'update' object {argument}=editing", {"object": Article(pk=1)}) == (
        f"pusherable_subscribe: {argument}= is empty: is the variable `editing` defined in "
        f"the template context? Quote it ({argument}='editing') if you meant the text."
    )


def test_an_undefined_nonce_means_no_nonce():
    # Pages without CSP pass csp_nonce, which only CSP middleware defines.
    html = render("'update' object nonce=csp_nonce", {"object": Article(pk=1)})
    assert "nonce=" not in html


def test_a_variable_defined_as_none_is_not_undefined():
    # None is a value: the view's object is used, as without the argument.
    html = render("'update' object intent=no_intent", {"object": Article(pk=1), "no_intent": None})
    assert '"intent":null' in html


def test_filters_are_the_template_author_s_business():
    html = render("'update' object intent=mode|default:'viewing'", {"object": Article(pk=1)})
    assert '"intent":"viewing"' in html


def test_an_unknown_intent():
    assert error_of("'update' object intent='writing'", {"object": Article(pk=1)}) == (
        "pusherable_subscribe: intent='writing' is not one of PUSHERABLE_INTENTS "
        "('viewing', 'editing'): use one of those, or add it to the setting."
    )


@override_settings(PUSHERABLE_INTENTS=("viewing", "editing", "writing"))
def test_a_configured_intent():
    html = render("'update' object intent='writing'", {"object": Article(pk=1)})
    assert '"intent":"writing"' in html


@override_settings(
    TEMPLATES=[
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "APP_DIRS": True,
            "OPTIONS": {"string_if_invalid": "INVALID %s"},
        }
    ]
)
def test_string_if_invalid_is_recognised_too():
    from django.template import engines

    template = engines["django"].from_string(
        "{% load pusherable_tags %}{% pusherable_subscribe 'update' objcet %}"
    )
    with pytest.raises(TemplateSyntaxError, match="is the variable `objcet` defined"):
        template.render({"object": Article(pk=1)})
