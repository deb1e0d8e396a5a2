"""The server's view of channel names and types, and config validation."""

from __future__ import annotations

import pytest

from pusherable.protocol_rules import (
    ChannelType,
    channel_type,
    is_cache_channel,
    is_valid_channel_name,
)
from pusherable.server.config import AppConfig, ConfigError, Limits, ServerConfig


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("private-encrypted-x", ChannelType.ENCRYPTED),
        ("private-encrypted-cache-x", ChannelType.ENCRYPTED),
        ("private-x", ChannelType.PRIVATE),
        ("private-cache-x", ChannelType.PRIVATE),
        ("presence-x", ChannelType.PRESENCE),
        ("#server-to-user-1", ChannelType.SERVER_TO_USER),
        ("x-private-y", ChannelType.PUBLIC),  # prefixes are anchored
        ("cache-x", ChannelType.PUBLIC),
        ("news", ChannelType.PUBLIC),
    ],
)
def test_channel_type(name: str, expected: ChannelType) -> None:
    assert channel_type(name) is expected


def test_cache_channels() -> None:
    assert is_cache_channel("cache-a")
    assert is_cache_channel("presence-cache-a")
    assert not is_cache_channel("private-a")


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("article_1", True),
        ("App.Models.Post.1", True),
        ("a-b_c=d@e,f.g;h", True),
        ("#server-to-user-42", True),
        ("#server-to-user-", False),
        ("#other", False),
        ("with space", False),
        ("a:b", False),
        ("a/b", False),
        ("", False),
        ("x" * 200, True),
        ("x" * 201, False),
        (None, False),
    ],
)
def test_channel_names(name: object, valid: bool) -> None:
    assert is_valid_channel_name(name, 200) is valid


def test_app_config_validation() -> None:
    AppConfig("123", "key", "secret")
    with pytest.raises(ConfigError, match="digits"):
        AppConfig("app-id", "key", "secret")
    with pytest.raises(ConfigError, match="key"):
        AppConfig("1", "bad key", "secret")
    with pytest.raises(ConfigError, match="secret"):
        AppConfig("1", "key", "")
    with pytest.raises(ConfigError, match="at least 1"):
        Limits(max_presence_members=0)


def test_server_config_validation() -> None:
    app = AppConfig("1", "key", "secret")
    config = ServerConfig(apps=(app,))
    assert config.apps == (app,)
    with pytest.raises(ConfigError, match="activity_timeout"):
        ServerConfig(apps=(app,), activity_timeout=0)
    with pytest.raises(ConfigError, match="unique"):
        ServerConfig(apps=(app, AppConfig("1", "other", "s")))
    with pytest.raises(ConfigError, match="path_prefix"):
        ServerConfig(apps=(app,), path_prefix="ws/")
    with pytest.raises(ConfigError, match="at least one app"):
        ServerConfig(apps=())
