"""The registries a worker loads at start live as long as it does: keep them out of the collector.

CPython's cyclic garbage collector now and then walks every object it tracks (a full, generation-2
collection). With 1M enrolled subjects per tenant that is millions of entries, and each full pass
held the event loop 0.6-1.2 s, every 15-40 s, with every capture in flight waiting behind it.
Freezing moves what survived a collection into a permanent generation that the collector no longer
walks; it is still freed as usual when its last reference goes. Done as the feeds load (each
pass then walks only what was loaded since the last) and once they have caught up: what was
loaded by then is the gallery, the consents and the cameras, not garbage.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger("facegate")


def freeze_loaded(final: bool = True) -> int:
    """Collect what is garbage now, then freeze everything left; returns how many objects are frozen.
    `final`: the feeds have caught up (logged), else they are still loading."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.log(logging.INFO if final else logging.DEBUG,
            "%d objects loaded at start frozen out of the garbage collector's full passes", frozen)  # fmt: skip
    return frozen
