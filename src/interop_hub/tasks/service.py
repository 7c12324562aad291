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
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, Table, delete, exists, select, text, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from interop_hub.auth.principal import Principal
from interop_hub.integrations.models import Integration, IntegrationVersion
from interop_hub.kit import metrics
from interop_hub.kit.bulk import insert_many
from interop_hub.kit.crypto import Keyring
from interop_hub.kit.db import one_of
from interop_hub.kit.errors import BadRequest, Forbidden, NotFound
from interop_hub.kit.paging import Page, PageRequest, paginate
from interop_hub.kit.settings import Settings
from interop_hub.tasks import payloads, sealed
from interop_hub.tasks.models import Task, TaskAck, TenantAppId
from interop_hub.tasks.projection import TenantView, Topic, changed
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


def _tenants(session: Session, p: Principal, tenant_id: uuid.UUID | None) -> list[Tenant]:
    stmt = select(Tenant).where(consumers(p)).order_by(Tenant.id)
    if tenant_id is not None:
        stmt = stmt.where(Tenant.id == tenant_id)
    found = list(session.scalars(stmt))
    if tenant_id is not None and not found:
        raise NotFound(f"Tenant {tenant_id} was not found.")
    return found


def deliverable_types(tenant: Tenant) -> tuple[str, ...] | None:
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
) -> list[dict[str, Any]]:
    """#52: lease and return the next tasks of the caller's tenants."""
    if p.is_operator:
        raise Forbidden(
            "Operators read the queue through the admin API (/tasks/admin); the managed queue "
            "leases tasks to the integration's driver.",
            code="not_a_task_consumer",
        )
    limit = min(poll.limit, settings.task_batch_size)
    lease_until = now + dt.timedelta(seconds=settings.task_lease_seconds)
    leased: list[Task] = []
    for tenant in _tenants(session, p, poll.tenant_id):
        if len(leased) >= limit:
            break
        leased += _lease(session, tenant, poll.types, limit - len(leased), now, lease_until)
    metrics.tasks_delivered(session, (task.tenant_id for task in leased))
    return render(session, leased, poll.schema, keyring=keyring)


def _lease(
    session: Session,
    tenant: Tenant,
    driver_types: tuple[str, ...] | None,
    limit: int,
    now: dt.datetime,
    until: dt.datetime,
) -> list[Task]:
    if not _try_lock(session, tenant.id):
        return []  # another poller is leasing this tenant's tasks right now
    stmt = select(Task).where(Task.tenant_id == tenant.id)
    for types in (deliverable_types(tenant), driver_types):
        if types is not None:
            stmt = stmt.where(Task.type.in_(types))
    candidates = session.scalars(stmt.order_by(Task.sequence).limit(limit)).all()
    batch: list[Task] = []
    for task in candidates:
        if (task.leased_until is not None and task.leased_until > now) or (
            task.available_at is not None and task.available_at > now
        ):
            break  # the queue is blocked here: nothing newer goes out before it
        batch.append(task)
    if batch:
        session.execute(
            update(Task)
            .where(Task.id.in_([t.id for t in batch]))
            .values(leased_until=until, deliveries=Task.deliveries + 1)
            .execution_options(synchronize_session=False)
        )
    return batch


def _try_lock(session: Session, tenant_id: uuid.UUID) -> bool:
    """Serialize pollers of one tenant (PostgreSQL: a transaction-scoped advisory lock that does
    not wait; SQLite: the request already holds the database's write lock)."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    key = zlib.crc32(tenant_id.bytes) - 2**31
    return bool(session.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": key}))


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
            data = _project(topic, data)
            if task.prior_payload_id is not None:
                changes = changed(_project(topic, bodies.get(task.prior_payload_id)), data)
        elif task.type == "authenticate":
            data = sealed.unseal(data, keyring)
        app_id = app_ids.get((task.tenant_id, task.object_id)) if task.object_id else None
        found.append(task_json(task, schema, data=data, changes=changes, app_id=app_id))
    return found


def _project(topic: Topic | None, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        return {}
    if topic is None:  # the blueprint no longer has the topic: identity only
        return {"$sys": body.get("$sys")}
    return topic.project(body)


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
    """Apply each ack on its own: one that names a task that is not the caller's, or not
    outstanding (never delivered, already acknowledged, or named twice in the batch), fails
    alone (404 in its outcome) and the rest still apply.

    ``success`` and ``error`` are one ``DELETE ... RETURNING`` for the whole batch, so checking
    and removing cannot be told apart by a concurrent ack: whoever deletes a task acknowledged
    it, once."""
    first: dict[uuid.UUID, AckIn] = {}
    for ack in acks:
        assert ack.task_id is not None
        first.setdefault(ack.task_id, ack)
    conditions: list[ColumnElement[bool]] = [
        Task.tenant_id.in_(select(Tenant.id).where(consumers(p)))
    ]
    if not admin:
        conditions.append(Task.deliveries > 0)
    finishing = [i for i, a in first.items() if (a.status or "success") in ("success", "error")]
    done: dict[uuid.UUID, Any] = {}
    if finishing:
        removed = session.execute(
            delete(Task)
            .where(one_of(session, Task.id, finishing), *conditions)
            .returning(
                Task.id, Task.tenant_id, Task.sequence, Task.type, Task.action, Task.object_id
            )
            .execution_options(synchronize_session=False)
        )
        done.update((row.id, row) for row in removed)
    finished = set(finishing)
    keeping = [i for i in first if i not in finished]
    if keeping:
        done.update(_keep(session, [first[i] for i in keeping], conditions, settings, now))
    outcomes: list[AckOutcome] = []
    history: list[dict[str, Any]] = []
    app_ids: dict[tuple[uuid.UUID, uuid.UUID], str] = {}
    for ack in acks:
        assert ack.task_id is not None
        task = done.pop(ack.task_id, None)  # a second ack of the same task finds nothing
        if task is None:
            message = f"Task {ack.task_id} is not an outstanding task of yours."
            outcomes.append(AckOutcome(task_id=ack.task_id, status=404, message=message))
            continue
        status = ack.status or "success"
        if ack.app_id and task.object_id is not None:
            app_ids[task.tenant_id, task.object_id] = ack.app_id
        history.append(_history(task, status, ack, p, now))
        app_id = ack.app_id if task.object_id is not None else None
        outcomes.append(AckOutcome(task_id=task.id, status=200, message=status, app_id=app_id))
    _remember_app_ids(session, app_ids, now)
    insert_many(session, acks_t, history)
    metrics.tasks_acknowledged(session, ((h["tenant_id"], h["status"]) for h in history))
    session.flush()
    return outcomes


def _keep(
    session: Session,
    acks: list[AckIn],
    conditions: list[ColumnElement[bool]],
    settings: Settings,
    now: dt.datetime,
) -> dict[uuid.UUID, Task]:
    """``retry`` (deliverable again after a backoff) and ``reauthenticate`` (kept; the tenant's
    delivery pauses): the tasks stay, unleased."""
    by_id = {ack.task_id: ack for ack in acks}
    stmt = select(Task).where(one_of(session, Task.id, list(by_id)), *conditions)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    kept = {task.id: task for task in session.scalars(stmt)}
    paused: set[uuid.UUID] = set()
    for task in kept.values():
        task.leased_until = None
        if by_id[task.id].status == "retry":
            task.available_at = now + _backoff(task.deliveries, settings)
        else:
            paused.add(task.tenant_id)
    if paused:
        session.execute(
            update(Tenant)
            .where(Tenant.id.in_(paused))
            .values(delivery_paused="reauthenticate")
            .execution_options(synchronize_session=False)
        )
    return kept


def _backoff(deliveries: int, settings: Settings) -> dt.timedelta:
    """Exponential in the number of deliveries, capped."""
    seconds = settings.task_retry_backoff_seconds * 2 ** max(0, min(deliveries - 1, 20))
    return dt.timedelta(seconds=min(seconds, settings.task_retry_max_backoff_seconds))


def _history(
    task: Any, status: str, ack: AckIn | None, p: Principal, now: dt.datetime
) -> dict[str, Any]:
    """A history row of ``task`` (a Task, or a row with its columns)."""
    return {
        "task_id": task.id,
        "tenant_id": task.tenant_id,
        "sequence": task.sequence,
        "type": task.type,
        "action": task.action,
        "object_id": task.object_id,
        "status": status,
        "message": ack.message if ack else None,
        "error": ack.error if ack else None,
        "params": ack.params if ack else None,
        "app_id": ack.app_id if ack else None,
        "acked_by": p.subject[:64],
        "acked_at": now,
    }


def _remember_app_ids(
    session: Session, app_ids: dict[tuple[uuid.UUID, uuid.UUID], str], now: dt.datetime
) -> None:
    if not app_ids:
        return
    values = [
        {"tenant_id": tenant, "object_id": obj, "app_id": app_id, "updated_at": now}
        for (tenant, obj), app_id in app_ids.items()
    ]
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(TenantAppId).values(values)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["tenant_id", "object_id"],
            set_={"app_id": stmt.excluded.app_id, "updated_at": stmt.excluded.updated_at},
        )
    )


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
    insert_many(session, acks_t, [_history(task, "deleted", None, p, now)])
    session.delete(task)
    session.flush()


def prune_history(session: Session, settings: Settings, now: dt.datetime) -> int:
    """Drop acknowledgement history older than the retention; returns the rows removed."""
    cutoff = now - dt.timedelta(days=settings.task_history_days)
    result = session.execute(delete(TaskAck).where(TaskAck.acked_at < cutoff))
    return int(result.rowcount)  # type: ignore[attr-defined]
