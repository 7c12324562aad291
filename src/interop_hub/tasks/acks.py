"""Acknowledging tasks (#53, #54, #56, #57) and the acknowledgement history.

``success`` and ``error`` remove the task; on PostgreSQL one statement deletes the batch's tasks
and writes their history (``WITH gone AS (DELETE ... RETURNING ...) INSERT INTO task_acks
SELECT ...``), elsewhere the deleted rows come back and their history is inserted after.
``retry`` and ``reauthenticate`` keep the task, unleased.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from functools import cache
from typing import Any, cast

import orjson
from sqlalchemy import (
    JSON,
    ColumnElement,
    Insert,
    String,
    Table,
    Text,
    Uuid,
    any_,
    bindparam,
    delete,
    func,
    insert,
    null,
    select,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from interop_hub.auth.principal import Principal
from interop_hub.integrations.models import Integration
from interop_hub.kit import metrics
from interop_hub.kit.bulk import insert_many
from interop_hub.kit.db import is_postgresql, one_of
from interop_hub.kit.errors import Forbidden
from interop_hub.kit.settings import Settings
from interop_hub.tasks.models import Task, TaskAck, TenantAppId
from interop_hub.tasks.schemas import AckIn, AckOutcome
from interop_hub.tenants.models import Tenant

acks_t = cast(Table, TaskAck.__table__)
tasks_t = cast(Table, Task.__table__)
FINISHING = ("success", "error")
TASK_COLUMNS = ("id", "tenant_id", "sequence", "type", "action", "object_id")
"""What the history keeps of a task."""
HISTORY = (
    "task_id",
    "tenant_id",
    "sequence",
    "type",
    "action",
    "object_id",
    "status",
    "message",
    "error",
    "params",
    "app_id",
    "acked_by",
    "acked_at",
)


def apply(
    session: Session,
    p: Principal,
    acks: Sequence[AckIn],
    conditions: list[ColumnElement[bool]],
    settings: Settings,
    now: dt.datetime,
    *,
    admin: bool,
) -> list[AckOutcome]:
    """Apply each ack on its own to the tasks that meet ``conditions`` (the caller's, and
    delivered unless an ``admin`` acks): one that names another task, or one not outstanding
    (never delivered, already acknowledged, or named twice in the batch), fails alone (404 in
    its outcome) and the rest still apply.

    ``success`` and ``error`` are one ``DELETE ... RETURNING`` for the whole batch, so checking
    and removing cannot be told apart by a concurrent ack: whoever deletes a task acknowledged
    it, once."""
    first: dict[uuid.UUID, AckIn] = {}
    for ack in acks:
        assert ack.task_id is not None
        first.setdefault(ack.task_id, ack)
    finishing = [a for a in first.values() if (a.status or "success") in FINISHING]
    keeping = [a for a in first.values() if (a.status or "success") not in FINISHING]
    done: dict[uuid.UUID, Any] = {}
    history: list[dict[str, Any]] = []
    if finishing and is_postgresql(session):
        recorded = _finish_recorded(session, p, finishing, admin, now)
        done.update((row.id, row) for row in recorded)
    elif finishing:
        removed = session.execute(
            delete(tasks_t)
            .where(one_of(session, tasks_t.c.id, [a.task_id for a in finishing]), *conditions)
            .returning(*(tasks_t.c[name] for name in TASK_COLUMNS))
        )
        for row in removed:
            done[row.id] = row
            history.append(_history(row, first[row.id], p, now))
    if keeping:
        for task in _keep(session, keeping, conditions, settings, now):
            done[task.id] = task
            history.append(_history(task, first[task.id], p, now))
    outcomes: list[AckOutcome] = []
    app_ids: dict[tuple[uuid.UUID, uuid.UUID], str] = {}
    applied: list[tuple[uuid.UUID, str]] = []
    for ack in acks:
        assert ack.task_id is not None
        task = done.pop(ack.task_id, None)  # a second ack of the same task finds nothing
        if task is None:
            outcomes.append(not_outstanding(ack.task_id))
            continue
        status = ack.status or "success"
        applied.append((task.tenant_id, status))
        if ack.app_id and task.object_id is not None:
            app_ids[task.tenant_id, task.object_id] = ack.app_id
        app_id = ack.app_id if task.object_id is not None else None
        outcomes.append(  # trusted values: no validation
            AckOutcome.model_construct(
                task_id=ack.task_id, status=200, message=status, app_id=app_id
            )
        )
    _remember_app_ids(session, app_ids, now)
    insert_many(session, acks_t, history)
    metrics.tasks_acknowledged(session, applied)
    session.flush()
    return outcomes


def finish_successes(
    session: Session, p: Principal, ids: list[str], now: dt.datetime
) -> tuple[int, list[AckOutcome]]:
    """PostgreSQL: :func:`apply` to a batch of plain ``success`` acks of the tasks ``ids``
    (canonical UUID text, as :func:`interop_hub.tasks.schemas.plain_successes` gives them),
    without a model per ack; returns how many applied and the outcomes of the others."""
    unique = list(dict.fromkeys(ids))  # a second ack of the same task finds nothing
    scope, params = _recorded_by(p, unique, now)
    params.update(ack_status="success")
    rows = session.execute(_recording(scope, False, True), params).all()
    metrics.tasks_acknowledged(session, ((row.tenant_id, "success") for row in rows))
    if len(rows) == len(ids):
        return len(rows), []
    done = {str(row.id) for row in rows}
    failed = []
    for task_id in ids:
        if task_id in done:
            done.discard(task_id)
            continue
        failed.append(not_outstanding(uuid.UUID(task_id)))
    return len(rows), failed


def not_outstanding(task_id: uuid.UUID) -> AckOutcome:
    """The outcome of an ack for a task that is not the caller's or not in the queue."""
    message = f"Task {task_id} is not an outstanding task of yours."
    return AckOutcome(task_id=task_id, status=404, message=message)


def _finish_recorded(
    session: Session, p: Principal, acks: list[AckIn], admin: bool, now: dt.datetime
) -> Sequence[Any]:
    """PostgreSQL: delete the acknowledged tasks and write their history in one statement;
    returns each removed task's ``id``, ``tenant_id`` and ``object_id``."""
    scope, params = _recorded_by(p, [a.task_id for a in acks], now)
    statuses = {a.status or "success" for a in acks}
    plain = len(statuses) == 1 and not any(
        a.message is not None or a.error is not None or a.params is not None or a.app_id is not None
        for a in acks
    )
    if plain:  # the usual batch: one status, nothing else; no arrays of nulls to send
        params.update(ack_status=statuses.pop())
    else:
        params.update(
            ack_statuses=[a.status or "success" for a in acks],
            ack_messages=[a.message for a in acks],
            ack_errors=[_json(a.error) for a in acks],
            ack_params=[_json(a.params) for a in acks],
            ack_app_ids=[a.app_id for a in acks],
        )
    return session.execute(_recording(scope, admin, plain), params).all()


def _recorded_by(
    p: Principal, task_ids: Sequence[Any], now: dt.datetime
) -> tuple[str, dict[str, Any]]:
    """:func:`_scope` with the values every ack statement binds: the tasks, who and when."""
    scope, params = _scope(p)
    params.update(ack_ids=task_ids, by=p.subject[:64], at=now)
    return scope, params


def _scope(p: Principal) -> tuple[str, dict[str, Any]]:
    """Whose tasks ``p`` may acknowledge (as :func:`interop_hub.tasks.service.consumers`
    says), as a shape of :func:`_recording` and its values."""
    if p.is_operator:
        return "every tenant", {}
    if p.is_vendor:
        return "its integrations' tenants", {"account": p.account_id}
    if p.is_actor and p.tenant_id is not None:
        return "its tenant", {"tenant": p.tenant_id}
    raise Forbidden("Tasks are acknowledged with a tenant's or its vendor's credentials.")


@cache
def _recording(scope: str, admin: bool, plain: bool) -> Insert:
    """``WITH gone AS (DELETE FROM tasks ... RETURNING ...) INSERT INTO task_acks SELECT ...
    FROM gone JOIN unnest(the acks) ... RETURNING``, built once per shape. ``plain``: every ack
    has the status ``:ack_status`` and no message, error, params or app id."""
    conditions: list[ColumnElement[bool]] = []
    if scope == "its tenant":
        conditions.append(tasks_t.c.tenant_id == bindparam("tenant", type_=Uuid()))
    elif scope == "its integrations' tenants":
        conditions.append(
            tasks_t.c.tenant_id.in_(
                select(Tenant.id)
                .join(Integration, Integration.id == Tenant.integration_id)
                .where(Integration.account_id == bindparam("account", type_=Uuid()))
            )
        )
    if not admin:
        conditions.append(tasks_t.c.deliveries > 0)
    ids = bindparam("ack_ids", type_=postgresql.ARRAY(Uuid()))
    given: Any
    values: list[Any]
    if plain:
        given = func.unnest(ids).table_valued("id", with_ordinality="n")
        given = given.render_derived().alias("given")
        values = [bindparam("ack_status", type_=String()), null(), null(), null(), null()]
    else:
        given = (
            func.unnest(
                ids,
                bindparam("ack_statuses", type_=postgresql.ARRAY(String())),
                bindparam("ack_messages", type_=postgresql.ARRAY(Text())),
                bindparam("ack_errors", type_=postgresql.ARRAY(Text())),
                bindparam("ack_params", type_=postgresql.ARRAY(Text())),
                bindparam("ack_app_ids", type_=postgresql.ARRAY(String())),
            )
            .table_valued(
                "id", "status", "message", "error", "params", "app_id", with_ordinality="n"
            )
            .render_derived()
            .alias("given")
        )
        values = [
            given.c.status,
            given.c.message,
            sql_cast(given.c.error, JSON),
            sql_cast(given.c.params, JSON),
            given.c.app_id,
        ]
    gone = (
        delete(tasks_t)
        .where(tasks_t.c.id == any_(ids), *conditions)
        .returning(*(tasks_t.c[name] for name in TASK_COLUMNS))
        .cte("gone")
    )
    rows = (
        select(
            *(gone.c[name] for name in TASK_COLUMNS),
            *values,
            bindparam("by", type_=String()),
            bindparam("at", type_=acks_t.c.acked_at.type),
        )
        .join_from(gone, given, given.c.id == gone.c.id)
        .order_by(given.c.n)
    )
    return (
        insert(acks_t)
        .from_select(list(HISTORY), rows)
        .returning(acks_t.c.task_id.label("id"), acks_t.c.tenant_id, acks_t.c.object_id)
    )


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value, option=orjson.OPT_UTC_Z).decode()


def _keep(
    session: Session,
    acks: list[AckIn],
    conditions: list[ColumnElement[bool]],
    settings: Settings,
    now: dt.datetime,
) -> list[Task]:
    """``retry`` (deliverable again after a backoff) and ``reauthenticate`` (kept; the tenant's
    delivery pauses): the tasks stay, unleased."""
    by_id = {ack.task_id: ack for ack in acks}
    stmt = select(Task).where(one_of(session, Task.id, list(by_id)), *conditions)
    if is_postgresql(session):
        stmt = stmt.with_for_update()
    kept = list(session.scalars(stmt))
    paused: set[uuid.UUID] = set()
    for task in kept:
        task.leased_until = None
        if by_id[task.id].status == "retry":
            task.available_at = now + backoff(task.deliveries, settings)
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


def backoff(deliveries: int, settings: Settings) -> dt.timedelta:
    """Exponential in the number of deliveries, capped."""
    seconds = settings.task_retry_backoff_seconds * 2 ** max(0, min(deliveries - 1, 20))
    return dt.timedelta(seconds=min(seconds, settings.task_retry_max_backoff_seconds))


def history_row(
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


def _history(task: Any, ack: AckIn, p: Principal, now: dt.datetime) -> dict[str, Any]:
    return history_row(task, ack.status or "success", ack, p, now)


def _remember_app_ids(
    session: Session, app_ids: dict[tuple[uuid.UUID, uuid.UUID], str], now: dt.datetime
) -> None:
    if not app_ids:
        return
    values = [
        {"tenant_id": tenant, "object_id": obj, "app_id": app_id, "updated_at": now}
        for (tenant, obj), app_id in app_ids.items()
    ]
    dialect = postgresql if is_postgresql(session) else sqlite
    stmt = dialect.insert(TenantAppId).values(values)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["tenant_id", "object_id"],
            set_={"app_id": stmt.excluded.app_id, "updated_at": stmt.excluded.updated_at},
        )
    )
