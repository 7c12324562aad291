"""Comparing incoming records with the Repository's current digests: what to add, update,
delete.

Pure logic (no database): the caller loads ``{source id: digest}`` for the kinds the bundle
states, and applies the plan it gets back. A record whose digest equals the stored one is
unchanged and never built into a row (see :mod:`interop_hub.ingest.normalize`). A digest
stored by an earlier version is compared its way, so an upgrade does not turn every row into an
update: the version before's (:func:`~interop_hub.ingest.normalize.is_previous_digest`) on the
record, and is left in place; a legacy one (neither) on the built row, and is replaced.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar, overload

from interop_hub.ingest.normalize import is_previous_digest, is_record_digest
from interop_hub.kit.ondemand import OnDemand


class Row(Protocol):
    @property
    def id(self) -> uuid.UUID: ...
    @property
    def digest(self) -> str: ...


R = TypeVar("R", bound=Row)
S = TypeVar("S")


@dataclass
class Plan(Generic[R]):
    adds: Sequence[R] = field(default_factory=list)
    """A first collection's are built on demand (:func:`plan`)."""
    updates: list[R] = field(default_factory=list)
    deletes: list[uuid.UUID] = field(default_factory=list)
    unchanged_legacy: list[tuple[uuid.UUID, str]] = field(default_factory=list)
    """Rows whose stored legacy digest matched: (id, their record digest), for a caller that
    wants to store the new digest (nothing about them changed)."""

    @property
    def size(self) -> int:
        return len(self.adds) + len(self.updates) + len(self.deletes)


class FirstAdds(Sequence[R], Generic[S, R]):
    """The adds of a first collection (nothing current: every record is new).

    Their rows are built when first used, a chunk at a time (an :class:`OnDemand`) — or never:
    a writer that makes what it writes straight from the records takes them first
    (:meth:`take_records`). The sequence then knows how many there were, once all were taken,
    and has no items.
    """

    def __init__(
        self,
        incoming: Iterable[tuple[str, str, S]],
        make: Callable[[S, str], R],
        count: int | None,
    ) -> None:
        self._incoming = iter(incoming)
        self._count = count
        self._rows: OnDemand[R] = OnDemand(
            (make(record, digest) for _, digest, record in self._incoming), count=count
        )
        self._taken = False
        self._taken_count = 0
        self._taken_all = False

    def take_records(self) -> Iterator[tuple[S, str]] | None:
        """The records with their digests, once, if no row was built yet (else None)."""
        if self._taken or self._rows.started:
            return None
        self._taken = True
        return self._take()

    def _take(self) -> Iterator[tuple[S, str]]:
        for _, digest, record in self._incoming:
            self._taken_count += 1
            yield record, digest
        if self._count is not None and self._taken_count != self._count:
            raise RuntimeError(f"{self._taken_count} records taken, {self._count} announced")
        self._taken_all = True

    def __len__(self) -> int:
        if not self._taken:
            return len(self._rows)
        if not self._taken_all:
            raise RuntimeError("the records are still being taken: their number is not known")
        return self._taken_count

    def __bool__(self) -> bool:
        return len(self) > 0 if self._taken else bool(self._rows)

    def __iter__(self) -> Iterator[R]:
        self._check_rows()
        return iter(self._rows)

    @overload
    def __getitem__(self, index: int) -> R: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[R]: ...
    def __getitem__(self, index: int | slice) -> R | Sequence[R]:
        self._check_rows()
        return self._rows[index]

    def _check_rows(self) -> None:
        if self._taken:
            raise RuntimeError("these adds were written from their records: they have no rows")


@dataclass(frozen=True)
class Builder(Generic[S, R]):
    """How one kind's records become rows."""

    row: Callable[[S, str], R]
    """The row of a record, given its digest."""
    previous_digest: Callable[[S], str]
    """The digest the version before stored for a record (:data:`~.normalize.PREVIOUS_PREFIX`)."""
    legacy_digest: Callable[[R], str]
    """The digest earlier versions stored for a row."""
    row_id: Callable[[str], uuid.UUID]
    """The id of a source id (for deletes)."""


def plan(
    current: Mapping[str, str],
    incoming: Iterable[tuple[str, str, S]],
    build: Builder[S, R],
    *,
    count: int | None,
    full_state: bool,
    deleted: Iterable[str] = (),
    keep: Iterable[str] = (),
    unchanged: AbstractSet[str] = frozenset(),
) -> Plan[R]:
    """Plan the change from ``current`` (source id → stored digest) to ``incoming``
    (source id, digest, record), each source id at most once.

    ``full_state``: the incoming records are the whole state (a bulk file), so current rows
    that are not incoming are deleted — except those in ``keep`` (source ids the source sent
    but that were rejected: a bad row never deletes what is already there — and those in
    ``unchanged``, source ids the reader skipped because their lines are as the Repository has
    them). Otherwise (a delta file) only ``deleted`` source ids are deleted.

    A first collection's adds (``current`` is empty: everything is new, nothing to delete)
    are a :class:`FirstAdds`: built when first used,
    :attr:`~interop_hub.kit.ondemand.OnDemand.CHUNK` at a time, or taken as records by a
    writer that encodes them itself. Their first use is their ``COPY``: the work runs while
    the server stores the rows sent before, beside the server's instead of before it.
    ``count``: how many records ``incoming`` holds, if known (None: as many as it yields).
    """
    result: Plan[R] = Plan()
    make, previous, legacy = build.row, build.previous_digest, build.legacy_digest
    if not current:
        result.adds = FirstAdds(incoming, make, count)
        return result
    seen: set[str] = set()
    see, stored = seen.add, current.get
    added: list[R] = []
    result.adds = added
    adds, updates = added.append, result.updates.append
    for source_id, digest, record in incoming:
        see(source_id)
        old = stored(source_id)
        if old == digest:
            continue
        if old is not None and is_previous_digest(old):
            if previous(record) == old:
                continue  # unchanged: its digest stays as it is
            updates(make(record, digest))
            continue
        row = make(record, digest)
        if old is None:
            adds(row)
        elif is_record_digest(old) or legacy(row) != old:
            updates(row)
        else:
            result.unchanged_legacy.append((row.id, digest))
    if full_state:
        kept = set(keep)
        gone = [s for s in current if s not in seen and s not in kept and s not in unchanged]
    else:
        gone = [s for s in dict.fromkeys(deleted) if s in current and s not in seen]
    result.deletes = [build.row_id(s) for s in gone]
    return result
