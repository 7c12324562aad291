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
from concurrent.futures import Future, ThreadPoolExecutor
from typing import cast

from sqlalchemy import Engine, Table, delete, insert, select, text
from sqlalchemy.orm import Session, sessionmaker

from interop_hub.ingest.models import RememberedLines
from interop_hub.ingest.oneroster import Remembered
from interop_hub.ingest.oneroster.lines import Change
from interop_hub.ingest.records import KINDS, Kind
from interop_hub.kit.bulk import chunks
from interop_hub.kit.db import one_of, transaction
from interop_hub.repository import partitions
from interop_hub.repository.ids import CachedIds
from interop_hub.repository.models import RepoLink, RepoMembership, RepoObject

_lines_t = cast(Table, RememberedLines.__table__)


MAX_DEPTH = 7
"""A file's lines are stored whole again after this many stored changes (each adds a pass
over its stretches to every load) ..."""

MAX_DRIFT = 0.1
"""... or once the changes hold this share of its lines, or one change has more stretches
than this share of them (a file written in another order: a stretch per line)."""


def load(session: Session, cloud_id: uuid.UUID) -> tuple[uuid.UUID | None, dict[str, Remembered]]:
    """The collection that wrote the cloud's remembered lines (None: none are stored) and
    them, by file (a file whose rows do not make a whole chain is left out)."""
    r = RememberedLines
    query = (
        select(r.file, r.seq, r.ingestion_id, r.context, r.keys, r.source_ids, r.stretches)
        .where(r.cloud_id == cloud_id)
        .order_by(r.file, r.seq)
    )
    chains: dict[str, Remembered | None] = {}
    newest: dict[str, tuple[int, uuid.UUID]] = {}
    for file, seq, ingestion_id, context, keys, source_ids, stretches in session.execute(query):
        ids = source_ids.split("\n") if source_ids else []
        lines = chains.get(file)
        if seq == 0 and stretches is None:
            chains[file] = Remembered(context, bytes(keys), ids)
        elif lines is not None and seq == lines.depth + 1 and context == lines.context:
            chains[file] = lines.changed_by(Change(bytes(stretches or b""), bytes(keys), ids))
        else:
            chains[file] = None  # a gap in the chain: what was stored does not add up
        newest[file] = (seq, ingestion_id)
    if not newest:
        return None, {}
    writer = max(newest.values(), key=lambda pair: pair[0])[1]
    found = {
        file: lines
        for file, lines in chains.items()
        if lines is not None and newest[file][1] == writer
    }
    return writer, found


class Loading(Mapping[str, Remembered]):
    """The cloud's remembered lines (:func:`load`), loaded by a thread of their own while the
    reader reads and splits the files; the first lookup waits for them. A nightly of a
    100,000-student district loads 44 MB of them in 0.2-0.3 s, most of it waiting for the
    server, which the reading hides.

    Only from a PostgreSQL engine's pool: sessions bound to one connection (one transaction
    that every session joins) cannot be used by two threads at once, and an embedded SQLite
    database has no server to wait for; the lines are then loaded here and now."""

    def __init__(self, sessions: sessionmaker[Session], cloud_id: uuid.UUID) -> None:
        self._loaded: Future[tuple[uuid.UUID | None, dict[str, Remembered]]]
        bind = sessions.kw.get("bind")
        if not isinstance(bind, Engine) or bind.dialect.name != "postgresql":
            self._loaded = Future()
            self._loaded.set_result(self._load(sessions, cloud_id))
            return
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="remembered-lines")
        self._loaded = pool.submit(self._load, sessions, cloud_id)
        pool.shutdown(wait=False)  # its one thread ends with the load

    @staticmethod
    def _load(
        sessions: sessionmaker[Session], cloud_id: uuid.UUID
    ) -> tuple[uuid.UUID | None, dict[str, Remembered]]:
        with transaction(sessions) as session:
            return load(session, cloud_id)

    @property
    def writer(self) -> uuid.UUID | None:
        """The collection that wrote them (see :func:`load`)."""
        return self._loaded.result()[0]

    def __getitem__(self, file: str) -> Remembered:
        return self._loaded.result()[1][file]

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaded.result()[1])

    def __len__(self) -> int:
        return len(self._loaded.result()[1])


def writer(session: Session, cloud_id: uuid.UUID) -> uuid.UUID | None:
    """The collection that wrote the cloud's remembered lines, or None (each applied
    collection writes the newest row of every file it remembers)."""
    return session.scalar(
        select(_lines_t.c.ingestion_id)
        .where(_lines_t.c.cloud_id == cloud_id)
        .order_by(_lines_t.c.seq.desc())
        .limit(1)
    )


def loading_statements(name: str) -> tuple[str, str]:
    """The statements that create table ``name``, where a process that read a file for a
    collection stores its lines to remember (:attr:`.records.Bundle.remembered_elsewhere`): a
    row's context, keys and source ids, stored as ``ingest_remembered_lines`` stores them
    (uncompressed, migration 0011). Committed by that process; :func:`take_in` takes the row
    and drops the table."""
    quoted = partitions.quote_identifier(name)
    return (
        f"CREATE TABLE {quoted} (context text NOT NULL, keys bytea NOT NULL, "
        "source_ids text NOT NULL)",
        f"ALTER TABLE {quoted} ALTER COLUMN keys SET STORAGE EXTERNAL, "
        "ALTER COLUMN source_ids SET STORAGE EXTERNAL",
    )


def replace(
    session: Session,
    cloud_id: uuid.UUID,
    ingestion_id: uuid.UUID,
    remember: Mapping[str, Remembered],
) -> None:
    """Make ``remember`` the cloud's remembered lines (none: forget them all), in the
    transaction that applies the collection ``ingestion_id`` read them from; a file compared
    with the lines stored now gets only its change, unless it is time to store it whole. Lines
    another process stored (:func:`take_in`) come after."""
    changes = {file: lines for file, lines in remember.items() if _stored_as_change(lines)}
    session.execute(
        delete(_lines_t).where(_lines_t.c.cloud_id == cloud_id, _lines_t.c.file.not_in(changes))
    )
    rows = []
    for file, lines in remember.items():
        change = changes[file].change if file in changes else None
        # a line-safe file's ids hold no line break (it would need quotes across lines)
        rows.append(
            {
                "cloud_id": cloud_id,
                "file": file,
                "seq": lines.depth if change is not None else 0,
                "ingestion_id": ingestion_id,
                "context": lines.context,
                "keys": lines.keys if change is None else change.keys,
                "source_ids": "\n".join(lines.source_ids if change is None else change.source_ids),
                "stretches": None if change is None else change.stretches,
            }
        )
    if rows:
        session.execute(insert(_lines_t), rows)


def take_in(
    session: Session, cloud_id: uuid.UUID, ingestion_id: uuid.UUID, elsewhere: Mapping[str, str]
) -> None:
    """Add the lines stored ``elsewhere`` (file → table, :func:`loading_statements`; files
    that :func:`replace` did not store) to the cloud's remembered lines, after :func:`replace`,
    in the same transaction. The tables are dropped (with the transaction: should it roll back,
    they stay for the collection, else the worker, to drop)."""
    for file, table in elsewhere.items():
        quoted = partitions.quote_identifier(table)
        session.execute(
            text(
                "INSERT INTO ingest_remembered_lines (cloud_id, file, seq, ingestion_id, "  # noqa: S608
                f"context, keys, source_ids) SELECT :cloud, :file, 0, :ingestion, context, keys, "
                f"source_ids FROM {quoted}"
            ),
            {"cloud": cloud_id, "file": file, "ingestion": ingestion_id},
        )
        session.execute(text(f"DROP TABLE {quoted}"))


def _stored_as_change(lines: Remembered) -> bool:
    """Whether ``lines`` are stored as their change (see :data:`MAX_DEPTH`, :data:`MAX_DRIFT`)."""
    if lines.change is None:
        return False
    most = MAX_DRIFT * len(lines.source_ids)
    stretches = len(lines.change.stretches) // 16  # two 8-byte numbers each
    return lines.depth <= MAX_DEPTH and lines.drift <= most and stretches <= most


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
        """Two lookups by index, the links to the targets and then the objects they are from,
        rather than one join: joined, the planner once took every person and checked each
        one's links against the thousands of target ids one by one (a nightly's 5,000 ids:
        160 s, after the tables were partitioned; BENCHMARKS, session 13)."""
        ids = [i for target, sids in targets.items() for i in self._ids(target, sids)]
        cloud_id = self.cloud_id
        referring: set[uuid.UUID] = set()
        found: set[str] = set()
        with transaction(self.sessions) as session:
            for batch in chunks(ids):
                links = select(RepoLink.from_id).where(
                    RepoLink.cloud_id == cloud_id, one_of(session, RepoLink.to_id, batch)
                )
                referring.update(session.scalars(links))
            for batch in chunks(sorted(referring)):
                objects = select(RepoObject.source_id).where(
                    RepoObject.cloud_id == cloud_id,
                    one_of(session, RepoObject.id, batch),
                    RepoObject.kind == kind,
                )
                found.update(session.scalars(objects))
        return found

    def memberships(self, targets: Mapping[Kind, AbstractSet[str]]) -> set[str]:
        m = RepoMembership
        columns = {"person": m.person_id, "section": m.section_id, "org": m.school_id}
        found: set[str] = set()
        with transaction(self.sessions) as session:
            for kind, sids in targets.items():
                for batch in chunks(self._ids(kind, sids)):
                    query = select(m.source_id).where(
                        m.cloud_id == self.cloud_id, one_of(session, columns[kind], batch)
                    )
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
