"""Signature vectors of PROTOCOL sections 2.3, 6.1 and 7, and the checks built on them."""

from __future__ import annotations

import pusher
import pytest

from pusherable.server import signatures

KEY = "278d425bdf160c739803"
SECRET = "7ad3773142a6692b25b8"
SOCKET = "1234.1234"


@pytest.mark.parametrize(
    ("channel", "channel_data", "expected"),
    [
        (
            "private-foobar",
            None,
            "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4",
        ),
        (
            "presence-foobar",
            '{"user_id":10,"user_info":{"name":"Mr. Channels"}}',
            "31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80",
        ),
        (
            "presence-foobar",
            '{"user_id": 10, "user_info": {"name": "Mr. Channels"}}',
            "5b8808f3035fec2e4157c6b430a06d5b0de16d174e1a779e0e2b64d9983bde27",
        ),
    ],
)
def test_channel_vectors(channel: str, channel_data: str | None, expected: str) -> None:
    assert signatures.sign_channel(SECRET, SOCKET, channel, channel_data) == expected
    signed = signatures.channel_auth_string(SOCKET, channel, channel_data)
    assert signatures.check_auth(f"{KEY}:{expected}", KEY, SECRET, signed)


@pytest.mark.parametrize(
    ("user_data", "expected"),
    [
        ('{"id":"12345"}', "4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba"),
        ('{"id": "12345"}', "d06dc389319077f890321aeac54e04868921e1601686928f61fc9bf702e92830"),
    ],
)
def test_signin_vectors(user_data: str, expected: str) -> None:
    assert signatures.sign_user(SECRET, SOCKET, user_data) == expected


def test_request_vector() -> None:
    body = b'{"name":"foo","channels":["project-3"],"data":"{\\"some\\":\\"data\\"}"}'
    assert signatures.body_md5(body) == "ec365a775a4cd0599faeb73354201b6f"
    params = {
        "auth_key": KEY,
        "auth_timestamp": "1353088179",
        "auth_version": "1.0",
        "body_md5": "ec365a775a4cd0599faeb73354201b6f",
        "auth_signature": "ignored",
    }
    assert (
        signatures.sign_request(SECRET, "post", "/apps/3/events", params)
        == "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"
    )


def test_string_to_sign_sorts_and_lowercases_without_escaping() -> None:
    params = {"info": "user_count,subscription_count", "Auth_Key": "k", "auth_signature": "x"}
    assert signatures.string_to_sign("get", "/p", params) == (
        "GET\n/p\nauth_key=k&info=user_count,subscription_count"
    )


def test_webhook_vector_and_pusher_library_agrees() -> None:
    body = b'{"time_ms":1327078148132,"events":[{"name":"channel_occupied","channel":"test"}]}'
    expected = "abfea5004a8dd261c09cf7357e59a6dbdbfd3d6a9846970f7d549e8e2b57bb32"
    assert signatures.sign_webhook(SECRET, body) == expected


def test_pusher_library_signatures_verify() -> None:
    client = pusher.Pusher(app_id="1", key=KEY, secret=SECRET)
    private = client.authenticate(channel="private-x", socket_id=SOCKET)
    assert signatures.check_auth(private["auth"], KEY, SECRET, f"{SOCKET}:private-x")
    presence = client.authenticate(
        channel="presence-x", socket_id=SOCKET, custom_data={"user_id": "1"}
    )
    signed = f"{SOCKET}:presence-x:{presence['channel_data']}"
    assert signatures.check_auth(presence["auth"], KEY, SECRET, signed)


@pytest.mark.parametrize(
    "auth",
    [
        None,
        123,
        "",
        "no-colon",
        f"wrongkey:{signatures.sign(SECRET, SOCKET + ':private-x')}",
        f"{KEY}:{'0' * 64}",
        f"{KEY}:",
    ],
)
def test_check_auth_refuses(auth: object) -> None:
    assert not signatures.check_auth(auth, KEY, SECRET, f"{SOCKET}:private-x")


def test_constant_time_equal() -> None:
    assert signatures.constant_time_equal("abc", "abc")
    assert not signatures.constant_time_equal("abc", "abd")
    assert not signatures.constant_time_equal("abc", "ab")
