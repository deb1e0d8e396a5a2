"""Delivery backends, chosen by dotted path in ``PUSHERABLE_BACKEND``.

Each module holds one class named ``Backend``, like Django's e-mail backends:
``pusherable.backends.pusher.Backend`` (the default), ``.locmem.Backend`` (tests),
``.console.Backend`` (development) and ``.dummy.Backend`` (discard everything).
"""
