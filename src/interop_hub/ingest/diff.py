"""Comparing incoming rows with the Repository's current digests: what to add, update, delete.

Pure logic (no database): the caller loads ``{id: digest}`` for the kinds the bundle states,
and applies the plan it gets back.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar


class Row(Protocol):
    @property
    def id(self) -> uuid.UUID: ...
    @property
    def digest(self) -> str: ...


R = TypeVar("R", bound=Row)


@dataclass
class Plan(Generic[R]):
    adds: list[R] = field(default_factory=list)
    updates: list[R] = field(default_factory=list)
    deletes: list[uuid.UUID] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.adds) + len(self.updates) + len(self.deletes)


def plan(
    current: Mapping[uuid.UUID, str],
    incoming: Iterable[R],
    *,
    full_state: bool,
    deleted: Iterable[uuid.UUID] = (),
    keep: Iterable[uuid.UUID] = (),
) -> Plan[R]:
    """Plan the change from ``current`` to ``incoming``.

    ``full_state``: the incoming rows are the whole state (a bulk file), so current rows that
    are not incoming are deleted — except those in ``keep`` (rows the source sent but that were
    rejected: a bad row never deletes what is already there). Otherwise (a delta file) only
    ``deleted`` ids are deleted.
    """
    result: Plan[R] = Plan()
    seen: set[uuid.UUID] = set()
    for row in incoming:
        seen.add(row.id)
        old = current.get(row.id)
        if old is None:
            result.adds.append(row)
        elif old != row.digest:
            result.updates.append(row)
    if full_state:
        kept = set(keep)
        result.deletes = [i for i in current if i not in seen and i not in kept]
    else:
        result.deletes = [i for i in dict.fromkeys(deleted) if i in current and i not in seen]
    return result
