"""Keep CPython's cyclic garbage collector from stalling requests.

A running server holds a few hundred thousand long-lived objects (modules, the ORM's
metadata, routes, templates, the bot's vocabularies). CPython's full (generation 2)
collection walks all of them: measured in ``helpline serve`` under 500 webhooks/s, one pass
took 115-240 ms and ran every 1-2 s, which was the whole p99 of the webhook benchmark.

So, once start-up is done, :func:`freeze_long_lived` moves everything alive into the
permanent generation (``gc.freeze``): collections no longer walk it, while objects created
afterwards are collected as before. (The bot's model, loaded later, is NumPy arrays and
string-keyed dicts: little for the collector to walk.)

The young-generation threshold is raised as well, so young collections run every few seconds
instead of many times a second: at 500 webhooks/s one then takes 10-20 ms every ~4 s.
"""

from __future__ import annotations

import gc

#: Allocations (minus deallocations) between young collections; CPython's default is 700.
YOUNG_THRESHOLD = 20_000


def freeze_long_lived() -> None:
    """Collect once, then exempt every object alive now from future collections."""
    gc.collect()
    gc.freeze()
    _first, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, oldest)
