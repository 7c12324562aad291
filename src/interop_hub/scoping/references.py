"""What a scoping request names: a school or a course of the tenant's district, by id or by
source id, checked against the Repository (anything the district does not have is a 400)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from interop_hub.clouds.models import Cloud
from interop_hub.kit.bulk import chunks
from interop_hub.kit.db import one_of
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


def existing(
    session: Session, tenant: Tenant, half: Half, candidates: Collection[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of ``candidates`` are schools (or courses) of the tenant's district."""
    found: set[uuid.UUID] = set()
    for batch in chunks(list(candidates)):
        stmt = select(RepoObject.id).where(
            one_of(session, RepoObject.id, batch),
            RepoObject.cloud_id == tenant.cloud_id,
            RepoObject.kind == half.object_kind,
        )
        if half.subtype is not None:
            stmt = stmt.where(RepoObject.subtype == half.subtype)
        found.update(session.scalars(stmt))
    return found


@dataclass(frozen=True)
class _Known:
    """What checking a batch of items needs from the database, read once for all of them."""

    account: uuid.UUID | None
    objects: set[uuid.UUID]  # the named ids that are the district's
    course_orgs: dict[uuid.UUID, set[uuid.UUID]]  # a named course's orgs (courses only)


def _named_ids(tenant: Tenant, half: Half, item: Item) -> tuple[uuid.UUID | None, uuid.UUID | None]:
    """The id an item gives, and the id its source id derives to."""
    by_id: uuid.UUID | None = getattr(item, half.id_field)
    ref: str | None = getattr(item, half.ref_field)
    return by_id, object_id(tenant.cloud_id, half.object_kind, ref) if ref is not None else None


def _known(session: Session, tenant: Tenant, half: Half, items: Sequence[Item]) -> _Known:
    candidates = {i for item in items for i in _named_ids(tenant, half, item) if i is not None}
    objects = existing(session, tenant, half, candidates)
    course_orgs: dict[uuid.UUID, set[uuid.UUID]] = {}
    if half is COURSES and any(
        getattr(i, "school_id", None) or getattr(i, "school_ref_id", None) for i in items
    ):
        for batch in chunks(list(objects)):
            for course_id, org_id in session.execute(
                select(RepoLink.from_id, RepoLink.to_id).where(
                    one_of(session, RepoLink.from_id, batch), RepoLink.rel == "orgs"
                )
            ):
                course_orgs.setdefault(course_id, set()).add(org_id)
    return _Known(account_of(session, tenant), objects, course_orgs)


def resolve(
    session: Session, tenant: Tenant, half: Half, item: Item, *, required: bool = True
) -> uuid.UUID | None:
    """The Repository id of the school or course an item names (by id or by source id)."""
    return _resolved(tenant, half, item, _known(session, tenant, half, [item]), required=required)


def _resolved(
    tenant: Tenant, half: Half, item: Item, known: _Known, *, required: bool
) -> uuid.UUID | None:
    for field_name, expected in (("tenant_id", tenant.id), ("account_id", known.account)):
        given = getattr(item, field_name)
        if given is not None and given != expected:
            raise BadRequest(f"{field_name} {given} is not this tenant's.", code="id_mismatch")
    by_id, by_ref = _named_ids(tenant, half, item)
    if by_id is None and by_ref is None:
        if not required:
            return None
        raise BadRequest(
            f"A scoping {half.noun} names its {half.noun} by {half.id_field} or {half.ref_field}.",
            code="missing_reference",
        )
    if by_id is not None and by_id not in known.objects:
        raise BadRequest(f"The district has no {half.noun} {by_id}.", code=f"unknown_{half.noun}")
    if by_ref is not None:
        ref = getattr(item, half.ref_field)
        if by_ref not in known.objects:
            raise BadRequest(
                f"The district has no {half.noun} with {half.ref_field} {ref!r}.",
                code=f"unknown_{half.noun}",
            )
        if by_id is not None and by_id != by_ref:
            raise BadRequest(
                f"{half.id_field} {by_id} and {half.ref_field} {ref!r} name different "
                f"{half.noun}s.",
                code="id_mismatch",
            )
    found = by_ref or by_id
    assert found is not None
    if isinstance(item, ScopingCourseIn):
        _check_course_school(tenant, found, item, known.course_orgs.get(found, set()))
    return found


def _check_course_school(
    tenant: Tenant, course_id: uuid.UUID, item: ScopingCourseIn, orgs: set[uuid.UUID]
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
    if named and (any(i not in orgs for i in named) or len(set(named)) > 1):
        raise BadRequest(
            "The school named with the course is not the course's school.", code="id_mismatch"
        )


def resolve_all(
    session: Session, tenant: Tenant, half: Half, items: Sequence[Item]
) -> list[uuid.UUID]:
    """The ids the items name, checked with one look-up for all of them; the first bad item is
    a 400 naming its index."""
    known = _known(session, tenant, half, items)
    found: list[uuid.UUID] = []
    for index, item in enumerate(items):
        try:
            resolved = _resolved(tenant, half, item, known, required=True)
        except BadRequest as exc:
            raise BadRequest(
                f"data[{index}]: {exc.message}", code=exc.code, details={"index": index}
            ) from None
        assert resolved is not None
        found.append(resolved)
    return found


def resolve_path(session: Session, tenant: Tenant, half: Half, raw_id: str) -> uuid.UUID | None:
    """The school or course a path names, by id or by source id (None: the district has none)."""
    candidates = []
    with contextlib.suppress(ValueError):
        candidates.append(uuid.UUID(raw_id))
    candidates.append(object_id(tenant.cloud_id, half.object_kind, raw_id))
    found = existing(session, tenant, half, candidates)
    return next((c for c in candidates if c in found), None)


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
