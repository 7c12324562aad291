"""Reading a collection's change set (``repo_changes``) one change per entry.

A collection that adds rows of a kind to a cloud that had none logs them as one entry standing
for all of them (:class:`~interop_hub.ingest.models.RepoChange` ``rows``). They are the cloud's
rows of that kind created at the entry's ``created_at``: rows are only ever written by
collections, one collection at a time per cloud, and an update keeps a row's ``created_at``.
:func:`change_set` spells such an entry out in the order the collection numbered it (by id).
A row a later collection deleted is no longer there to list; that collection's own change set
holds its delete, with the whole row as it was.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from interop_hub.ingest.apply import rows_of
from interop_hub.ingest.models import RepoChange


@dataclass(frozen=True, slots=True)
class Change:
    """One change of a change set: an add, an update or a delete of one row."""

    seq: int
    entity: str  # "object" | "membership"
    object_id: uuid.UUID
    kind: str
    subtype: str | None
    action: str  # "ADD" | "UPDATE" | "DELETE"
    prior: dict[str, Any] | None


def change_set(session: Session, ingestion_id: uuid.UUID) -> Iterator[Change]:
    """The changes ``ingestion_id`` applied, in order (``seq``)."""
    entries = session.scalars(
        select(RepoChange).where(RepoChange.ingestion_id == ingestion_id).order_by(RepoChange.seq)
    ).all()
    for entry in entries:
        if entry.rows is None:
            assert entry.object_id is not None  # the table's check constraint
            yield Change(
                entry.seq,
                entry.entity,
                entry.object_id,
                entry.kind,
                entry.subtype,
                entry.action,
                entry.prior,
            )
        else:
            yield from _spelled_out(session, entry)


def _spelled_out(session: Session, entry: RepoChange) -> Iterator[Change]:
    table, subtype, where = rows_of(entry.cloud_id, entry.kind)
    added = session.execute(
        select(table.c.id, subtype)
        .where(*where, table.c.created_at == entry.created_at)
        .order_by(table.c.id)
    )
    for position, (object_id, row_subtype) in enumerate(added):
        yield Change(
            entry.seq + position,
            entry.entity,
            object_id,
            entry.kind,
            row_subtype,
            "ADD",
            None,
        )
