"""Delivering and acknowledging tasks (DESIGN §4; Interop Data API #52–#59).

Managed queue: each poll leases the tenant's oldest deliverable tasks, in ``sequence`` order,
for the lease time. A tenant's queue is delivered as a prefix: the batch stops at the first task
that is leased to someone else or waiting out a retry backoff, so nothing newer is ever
delivered before an older task is done. A lease that expires needs no worker: the task is simply
deliverable again. ``success`` and ``error`` remove a task (its outcome goes to the history);
``retry`` makes it deliverable again after a backoff; ``reauthenticate`` keeps it and pauses the
tenant's delivery until its application is authenticated again.

Admin queue: an unleased, paged view of the same tasks, with find, ack and delete by id.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Row,
    Select,
    Table,
    bindparam,
    delete,
    exists,
    func,
    null,
    select,
    text,
    true,
)
from sqlalchemy.orm import Session

from interop_hub.auth.principal import Principal
from interop_hub.integrations.models import Integration, IntegrationVersion
from interop_hub.kit import metrics
from interop_hub.kit.bulk import insert_many
from interop_hub.kit.crypto import Keyring
from interop_hub.kit.db import is_postgresql
from interop_hub.kit.errors import BadRequest, Forbidden, NotFound
from interop_hub.kit.paging import Page, PageRequest, paginate
from interop_hub.kit.settings import Settings
from interop_hub.tasks import acks as ack_service
from interop_hub.tasks import delivery, payloads, sealed
from interop_hub.tasks.models import Task, TaskAck, TenantAppId
from interop_hub.tasks.projection import TenantView, changed
from interop_hub.tasks.schemas import AckIn, AckOutcome
from interop_hub.tasks.shapes import DEFAULT_SCHEMA, SCHEMAS, task_json
from interop_hub.tenants.models import Tenant

DRIVERS: dict[str, tuple[str, ...]] = {
    "lifecycle": ("lifecycle_event",),
    "rostering": ("sync_event", "data_event"),
    "authentication": ("authenticate",),
    "grades": ("grades_export", "grades_query"),
    "requests": ("request",),
}
"""Every task is routed to the driver that handles its type; ``driver`` restricts a poll."""
LIFECYCLE_ONLY = ("lifecycle_event",)
WHILE_PAUSED = ("lifecycle_event", "authenticate")
acks_t = cast(Table, TaskAck.__table__)


def check_schema(schema: str | None) -> str:
    if schema is None:
        return DEFAULT_SCHEMA
    if schema not in SCHEMAS:
        raise BadRequest(
            f"Unknown task schema {schema!r}; valid schemas: {', '.join(SCHEMAS)}.",
            code="invalid_schema",
            details={"valid": list(SCHEMAS)},
        )
    return schema


def check_driver(driver: str | None) -> tuple[str, ...] | None:
    if driver is None:
        return None
    if driver not in DRIVERS:
        raise BadRequest(
            f"Unknown driver {driver!r}; valid drivers: {', '.join(DRIVERS)}.",
            code="invalid_driver",
            details={"valid": list(DRIVERS)},
        )
    return DRIVERS[driver]


def consumers(p: Principal) -> ColumnElement[bool]:
    """The tenants whose tasks ``p`` may take: an actor its own tenant's, a vendor those of its
    integrations, an operator every tenant's (admin queue only)."""
    if p.is_operator:
        return true()
    if p.is_vendor:
        return exists().where(
            Integration.id == Tenant.integration_id, Integration.account_id == p.account_id
        )
    if p.is_actor and p.tenant_id is not None:
        return Tenant.id == p.tenant_id
    raise Forbidden(
        "Tasks are read with a tenant's credentials or with the credentials of the vendor that "
        "owns the integration.",
        code="not_a_task_consumer",
    )


@dataclass(frozen=True, slots=True)
class Consumer:
    """What a poll needs of a tenant: its delivery state, its blueprint's version and, when the
    query that found it took the tenant's poller lock too, whether it got it."""

    id: uuid.UUID
    deliver_tasks: bool
    op_state: str
    delivery_paused: str | None
    version_id: uuid.UUID
    version_stamp: Any
    locked: bool | None


def _consumers(session: Session, p: Principal, tenant_id: uuid.UUID | None) -> list[Consumer]:
    """The caller's tenants, with each one's version stamp (one query: a poll's views come from
    the per-process cache while the version is unchanged). A poll of one tenant (an actor's, or
    the one named) takes its poller lock in the same query on PostgreSQL."""
    on_postgresql = is_postgresql(session)
    if p.is_actor and p.tenant_id is not None and tenant_id in (None, p.tenant_id):
        # a driver's poll: a statement built once
        key = _lock_key(p.tenant_id) if on_postgresql else None
        rows = session.execute(_actor_tenant(on_postgresql), {"tenant": p.tenant_id, "key": key})
        found = [Consumer(*row) for row in rows]
    else:
        found = _any_consumers(session, p, tenant_id, on_postgresql)
    if tenant_id is not None and not found:
        raise NotFound(f"Tenant {tenant_id} was not found.")
    return found


def _any_consumers(
    session: Session, p: Principal, tenant_id: uuid.UUID | None, on_postgresql: bool
) -> list[Consumer]:
    only = tenant_id if tenant_id is not None else p.tenant_id if p.is_actor else None
    lock: Any = null()
    if only is not None and on_postgresql:
        lock = func.pg_try_advisory_xact_lock(_lock_key(only))
    stmt = (
        select(
            Tenant.id,
            Tenant.deliver_tasks,
            Tenant.op_state,
            Tenant.delivery_paused,
            Tenant.version_id,
            IntegrationVersion.updated_at,
            lock,
        )
        .join(IntegrationVersion, IntegrationVersion.id == Tenant.version_id)
        .where(consumers(p))
        .order_by(Tenant.id)
    )
    if only is not None:
        stmt = stmt.where(Tenant.id == only)  # the lock is this tenant's
    return [Consumer(*row) for row in session.execute(stmt)]


@cache
def _actor_tenant(on_postgresql: bool) -> Select[Any]:
    """:func:`_consumers` of an actor: its tenant ``:tenant`` (and its poller lock ``:key``)."""
    tenants = cast(Table, Tenant.__table__)
    versions = cast(Table, IntegrationVersion.__table__)
    lock: Any = null()
    if on_postgresql:
        lock = func.pg_try_advisory_xact_lock(bindparam("key", type_=BigInteger))
    return (
        select(
            tenants.c.id,
            tenants.c.deliver_tasks,
            tenants.c.op_state,
            tenants.c.delivery_paused,
            tenants.c.version_id,
            versions.c.updated_at,
            lock,
        )
        .join(versions, versions.c.id == tenants.c.version_id)
        .where(tenants.c.id == bindparam("tenant", type_=tenants.c.id.type))
    )


def deliverable_types(tenant: Tenant | Consumer) -> tuple[str, ...] | None:
    """The task types a tenant may receive now (None: all)."""
    if not tenant.deliver_tasks:
        return ()  # its application's deliver_tasks is off: nothing, until it is on again
    if tenant.op_state in ("setup", "suspended"):
        return LIFECYCLE_ONLY
    if tenant.delivery_paused:
        return WHILE_PAUSED
    return None


@dataclass(frozen=True)
class Poll:
    tenant_id: uuid.UUID | None
    schema: str
    types: tuple[str, ...] | None  # the driver's task types
    limit: int


def next_batch(
    session: Session,
    p: Principal,
    poll: Poll,
    settings: Settings,
    now: dt.datetime,
    keyring: Keyring | None = None,
) -> list[Any]:
    """#52: lease and return the next tasks of the caller's tenants (each a dict, or its JSON
    as an :class:`orjson.Fragment`)."""
    if p.is_operator:
        raise Forbidden(
            "Operators read the queue through the admin API (/tasks/admin); the managed queue "
            "leases tasks to the integration's driver.",
            code="not_a_task_consumer",
        )
    limit = min(poll.limit, settings.task_batch_size)
    lease_until = now + dt.timedelta(seconds=settings.task_lease_seconds)
    leased: list[Row[Any]] = []
    views: dict[uuid.UUID, TenantView] = {}
    for tenant in _consumers(session, p, poll.tenant_id):
        if len(leased) >= limit:
            break
        locked = tenant.locked if tenant.locked is not None else _try_lock(session, tenant.id)
        if not locked:
            continue  # another poller is leasing this tenant's tasks right now
        types = (deliverable_types(tenant), poll.types)
        view = views[tenant.id] = _view(session, tenant.version_id, tenant.version_stamp)
        whole = delivery.Whole.of(view, poll.schema)
        leased += delivery.lease(
            session, tenant.id, types, limit - len(leased), now, lease_until, whole
        )
    metrics.tasks_delivered(session, (row.tenant_id for row in leased))
    return delivery.encode(leased, views, poll.schema, keyring)


def _try_lock(session: Session, tenant_id: uuid.UUID) -> bool:
    """Serialize pollers of one tenant (PostgreSQL: a transaction-scoped advisory lock that does
    not wait; SQLite: the request already holds the database's write lock)."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    key = _lock_key(tenant_id)
    return bool(session.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": key}))


def _lock_key(tenant_id: uuid.UUID) -> int:
    return zlib.crc32(tenant_id.bytes) - 2**31


def render(
    session: Session, tasks: Sequence[Task], schema: str, *, keyring: Keyring | None = None
) -> list[dict[str, Any]]:
    """Tasks as JSON: each data event's payload projected by its tenant's blueprint, ``changes``
    the prior values of what the tenant sees differently, and the app id the tenant's app gave
    its object. An authenticate task's credentials are stored sealed: decrypted with
    ``keyring``, masked without one (:mod:`interop_hub.tasks.sealed`)."""
    ids = {i for t in tasks for i in (t.payload_id, t.prior_payload_id) if i is not None}
    bodies = payloads.bodies(session, ids) if ids else {}
    tenants = {t.tenant_id for t in tasks if t.type == "data_event"}
    views = _views(session, tenants) if tenants else {}
    app_ids = _app_ids(session, tasks)
    found = []
    for task in tasks:
        data = bodies.get(task.payload_id) if task.payload_id is not None else None
        changes = None
        if task.type == "data_event":
            topic = views[task.tenant_id].named(task.object_type or "")
            data = delivery.project(topic, data)
            if task.prior_payload_id is not None:
                changes = changed(delivery.project(topic, bodies.get(task.prior_payload_id)), data)
        elif task.type == "authenticate":
            data = sealed.unseal(data, keyring)
        app_id = app_ids.get((task.tenant_id, task.object_id)) if task.object_id else None
        found.append(task_json(task, schema, data=data, changes=changes, app_id=app_id))
    return found


def _views(session: Session, tenant_ids: set[uuid.UUID]) -> dict[uuid.UUID, TenantView]:
    rows = session.execute(
        select(Tenant.id, IntegrationVersion.id, IntegrationVersion.updated_at)
        .join(IntegrationVersion, IntegrationVersion.id == Tenant.version_id)
        .where(Tenant.id.in_(tenant_ids))
    )
    return {tenant: _view(session, version, stamp) for tenant, version, stamp in rows}


_VIEWS: dict[tuple[uuid.UUID, Any], TenantView] = {}


def _view(session: Session, version_id: uuid.UUID, stamp: Any) -> TenantView:
    """A version's view, parsed once per version and blueprint update (per process)."""
    key = (version_id, stamp)
    if key not in _VIEWS:
        blueprint = session.scalar(
            select(IntegrationVersion.blueprint).where(IntegrationVersion.id == version_id)
        )
        if len(_VIEWS) > 1000:
            _VIEWS.clear()
        _VIEWS[key] = TenantView.from_json(blueprint or {"topics": []})
    return _VIEWS[key]


def _app_ids(session: Session, tasks: Sequence[Task]) -> dict[tuple[uuid.UUID, uuid.UUID], str]:
    wanted = [(t.tenant_id, t.object_id) for t in tasks if t.object_id is not None]
    if not wanted:
        return {}
    rows = session.execute(
        select(TenantAppId.tenant_id, TenantAppId.object_id, TenantAppId.app_id).where(
            TenantAppId.tenant_id.in_({t for t, _ in wanted}),
            TenantAppId.object_id.in_({o for _, o in wanted}),
        )
    )
    return {(t, o): a for t, o, a in rows}


# --- acknowledgements ---------------------------------------------------------------------------


def acknowledge(
    session: Session,
    p: Principal,
    acks: Sequence[AckIn],
    settings: Settings,
    now: dt.datetime,
    *,
    admin: bool,
) -> list[AckOutcome]:
    """Apply each ack on its own (:func:`interop_hub.tasks.acks.apply`) to the caller's tasks:
    those delivered to it, or any of them for an admin ack."""
    conditions: list[ColumnElement[bool]] = [
        Task.tenant_id.in_(select(Tenant.id).where(consumers(p)))
    ]
    if not admin:
        conditions.append(Task.deliveries > 0)
    return ack_service.apply(session, p, acks, conditions, settings, now, admin=admin)


def acknowledge_successes(
    session: Session, p: Principal, ids: list[str], settings: Settings, now: dt.datetime
) -> tuple[int, list[AckOutcome]]:
    """:func:`acknowledge` of a batch of plain ``success`` acks (the task ids as
    :func:`interop_hub.tasks.schemas.plain_successes` gives them), as a driver sends them: how
    many applied, and the outcomes of those that did not (404)."""
    if is_postgresql(session):
        return ack_service.finish_successes(session, p, ids, now)
    acks = [AckIn.model_construct(task_id=uuid.UUID(i), status="success") for i in ids]
    outcomes = acknowledge(session, p, acks, settings, now, admin=False)
    failed = [o for o in outcomes if o.status != 200]
    return len(outcomes) - len(failed), failed


# --- the admin queue ----------------------------------------------------------------------------


def admin_list(
    session: Session,
    p: Principal,
    schema: str,
    types: tuple[str, ...] | None,
    req: PageRequest,
    keyring: Keyring | None = None,
) -> Page[dict[str, Any]]:
    """#55: the caller's tasks, oldest first (by tenant, then sequence), without leasing."""
    stmt: Select[Any] = select(Task).join(Tenant, Tenant.id == Task.tenant_id).where(consumers(p))
    if types is not None:
        stmt = stmt.where(Task.type.in_(types))
    page = paginate(session, stmt, [Task.tenant_id, Task.sequence], req)
    items = render(session, page.items, schema, keyring=sealed.readable_by(p, keyring))
    return Page(items=items, next=page.next)


def _admin_task(session: Session, p: Principal, task_id: uuid.UUID) -> Task:
    task = session.scalar(
        select(Task)
        .join(Tenant, Tenant.id == Task.tenant_id)
        .where(Task.id == task_id, consumers(p))
    )
    if task is None:
        raise NotFound(f"Task {task_id} was not found.")
    return task


def admin_find(
    session: Session,
    p: Principal,
    task_id: uuid.UUID,
    schema: str,
    keyring: Keyring | None = None,
) -> dict[str, Any]:
    task = _admin_task(session, p, task_id)
    return render(session, [task], schema, keyring=sealed.readable_by(p, keyring))[0]


def admin_delete(session: Session, p: Principal, task_id: uuid.UUID, now: dt.datetime) -> None:
    """#59: remove a task without processing it (kept in the history as ``deleted``)."""
    task = _admin_task(session, p, task_id)
    insert_many(session, acks_t, [ack_service.history_row(task, "deleted", None, p, now)])
    session.delete(task)
    session.flush()


def prune_history(session: Session, settings: Settings, now: dt.datetime) -> int:
    """Drop acknowledgement history older than the retention; returns the rows removed."""
    cutoff = now - dt.timedelta(days=settings.task_history_days)
    result = session.execute(delete(TaskAck).where(TaskAck.acked_at < cutoff))
    return int(result.rowcount)  # type: ignore[attr-defined]
