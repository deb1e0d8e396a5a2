"""The README's three steps, read from README.md itself, for the tests that take them literally.

Step 1 is a view (Python), step 2 the template tags (Django template), step 3
``pusherable_notify`` (HTML). :func:`readme_view` runs step 1 with the test app's
``Article``; :func:`readme_page` is the page a project would write from steps 2
and 3, with the view's form between them so that a save can be posted back.
"""

from __future__ import annotations

import json
import re
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from tests.testapp.models import Article

README = Path(__file__).resolve().parents[1] / "README.md"

_STEPS_RE = re.compile(r"^## Use it in three steps\n(?P<steps>.*?)^## ", re.MULTILINE | re.DOTALL)
_BLOCK_RE = re.compile(r"^ *```(?P<language>\w+)\n(?P<code>.*?)^ *```", re.MULTILINE | re.DOTALL)

#: The template name Django's UpdateView looks for first for the test app's Article.
TEMPLATE_NAME = "testapp/article_form.html"


@cache
def readme_blocks() -> dict[str, str]:
    """``{"python": step 1, "django": step 2, "html": step 3}``, dedented."""
    match = _STEPS_RE.search(README.read_text(encoding="utf-8"))
    assert match, "README.md has no '## Use it in three steps' section"
    blocks = {}
    for block in _BLOCK_RE.finditer(match.group("steps")):
        lines = block.group("code").splitlines()
        indent = min(len(line) - len(line.lstrip()) for line in lines if line.strip())
        blocks[block.group("language")] = "\n".join(line[indent:] for line in lines) + "\n"
    assert set(blocks) == {"python", "django", "html"}, sorted(blocks)
    return blocks


@cache
def readme_view() -> Any:
    """The view class of step 1, defined with the test app's ``Article``."""
    namespace: dict[str, Any] = {"Article": Article, "__name__": "readme"}
    exec(readme_blocks()["python"], namespace)  # the repository's own README
    # The one class the block defines (not those it imports).
    [view] = [
        value
        for value in namespace.values()
        if isinstance(value, type) and value.__module__ == "readme"
    ]
    return view


def readme_page(after: str = "") -> str:
    """The page of steps 2 and 3 with the view's form, and ``after`` at the end of its body."""
    blocks = readme_blocks()
    return (
        "<!doctype html><html><head><meta charset='utf-8'>\n"
        f"{blocks['django']}</head><body>\n"
        '<form method="post">{% csrf_token %}{{ form }}<button>Save</button></form>\n'
        f"{blocks['html']}{after}</body></html>\n"
    )


def readme_templates(page: str) -> list[dict[str, Any]]:
    """A ``TEMPLATES`` setting that serves ``page`` as the view's template."""
    return [
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "APP_DIRS": False,
            "OPTIONS": {
                "context_processors": [
                    "django.template.context_processors.request",
                    "django.contrib.auth.context_processors.auth",
                ],
                "loaders": [
                    ("django.template.loaders.locmem.Loader", {TEMPLATE_NAME: page}),
                    "django.template.loaders.app_directories.Loader",
                ],
            },
        }
    ]


class PageReader(HTMLParser):
    """The page's subscriptions and the values of its form's fields."""

    def __init__(self):
        super().__init__()
        self.subscriptions = []
        self.fields = {}
        self._text = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and "data-pusherable-subscription" in attrs:
            self._text = ("subscription", [])
        elif tag == "textarea":
            self._text = (attrs["name"], [])
        elif tag == "input" and attrs.get("name"):
            self.fields[attrs["name"]] = attrs.get("value") or ""

    def handle_data(self, data):
        if self._text is not None:
            self._text[1].append(data)

    def handle_endtag(self, tag):
        if self._text is None or tag not in ("script", "textarea"):
            return
        name, parts = self._text
        self._text = None
        if name == "subscription":
            self.subscriptions.append(json.loads("".join(parts)))
        else:
            self.fields[name] = "".join(parts).lstrip("\n")


def read_page(response: Any) -> PageReader:
    assert response.status_code == 200, response.content[:500]
    reader = PageReader()
    reader.feed(response.content.decode())
    return reader
