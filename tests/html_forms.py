"""Read a rendered form back as a browser would submit it, to post "the form I was shown"."""

from html.parser import HTMLParser


class _FormReader(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.values = {}
        self.attrs = {}
        self._textarea = None
        self._select = None

    def _add(self, name, value):
        self.values.setdefault(name, []).append(value)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "input" and name:
            self.attrs[name] = attrs
            kind = attrs.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in attrs:
                    self._add(name, attrs.get("value") or "on")
            elif kind not in ("file", "submit", "button"):
                self._add(name, attrs.get("value") or "")
        elif tag == "textarea" and name:
            self._textarea = name
            self._add(name, "")
        elif tag == "select" and name:
            self._select = name
            self.values.setdefault(name, [])
        elif tag == "option" and self._select and "selected" in attrs:
            self._add(self._select, attrs.get("value") or "")

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data):
        if self._textarea:
            # Django renders a newline right after <textarea>, which browsers drop.
            current = self.values[self._textarea][-1]
            if not current and data.startswith("\n"):
                data = data[1:]
            self.values[self._textarea][-1] = current + data


def shown_form(html, **changes):
    """The POST data of the (first and only) form in ``html``, with ``changes`` applied."""
    reader = _FormReader()
    reader.feed(html if isinstance(html, str) else html.decode())
    data = {
        name: values if len(values) != 1 else values[0] for name, values in reader.values.items()
    }
    data.pop("csrfmiddlewaretoken", None)
    data.update(changes)
    return data


def input_attrs(html, name):
    """The attributes of the input named ``name`` in ``html``."""
    reader = _FormReader()
    reader.feed(html if isinstance(html, str) else html.decode())
    return reader.attrs[name]
