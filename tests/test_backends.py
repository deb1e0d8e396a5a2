"""The locmem, console and dummy backends, and loading backends by dotted path."""

import io
import json
import uuid
from decimal import Decimal

import pytest
from django.test import override_settings

from pusherable import delivery, testing
from pusherable.backends import console, dummy, locmem
from pusherable.backends.base import BaseBackend
from pusherable.events import Event


@pytest.fixture
def fresh_backend():
    delivery.reset_backend(timeout=0)
    yield
    delivery.reset_backend(timeout=0)


def test_base_backend_states_its_contract():
    with pytest.raises(NotImplementedError, match="send_events"):
        BaseBackend().send_events([])
    assert BaseBackend().flush(0) is True


def test_locmem_appends_deep_copies():
    data = {"object": {"title": "A"}}
    event = Event(["private-article_1"], "view", data, "1.2")
    assert locmem.Backend().send_events([event]) == 1
    data["object"]["title"] = "changed later"
    assert testing.outbox[0].data == {"object": {"title": "A"}}
    assert testing.outbox[0].channels == ["private-article_1"]
    assert testing.outbox[0].socket_id == "1.2"


def test_console_writes_one_json_line_per_event():
    stream = io.StringIO()
    backend = console.Backend(stream=stream)
    key = uuid.uuid4()
    sent = backend.send_events(
        [
            Event(
                ["private-article_1", "private-article_2"], "updated", {"price": Decimal("1.50")}
            ),
            Event(["private-ticket_x"], "view", {"id": key}, "12.34"),
        ]
    )
    assert sent == 2
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines == [
        {
            "channels": ["private-article_1", "private-article_2"],
            "event": "updated",
            "data": {"price": "1.50"},
            "socket_id": None,
        },
        {
            "channels": ["private-ticket_x"],
            "event": "view",
            "data": {"id": str(key)},
            "socket_id": "12.34",
        },
    ]


def test_console_defaults_to_stdout(capsys):
    console.Backend().send_events([Event(["c"], "e", {"a": 1})])
    assert json.loads(capsys.readouterr().out)["event"] == "e"


def test_dummy_discards():
    assert dummy.Backend().send_events([Event(["c"], "e", {})]) == 1
    assert testing.outbox == []


@pytest.mark.parametrize(
    ("path", "cls"),
    [
        ("pusherable.backends.locmem.Backend", locmem.Backend),
        ("pusherable.backends.console.Backend", console.Backend),
        ("pusherable.backends.dummy.Backend", dummy.Backend),
    ],
)
def test_backend_is_loaded_by_dotted_path(fresh_backend, path, cls):
    with override_settings(PUSHERABLE_BACKEND=path):
        assert type(delivery.get_backend()) is cls


def test_backend_options_reach_the_constructor(fresh_backend):
    stream = io.StringIO()
    with override_settings(
        PUSHERABLE_BACKEND="pusherable.backends.console.Backend",
        PUSHERABLE_BACKEND_OPTIONS={"stream": stream},
    ):
        delivery.trigger("c", "e", {"x": 1}, on_commit=False)
    assert json.loads(stream.getvalue())["data"] == {"x": 1}


def test_default_backend_is_the_pusher_backend(fresh_backend):
    from pusherable.backends import pusher

    with override_settings(PUSHERABLE_BACKEND="pusherable.backends.pusher.Backend"):
        backend = delivery.get_backend()
        assert type(backend) is pusher.Backend
        assert delivery.get_backend() is backend  # one per process


@pytest.mark.parametrize("backend_class", [locmem.Backend, console.Backend, dummy.Backend])
def test_an_unknown_option_is_a_type_error_naming_it(backend_class):
    with pytest.raises(TypeError, match=r"unknown option\(s\): senders, timeout"):
        backend_class(timeout=1, senders=2)
