"""What went wrong with a delivery: transient or permanent, and what to do about it.

Faults are told apart by the exception's type and the HTTP status it carries,
never by the text of its message:

- **transient**, retried with backoff until :data:`PUSHERABLE_RETRY_DEADLINE`:
  network faults (refused, reset, timed out, a proxy that fails), 5xx, 408,
  425 and 429;
- **permanent**, logged once with a hint and reported through
  :data:`pusherable.signals.delivery_failed`: any other 4xx (bad credentials,
  unknown app, malformed or too large events), TLS certificate faults, and
  client settings the ``pusher`` library refuses.

A 2xx answer whose JSON body reports an error (soketi's
``{"error": "...", "code": 401}``) counts as the status in its ``code``
(:exc:`~pusherable.backends.http.APIError`).
"""

from __future__ import annotations

import urllib3
from pusher import errors as pusher_errors

from ..exceptions import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from ..protocol_rules import MAX_CHANNEL_NAME_LENGTH
from .http import APIError

__all__ = ["TRANSIENT_STATUSES", "cause_of", "classify_error", "fault_hint"]

#: 4xx statuses worth retrying; every 5xx is too.
TRANSIENT_STATUSES = frozenset({408, 425, 429})

# The pusher library's own exceptions (raised by its other HTTP backends) name
# one status each, except PusherBadStatus, whose status is only in its text.
_LIBRARY_STATUSES: tuple[tuple[type[Exception], int], ...] = (
    (pusher_errors.PusherBadRequest, 400),
    (pusher_errors.PusherBadAuth, 401),
    (pusher_errors.PusherForbidden, 403),
)

#: Hints for faults that are not an HTTP status, by cause.
NAME_RULES = f"at most {MAX_CHANNEL_NAME_LENGTH} characters of a-z A-Z 0-9 _ - = @ , . ;"


def classify_error(exc: BaseException) -> DeliveryError:
    """Map an exception from the client to a transient or permanent :class:`DeliveryError`."""
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, APIError):
        return error_for_status(exc.status, str(exc))
    for exc_type, status in _LIBRARY_STATUSES:
        if isinstance(exc, exc_type):
            return error_for_status(status, str(exc))
    if isinstance(exc, pusher_errors.PusherBadStatus):
        # Another HTTP backend's error answer, status unknown: retried, so that
        # a server fault does not lose events; a lasting one ends at the deadline.
        return TransientDeliveryError(f"{type(exc).__name__}: {str(exc)[:300]}")
    if isinstance(exc, urllib3.exceptions.SSLError):
        # An untrusted or mismatched certificate does not heal by retrying.
        return PermanentDeliveryError(f"TLS: {_reason(exc)}", cause="tls")
    if isinstance(exc, urllib3.exceptions.LocationValueError):
        return PermanentDeliveryError(f"invalid API address: {exc}", cause="client")
    if isinstance(exc, (urllib3.exceptions.HTTPError, OSError)):
        return TransientDeliveryError(f"{type(exc).__name__}: {_reason(exc)}")
    return PermanentDeliveryError(f"{type(exc).__name__}: {str(exc)[:300]}")


def error_for_status(status: int | None, message: str) -> DeliveryError:
    """The :class:`DeliveryError` for an error answer with HTTP ``status``."""
    text = f"HTTP {status}: {message}" if status is not None else message
    if status is not None and (status >= 500 or status in TRANSIENT_STATUSES):
        return TransientDeliveryError(text, status=status)
    return PermanentDeliveryError(text, status=status)


def cause_of(error: DeliveryError, exc: BaseException) -> str:
    """The key under which a permanent fault is logged once: its status, else its kind."""
    if error.cause:
        return error.cause
    if error.status is not None:
        return str(error.status)
    return type(exc).__name__


def fault_hint(cause: str, *, where: str, retry_deadline: float) -> str:
    """The actionable sentence logged (once) for a fault ``cause`` at the API ``where``."""
    hints = {
        "400": f"the API refused an event as malformed; check channel and event names "
        f"({NAME_RULES}).",
        "401": f"the API at {where} refused the credentials; check that PUSHER_KEY and "
        "PUSHER_SECRET belong to PUSHER_APP_ID.",
        "403": f"the API at {where} refused the app; it may be disabled or over its "
        "message quota. Check PUSHER_APP_ID and the app's dashboard.",
        "404": f"no Pusher API at {where}; check PUSHER_HOST, PUSHER_PORT, PUSHER_SSL "
        "and PUSHER_APP_ID (or PUSHER_CLUSTER).",
        "413": "the API refused an event as too large (10 KB per event on Pusher); "
        "lower PUSHERABLE_MAX_PAYLOAD_SIZE or exclude fields from the payload.",
        "too-large": "an event's data is over 30 KB, more than the pusher library "
        "sends; lower PUSHERABLE_MAX_PAYLOAD_SIZE or exclude fields from the payload.",
        "invalid": f"an event was refused before sending; check its channel and event "
        f"names ({NAME_RULES}).",
        "client": "the Pusher client cannot be built from the settings; check "
        "PUSHER_APP_ID (digits only), PUSHER_KEY, PUSHER_SECRET, PUSHER_HOST, "
        "PUSHER_PORT (an integer) and PUSHER_SSL (a boolean).",
        "tls": f"the TLS connection to {where} failed; check PUSHER_SSL, PUSHER_HOST "
        "and the server's certificate (the backend's ca_certs option names a file of "
        "trusted certificates for a private CA).",
        "deadline": "the API stayed unreachable for PUSHERABLE_RETRY_DEADLINE "
        f"({retry_deadline:g}s) at {where}; check that it is up and reachable.",
        "transient": f"the API at {where} is unreachable or overloaded, and "
        'PUSHERABLE_DELIVERY = "sync" does not retry; use "background" delivery.',
        "shutdown": "the process stopped before the API accepted them; raise "
        "PUSHERABLE_SHUTDOWN_TIMEOUT or check that the API is reachable at exit.",
    }
    return hints.get(cause, f"check the Pusher API at {where} and the PUSHER_* settings.")


def _reason(exc: BaseException) -> str:
    # urllib3 says what failed in the exception it wraps (its ``reason``, or the
    # error it was raised from); its own message repeats the pool and the URL.
    inner = getattr(exc, "reason", None) or exc.__context__
    if isinstance(inner, BaseException) and inner is not exc:
        return f"{type(inner).__name__}: {str(inner)[:200]}"
    return str(exc)[:200]
