"""Applying a collection's plan to the Repository with bulk statements, and writing its change
set (``repo_changes``) in the same transaction.

Order (DESIGN §3.2): adds and updates in dependency order (orgs, terms, courses, persons,
sections, grading categories, then memberships); deletes in the reverse order.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Engine,
    Insert,
    Integer,
    Table,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.orm import Session

from interop_hub.ingest.copy_rows import (
    LINK_COLUMNS,
    MEMBERSHIP_COLUMNS,
    OBJECT_COLUMNS,
    first_membership_rows,
    first_object_rows,
    link_rows,
    membership_rows,
    object_rows,
)
from interop_hub.ingest.diff import FirstAdds, Plan
from interop_hub.ingest.models import Ingestion, RepoChange
from interop_hub.ingest.normalize import (
    MembershipRow,
    Normalizer,
    ObjectRow,
    changed_fields,
    membership_view,
    object_view,
)
from interop_hub.ingest.records import KINDS, WrittenElsewhere
from interop_hub.kit.bulk import (
    chunks,
    copy_binary,
    insert_many,
)
from interop_hub.kit.db import is_postgresql, one_of
from interop_hub.repository import partitions
from interop_hub.repository.models import RepoLink, RepoMembership, RepoObject

objects_t = cast(Table, RepoObject.__table__)
links_t = cast(Table, RepoLink.__table__)
memberships_t = cast(Table, RepoMembership.__table__)
changes_t = cast(Table, RepoChange.__table__)


@dataclass
class CollectionPlan:
    objects: dict[str, Plan[ObjectRow]] = field(default_factory=dict)
    memberships: Plan[MembershipRow] = field(default_factory=Plan)
    existing_rows: int = 0
    """The cloud's objects and memberships before the plan applies."""
    normalizer: Normalizer | None = None
    """What built the plan's rows (its ids are cached): it encodes a first collection's
    memberships (:func:`~interop_hub.ingest.copy_rows.first_membership_rows`)."""

    def changes(self) -> int:
        """The updates and deletes (not the adds: a first collection's may not be read yet)."""
        plans: list[Plan[Any]] = [*self.objects.values(), self.memberships]
        return sum(len(p.updates) + len(p.deletes) for p in plans)

    def counts(self) -> tuple[int, int, int]:
        plans: list[Plan[Any]] = [*self.objects.values(), self.memberships]
        return (
            sum(len(p.adds) for p in plans),
            sum(len(p.updates) for p in plans),
            sum(len(p.deletes) for p in plans),
        )


def object_views(
    session: Session, cloud_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """The comparable views of the cloud's objects ``ids`` (fields and links), loaded in chunks
    (by the cloud too: on PostgreSQL that reads its partitions alone)."""
    found: dict[uuid.UUID, tuple[str | None, str, int | None, dict[str, Any]]] = {}
    links: dict[uuid.UUID, list[tuple[str, uuid.UUID, int]]] = {}
    for batch in chunks(ids):
        for row in session.execute(
            select(
                RepoObject.id,
                RepoObject.subtype,
                RepoObject.label,
                RepoObject.school_year,
                RepoObject.data,
            ).where(RepoObject.cloud_id == cloud_id, one_of(session, RepoObject.id, batch))
        ):
            found[row.id] = (row.subtype, row.label, row.school_year, row.data)
        for link in session.execute(
            select(RepoLink.from_id, RepoLink.rel, RepoLink.to_id, RepoLink.position).where(
                RepoLink.cloud_id == cloud_id, one_of(session, RepoLink.from_id, batch)
            )
        ):
            links.setdefault(link.from_id, []).append((link.rel, link.to_id, link.position))
    return {
        object_id: object_view(*values, tuple(links.get(object_id, ())))
        for object_id, values in found.items()
    }


def membership_views(
    session: Session, cloud_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """The cloud's memberships ``ids`` as the change set shows them (by the cloud too: on
    PostgreSQL that reads its partition alone)."""
    views = {}
    for batch in chunks(ids):
        for row in session.execute(
            select(
                RepoMembership.id,
                RepoMembership.person_id,
                RepoMembership.section_id,
                RepoMembership.school_id,
                RepoMembership.role,
                RepoMembership.data,
            ).where(RepoMembership.cloud_id == cloud_id, one_of(session, RepoMembership.id, batch))
        ):
            views[row.id] = membership_view(
                row.person_id, row.section_id, row.school_id, row.role, row.data
            )
    return views


class ChangeLog:
    """A collection's change set, numbered (``seq``) in the order it is logged.

    Adds are logged from the rows just written (:meth:`added`): into a cloud that had no rows of
    their kind, as one entry that stands for all of them (``RepoChange.rows``); otherwise one
    entry per row, ``INSERT … SELECT``. An initial collection adds ~870,000 rows for 100,000
    students: one Python dict per row, held to the end and sent through ``COPY``, cost ~20 s
    and much memory, and an entry per row written by the server still ~3.5 s. Updates and
    deletes carry prior values computed in Python (:meth:`add`); they are held and written by
    :meth:`write`.
    """

    def __init__(self, ingestion_id: uuid.UUID, cloud_id: uuid.UUID) -> None:
        self.ingestion_id = ingestion_id
        self.cloud_id = cloud_id
        self.seq = 0
        self.rows: list[dict[str, Any]] = []

    def add(
        self,
        entity: str,
        object_id: uuid.UUID,
        kind: str,
        subtype: str | None,
        action: str,
        prior: dict[str, Any] | None = None,
    ) -> None:
        self.seq += 1
        self.rows.append(self._entry(entity, object_id, kind, subtype, action, prior))

    def _entry(
        self,
        entity: str,
        object_id: uuid.UUID | None,
        kind: str,
        subtype: str | None,
        action: str,
        prior: dict[str, Any] | None = None,
        rows: int | None = None,
        created_at: dt.datetime | None = None,
    ) -> dict[str, Any]:
        return {
            "ingestion_id": self.ingestion_id,
            "cloud_id": self.cloud_id,
            "seq": self.seq,
            "entity": entity,
            "object_id": object_id,
            "kind": kind,
            "subtype": subtype,
            "action": action,
            "prior": prior,
            "rows": rows,
            "created_at": created_at,
        }

    def added(
        self,
        session: Session,
        kind: str,
        rows: Sequence[ObjectRow] | Sequence[MembershipRow],
        *,
        alone: bool,
        created_at: dt.datetime,
    ) -> None:
        """Log the adds ``rows`` of ``kind`` (``membership``: memberships), already written at
        ``created_at``, in the order of their ids.

        ``alone``: they are all the cloud's rows of that kind (there were none before), so one
        entry stands for them, numbered as the first of their ``len(rows)``."""
        if not rows:
            return
        entity = "membership" if kind == "membership" else "object"
        if alone:
            self.seq += 1
            entry = self._entry(entity, None, kind, None, "ADD", None, len(rows), created_at)
            self.rows.append(entry)
            self.seq += len(rows) - 1
            return
        source, subtype, where = rows_of(self.cloud_id, kind)
        base = self.seq
        for batch in chunks(sorted(row.id for row in rows)):
            condition = [*where, one_of(session, source.c.id, batch)]
            session.execute(self._adds(source, subtype, entity, kind, condition, base))
            base += len(batch)
        self.seq += len(rows)

    def _adds(
        self,
        source: Table,
        subtype: ColumnElement[Any],
        entity: str,
        kind: str,
        where: list[ColumnElement[bool]],
        base: int,
    ) -> Insert:
        c = changes_t.c
        rows = select(
            literal(self.ingestion_id, c.ingestion_id.type),
            literal(self.cloud_id, c.cloud_id.type),
            literal(base, Integer) + func.row_number().over(order_by=source.c.id),
            literal(entity, c.entity.type),
            source.c.id,
            literal(kind, c.kind.type),
            subtype,
            literal("ADD", c.action.type),
        ).where(*where)
        columns = ["ingestion_id", "cloud_id", "seq", "entity", "object_id", "kind"]
        return insert(changes_t).from_select([*columns, "subtype", "action"], rows)

    def write(self, session: Session) -> None:
        insert_many(session, changes_t, self.rows)


def rows_of(
    cloud_id: uuid.UUID, kind: str
) -> tuple[Table, ColumnElement[Any], list[ColumnElement[bool]]]:
    """The table of the cloud's rows of ``kind`` (``membership``: memberships), the column that
    stands for their subtype in the change set, and the conditions that select them."""
    if kind == "membership":
        return memberships_t, memberships_t.c.role, [memberships_t.c.cloud_id == cloud_id]
    where = [objects_t.c.cloud_id == cloud_id, objects_t.c.kind == kind]
    return objects_t, objects_t.c.subtype, where


def nothing_of(session: Session, cloud_id: uuid.UUID, kind: str) -> bool:
    """Whether the cloud has no rows of ``kind`` (``membership``: memberships) yet."""
    table, _, where = rows_of(cloud_id, kind)
    return not session.scalar(select(exists().where(*where).select_from(table)))


def apply_plan(
    session: Session,
    cloud_id: uuid.UUID,
    plan: CollectionPlan,
    log: ChangeLog,
    now: dt.datetime,
    progress: Callable[[str], None] = lambda _: None,
    before_memberships: Callable[[], None] = lambda: None,
) -> bool:
    """Apply ``plan`` and log every change with the prior values of what changed; whether the
    statistics of the cloud's objects and links were made meanwhile (a first collection's, in
    :func:`_load_first_objects`). ``before_memberships`` is called between the objects (and
    links) and the memberships."""
    order = [kind for kind in KINDS if kind in plan.objects]
    deleted: dict[str, dict[uuid.UUID, dict[str, Any]]] = {}
    # The cloud's first objects on PostgreSQL: its partitions of the objects and the links are
    # made, loaded bare and then indexed (there is nothing to update or delete).
    first = not partitions.has_partition(session, objects_t, cloud_id)
    analyzed = first and _load_first_objects(
        session, cloud_id, plan, order, now, progress, log.ingestion_id
    )
    for kind in order:
        if not first:
            progress(f"writing {kind}")
        kind_plan = plan.objects[kind]
        before = object_views(session, cloud_id, [row.id for row in kind_plan.updates])
        deleted[kind] = object_views(session, cloud_id, kind_plan.deletes)
        alone = bool(kind_plan.adds) and (first or nothing_of(session, cloud_id, kind))
        if not first:
            _insert_objects(session, cloud_id, kind_plan.adds, now)
        _update_objects(session, kind_plan.updates, now)
        log.added(session, kind, kind_plan.adds, alone=alone, created_at=now)
        for row in kind_plan.updates:
            prior = changed_fields(before.get(row.id, {}), row.view())
            log.add("object", row.id, kind, row.subtype, "UPDATE", prior)
    if not first:
        _insert_links(session, cloud_id, [r for k in order for r in plan.objects[k].adds])
    _replace_links(session, cloud_id, [r for k in order for r in plan.objects[k].updates])

    before_memberships()
    progress("writing membership")
    members = plan.memberships
    members_before = membership_views(session, cloud_id, [row.id for row in members.updates])
    members_deleted = membership_views(session, cloud_id, members.deletes)
    # Not ``bool(members.adds)`` first: it would build a first collection's rows, which are
    # written from their records instead (_insert_memberships).
    alone = nothing_of(session, cloud_id, "membership")
    _insert_memberships(session, cloud_id, members.adds, now, plan.normalizer)
    _update_memberships(session, members.updates, now)
    # memberships a loader wrote carry the time its collection began (the loader's stamp)
    stamp = members.adds.stamp if isinstance(members.adds, WrittenElsewhere) else now
    log.added(session, "membership", members.adds, alone=alone, created_at=stamp)
    for m in members.updates:
        prior = changed_fields(members_before.get(m.id, {}), m.view())
        log.add("membership", m.id, "membership", m.role, "UPDATE", prior)

    # Deletes in reverse dependency order, memberships first; the prior value is the whole
    # object as it was.
    for membership_id, view in members_deleted.items():
        log.add("membership", membership_id, "membership", view.get("role"), "DELETE", view)
    _delete_memberships(session, cloud_id, list(members_deleted))
    progress("deleting")
    for kind in reversed(order):
        for object_id, view in deleted[kind].items():
            log.add("object", object_id, kind, view.get("$subtype"), "DELETE", view)
        _delete_objects(session, cloud_id, list(deleted[kind]))
    log.write(session)
    return analyzed


def _load_first_objects(
    session: Session,
    cloud_id: uuid.UUID,
    plan: CollectionPlan,
    order: Sequence[str],
    now: dt.datetime,
    progress: Callable[[str], None],
    ingestion_id: uuid.UUID,
) -> bool:
    """Make the cloud's partitions of the objects and of the links, each loaded with the
    plan's adds before it is indexed and attached; whether their statistics are made too.

    Adds whose rows nothing has built yet (:class:`FirstAdds`) are encoded straight from their
    records, their links in the same pass (:func:`~.copy_rows.first_object_rows`).

    When a loader process writes the memberships (:class:`WrittenElsewhere`: a large first
    collection into a cloud that has nothing), the objects and links are loaded beside this
    transaction too, indexed and analyzed on two connections at once
    (:func:`~interop_hub.repository.partitions.load_beside`), and attached here. Otherwise
    they are loaded in this transaction (:func:`~interop_hub.repository.partitions.create_loaded`),
    and analyzed by the caller."""
    links: list[bytes] = []  # of the adds encoded from their records
    built: list[ObjectRow] = []  # the adds whose rows were built
    normalizer = plan.normalizer

    def object_rows_of_kinds() -> Iterator[bytes]:
        for kind in order:
            progress(f"writing {kind}")
            adds = plan.objects[kind].adds
            records = None
            if normalizer is not None and isinstance(adds, FirstAdds):
                records = adds.take_records()
            if records is not None and normalizer is not None:
                yield from first_object_rows(normalizer, records, now, links)
            else:
                yield from object_rows(cloud_id, adds, now)
                built.extend(adds)

    def link_rows_of_kinds() -> Iterator[bytes]:
        progress("writing links")
        yield from links
        yield from link_rows(cloud_id, built)

    engine = session.get_bind()
    if isinstance(plan.memberships.adds, WrittenElsewhere) and isinstance(engine, Engine):
        loads = [
            partitions.Loading(objects_t, OBJECT_COLUMNS, object_rows_of_kinds()),
            partitions.Loading(links_t, LINK_COLUMNS, link_rows_of_kinds()),
        ]
        names = partitions.load_beside(engine, cloud_id, ingestion_id, loads)
        for load, name in zip(loads, names, strict=True):
            partitions.attach_loading(session, load.table, cloud_id, name)
        return True
    partitions.create_loaded(
        session,
        objects_t,
        cloud_id,
        lambda into: copy_binary(session, into, OBJECT_COLUMNS, object_rows_of_kinds()),
    )
    partitions.create_loaded(
        session,
        links_t,
        cloud_id,
        lambda into: copy_binary(session, into, LINK_COLUMNS, link_rows_of_kinds()),
    )
    return False


def purge_cloud(session: Session, cloud_id: uuid.UUID) -> None:
    """Delete a cloud's objects, links, memberships and change sets, which have no foreign keys
    to cascade from it (migrations 0009, 0014); called before the cloud itself is deleted (its
    ingestions still cascade, and what refers to its objects cascades from them)."""
    session.execute(delete(links_t).where(links_t.c.cloud_id == cloud_id))
    session.execute(delete(memberships_t).where(memberships_t.c.cloud_id == cloud_id))
    session.execute(delete(objects_t).where(objects_t.c.cloud_id == cloud_id))
    ingestions = select(Ingestion.id).where(Ingestion.cloud_id == cloud_id)
    # By ingestion: ``repo_changes`` is indexed by it, not by cloud.
    session.execute(delete(changes_t).where(changes_t.c.ingestion_id.in_(ingestions)))


def _object_values(row: ObjectRow) -> dict[str, Any]:
    return {
        "subtype": row.subtype,
        "label": row.label[:400],
        "school_year": row.school_year,
        "data": row.data,
        "digest": row.digest,
    }


def _update(session: Session, table: Table, records: list[dict[str, Any]]) -> None:
    """Update rows by id: each record has ``b_id`` and the same columns to set."""
    if not records:
        return
    columns = [key for key in records[0] if key != "b_id"]
    statement = (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values({column: bindparam(column) for column in columns})
    )
    for batch in chunks(records):
        session.execute(statement, batch)


def _insert_objects(
    session: Session,
    cloud_id: uuid.UUID,
    rows: Sequence[ObjectRow],
    now: dt.datetime,
    into: Table = objects_t,
) -> None:
    if rows and is_postgresql(session):
        copy_binary(session, into, OBJECT_COLUMNS, object_rows(cloud_id, rows, now))
        return
    insert_many(
        session,
        into,
        (
            {
                "id": row.id,
                "cloud_id": cloud_id,
                "kind": row.kind,
                "source_id": row.source_id,
                "created_at": now,
                "updated_at": now,
                **_object_values(row),
            }
            for row in rows
        ),
    )


def _update_objects(session: Session, rows: list[ObjectRow], now: dt.datetime) -> None:
    _update(
        session,
        objects_t,
        [{"b_id": row.id, "updated_at": now, **_object_values(row)} for row in rows],
    )


def _insert_links(
    session: Session, cloud_id: uuid.UUID, rows: list[ObjectRow], into: Table = links_t
) -> None:
    if rows and is_postgresql(session):
        copy_binary(session, into, LINK_COLUMNS, link_rows(cloud_id, rows))
        return
    insert_many(
        session,
        into,
        (
            {"from_id": row.id, "rel": rel, "to_id": to_id, "cloud_id": cloud_id, "position": pos}
            for row in rows
            for rel, to_id, pos in row.links
        ),
    )


def _replace_links(session: Session, cloud_id: uuid.UUID, rows: list[ObjectRow]) -> None:
    mine = links_t.c.cloud_id == cloud_id
    for batch in chunks(rows):
        from_ids = [r.id for r in batch]
        session.execute(delete(links_t).where(mine, one_of(session, links_t.c.from_id, from_ids)))
    _insert_links(session, cloud_id, rows)


def _membership_values(row: MembershipRow) -> dict[str, Any]:
    return {
        "person_id": row.person_id,
        "section_id": row.section_id,
        "school_id": row.school_id,
        "role": row.role,
        "data": row.data,
        "digest": row.digest,
    }


def _insert_memberships(
    session: Session,
    cloud_id: uuid.UUID,
    rows: Sequence[MembershipRow],
    now: dt.datetime,
    normalizer: Normalizer | None,
) -> None:
    """Insert ``rows``. On PostgreSQL, a first collection's (:class:`FirstAdds`) are encoded
    straight from their records by ``normalizer``, the one that planned them; and a cloud
    without its partition of the table yet gets it here, loaded before it is indexed
    (:func:`interop_hub.repository.partitions.create_loaded`). Rows a loader process wrote
    (:class:`WrittenElsewhere`) are in a table of their own, which becomes the partition."""
    if isinstance(rows, WrittenElsewhere):  # loaded, indexed and committed by a loader
        rows.wait()
        partitions.attach_loading(session, memberships_t, cloud_id, rows.table)
        return
    if is_postgresql(session):
        encoded: Iterable[bytes] = ()
        records = None
        if normalizer is not None and isinstance(rows, FirstAdds):
            assert normalizer.cloud_id == cloud_id
            records = rows.take_records()
        if records is not None and normalizer is not None:
            encoded = first_membership_rows(normalizer, records, now)
        elif rows:
            encoded = membership_rows(cloud_id, rows, now)

        def load(table: Table) -> None:
            copy_binary(session, table, MEMBERSHIP_COLUMNS, encoded)

        if partitions.has_partition(session, memberships_t, cloud_id):
            load(memberships_t)
        else:
            partitions.create_loaded(session, memberships_t, cloud_id, load)
        return
    insert_many(
        session,
        memberships_t,
        (
            {
                "id": row.id,
                "cloud_id": cloud_id,
                "source_id": row.source_id,
                "created_at": now,
                "updated_at": now,
                **_membership_values(row),
            }
            for row in rows
        ),
    )


def _update_memberships(session: Session, rows: list[MembershipRow], now: dt.datetime) -> None:
    _update(
        session,
        memberships_t,
        [{"b_id": row.id, "updated_at": now, **_membership_values(row)} for row in rows],
    )


def _delete_memberships(session: Session, cloud_id: uuid.UUID, ids: list[uuid.UUID]) -> None:
    m = memberships_t
    for batch in chunks(ids):
        session.execute(delete(m).where(m.c.cloud_id == cloud_id, one_of(session, m.c.id, batch)))


def _delete_objects(session: Session, cloud_id: uuid.UUID, ids: list[uuid.UUID]) -> None:
    """Delete objects with what referred to them, as the foreign keys' cascades did before
    migration 0009: their links (both ways) and their memberships go, and memberships naming a
    deleted school keep no school. Each statement uses an index (``repo_links`` by ``from_id``
    and ``to_id``, ``repo_memberships`` by person, section and school), in the cloud's
    partitions alone on PostgreSQL."""
    m = memberships_t
    mine, linked = m.c.cloud_id == cloud_id, links_t.c.cloud_id == cloud_id
    owned = objects_t.c.cloud_id == cloud_id
    for batch in chunks(ids):
        session.execute(delete(links_t).where(linked, one_of(session, links_t.c.from_id, batch)))
        session.execute(delete(links_t).where(linked, one_of(session, links_t.c.to_id, batch)))
        session.execute(delete(m).where(mine, one_of(session, m.c.person_id, batch)))
        session.execute(delete(m).where(mine, one_of(session, m.c.section_id, batch)))
        session.execute(
            update(m).where(mine, one_of(session, m.c.school_id, batch)).values(school_id=None)
        )
        session.execute(delete(objects_t).where(owned, one_of(session, objects_t.c.id, batch)))
