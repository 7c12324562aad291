"""Comparing incoming records with the Repository's current digests: what to add, update,
delete.

Pure logic (no database): the caller loads ``{source id: digest}`` for the kinds the bundle
states, and applies the plan it gets back. A record whose digest equals the stored one is
unchanged and never built into a row (see :mod:`interop_hub.ingest.normalize`); a stored
legacy digest (one that :func:`~interop_hub.ingest.normalize.is_record_digest` refuses) is
compared the old way, on the built row, so an upgrade does not turn every row into an update.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from interop_hub.ingest.normalize import is_record_digest


class Row(Protocol):
    @property
    def id(self) -> uuid.UUID: ...
    @property
    def digest(self) -> str: ...


R = TypeVar("R", bound=Row)
S = TypeVar("S")


@dataclass
class Plan(Generic[R]):
    adds: list[R] = field(default_factory=list)
    updates: list[R] = field(default_factory=list)
    deletes: list[uuid.UUID] = field(default_factory=list)
    unchanged_legacy: list[tuple[uuid.UUID, str]] = field(default_factory=list)
    """Rows whose stored legacy digest matched: (id, their record digest), for a caller that
    wants to store the new digest (nothing about them changed)."""

    @property
    def size(self) -> int:
        return len(self.adds) + len(self.updates) + len(self.deletes)


@dataclass(frozen=True)
class Builder(Generic[S, R]):
    """How one kind's records become rows."""

    row: Callable[[S, str], R]
    """The row of a record, given its digest."""
    legacy_digest: Callable[[R], str]
    """The digest earlier versions stored for a row."""
    row_id: Callable[[str], uuid.UUID]
    """The id of a source id (for deletes)."""


def plan(
    current: Mapping[str, str],
    incoming: Iterable[tuple[str, str, S]],
    build: Builder[S, R],
    *,
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
    """
    result: Plan[R] = Plan()
    make, legacy = build.row, build.legacy_digest
    if not current:  # a first collection: everything is new, nothing to delete
        result.adds = [make(record, digest) for _, digest, record in incoming]
        return result
    seen: set[str] = set()
    see, stored = seen.add, current.get
    adds, updates = result.adds.append, result.updates.append
    for source_id, digest, record in incoming:
        see(source_id)
        old = stored(source_id)
        if old == digest:
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
