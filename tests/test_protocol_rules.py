"""The protocol's rules, written once in :mod:`pusherable.protocol_rules`, hold everywhere.

The Django side, the delivery backend and the bundled server read them from that
module; these tests check that the rules agree with the ``pusher`` library's own
checks, and that each layer refuses what the rules refuse (a trailing newline
above all: ``$`` accepts one).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pusher import util as pusher_util

from pusherable import protocol_rules
from pusherable.backends.items import plainly_valid
from pusherable.channels import parse_channel
from pusherable.delivery import clean_socket_id
from pusherable.events import Event
from pusherable.exceptions import InvalidChannelName
from pusherable.page_config import browser_config

NAME_ALPHABET = st.sampled_from("-a_Z9=@,.;\n #:/é")


def pusher_library_accepts_channel(name: str) -> bool:
    try:
        pusher_util.validate_channel(name)
    except ValueError:
        return False
    return True


@given(st.text(NAME_ALPHABET, max_size=210))
def test_channel_names_agree_with_the_pusher_library(name: str) -> None:
    assert protocol_rules.is_valid_channel_name(name) == pusher_library_accepts_channel(name)


@given(st.from_regex(r"[0-9]{1,20}\.[0-9]{1,20}", fullmatch=True))
def test_every_valid_socket_id_is_one_the_pusher_library_accepts(socket_id: str) -> None:
    assert protocol_rules.is_valid_socket_id(socket_id)
    assert pusher_util.validate_socket_id(socket_id) == socket_id


@pytest.mark.parametrize(
    "value", ["1.2\n", "1.2 ", "1", "1.", ".2", "\u0661.\u0662", "1" * 21 + ".2", 1.2]
)
def test_malformed_socket_ids_are_refused(value: object) -> None:
    assert not protocol_rules.is_valid_socket_id(value)
    assert clean_socket_id(value) is None


@pytest.mark.parametrize("name", ["news\n", "private-article_1\n", "private-\narticle_1"])
def test_a_trailing_newline_is_refused_by_every_layer(name: str) -> None:
    assert not protocol_rules.is_valid_channel_name(name)
    assert not plainly_valid(Event(channels=[name], name="update"))
    with pytest.raises(InvalidChannelName):
        parse_channel(name)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("private-encrypted-x", protocol_rules.ChannelType.ENCRYPTED),
        ("private-x", protocol_rules.ChannelType.PRIVATE),
        ("presence-x", protocol_rules.ChannelType.PRESENCE),
        ("#server-to-user-1", protocol_rules.ChannelType.SERVER_TO_USER),
        ("x-private-y", protocol_rules.ChannelType.PUBLIC),
    ],
)
def test_channel_type_reads_the_prefix(name: str, expected: protocol_rules.ChannelType) -> None:
    assert protocol_rules.channel_type(name) is expected


def test_the_page_config_hands_the_prefixes_to_the_browser(settings) -> None:
    settings.PUSHER_KEY = "key"
    rules = browser_config()["protocol"]
    assert rules["prefixes"]["presence"] == protocol_rules.PRESENCE_PREFIX
    assert rules["prefixes"]["private"] == protocol_rules.PRIVATE_PREFIX
    assert rules["prefixes"]["encrypted"] == protocol_rules.ENCRYPTED_PREFIX
    assert rules["protocolEventPrefixes"] == list(protocol_rules.PROTOCOL_EVENT_PREFIXES)
    assert rules["libraryEventPrefix"] == protocol_rules.LIBRARY_EVENT_PREFIX
