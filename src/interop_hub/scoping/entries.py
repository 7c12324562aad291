"""Reading scoping: the district's schools and courses as the tenant's list shows them (each
with ``selected``), and the operator's view of a tenant's selection."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from interop_hub.kit.db import one_of
from interop_hub.kit.errors import NotFound
from interop_hub.kit.paging import Page, PageRequest, paginate
from interop_hub.repository.models import RepoLink, RepoObject
from interop_hub.scoping import queries, references
from interop_hub.scoping.models import TenantScoping
from interop_hub.scoping.references import COURSES, SCHOOLS, Half
from interop_hub.tenants import lifecycle
from interop_hub.tenants.models import Tenant


def listing(
    session: Session, tenant: Tenant, half: Half, paging: PageRequest, selected: bool | None
) -> Page[dict[str, Any]]:
    """#22, #28: the district's schools or courses, each with ``selected``."""
    stmt = select(RepoObject).where(
        RepoObject.cloud_id == tenant.cloud_id, RepoObject.kind == half.object_kind
    )
    if half.subtype is not None:
        stmt = stmt.where(RepoObject.subtype == half.subtype)
    if selected is not None:
        chosen = exists().where(
            TenantScoping.tenant_id == tenant.id,
            TenantScoping.kind == half.kind,
            TenantScoping.object_id == RepoObject.id,
        )
        stmt = stmt.where(chosen if selected else ~chosen)
    page = paginate(session, stmt, [RepoObject.id], paging)
    return Page(items=_entries(session, tenant, half, page.items), next=page.next)


def find(session: Session, tenant: Tenant, half: Half, raw_id: str) -> dict[str, Any]:
    """#25, #31."""
    found = references.resolve_path(session, tenant, half, raw_id)
    if found is None:
        raise NotFound(f"The district has no {half.noun} {raw_id!r}.")
    return entries(session, tenant, half, [found])[0]


def entries(
    session: Session, tenant: Tenant, half: Half, ids: Sequence[uuid.UUID]
) -> list[dict[str, Any]]:
    rows = {
        row.id: row
        for row in session.scalars(
            select(RepoObject).where(one_of(session, RepoObject.id, list(ids)))
        )
    }
    return _entries(session, tenant, half, [rows[i] for i in ids if i in rows])


def _entries(
    session: Session, tenant: Tenant, half: Half, rows: Sequence[RepoObject]
) -> list[dict[str, Any]]:
    ids = [row.id for row in rows]
    chosen = set(
        session.scalars(
            select(TenantScoping.object_id).where(
                TenantScoping.tenant_id == tenant.id,
                TenantScoping.kind == half.kind,
                one_of(session, TenantScoping.object_id, ids),
            )
        )
    )
    account = references.account_of(session, tenant)
    schools = _course_schools(session, ids) if half is COURSES else {}
    found = []
    for row in rows:
        local_id = (row.data or {}).get("local_id")
        entry: dict[str, Any] = {"account_id": account, "tenant_id": tenant.id}
        entry[half.id_field] = row.id
        entry[half.ref_field] = row.source_id
        if half is COURSES:
            school = schools.get(row.id)
            entry["school_id"] = school.id if school else None
            entry["school_ref_id"] = school.source_id if school else None
        entry["name"] = row.label
        entry["local_id"] = local_id
        entry["keywords"] = " ".join(w for w in (row.label, local_id, row.source_id) if w)
        entry["selected"] = row.id in chosen
        found.append(entry)
    return found


def _course_schools(
    session: Session, course_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, RepoObject]:
    """The first school (``orgs`` link) of each course that has one."""
    found: dict[uuid.UUID, RepoObject] = {}
    if not course_ids:
        return found
    rows = session.execute(
        select(RepoLink.from_id, RepoObject)
        .join(RepoObject, RepoObject.id == RepoLink.to_id)
        .where(
            one_of(session, RepoLink.from_id, list(course_ids)),
            RepoLink.rel == "orgs",
            RepoObject.subtype == "school",
        )
        .order_by(RepoLink.from_id, RepoLink.position)
    )
    for course_id, school in rows:
        found.setdefault(course_id, school)
    return found


def selected(session: Session, tenant_id: uuid.UUID) -> dict[str, Any]:
    """What the district selected for the tenant: its scoping schools and courses."""
    tenant = lifecycle.get_tenant(session, tenant_id)
    selection = queries.selection_of(session, tenant.id)
    return {
        "whole_district": selection.whole_district,
        "schools": entries(session, tenant, SCHOOLS, sorted(selection.schools)),
        "courses": entries(session, tenant, COURSES, sorted(selection.courses)),
    }
