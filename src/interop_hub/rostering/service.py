"""Rules of the rostering query API: who may read which cloud, lists, finds and per-org lists.

A page costs a fixed number of queries whatever its size: the page itself, then (only for the
kinds that show them) the outgoing links, the incoming links and the memberships of all its
objects at once — never one query per object.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Literal

from sqlalchemy import Select
from sqlalchemy.orm import Session

from interop_hub.auth.principal import Principal
from interop_hub.kit.errors import Forbidden, NotFound
from interop_hub.kit.paging import Page, PageRequest, paginate
from interop_hub.repository.models import RepoObject
from interop_hub.rostering import queries
from interop_hub.rostering.queries import ORG, PERSON, SECTION
from interop_hub.rostering.serialize import IN_RELS, OUT_RELS, SECTION_ROLES, Relations, render

OrgList = Literal["students", "teachers", "courses", "sections", "terms"]

NOT_FOUND = {
    queries.ORG: "No such Org.",
    queries.PERSON: "No such Person.",
    queries.COURSE: "No such Course.",
    queries.SECTION: "No such Section.",
    queries.TERM: "No such Term.",
}


def cloud_of(principal: Principal) -> uuid.UUID:
    """The cloud whose Repository the caller reads: only an installed actor has one."""
    if principal.kind != "actor" or principal.cloud_id is None:
        raise Forbidden(
            "The Data API is called with an installed actor's credentials (a token for the "
            "client id and secret of a tenant or connector), not with an account's.",
            code="actor_required",
        )
    return principal.cloud_id


def render_all(
    session: Session, cloud_id: uuid.UUID, objects: Sequence[RepoObject]
) -> list[dict[str, Any]]:
    """The JSON of ``objects`` with their relationships, loaded for all of them at once."""
    ids = [obj.id for obj in objects]
    kinds = {obj.kind for obj in objects}
    out_rels = {rel for kind in kinds for rel in OUT_RELS.get(kind, ())}
    in_rels = {rel for kind in kinds for rel in IN_RELS.get(kind, ())}
    members: list[queries.Member] = []
    if PERSON in kinds:
        members += queries.memberships(session, cloud_id, _ids(objects, PERSON), "person")
    if SECTION in kinds:
        members += queries.memberships(
            session, cloud_id, _ids(objects, SECTION), "section", SECTION_ROLES
        )
    relations = Relations.of(
        queries.links_from(session, cloud_id, ids, out_rels),
        queries.links_to(session, cloud_id, ids, in_rels),
        members,
    )
    return [render(obj, relations) for obj in objects]


def _ids(objects: Sequence[RepoObject], kind: str) -> list[uuid.UUID]:
    return [obj.id for obj in objects if obj.kind == kind]


def _page(
    session: Session, cloud_id: uuid.UUID, stmt: Select[Any], paging: PageRequest
) -> Page[dict[str, Any]]:
    page = paginate(session, stmt, [RepoObject.id], paging)
    return Page(items=render_all(session, cloud_id, page.items), next=page.next)


def list_objects(
    session: Session,
    cloud_id: uuid.UUID,
    paging: PageRequest,
    kind: str,
    subtype: str | None = None,
) -> Page[dict[str, Any]]:
    return _page(session, cloud_id, queries.objects(cloud_id, kind, subtype), paging)


def _find(
    session: Session, cloud_id: uuid.UUID, kind: str, object_id: uuid.UUID, subtype: str | None
) -> RepoObject:
    found = queries.find(session, cloud_id, kind, object_id, subtype)
    if found is None:
        message = "No such LEA." if subtype == "lea" else NOT_FOUND.get(kind, "No such object.")
        raise NotFound(message)
    return found


def find_object(
    session: Session,
    cloud_id: uuid.UUID,
    kind: str,
    object_id: uuid.UUID,
    subtype: str | None = None,
) -> dict[str, Any]:
    return render_all(session, cloud_id, [_find(session, cloud_id, kind, object_id, subtype)])[0]


def _cursor_id(paging: PageRequest) -> uuid.UUID | None:
    """The id the page starts after, when the cursor is a well-formed one (otherwise
    :func:`paginate` refuses it)."""
    if paging.cursor is None or len(paging.cursor) != 1:
        return None
    try:
        return uuid.UUID(str(paging.cursor[0]))
    except ValueError:
        return None


def list_of_org(
    session: Session, cloud_id: uuid.UUID, org_id: uuid.UUID, what: OrgList, paging: PageRequest
) -> Page[dict[str, Any]]:
    """A per-org list: what belongs to the org or to one of its direct children (so an LEA
    lists its schools' students, courses, ...)."""
    org = _find(session, cloud_id, ORG, org_id, None)
    scope = queries.org_scope(session, org)
    after = _cursor_id(paging)
    stmt: Select[Any]
    if what == "students":
        stmt = queries.persons_of(cloud_id, "student", scope, after)
    elif what == "teachers":
        stmt = queries.persons_of(cloud_id, "teacher", scope, after)
    elif what == "courses":
        stmt = queries.courses_of(cloud_id, scope, after)
    elif what == "sections":
        stmt = queries.sections_of(cloud_id, scope, after)
    elif org.subtype == "lea":
        stmt = queries.objects(cloud_id, queries.TERM)  # an LEA's terms are all of the cloud's
    else:
        stmt = queries.terms_of(cloud_id, scope)
    return _page(session, cloud_id, stmt, paging)
