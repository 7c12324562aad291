"""SQL of scoping: a tenant's visible objects computed in the database.

:func:`visible_ids` applies the rules of :mod:`interop_hub.scoping.visibility` with set-based
queries (the sections, persons and memberships of a large district never pass through Python
one link at a time); only the few orgs and terms are walked up their parents in Python.
:func:`district` loads the same inputs whole, for :func:`visibility.visible` (tests, checks).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy import Select, exists, select, union
from sqlalchemy.orm import Session, aliased

from interop_hub.kit.bulk import chunks
from interop_hub.kit.db import one_of
from interop_hub.repository.models import RepoLink, RepoMembership, RepoObject
from interop_hub.scoping.models import TenantScoping, TenantVisible
from interop_hub.scoping.visibility import (
    District,
    Scope,
    Selection,
    categories_in_scope,
    parent_map,
    schools_in_scope,
    with_ancestors,
)


def _from(
    cloud_id: uuid.UUID, rel: str, targets: Collection[uuid.UUID] | Select[Any]
) -> Select[Any]:
    """Objects with a ``rel`` link to one of ``targets``."""
    return select(RepoLink.from_id).where(
        RepoLink.cloud_id == cloud_id, RepoLink.rel == rel, RepoLink.to_id.in_(targets)
    )


def _to(cloud_id: uuid.UUID, sources: Select[Any], rel: str) -> Select[Any]:
    """What ``sources`` link to through ``rel``."""
    return select(RepoLink.to_id).where(
        RepoLink.cloud_id == cloud_id, RepoLink.rel == rel, RepoLink.from_id.in_(sources)
    )


def visible_ids(
    session: Session, cloud_id: uuid.UUID, selection: Selection
) -> frozenset[uuid.UUID] | None:
    """The objects a tenant with ``selection`` sees (None: the whole district)."""
    if selection.whole_district:
        return None
    few = session.execute(
        select(RepoObject.id, RepoObject.kind, RepoObject.subtype).where(
            RepoObject.cloud_id == cloud_id, RepoObject.kind.in_(("org", "term"))
        )
    ).all()
    parents = parent_map(
        session.execute(
            select(RepoLink.from_id, RepoLink.rel, RepoLink.to_id).where(
                RepoLink.cloud_id == cloud_id, RepoLink.rel == "parent"
            )
        )
    )
    schools = schools_in_scope(
        selection, [i for i, kind, subtype in few if (kind, subtype) == ("org", "school")]
    )
    orgs = with_ancestors(schools, parents)
    courses_chosen = list(selection.courses)
    school_list = list(schools)

    sections = _from(cloud_id, "org", school_list)
    if courses_chosen:
        of_course = aliased(RepoLink)
        sections = sections.where(
            exists().where(
                of_course.from_id == RepoLink.from_id,
                of_course.rel == "course",
                of_course.to_id.in_(courses_chosen),
            )
        )
    if courses_chosen:
        own_courses = _from(cloud_id, "orgs", list(orgs)).where(
            RepoLink.from_id.in_(courses_chosen)
        )
    else:
        own_courses = _from(cloud_id, "orgs", school_list)
    courses = union(_to(cloud_id, sections, "course"), own_courses)
    members = select(RepoMembership.person_id).where(
        RepoMembership.cloud_id == cloud_id, RepoMembership.section_id.in_(sections)
    )
    school_persons = (
        _from(cloud_id, "schools", school_list)
        .join(RepoObject, RepoObject.id == RepoLink.from_id)
        .where(RepoObject.kind == "person")
    )
    persons = members if courses_chosen else union(members, school_persons)
    person_ids = select(persons.subquery().c[0])
    course_ids = select(courses.subquery().c[0])
    found: set[uuid.UUID] = set(orgs)
    section_set = set(session.scalars(sections))
    found |= section_set
    found |= set(session.scalars(course_ids))
    person_set = set(session.scalars(person_ids))
    found |= person_set
    for batch in chunks(list(person_set)):  # the members' query runs once, not twice
        found |= set(
            session.scalars(
                select(RepoLink.to_id).where(
                    RepoLink.cloud_id == cloud_id,
                    RepoLink.rel == "agents",
                    one_of(session, RepoLink.from_id, batch),
                )
            )
        )
    terms = set(session.scalars(_to(cloud_id, sections, "terms")))
    terms |= set(session.scalars(_to(cloud_id, course_ids, "school_year")))
    found |= with_ancestors(terms, parents)
    found |= categories_in_scope(_categories(session, cloud_id), section_set, schools)
    return frozenset(found)


def _categories(
    session: Session, cloud_id: uuid.UUID
) -> dict[uuid.UUID, tuple[list[uuid.UUID], list[uuid.UUID]]]:
    found: dict[uuid.UUID, tuple[list[uuid.UUID], list[uuid.UUID]]] = {
        category: ([], [])
        for category in session.scalars(
            select(RepoObject.id).where(
                RepoObject.cloud_id == cloud_id, RepoObject.kind == "grading_category"
            )
        )
    }
    if found:
        for source, rel, target in session.execute(
            select(RepoLink.from_id, RepoLink.rel, RepoLink.to_id).where(
                RepoLink.cloud_id == cloud_id,
                RepoLink.rel.in_(("section", "schools")),
                RepoLink.from_id.in_(list(found)),
            )
        ):
            found[source][0 if rel == "section" else 1].append(target)
    return found


def district(session: Session, cloud_id: uuid.UUID) -> District:
    """The whole cloud as :func:`visibility.visible` takes it (small clouds: tests, checks)."""
    return District(
        objects={
            object_id: (kind, subtype)
            for object_id, kind, subtype in session.execute(
                select(RepoObject.id, RepoObject.kind, RepoObject.subtype).where(
                    RepoObject.cloud_id == cloud_id
                )
            )
        },
        links=list(
            session.execute(
                select(RepoLink.from_id, RepoLink.rel, RepoLink.to_id).where(
                    RepoLink.cloud_id == cloud_id
                )
            )
        ),
        members=list(
            session.execute(
                select(RepoMembership.person_id, RepoMembership.section_id).where(
                    RepoMembership.cloud_id == cloud_id
                )
            )
        ),
    )


def scope_delta(
    session: Session, cloud_id: uuid.UUID, before: Scope, after: Scope
) -> set[uuid.UUID]:
    """The objects that came into or went out of a scope."""
    if before.ids is not None and after.ids is not None:
        return set(before.ids ^ after.ids)
    known = before.ids if before.ids is not None else after.ids
    if known is None:
        return set()
    every = set(session.scalars(select(RepoObject.id).where(RepoObject.cloud_id == cloud_id)))
    return every ^ known


def selection_of(session: Session, tenant_id: uuid.UUID) -> Selection:
    rows = session.execute(
        select(TenantScoping.kind, TenantScoping.object_id).where(
            TenantScoping.tenant_id == tenant_id
        )
    )
    schools: set[uuid.UUID] = set()
    courses: set[uuid.UUID] = set()
    for kind, object_id in rows:
        (schools if kind == "school" else courses).add(object_id)
    return Selection(frozenset(schools), frozenset(courses))


def stored_scope(
    session: Session, tenant_id: uuid.UUID, selection: Selection | None = None
) -> Scope:
    """The tenant's scope as last worked out (``tenant_visible``): everything without a
    selection (``selection``: the tenant's, when the caller has read it)."""
    if (selection or selection_of(session, tenant_id)).whole_district:
        return Scope(None)
    return Scope(
        session.scalars(
            select(TenantVisible.object_id).where(TenantVisible.tenant_id == tenant_id)
        ).all()
    )


def visible_among(
    session: Session, tenant_id: uuid.UUID, object_ids: Collection[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of ``object_ids`` a scoped tenant sees."""
    found: set[uuid.UUID] = set()
    for batch in chunks(list(object_ids)):
        found.update(
            session.scalars(
                select(TenantVisible.object_id).where(
                    TenantVisible.tenant_id == tenant_id,
                    one_of(session, TenantVisible.object_id, batch),
                )
            )
        )
    return found
