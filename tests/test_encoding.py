"""pusherable.encoding: the one JSON encoder of the Django side."""

import ast
import datetime
import decimal
import json
import uuid
from pathlib import Path

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.translation import gettext_lazy

import pusherable
from pusherable.encoding import JSONEncoder, encode_json
from pusherable.payload import encode_payload, limit_payload

PACKAGE = Path(pusherable.__file__).parent


def test_compact_and_unicode_by_default():
    assert encode_json({"a": [1, "é"], "b": None}) == '{"a":[1,"é"],"b":null}'


def test_options():
    value = {"b": "é", "a": 1}
    assert encode_json(value, ensure_ascii=True) == '{"b":"\\u00e9","a":1}'
    assert encode_json(value, sort_keys=True) == '{"a":1,"b":"é"}'
    assert encode_json(value, compact=False) == '{"b": "é", "a": 1}'
    # What json.dumps() writes with DjangoJSONEncoder, for each set of options.
    for sort_keys in (False, True):
        for ensure_ascii in (False, True):
            for compact in (False, True):
                expected = json.dumps(
                    value,
                    cls=DjangoJSONEncoder,
                    sort_keys=sort_keys,
                    ensure_ascii=ensure_ascii,
                    separators=(",", ":") if compact else None,
                )
                written = encode_json(
                    value, sort_keys=sort_keys, ensure_ascii=ensure_ascii, compact=compact
                )
                assert written == expected


def test_django_types_as_django_json_encoder_writes_them():
    value = {
        "when": datetime.datetime(2024, 5, 1, 9, 30, 0, 123456, tzinfo=datetime.timezone.utc),
        "day": datetime.date(2024, 5, 1),
        "time": datetime.time(9, 30),
        "took": datetime.timedelta(minutes=5),
        "price": decimal.Decimal("12.50"),
        "ref": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "label": gettext_lazy("Title"),
    }
    assert encode_json(value) == json.dumps(
        value, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":")
    )
    assert isinstance(JSONEncoder(), DjangoJSONEncoder)


def test_unknown_type_raises_type_error():
    with pytest.raises(TypeError):
        encode_json({"x": object()})


def test_circular_data_raises_value_error():
    data: dict = {}
    data["self"] = data
    with pytest.raises(ValueError, match="circular"):
        encode_json(data)
    with pytest.raises(pusherable.exceptions.PayloadError):
        encode_payload(data)
    with pytest.raises(pusherable.exceptions.PayloadError):
        limit_payload(data, limit=10_000)


def test_json_endpoints_answer_with_the_encoder(client):
    # Any JSON answer of the library's views: here, an error of the auth endpoint.
    from pusherable import views

    response = views.json_response({"when": datetime.date(2024, 5, 1)})
    assert json.loads(response.content) == {"when": "2024-05-01"}


def _json_writers(tree: ast.AST) -> list[str]:
    """What in ``tree`` writes JSON other than through pusherable.encoding."""
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "json"
            and node.attr in ("dumps", "dump", "JSONEncoder", "encoder")
        ):
            found.append(f"json.{node.attr}")
        elif isinstance(node, ast.Name) and node.id in ("DjangoJSONEncoder", "c_make_encoder"):
            found.append(node.id)
        elif isinstance(node, ast.Attribute) and node.attr in (
            "DjangoJSONEncoder",
            "c_make_encoder",
        ):
            found.append(node.attr)
        elif isinstance(node, ast.ImportFrom) and node.module in (
            "json",
            "json.encoder",
            "django.core.serializers.json",
        ):
            found.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_one_encoder_path():
    """No module of the Django side writes JSON but through pusherable.encoding, and
    nothing uses the private API of the json module."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] == "server" or relative.name == "encoding.py":
            continue  # the bundled server is Django-free and keeps plain json
        uses = _json_writers(ast.parse(path.read_text()))
        if uses:
            offenders.append(f"{relative}: {sorted(set(uses))}")
    assert offenders == []
