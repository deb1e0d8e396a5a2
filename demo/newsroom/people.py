"""How the newsroom names its users: "Bob", not "bob"."""

from typing import Any

__all__ = ["add_user_name", "display_name"]


def display_name(user: Any) -> str:
    """The user's full name, else their username."""
    return user.get_full_name() or user.get_username()


def add_user_name(payload: dict[str, Any], user: Any) -> dict[str, Any]:
    """Add ``user_name`` to an event's payload when a signed-in user made it."""
    if user is not None and user.is_authenticated:
        payload["user_name"] = display_name(user)
    return payload
