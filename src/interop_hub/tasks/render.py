"""Rendering Repository objects and section memberships by id, as the query API shows them.

The fan-out renders what a collection touches before and after applying it and sends each
tenant the difference of its projection; a full sync renders everything. Both go through here,
so a data event's ``data`` is what the query API answers for the same object.

A rendering is made as JSON bytes first (:class:`Raw`: what a payload stores); a full sync
needs nothing else. The fan-out, which compares renderings, also gets them as plain JSON values
(:class:`Rendered`).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
from sqlalchemy import ColumnElement, Row, and_, select
from sqlalchemy.orm import Session

from interop_hub.kit.bulk import chunks
from interop_hub.kit.db import one_of
from interop_hub.repository.models import RepoMembership, RepoObject
from interop_hub.rostering.queries import OBJECT_COLUMNS, Refs
from interop_hub.rostering.serialize import reference, render
from interop_hub.rostering.service import relations_of

BATCH = 1000
MEMBERSHIP_TYPES = {"student": "StudentSectionEnrollment", "teacher": "TeacherSectionEnrollment"}
MEMBERSHIP_COLUMNS = (
    RepoMembership.id,
    RepoMembership.source_id,
    RepoMembership.role,
    RepoMembership.data,
    RepoMembership.created_at,
    RepoMembership.updated_at,
    RepoMembership.person_id,
    RepoMembership.section_id,
    RepoMembership.school_id,
)
"""What :class:`Sides` renders a membership from."""


class Raw(NamedTuple):
    """An object's JSON as bytes, with what a task about it says of it."""

    id: uuid.UUID
    kind: str  # a Repository kind, or "membership"
    subtype: str | None  # the membership's role for a membership
    label: str
    raw: bytes


@dataclass(frozen=True, slots=True)
class Rendered:
    """An object's JSON (as plain JSON values: strings for ids and times) and its bytes."""

    id: uuid.UUID
    kind: str  # a Repository kind, or "membership"
    subtype: str | None  # the membership's role for a membership
    label: str
    body: dict[str, Any]
    raw: bytes


def dumps(body: dict[str, Any]) -> bytes:
    return orjson.dumps(body, option=orjson.OPT_UTC_Z)


def _rendered(item: Raw) -> Rendered:
    return Rendered(item.id, item.kind, item.subtype, item.label, orjson.loads(item.raw), item.raw)


def objects(
    session: Session, cloud_id: uuid.UUID, ids: Collection[uuid.UUID]
) -> Iterator[Rendered]:
    """The objects among ``ids`` that exist, rendered."""
    return map(_rendered, object_bytes(session, cloud_id, ids))


class Fresh(NamedTuple):
    """Renderings to make: the ids, in order, and a generator that makes them (it runs no
    query, so it may feed a ``COPY``)."""

    ids: list[uuid.UUID]
    raws: Iterator[Raw]


def object_bytes(
    session: Session,
    cloud_id: uuid.UUID,
    ids: Collection[uuid.UUID],
    refs: Refs | None = None,
) -> Iterator[Raw]:
    """The objects among ``ids`` that exist, rendered as bytes (in id order per batch; ``refs``
    to keep what they refer to across calls)."""
    refs = refs or Refs(session, cloud_id)
    for batch in chunks(ids, BATCH):
        yield from to_render(session, cloud_id, batch, refs).raws


def to_render(
    session: Session, cloud_id: uuid.UUID, ids: Collection[uuid.UUID], refs: Refs
) -> Fresh:
    """The objects among ``ids`` (a batch) that exist, read with all they show, to render."""
    rows = session.execute(
        select(*OBJECT_COLUMNS)
        .where(one_of(session, RepoObject.id, list(ids)), RepoObject.cloud_id == cloud_id)
        .order_by(RepoObject.id)
    ).all()
    return _fresh(session, cloud_id, rows, refs)


def all_objects(
    session: Session, cloud_id: uuid.UUID, kind: str, subtype: str | None
) -> Iterator[Rendered]:
    """Every object of ``kind`` and ``subtype`` (None: a kind without subtypes), rendered in id
    order."""
    refs = Refs(session, cloud_id)
    after: uuid.UUID | None = None
    while True:
        stmt = select(*OBJECT_COLUMNS).where(
            RepoObject.cloud_id == cloud_id,
            RepoObject.kind == kind,
            RepoObject.subtype == subtype if subtype is not None else RepoObject.subtype.is_(None),
        )
        if after is not None:
            stmt = stmt.where(RepoObject.id > after)
        rows = session.execute(stmt.order_by(RepoObject.id).limit(BATCH)).all()
        if not rows:
            return
        yield from map(_rendered, _fresh(session, cloud_id, rows, refs).raws)
        after = rows[-1].id


def _fresh(session: Session, cloud_id: uuid.UUID, rows: Sequence[Row[Any]], refs: Refs) -> Fresh:
    relations = relations_of(session, cloud_id, rows, refs)
    raws = (
        Raw(row.id, row.kind, row.subtype, row.label, dumps(render(row, relations))) for row in rows
    )
    return Fresh([row.id for row in rows], raws)


def membership_label(person_label: str, section_label: str) -> str:
    return f"{person_label} in {section_label}"


class Sides:
    """The objects on the sides of section memberships (persons, sections, schools) as
    references show them (:class:`Refs`), each serialized once.

    A membership's row then renders without joins: the person and the section of a district's
    memberships repeat (each student is in several sections, each section has tens of
    members), so a sync reads a small fraction of the rows a join per membership would read.
    """

    def __init__(self, refs: Refs) -> None:
        self.refs = refs
        self.fragments: dict[int, orjson.Fragment] = {}  # by the id's integer, as in Refs

    def load(self, rows: Sequence[Row[Any]]) -> None:
        """Read the sides of ``rows`` (of :data:`MEMBERSHIP_COLUMNS`) not read yet."""
        self.refs.load(
            side
            for row in rows
            for side in (row.person_id, row.section_id, row.school_id)
            if side is not None
        )

    def label(self, row: Row[Any]) -> str | None:
        """The membership's label (None when its person or section does not exist)."""
        person, section = self.refs.get(row.person_id), self.refs.get(row.section_id)
        if person is None or section is None:
            return None
        return membership_label(person.label, section.label)

    def _fragment(self, object_id: uuid.UUID | None) -> orjson.Fragment | None:
        """The reference JSON of a loaded object (None for None or an unknown id)."""
        if object_id is None:
            return None
        fragment = self.fragments.get(object_id.int)
        if fragment is None:
            ref = self.refs.get(object_id)
            if ref is None:
                return None
            fragment = orjson.Fragment(orjson.dumps(reference(*ref)))
            self.fragments[object_id.int] = fragment
        return fragment

    def render(self, row: Row[Any], label: str) -> Raw:
        data = row.data or {}
        body: dict[str, Any] = {
            "$sys": {
                "id": row.id,
                "type": MEMBERSHIP_TYPES.get(row.role, "SectionMembership"),
                "label": label,
                "source_id": {"sis": row.source_id},
                "app_id": {},
                "created_at": row.created_at,
                "updated_at": row.updated_at,
            },
            "$ext": data.get("$ext") or {},
            "role": row.role,
            "primary": data.get("primary"),
            "begin_date": data.get("begin_date"),
            "end_date": data.get("end_date"),
            "$person": self._fragment(row.person_id),
            "$section": self._fragment(row.section_id),
            "$school": self._fragment(row.school_id),
        }
        return Raw(row.id, "membership", row.role, label, dumps(body))

    def rendered(self, rows: Sequence[Row[Any]]) -> Iterator[Raw]:
        """``rows`` rendered, but those whose person or section does not exist."""
        self.load(rows)
        for row in rows:
            label = self.label(row)
            if label is not None:
                yield self.render(row, label)


def memberships(
    session: Session, cloud_id: uuid.UUID, ids: Collection[uuid.UUID]
) -> Iterator[Rendered]:
    """The section memberships among ``ids`` that exist, rendered."""
    return map(_rendered, membership_bytes(session, cloud_id, ids))


def membership_bytes(
    session: Session, cloud_id: uuid.UUID, ids: Collection[uuid.UUID]
) -> Iterator[Raw]:
    """The section memberships among ``ids`` that exist, rendered as bytes."""
    sides = Sides(Refs(session, cloud_id))
    for batch in chunks(ids, BATCH):
        rows = _membership_rows(session, cloud_id, one_of(session, RepoMembership.id, batch))
        yield from sides.rendered(rows)


def all_memberships(
    session: Session, cloud_id: uuid.UUID, roles: Collection[str]
) -> Iterator[Rendered]:
    sides = Sides(Refs(session, cloud_id))
    after: uuid.UUID | None = None
    while True:
        condition: ColumnElement[bool] = RepoMembership.role.in_(list(roles))
        if after is not None:
            condition = and_(condition, RepoMembership.id > after)
        rows = _membership_rows(session, cloud_id, condition, limit=BATCH)
        if not rows:
            return
        yield from map(_rendered, sides.rendered(rows))
        after = rows[-1].id


def _membership_rows(
    session: Session, cloud_id: uuid.UUID, condition: Any, limit: int | None = None
) -> Sequence[Row[Any]]:
    stmt = (
        select(*MEMBERSHIP_COLUMNS)
        .where(RepoMembership.cloud_id == cloud_id, condition)
        .order_by(RepoMembership.id)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return session.execute(stmt).all()
