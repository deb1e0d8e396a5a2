"""The one JSON encoder of the Django side: :class:`JSONEncoder` and :func:`encode_json`.

Every JSON text the Django side of pusherable writes goes through here: event
payloads and their size guard (:mod:`pusherable.payload`), the backends, the page
configuration (:func:`pusherable.browser.to_script_json`), the JSON endpoints
(catch-up, history, authorization; :mod:`pusherable.views`), the collision guard's
attributes and digests, presence member information. Values are converted as
:class:`~django.core.serializers.json.DjangoJSONEncoder` converts them (dates,
times, durations, ``Decimal``, ``UUID``, lazy strings); anything else raises
:exc:`TypeError`.

Only public APIs of :mod:`json` are used: a ``JSONEncoder`` subclass, built once
per set of options. The bundled server (:mod:`pusherable.server`) does not use
Django and keeps its own plain :mod:`json`.
"""

from __future__ import annotations

from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

__all__ = ["JSONEncoder", "encode_json"]


class JSONEncoder(DjangoJSONEncoder):
    """:class:`~django.core.serializers.json.DjangoJSONEncoder`, the encoder every JSON
    text of the Django side is written with (also the ``encoder`` of its
    :class:`~django.http.JsonResponse` answers).

    A project that needs another type in its events overrides :meth:`default` in a
    subclass and converts its values before triggering (or in
    ``get_pusher_payload()``); this class is the single place the library's own
    conversions live.
    """


def _build(*, sort_keys: bool, ensure_ascii: bool, compact: bool) -> JSONEncoder:
    return JSONEncoder(
        ensure_ascii=ensure_ascii,
        sort_keys=sort_keys,
        separators=(",", ":") if compact else (", ", ": "),
        # Circular data ends in RecursionError instead (see encode_json()): the
        # bookkeeping of every container's id costs each event, for data that is
        # never circular in practice.
        check_circular=False,
    )


# (sort_keys, ensure_ascii, compact) -> encode(): built once, each thread-safe
# (encode() keeps its state per call).
_ENCODERS = {
    (sort_keys, ensure_ascii, compact): _build(
        sort_keys=sort_keys, ensure_ascii=ensure_ascii, compact=compact
    ).encode
    for sort_keys in (False, True)
    for ensure_ascii in (False, True)
    for compact in (False, True)
}


def encode_json(
    value: Any, *, sort_keys: bool = False, ensure_ascii: bool = False, compact: bool = True
) -> str:
    """``value`` as JSON text, written by :class:`JSONEncoder`.

    The defaults give what Pusher carries and the size limit counts: compact
    (no spaces after ``,`` and ``:``), non-ASCII characters as themselves.
    ``ensure_ascii=True`` writes them as ``\\uXXXX`` escapes, ``compact=False`` with
    :func:`json.dumps`'s default separators, ``sort_keys=True`` sorts the keys of
    every object.

    Raises :exc:`TypeError` for a value the encoder cannot convert and
    :exc:`ValueError` for circular (or too deeply nested) data.
    """
    try:
        return _ENCODERS[sort_keys, ensure_ascii, compact](value)
    except RecursionError:
        raise ValueError("circular reference, or data nested too deeply") from None
