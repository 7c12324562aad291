"""What a scoping request names: a school or a course of the tenant's district, by id or by
source id, checked against the Repository (anything the district does not have is a 400)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from interop_hub.clouds.models import Cloud
from interop_hub.kit.errors import BadRequest
from interop_hub.repository.models import RepoLink, RepoObject, object_id
from interop_hub.scoping.models import TenantScoping
from interop_hub.scoping.schemas import ScopingCourseIn, ScopingSchoolIn
from interop_hub.tenants import lifecycle
from interop_hub.tenants.models import Tenant

Item = ScopingSchoolIn | ScopingCourseIn


@dataclass(frozen=True)
class Half:
    """Schools or courses: the two halves of scoping are alike."""

    kind: str  # tenant_scoping.kind
    object_kind: str
    subtype: str | None
    noun: str

    @property
    def id_field(self) -> str:
        return f"{self.kind}_id"

    @property
    def ref_field(self) -> str:
        return f"{self.kind}_ref_id"


SCHOOLS = Half("school", "org", "school", "school")
COURSES = Half("course", "course", None, "course")


def district_object(
    session: Session, tenant: Tenant, half: Half, object_id_: uuid.UUID
) -> RepoObject | None:
    stmt = select(RepoObject).where(
        RepoObject.id == object_id_,
        RepoObject.cloud_id == tenant.cloud_id,
        RepoObject.kind == half.object_kind,
    )
    if half.subtype is not None:
        stmt = stmt.where(RepoObject.subtype == half.subtype)
    return session.scalars(stmt).one_or_none()


def resolve(
    session: Session, tenant: Tenant, half: Half, item: Item, *, required: bool = True
) -> uuid.UUID | None:
    """The Repository id of the school or course an item names (by id or by source id)."""
    for field_name, expected in (
        ("tenant_id", tenant.id),
        ("account_id", account_of(session, tenant)),
    ):
        given = getattr(item, field_name)
        if given is not None and given != expected:
            raise BadRequest(f"{field_name} {given} is not this tenant's.", code="id_mismatch")
    by_id: uuid.UUID | None = getattr(item, half.id_field)
    ref: str | None = getattr(item, half.ref_field)
    if by_id is None and ref is None:
        if not required:
            return None
        raise BadRequest(
            f"A scoping {half.noun} names its {half.noun} by {half.id_field} or {half.ref_field}.",
            code="missing_reference",
        )
    found: uuid.UUID | None = None
    if by_id is not None:
        if district_object(session, tenant, half, by_id) is None:
            raise BadRequest(
                f"The district has no {half.noun} {by_id}.", code=f"unknown_{half.noun}"
            )
        found = by_id
    if ref is not None:
        by_ref = object_id(tenant.cloud_id, half.object_kind, ref)
        if district_object(session, tenant, half, by_ref) is None:
            raise BadRequest(
                f"The district has no {half.noun} with {half.ref_field} {ref!r}.",
                code=f"unknown_{half.noun}",
            )
        if found is not None and found != by_ref:
            raise BadRequest(
                f"{half.id_field} {found} and {half.ref_field} {ref!r} name different "
                f"{half.noun}s.",
                code="id_mismatch",
            )
        found = by_ref
    if found is not None and isinstance(item, ScopingCourseIn):
        _check_course_school(session, tenant, found, item)
    return found


def _check_course_school(
    session: Session, tenant: Tenant, course_id: uuid.UUID, item: ScopingCourseIn
) -> None:
    """A course item that names a school too must name one of the course's orgs."""
    named = [
        i
        for i in (
            item.school_id,
            object_id(tenant.cloud_id, "org", item.school_ref_id) if item.school_ref_id else None,
        )
        if i is not None
    ]
    if not named:
        return
    orgs = set(
        session.scalars(
            select(RepoLink.to_id).where(RepoLink.from_id == course_id, RepoLink.rel == "orgs")
        )
    )
    if any(i not in orgs for i in named) or len(set(named)) > 1:
        raise BadRequest(
            "The school named with the course is not the course's school.", code="id_mismatch"
        )


def resolve_all(
    session: Session, tenant: Tenant, half: Half, items: Sequence[Item]
) -> list[uuid.UUID]:
    found: list[uuid.UUID] = []
    for index, item in enumerate(items):
        try:
            resolved = resolve(session, tenant, half, item)
        except BadRequest as exc:
            raise BadRequest(
                f"data[{index}]: {exc.message}", code=exc.code, details={"index": index}
            ) from None
        assert resolved is not None
        found.append(resolved)
    return found


def resolve_path(session: Session, tenant: Tenant, half: Half, raw_id: str) -> uuid.UUID | None:
    """The school or course a path names, by id or by source id (None: the district has none)."""
    try:
        candidate = uuid.UUID(raw_id)
    except ValueError:
        candidate = None
    if candidate is not None and district_object(session, tenant, half, candidate) is not None:
        return candidate
    by_ref = object_id(tenant.cloud_id, half.object_kind, raw_id)
    if district_object(session, tenant, half, by_ref) is not None:
        return by_ref
    return None


def selected_id(session: Session, tenant: Tenant, half: Half, raw_id: str) -> uuid.UUID | None:
    """A selected id the district no longer has (its school left the Repository), named by the
    id or by the source id it derives from."""
    candidates = [object_id(tenant.cloud_id, half.object_kind, raw_id)]
    with contextlib.suppress(ValueError):
        candidates.append(uuid.UUID(raw_id))
    return session.scalar(
        select(TenantScoping.object_id)
        .where(
            TenantScoping.tenant_id == tenant.id,
            TenantScoping.kind == half.kind,
            TenantScoping.object_id.in_(candidates),
        )
        .limit(1)
    )


def account_of(session: Session, tenant: Tenant) -> uuid.UUID | None:
    return session.scalar(select(Cloud.account_id).where(Cloud.id == tenant.cloud_id))


def named(session: Session, tenant_id: uuid.UUID, half: Half, names: Sequence[str]) -> list[Item]:
    """Items for schools or courses named by id or source id (as a path names them); a name
    the district does not have is 400."""
    tenant = lifecycle.get_tenant(session, tenant_id)
    found: list[Item] = []
    for name in names:
        object_id_ = resolve_path(session, tenant, half, name)
        if object_id_ is None:
            raise BadRequest(
                f"The district has no {half.noun} {name!r}.", code=f"unknown_{half.noun}"
            )
        found.append(
            ScopingSchoolIn(school_id=object_id_)
            if half is SCHOOLS
            else ScopingCourseIn(course_id=object_id_)
        )
    return found
