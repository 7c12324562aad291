"""Pausing Python's cyclic garbage collector around bulk steps.

Rendering a page of sections or a whole district builds hundreds of thousands of small dicts,
lists and tuples that reference counting frees on its own; the cyclic collector, triggered by
every 700 new containers, walks the whole heap again and again meanwhile (measured: a page of
1,000 sections renders 2–3× faster without it). Nothing these steps build is cyclic, and the
collector runs again as soon as the step ends.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """Disable the cyclic collector for the block or, as ``@paused_gc()``, the function (nests;
    the outermost one re-enables it)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class BulkHeap:
    """The cyclic collector kept off while a step builds millions of long-lived, acyclic
    objects (a collection reading its bundle and planning), then kept off *them*.

    Re-enabling the collector after such a pause is not free: everything allocated meanwhile is
    still in its youngest generation, and the first collection walks all of it (0.6–0.8 s after
    reading a 100,000-student bundle). :meth:`resume` first moves it out of reach
    (:func:`gc.freeze`), then lets the collector run again on what comes after; leaving the
    block hands the frozen objects back (:func:`gc.unfreeze`) and restores the collector as it
    was.
    """

    def __enter__(self) -> BulkHeap:
        self._enabled = gc.isenabled()
        self._frozen = False
        gc.disable()
        return self

    def resume(self) -> None:
        """From here on, collect what is allocated (what exists now is left alone)."""
        if not self._frozen:
            gc.freeze()
            self._frozen = True
        if self._enabled:
            gc.enable()

    def __exit__(self, *exc: object) -> None:
        if self._frozen:
            gc.unfreeze()
        if self._enabled:
            gc.enable()
