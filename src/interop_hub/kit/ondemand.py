"""A sequence whose items are produced when they are first used, a chunk at a time.

A collection's first ``COPY`` of memberships is bound by the server: Python has time to spare
while the server stores the rows sent before. Whatever a sequence of this kind produces lazily
(the memberships read from enrollments.csv, the rows built from them) is produced inside that
``COPY`` rather than before it, with the server idle.

What has been produced is kept: a second pass, ``len()`` or an index reuses it. Truthiness
produces at most one chunk. Any consumer gets the whole sequence, in order, however early it
asks; only the time at which the work happens depends on when it is asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from typing import TypeVar, overload

T = TypeVar("T")


class OnDemand(Sequence[T]):
    """The items of ``items``, produced :attr:`CHUNK` at a time as they are first used.

    ``count``: how many there will be, when the producer knows it beforehand (``len()`` then
    produces nothing; a different number at the end is an error). Without it, ``len()``
    produces them all. ``done`` runs once, after the last item was produced.

    Should producing fail, the exception reaches whoever asked, and every later use raises
    again: the sequence never passes for complete with items missing.
    """

    CHUNK = 1000

    def __init__(
        self,
        items: Iterable[T],
        *,
        count: int | None = None,
        done: Callable[[], None] | None = None,
    ) -> None:
        self._items: Iterator[T] | None = iter(items)
        self._count = count
        self._done = done
        self._made: list[T] = []
        self._failed: BaseException | None = None

    @property
    def complete(self) -> bool:
        """Whether every item has been produced."""
        return self._items is None and self._failed is None

    @property
    def started(self) -> bool:
        """Whether producing has begun (an item made, the end reached, or a failure)."""
        return bool(self._made) or self._items is None or self._failed is not None

    def produce_all(self) -> None:
        """Produce whatever is left."""
        while self._produce_more():
            pass

    def __len__(self) -> int:
        if self._count is not None:
            return self._count
        self.produce_all()
        return len(self._made)

    def __bool__(self) -> bool:
        if self._failed is None and self._made:
            return True
        return self._produce_more()

    def __iter__(self) -> Iterator[T]:
        made, at = self._made, 0
        # Another pass may have produced more meanwhile: look at what is made before making.
        while at < len(made) or self._produce_more():
            end = len(made)
            while at < end:
                yield made[at]
                at += 1

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[T]: ...
    def __getitem__(self, index: int | slice) -> T | Sequence[T]:
        self.produce_all()
        return self._made[index]

    def _produce_more(self) -> bool:
        """Produce the next chunk; False when there was nothing left."""
        if self._failed is not None:
            raise RuntimeError("producing this sequence failed earlier") from self._failed
        if self._items is None:
            return False
        try:
            chunk = list(islice(self._items, self.CHUNK))
        except BaseException as exc:
            self._failed = exc
            raise
        if chunk:
            self._made.extend(chunk)
            return True
        self._items = None
        try:
            if self._count is not None and len(self._made) != self._count:
                raise RuntimeError(f"{len(self._made)} items produced, {self._count} announced")
            if self._done is not None:
                self._done()
        except BaseException as exc:
            self._failed = exc
            raise
        return False
