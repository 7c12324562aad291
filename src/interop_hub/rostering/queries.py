"""SQL of the rostering query API.

Every list is one query over ``repo_objects`` ordered by ``id`` and paged by
:func:`interop_hub.kit.paging.paginate` (a keyset on ``id``), so a deep page costs what the first
one does. Lists by kind and subtype walk the index ``(cloud_id, kind, subtype, id)``; per-org
lists add an ``EXISTS`` on ``repo_links`` that is probed through the links' primary key
``(from_id, rel, to_id)`` or their ``(to_id, rel)`` index, never a scan of the whole cloud.

The relationships of a page are loaded afterwards by :func:`links_from`, :func:`links_to` and
:func:`memberships`: one query each for all the objects of the page, and one for the objects
they refer to (:class:`Refs`).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Sequence
from typing import Any, Literal, NamedTuple

from sqlalchemy import ColumnElement, Select, exists, select
from sqlalchemy.orm import Session, aliased

from interop_hub.kit.bulk import chunks
from interop_hub.kit.db import one_of
from interop_hub.repository.models import RepoLink, RepoMembership, RepoObject

ORG = "org"
PERSON = "person"
COURSE = "course"
SECTION = "section"
TERM = "term"
GRADING_CATEGORY = "grading_category"


class Linked(NamedTuple):
    """An object (``id``) related to ``owner`` (an object of the page) through ``rel``."""

    owner: uuid.UUID
    rel: str
    id: uuid.UUID


class Member(NamedTuple):
    """A membership of ``owner`` (a person or a section of the page) and the object on its
    other side (``id``: the section or the person)."""

    owner: uuid.UUID
    membership_id: uuid.UUID
    role: str
    data: dict[str, Any]
    id: uuid.UUID


OBJECT_COLUMNS = (
    RepoObject.id,
    RepoObject.kind,
    RepoObject.subtype,
    RepoObject.source_id,
    RepoObject.label,
    RepoObject.school_year,
    RepoObject.data,
    RepoObject.created_at,
    RepoObject.updated_at,
)
"""What rendering an object reads of it (:class:`interop_hub.rostering.serialize.ObjectRow`):
selected as a row, it skips building an ORM object."""

SUBTYPED = frozenset({ORG, PERSON, TERM})
"""Kinds stored with a subtype (org_type, person_type, term_type); the others have NULL."""
FEW = frozenset({ORG, TERM})
"""Subtyped kinds with few objects per cloud (tens, where persons are hundreds of thousands)."""


def objects(
    cloud_id: uuid.UUID | ColumnElement[Any], kind: str, subtype: str | None = None
) -> Select[Any]:
    """The cloud's objects of a kind (and subtype), the cloud given or a bound parameter;
    :func:`paginate` orders them by id.

    Each shape is chosen so that the engines walk an index in id order or read only the kind:

    - a subtype, or a kind without subtypes (``subtype IS NULL``): one range of the index
      ``(cloud_id, kind, subtype, id)``, already in id order;
    - orgs and terms of every subtype: ``id IN`` the kind's few ids. With only ``cloud_id`` and
      ``kind``, SQLite (once analyzed) walks the primary key of the whole table in id order,
      every object of the cloud read to find a few dozen;
    - persons of every subtype: plain filters; the engine walks the primary key (persons are
      most of a cloud) or sorts the cloud's persons.
    """
    stmt = select(RepoObject)
    if subtype is not None or kind not in SUBTYPED:
        return stmt.where(
            RepoObject.cloud_id == cloud_id,
            RepoObject.kind == kind,
            RepoObject.subtype == subtype if subtype is not None else RepoObject.subtype.is_(None),
        )
    if kind in FEW:
        ids = select(RepoObject.id).where(RepoObject.cloud_id == cloud_id, RepoObject.kind == kind)
        return stmt.where(RepoObject.id.in_(ids))
    return stmt.where(RepoObject.cloud_id == cloud_id, RepoObject.kind == kind)


def find(
    session: Session,
    cloud_id: uuid.UUID,
    kind: str,
    object_id: uuid.UUID,
    subtype: str | None = None,
) -> RepoObject | None:
    stmt = select(RepoObject).where(
        RepoObject.id == object_id, RepoObject.cloud_id == cloud_id, RepoObject.kind == kind
    )
    if subtype is not None:
        stmt = stmt.where(RepoObject.subtype == subtype)
    return session.scalars(stmt).one_or_none()


def org_scope(session: Session, org: RepoObject) -> list[uuid.UUID]:
    """The org and its direct children (an LEA's schools): the orgs a per-org list covers."""
    children = session.scalars(
        select(RepoLink.from_id).where(
            RepoLink.to_id == org.id, RepoLink.rel == "parent", RepoLink.cloud_id == org.cloud_id
        )
    )
    return [org.id, *children]


def _links_to_scope(
    rel: str, scope: Collection[uuid.UUID], after: uuid.UUID | None
) -> ColumnElement[bool]:
    """The listed object has a ``rel`` link to one of ``scope``.

    ``after`` repeats the page's keyset bound on the link side: PostgreSQL does not carry
    ``id > :cursor`` across ``from_id = id``, and without it a merge semi-join walks the links'
    primary key from the start of the cloud on every page, so deep pages got slower.
    """
    link = aliased(RepoLink)
    found = exists().where(link.from_id == RepoObject.id, link.rel == rel, link.to_id.in_(scope))
    if after is not None:
        found = found.where(link.from_id > after)
    return found


def persons_of(
    cloud_id: uuid.UUID, subtype: str, scope: Collection[uuid.UUID], after: uuid.UUID | None
) -> Select[Any]:
    return objects(cloud_id, PERSON, subtype).where(_links_to_scope("schools", scope, after))


def courses_of(
    cloud_id: uuid.UUID, scope: Collection[uuid.UUID], after: uuid.UUID | None
) -> Select[Any]:
    return objects(cloud_id, COURSE).where(_links_to_scope("orgs", scope, after))


def sections_of(
    cloud_id: uuid.UUID, scope: Collection[uuid.UUID], after: uuid.UUID | None
) -> Select[Any]:
    return objects(cloud_id, SECTION).where(_links_to_scope("org", scope, after))


def terms_of(cloud_id: uuid.UUID, scope: Collection[uuid.UUID]) -> Select[Any]:
    """Terms that a section of ``scope`` refers to: the term's incoming ``terms`` links (by the
    ``(to_id, rel)`` index), each checked for an ``org`` link of its section into the scope."""
    uses = aliased(RepoLink)
    owner = aliased(RepoLink)
    referenced = exists().where(
        uses.to_id == RepoObject.id,
        uses.rel == "terms",
        owner.from_id == uses.from_id,
        owner.rel == "org",
        owner.to_id.in_(scope),
    )
    return objects(cloud_id, TERM).where(referenced)


class Ref(NamedTuple):
    """What a reference to an object shows of it."""

    id: uuid.UUID
    kind: str
    subtype: str | None
    label: str


class Refs:
    """Objects of a cloud as references show them, by id, each read once however often it is
    referred to (a section by each of its members, a school by each of its students) — instead
    of a join per link or membership. One instance serves a page, or a whole full sync; what
    is no object of the cloud stays unknown (its links and memberships are not shown)."""

    def __init__(self, session: Session, cloud_id: uuid.UUID) -> None:
        self.session, self.cloud_id = session, cloud_id
        self._found: dict[int, Ref] = {}
        """By the id's integer: hashing and comparing ``uuid.UUID`` runs Python code, and a full
        sync looks ids up millions of times."""

    def get(self, object_id: uuid.UUID) -> Ref | None:
        return self._found.get(object_id.int)

    def load(self, ids: Iterable[uuid.UUID], *, always: bool = False) -> None:
        """Read those of ``ids`` not read yet (``always``: with one query even when there are
        none, so that a page costs the same number of queries whatever it shows)."""
        found = self._found
        wanted = {key: i for i in ids if (key := i.int) not in found}
        batches = chunks(wanted.values()) if wanted or not always else iter([[]])
        for batch in batches:
            rows = self.session.execute(
                select(RepoObject.id, RepoObject.kind, RepoObject.subtype, RepoObject.label).where(
                    one_of(self.session, RepoObject.id, batch), RepoObject.cloud_id == self.cloud_id
                )
            )
            for row in rows:
                found[row[0].int] = Ref(*row)


def links_from(
    session: Session, owners: Sequence[uuid.UUID], rels: Collection[str]
) -> list[Linked]:
    """The ``rels`` links of ``owners``, in the source's order (``position``)."""
    if not owners or not rels:
        return []
    stmt = (
        select(RepoLink.from_id, RepoLink.rel, RepoLink.to_id)
        .where(one_of(session, RepoLink.from_id, owners), RepoLink.rel.in_(rels))
        .order_by(RepoLink.from_id, RepoLink.rel, RepoLink.position, RepoLink.to_id)
    )
    return [Linked(*row) for row in session.execute(stmt)]


def links_to(session: Session, owners: Sequence[uuid.UUID], rels: Collection[str]) -> list[Linked]:
    """The objects whose ``rels`` links point at ``owners`` (``$children``, a course's
    ``$sections``), by id."""
    if not owners or not rels:
        return []
    stmt = (
        select(RepoLink.to_id, RepoLink.rel, RepoLink.from_id)
        .where(one_of(session, RepoLink.to_id, owners), RepoLink.rel.in_(rels))
        .order_by(RepoLink.to_id, RepoLink.rel, RepoLink.from_id)
    )
    return [Linked(*row) for row in session.execute(stmt)]


def memberships(
    session: Session,
    cloud_id: uuid.UUID,
    owners: Sequence[uuid.UUID],
    side: Literal["person", "section"],
    roles: Collection[str] | None = None,
) -> list[Member]:
    """The memberships of persons (``side="person"``) or of sections, with the id of the
    object on the other side, ordered by that id."""
    if not owners:
        return []
    if side == "person":
        mine, theirs = RepoMembership.person_id, RepoMembership.section_id
    else:
        mine, theirs = RepoMembership.section_id, RepoMembership.person_id
    stmt = (
        select(mine, RepoMembership.id, RepoMembership.role, RepoMembership.data, theirs)
        .where(one_of(session, mine, owners), RepoMembership.cloud_id == cloud_id)
        .order_by(mine, theirs, RepoMembership.id)
    )
    if roles is not None:
        stmt = stmt.where(RepoMembership.role.in_(roles))
    return [Member(*row) for row in session.execute(stmt)]
