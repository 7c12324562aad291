"""Rules of scoping (DESIGN §3.6, Interop API #22–#33): the selection, and what follows from it.

A change of a tenant's selection works out its new scope and sends the tenant, as one sync
with ``origin`` = ``scoping``, ``ADD`` for what came into view, ``DELETE`` for what went out of
it and ``UPDATE`` for what shows references that came or went — in the transaction of the
change. A collection refreshes the scope of every scoped tenant of its cloud
(:func:`refresh_cloud`); the fan-out diffs what moved (:mod:`interop_hub.tasks.fanout`).

A tenant that has not been activated gets no sync (its initial sync will be scoped); one in
rollover mode gets none either (the rollover's closing full sync brings it up to date).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from interop_hub.clouds.models import Cloud
from interop_hub.integrations.models import IntegrationVersion
from interop_hub.kit.bulk import chunks, insert_many
from interop_hub.kit.db import one_of
from interop_hub.kit.errors import BadRequest, NotFound
from interop_hub.kit.paging import Page, PageRequest, paginate
from interop_hub.repository.models import RepoLink, RepoObject, object_id
from interop_hub.scoping import queries
from interop_hub.scoping.models import TenantScoping, TenantVisible
from interop_hub.scoping.schemas import ScopingCourseIn, ScopingSchoolIn
from interop_hub.scoping.visibility import Moved, Scope
from interop_hub.tasks import fanout
from interop_hub.tasks.projection import TenantView
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


# --- the scope --------------------------------------------------------------------------------


def refresh(
    session: Session, tenant_id: uuid.UUID, cloud_id: uuid.UUID, before: Scope | None = None
) -> Moved:
    """Work the tenant's selection out again against the Repository and store it.

    ``before``: the scope until a change of the selection, read before the selection changed
    (:func:`queries.stored_scope` goes by the current selection); None: the stored scope.
    """
    if before is None:
        before = queries.stored_scope(session, tenant_id)
    after = Scope(queries.visible_ids(session, cloud_id, queries.selection_of(session, tenant_id)))
    _store(session, tenant_id, before, after)
    return Moved(before, after)


def refresh_cloud(session: Session, cloud_id: uuid.UUID) -> dict[uuid.UUID, Moved]:
    """After a collection: the scope of every scoped tenant of the cloud, before and after."""
    tenants = session.scalars(
        select(Tenant.id)
        .where(
            Tenant.cloud_id == cloud_id,
            Tenant.op_state != "uninstalled",
            exists().where(TenantScoping.tenant_id == Tenant.id),
        )
        .order_by(Tenant.id)
    ).all()
    return {tenant_id: refresh(session, tenant_id, cloud_id) for tenant_id in tenants}


def _store(session: Session, tenant_id: uuid.UUID, before: Scope, after: Scope) -> None:
    if after.ids is None:
        session.execute(delete(TenantVisible).where(TenantVisible.tenant_id == tenant_id))
        return
    if before.ids is None:  # rows may remain from an earlier selection
        session.execute(delete(TenantVisible).where(TenantVisible.tenant_id == tenant_id))
        gone: frozenset[uuid.UUID] = frozenset()
        new = after.ids
    else:
        gone, new = before.ids - after.ids, after.ids - before.ids
    for batch in chunks(list(gone)):
        session.execute(
            delete(TenantVisible).where(
                TenantVisible.tenant_id == tenant_id,
                one_of(session, TenantVisible.object_id, batch),
            )
        )
    insert_many(
        session,
        TenantVisible.__table__,  # type: ignore[arg-type]
        ({"tenant_id": tenant_id, "object_id": object_id} for object_id in new),
    )


def _changed(session: Session, tenant: Tenant, before: Scope, now: dt.datetime) -> int:
    """After the selection changed (``before``: the scope until then): the new scope, and the
    tenant's sync of the difference; returns the tasks written."""
    moved = refresh(session, tenant.id, tenant.cloud_id, before)
    if (
        moved.before == moved.after
        or not lifecycle.receives_full_syncs(tenant)
        or tenant.rollover_mode_enabled
    ):
        return 0
    blueprint = session.scalar(
        select(IntegrationVersion.blueprint).where(IntegrationVersion.id == tenant.version_id)
    )
    assert blueprint is not None  # a foreign key
    view = TenantView.from_json(blueprint)
    return fanout.scope_sync(session, tenant.cloud_id, tenant.id, view, moved, now)


# --- the selection ----------------------------------------------------------------------------


def _select(
    session: Session, tenant_id: uuid.UUID, half: Half, ids: Iterable[uuid.UUID], now: dt.datetime
) -> None:
    chosen = set(ids) - set(
        session.scalars(
            select(TenantScoping.object_id).where(
                TenantScoping.tenant_id == tenant_id, TenantScoping.kind == half.kind
            )
        )
    )
    for object_id_ in sorted(chosen):
        session.add(
            TenantScoping(
                tenant_id=tenant_id, kind=half.kind, object_id=object_id_, selected_at=now
            )
        )
    session.flush()


def _unselect(
    session: Session, tenant_id: uuid.UUID, half: Half, ids: Sequence[uuid.UUID] | None
) -> None:
    stmt = delete(TenantScoping).where(
        TenantScoping.tenant_id == tenant_id, TenantScoping.kind == half.kind
    )
    if ids is not None:
        if not ids:
            return
        stmt = stmt.where(TenantScoping.object_id.in_(list(ids)))
    session.execute(stmt)


def post(
    session: Session,
    tenant_id: uuid.UUID,
    half: Half,
    items: Sequence[Item],
    *,
    replace: bool,
    now: dt.datetime,
) -> list[dict[str, Any]]:
    """#23, #29: select the items marked ``selected`` (instead of the current selection with
    ``replace``, besides it otherwise) and leave out those marked ``selected`` false."""
    tenant = lifecycle.locked(session, tenant_id)
    ids = _resolve_all(session, tenant, half, items)
    before = queries.stored_scope(session, tenant.id)
    chosen = [i for i, item in zip(ids, items, strict=True) if item.selected]
    dropped = [i for i, item in zip(ids, items, strict=True) if not item.selected]
    if replace:
        _unselect(session, tenant.id, half, None)
    else:
        _unselect(session, tenant.id, half, dropped)
    _select(session, tenant.id, half, chosen, now)
    _changed(session, tenant, before, now)
    return entries(session, tenant, half, list(dict.fromkeys(ids)))


def put(
    session: Session, tenant_id: uuid.UUID, half: Half, raw_id: str, item: Item, now: dt.datetime
) -> dict[str, Any]:
    """#26, #32: select the school or course, or leave it out (``selected`` false)."""
    tenant = lifecycle.locked(session, tenant_id)
    found = _resolve_path(session, tenant, half, raw_id)
    if found is None:
        hint = ""
        if _selected_id(session, tenant, half, raw_id) is not None:
            hint = " It is still selected: DELETE it to leave it out."
        raise BadRequest(
            f"The district has no {half.noun} {raw_id!r}.{hint}", code=f"unknown_{half.noun}"
        )
    named = _resolve(session, tenant, half, item, required=False)
    if named is not None and named != found:
        raise BadRequest(
            f"The {half.noun} in the body is not the {half.noun} {raw_id!r} of the path.",
            code="id_mismatch",
        )
    before = queries.stored_scope(session, tenant.id)
    if item.selected:
        _select(session, tenant.id, half, [found], now)
    else:
        _unselect(session, tenant.id, half, [found])
    _changed(session, tenant, before, now)
    return entries(session, tenant, half, [found])[0]


def remove(
    session: Session, tenant_id: uuid.UUID, half: Half, raw_id: str | None, now: dt.datetime
) -> None:
    """#24, #27, #30, #33: leave one school or course out, or (``raw_id`` None) all of them."""
    tenant = lifecycle.locked(session, tenant_id)
    before = queries.stored_scope(session, tenant.id)
    if raw_id is None:
        _unselect(session, tenant.id, half, None)
    else:
        found = _resolve_path(session, tenant, half, raw_id)
        if found is None:
            found = _selected_id(session, tenant, half, raw_id)
        if found is None:
            raise BadRequest(
                f"The district has no {half.noun} {raw_id!r}.", code=f"unknown_{half.noun}"
            )
        _unselect(session, tenant.id, half, [found])
    _changed(session, tenant, before, now)


# --- references -------------------------------------------------------------------------------


def _district_object(
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


def _resolve(
    session: Session, tenant: Tenant, half: Half, item: Item, *, required: bool = True
) -> uuid.UUID | None:
    """The Repository id of the school or course an item names (by id or by source id)."""
    for field_name, expected in (
        ("tenant_id", tenant.id),
        ("account_id", _account(session, tenant)),
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
        if _district_object(session, tenant, half, by_id) is None:
            raise BadRequest(
                f"The district has no {half.noun} {by_id}.", code=f"unknown_{half.noun}"
            )
        found = by_id
    if ref is not None:
        by_ref = object_id(tenant.cloud_id, half.object_kind, ref)
        if _district_object(session, tenant, half, by_ref) is None:
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


def _resolve_all(
    session: Session, tenant: Tenant, half: Half, items: Sequence[Item]
) -> list[uuid.UUID]:
    found: list[uuid.UUID] = []
    for index, item in enumerate(items):
        try:
            resolved = _resolve(session, tenant, half, item)
        except BadRequest as exc:
            raise BadRequest(
                f"data[{index}]: {exc.message}", code=exc.code, details={"index": index}
            ) from None
        assert resolved is not None
        found.append(resolved)
    return found


def _resolve_path(session: Session, tenant: Tenant, half: Half, raw_id: str) -> uuid.UUID | None:
    """The school or course a path names, by id or by source id (None: the district has none)."""
    try:
        candidate = uuid.UUID(raw_id)
    except ValueError:
        candidate = None
    if candidate is not None and _district_object(session, tenant, half, candidate) is not None:
        return candidate
    by_ref = object_id(tenant.cloud_id, half.object_kind, raw_id)
    if _district_object(session, tenant, half, by_ref) is not None:
        return by_ref
    return None


def _selected_id(session: Session, tenant: Tenant, half: Half, raw_id: str) -> uuid.UUID | None:
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


def _account(session: Session, tenant: Tenant) -> uuid.UUID | None:
    return session.scalar(select(Cloud.account_id).where(Cloud.id == tenant.cloud_id))


# --- reading ----------------------------------------------------------------------------------


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
    found = _resolve_path(session, tenant, half, raw_id)
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
    account = _account(session, tenant)
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


# --- the operator's view ----------------------------------------------------------------------


def selected(session: Session, tenant_id: uuid.UUID) -> dict[str, Any]:
    """What the district selected for the tenant: its scoping schools and courses."""
    tenant = lifecycle.get_tenant(session, tenant_id)
    selection = queries.selection_of(session, tenant.id)
    return {
        "whole_district": selection.whole_district,
        "schools": entries(session, tenant, SCHOOLS, sorted(selection.schools)),
        "courses": entries(session, tenant, COURSES, sorted(selection.courses)),
    }


def replace_selection(
    session: Session,
    tenant_id: uuid.UUID,
    schools: Sequence[Item],
    courses: Sequence[Item],
    now: dt.datetime,
) -> int:
    """Replace both halves of the selection at once (one sync); returns the tasks written."""
    tenant = lifecycle.locked(session, tenant_id)
    if tenant.op_state == "uninstalled":
        raise BadRequest(f"Tenant {tenant.id} is uninstalled.", code="uninstalled")
    before = queries.stored_scope(session, tenant.id)
    halves: list[tuple[Half, Sequence[Item]]] = [(SCHOOLS, schools), (COURSES, courses)]
    chosen = [
        (
            half,
            [
                i
                for i, item in zip(_resolve_all(session, tenant, half, items), items, strict=True)
                if item.selected
            ],
        )
        for half, items in halves
    ]
    for half, ids in chosen:
        _unselect(session, tenant.id, half, None)
        _select(session, tenant.id, half, ids, now)
    return _changed(session, tenant, before, now)


def named(session: Session, tenant_id: uuid.UUID, half: Half, names: Sequence[str]) -> list[Item]:
    """Items for schools or courses named by id or source id (as a path names them); a name
    the district does not have is 400."""
    tenant = lifecycle.get_tenant(session, tenant_id)
    found: list[Item] = []
    for name in names:
        object_id_ = _resolve_path(session, tenant, half, name)
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
