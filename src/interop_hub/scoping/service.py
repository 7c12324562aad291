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

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from interop_hub.integrations.models import IntegrationVersion
from interop_hub.kit.bulk import chunks, insert_many
from interop_hub.kit.db import one_of
from interop_hub.kit.errors import BadRequest
from interop_hub.scoping import queries, references
from interop_hub.scoping.entries import entries, find, listing, selected
from interop_hub.scoping.models import TenantScoping, TenantVisible
from interop_hub.scoping.references import COURSES, SCHOOLS, Half, Item, named
from interop_hub.scoping.visibility import Moved, Scope
from interop_hub.tasks import fanout
from interop_hub.tasks.projection import TenantView
from interop_hub.tenants import lifecycle
from interop_hub.tenants.models import Tenant

__all__ = [
    "COURSES",
    "SCHOOLS",
    "Half",
    "Item",
    "find",
    "listing",
    "named",
    "post",
    "put",
    "refresh",
    "refresh_cloud",
    "remove",
    "replace_selection",
    "selected",
]

# --- the scope --------------------------------------------------------------------------------


def refresh(
    session: Session, tenant_id: uuid.UUID, cloud_id: uuid.UUID, before: Scope | None = None
) -> Moved:
    """Work the tenant's selection out again against the Repository and store it.

    ``before``: the scope until a change of the selection, read before the selection changed
    (:func:`queries.stored_scope` goes by the current selection); None: the stored scope.
    """
    return _refresh(session, cloud_id, {tenant_id: before})[tenant_id]


def refresh_cloud(session: Session, cloud_id: uuid.UUID) -> dict[uuid.UUID, Moved]:
    """After a collection: the scope of every scoped tenant of the cloud, before and after
    (worked out for all of them at once)."""
    tenants = session.scalars(
        select(Tenant.id)
        .where(
            Tenant.cloud_id == cloud_id,
            Tenant.op_state != "uninstalled",
            exists().where(TenantScoping.tenant_id == Tenant.id),
        )
        .order_by(Tenant.id)
    ).all()
    return _refresh(session, cloud_id, dict.fromkeys(tenants))


def _refresh(
    session: Session, cloud_id: uuid.UUID, before: Mapping[uuid.UUID, Scope | None]
) -> dict[uuid.UUID, Moved]:
    """:func:`refresh` of each tenant of ``before`` (its scope until now, None: the stored one)."""
    if not before:
        return {}
    selections = queries.selections_of(session, list(before))
    stored = queries.stored_scopes(
        session, {t: selections[t] for t, scope in before.items() if scope is None}
    )
    after = queries.visible_sets(session, cloud_id, selections)
    moved: dict[uuid.UUID, Moved] = {}
    for tenant_id, scope in before.items():
        old = scope if scope is not None else stored[tenant_id]
        new = Scope(after[tenant_id])
        moved[tenant_id] = Moved(old, old if new == old else new)  # one Scope when it stayed
    _store(session, moved)
    return moved


def _store(session: Session, moved: Mapping[uuid.UUID, Moved]) -> None:
    """Write what moved into ``tenant_visible`` (one insert for every tenant)."""
    new: list[dict[str, uuid.UUID]] = []
    for tenant_id, (before, after) in moved.items():
        if after.ids is None or before.ids is None:  # rows may remain from an earlier selection
            session.execute(delete(TenantVisible).where(TenantVisible.tenant_id == tenant_id))
            gone: frozenset[uuid.UUID] = frozenset()
            came = after.ids or frozenset()
        else:
            gone, came = before.ids - after.ids, after.ids - before.ids
        for batch in chunks(sorted(gone)):
            session.execute(
                delete(TenantVisible).where(
                    TenantVisible.tenant_id == tenant_id,
                    one_of(session, TenantVisible.object_id, batch),
                )
            )
        new += ({"tenant_id": tenant_id, "object_id": object_id} for object_id in came)
    insert_many(session, TenantVisible.__table__, new)  # type: ignore[arg-type]


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
    insert_many(
        session,
        TenantScoping.__table__,  # type: ignore[arg-type]
        (
            {"tenant_id": tenant_id, "kind": half.kind, "object_id": i, "selected_at": now}
            for i in sorted(chosen)
        ),
    )


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
    ids = references.resolve_all(session, tenant, half, items)
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
    found = references.resolve_path(session, tenant, half, raw_id)
    if found is None:
        hint = ""
        if references.selected_id(session, tenant, half, raw_id) is not None:
            hint = " It is still selected: DELETE it to leave it out."
        raise BadRequest(
            f"The district has no {half.noun} {raw_id!r}.{hint}", code=f"unknown_{half.noun}"
        )
    named = references.resolve(session, tenant, half, item, required=False)
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
        found = references.resolve_path(session, tenant, half, raw_id)
        if found is None:
            found = references.selected_id(session, tenant, half, raw_id)
        if found is None:
            raise BadRequest(
                f"The district has no {half.noun} {raw_id!r}.", code=f"unknown_{half.noun}"
            )
        _unselect(session, tenant.id, half, [found])
    _changed(session, tenant, before, now)


# --- the operator's selection -------------------------------------------------------------


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
    chosen = [
        (half, _selected_ones(session, tenant, half, items))
        for half, items in ((SCHOOLS, schools), (COURSES, courses))
    ]
    for half, ids in chosen:
        _unselect(session, tenant.id, half, None)
        _select(session, tenant.id, half, ids, now)
    return _changed(session, tenant, before, now)


def _selected_ones(
    session: Session, tenant: Tenant, half: Half, items: Sequence[Item]
) -> list[uuid.UUID]:
    """The ids of the items marked ``selected`` (every item is checked)."""
    ids = references.resolve_all(session, tenant, half, items)
    return [i for i, item in zip(ids, items, strict=True) if item.selected]
