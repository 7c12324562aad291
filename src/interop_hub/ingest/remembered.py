"""What a collection needs of the Repository while it reads a bundle: the lines the last
collection accepted (stored in ``ingest_remembered_lines``), what refers to objects that are
gone, and the source ids it has — each read only when the reader asks.

Reading happens outside the collection's write transaction, so every lookup here takes a short
read transaction of its own. What the reader decided from them is checked again under the
cloud's lock before anything is applied (:func:`writer`): a collection that applied meanwhile
replaced the remembered lines, and the bundle is then read again without them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from collections.abc import Set as AbstractSet
from typing import cast

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.orm import Session, sessionmaker

from interop_hub.ingest.models import RememberedLines
from interop_hub.ingest.oneroster import Remembered
from interop_hub.ingest.records import KINDS, Kind
from interop_hub.kit.bulk import chunks
from interop_hub.kit.db import one_of, transaction
from interop_hub.repository.ids import CachedIds
from interop_hub.repository.models import RepoLink, RepoMembership, RepoObject

_lines_t = cast(Table, RememberedLines.__table__)


def load(session: Session, cloud_id: uuid.UUID) -> tuple[uuid.UUID | None, dict[str, Remembered]]:
    """The collection that wrote the cloud's remembered lines (None: none are stored) and
    them, by file."""
    r = RememberedLines
    writer: uuid.UUID | None = None
    found: dict[str, Remembered] = {}
    query = select(r.file, r.ingestion_id, r.context, r.keys, r.source_ids).where(
        r.cloud_id == cloud_id
    )
    for file, ingestion_id, context, keys, source_ids in session.execute(query):
        writer = ingestion_id
        ids = source_ids.split("\n") if source_ids else []
        found[file] = Remembered(context, bytes(keys), ids)
    return writer, found


def writer(session: Session, cloud_id: uuid.UUID) -> uuid.UUID | None:
    """The collection that wrote the cloud's remembered lines, or None."""
    return session.scalar(
        select(_lines_t.c.ingestion_id).where(_lines_t.c.cloud_id == cloud_id).limit(1)
    )


def replace(
    session: Session,
    cloud_id: uuid.UUID,
    ingestion_id: uuid.UUID,
    remember: Mapping[str, Remembered],
) -> None:
    """Make ``remember`` the cloud's remembered lines (none: forget them all), in the
    transaction that applies the collection ``ingestion_id`` read them from."""
    session.execute(delete(_lines_t).where(_lines_t.c.cloud_id == cloud_id))
    rows = [
        {
            "cloud_id": cloud_id,
            "file": file,
            "ingestion_id": ingestion_id,
            "context": lines.context,
            "keys": lines.keys,
            # a line-safe file's ids hold no line break (it would need quotes across lines)
            "source_ids": "\n".join(lines.source_ids),
        }
        for file, lines in remember.items()
    ]
    if rows:
        session.execute(insert(_lines_t), rows)


class RepositoryReferrers:
    """:class:`~interop_hub.ingest.oneroster.Referrers` answered from the Repository."""

    def __init__(self, sessions: sessionmaker[Session], cloud_id: uuid.UUID) -> None:
        self.sessions = sessions
        self.cloud_id = cloud_id
        self.ids = CachedIds(cloud_id)

    def _ids(self, kind: Kind, source_ids: AbstractSet[str]) -> list[uuid.UUID]:
        make = self.ids.maker(kind)
        return [make(s) for s in source_ids]

    def objects(self, kind: Kind, targets: Mapping[Kind, AbstractSet[str]]) -> set[str]:
        ids = [i for target, sids in targets.items() for i in self._ids(target, sids)]
        found: set[str] = set()
        with transaction(self.sessions) as session:
            for batch in chunks(ids):
                query = (
                    select(RepoObject.source_id)
                    .join(RepoLink, RepoLink.from_id == RepoObject.id)
                    .where(one_of(session, RepoLink.to_id, batch), RepoObject.kind == kind)
                )
                found.update(session.scalars(query))
        return found

    def memberships(self, targets: Mapping[Kind, AbstractSet[str]]) -> set[str]:
        m = RepoMembership
        columns = {"person": m.person_id, "section": m.section_id, "org": m.school_id}
        found: set[str] = set()
        with transaction(self.sessions) as session:
            for kind, sids in targets.items():
                for batch in chunks(self._ids(kind, sids)):
                    query = select(m.source_id).where(one_of(session, columns[kind], batch))
                    found.update(session.scalars(query))
        return found


class ExistingIds(Mapping[Kind, AbstractSet[str]]):
    """The source ids the Repository has, by kind, each kind read when first asked for (a
    bundle of bulk files needs few of them, or none)."""

    def __init__(self, sessions: sessionmaker[Session], cloud_id: uuid.UUID) -> None:
        self.sessions = sessions
        self.cloud_id = cloud_id
        self._read: dict[Kind, set[str]] = {}

    def __getitem__(self, kind: Kind) -> set[str]:
        if kind not in self._read:
            with transaction(self.sessions) as session:
                self._read[kind] = set(
                    session.scalars(
                        select(RepoObject.source_id).where(
                            RepoObject.cloud_id == self.cloud_id, RepoObject.kind == kind
                        )
                    )
                )
        return self._read[kind]

    def __iter__(self) -> Iterator[Kind]:
        return iter(KINDS)

    def __len__(self) -> int:
        return len(KINDS)
