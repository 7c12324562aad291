"""Rendering Repository objects and section memberships by id, as the query API shows them.

The fan-out renders what a collection touches before and after applying it and sends each
tenant the difference of its projection; a full sync renders everything. Both go through here,
so a data event's ``data`` is what the query API answers for the same object.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session, aliased

from interop_hub.kit.bulk import chunks
from interop_hub.kit.db import one_of
from interop_hub.repository.models import RepoMembership, RepoObject
from interop_hub.rostering.serialize import reference
from interop_hub.rostering.service import render_all

BATCH = 1000
MEMBERSHIP_TYPES = {"student": "StudentSectionEnrollment", "teacher": "TeacherSectionEnrollment"}


@dataclass(frozen=True, slots=True)
class Rendered:
    """An object's JSON (as plain JSON values: strings for ids and times) and its bytes."""

    id: uuid.UUID
    kind: str  # a Repository kind, or "membership"
    subtype: str | None  # the membership's role for a membership
    label: str
    body: dict[str, Any]
    raw: bytes


def rendered(
    object_id: uuid.UUID, kind: str, subtype: str | None, label: str, body: dict[str, Any]
) -> Rendered:
    raw = orjson.dumps(body, option=orjson.OPT_UTC_Z)
    return Rendered(object_id, kind, subtype, label, orjson.loads(raw), raw)


def objects(
    session: Session, cloud_id: uuid.UUID, ids: Collection[uuid.UUID]
) -> Iterator[Rendered]:
    """The objects among ``ids`` that exist, rendered."""
    for batch in chunks(ids, BATCH):
        rows = session.scalars(
            select(RepoObject)
            .where(one_of(session, RepoObject.id, batch), RepoObject.cloud_id == cloud_id)
            .order_by(RepoObject.id)
        ).all()
        yield from _rendered(session, cloud_id, rows)


def all_objects(
    session: Session, cloud_id: uuid.UUID, kind: str, subtype: str | None
) -> Iterator[Rendered]:
    """Every object of ``kind`` and ``subtype`` (None: a kind without subtypes), rendered in id
    order."""
    after: uuid.UUID | None = None
    while True:
        stmt = select(RepoObject).where(
            RepoObject.cloud_id == cloud_id,
            RepoObject.kind == kind,
            RepoObject.subtype == subtype if subtype is not None else RepoObject.subtype.is_(None),
        )
        if after is not None:
            stmt = stmt.where(RepoObject.id > after)
        rows = session.scalars(stmt.order_by(RepoObject.id).limit(BATCH)).all()
        if not rows:
            return
        yield from _rendered(session, cloud_id, rows)
        after = rows[-1].id


def _rendered(
    session: Session, cloud_id: uuid.UUID, rows: Sequence[RepoObject]
) -> Iterator[Rendered]:
    for row, body in zip(rows, render_all(session, cloud_id, rows), strict=True):
        yield rendered(row.id, row.kind, row.subtype, row.label, body)


def membership_label(person_label: str, section_label: str) -> str:
    return f"{person_label} in {section_label}"


def memberships(
    session: Session, cloud_id: uuid.UUID, ids: Collection[uuid.UUID]
) -> Iterator[Rendered]:
    """The section memberships among ``ids`` that exist, rendered."""
    for batch in chunks(ids, BATCH):
        yield from _memberships(session, cloud_id, one_of(session, RepoMembership.id, batch))


def all_memberships(
    session: Session, cloud_id: uuid.UUID, roles: Collection[str]
) -> Iterator[Rendered]:
    after: uuid.UUID | None = None
    while True:
        condition: ColumnElement[bool] = RepoMembership.role.in_(list(roles))
        if after is not None:
            condition = and_(condition, RepoMembership.id > after)
        found = list(_memberships(session, cloud_id, condition, limit=BATCH))
        if not found:
            return
        yield from found
        after = found[-1].id


def _memberships(
    session: Session, cloud_id: uuid.UUID, condition: Any, limit: int | None = None
) -> Iterator[Rendered]:
    person, section, school = aliased(RepoObject), aliased(RepoObject), aliased(RepoObject)
    m = RepoMembership
    stmt = (
        select(
            m.id,
            m.source_id,
            m.role,
            m.data,
            m.created_at,
            m.updated_at,
            m.person_id,
            person.kind,
            person.subtype,
            person.label,
            m.section_id,
            section.kind,
            section.subtype,
            section.label,
            m.school_id,
            school.kind,
            school.subtype,
            school.label,
        )
        .join(person, person.id == m.person_id)
        .join(section, section.id == m.section_id)
        .outerjoin(school, school.id == m.school_id)
        .where(m.cloud_id == cloud_id, condition)
        .order_by(m.id)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    for row in session.execute(stmt):
        (member_id, source_id, role, data, created, updated, *sides) = row
        p_id, p_kind, p_sub, p_label, s_id, s_kind, s_sub, s_label, o_id, o_kind, o_sub, o_label = (
            sides
        )
        label = membership_label(p_label, s_label)
        data = data or {}
        body: dict[str, Any] = {
            "$sys": {
                "id": member_id,
                "type": MEMBERSHIP_TYPES.get(role, "SectionMembership"),
                "label": label,
                "source_id": {"sis": source_id},
                "app_id": {},
                "created_at": created,
                "updated_at": updated,
            },
            "$ext": data.get("$ext") or {},
            "role": role,
            "primary": data.get("primary"),
            "begin_date": data.get("begin_date"),
            "end_date": data.get("end_date"),
            "$person": reference(p_id, p_kind, p_sub, p_label),
            "$section": reference(s_id, s_kind, s_sub, s_label),
            "$school": (
                reference(o_id, o_kind, o_sub, o_label)
                if o_id is not None and o_kind is not None
                else None
            ),
        }
        yield rendered(member_id, "membership", role, label, body)
