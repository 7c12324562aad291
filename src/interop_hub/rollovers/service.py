"""Rollovers: their rules (#36–#41) and the worker step that starts and completes them.

The rollovers an actor sees are those of its own tenant (``tenants.service.own_tenant``);
another tenant's answer 404 like missing ones.

Rules. A rollover's window is ``[start_date, end_date)``; two rollovers of one tenant may not
overlap (409), whatever their status but ``completed`` (a failed one keeps its window: it may
still start, or be re-armed by an update; delete it to free the window). A new rollover must end
in the future; it may start in the past (it then starts at the worker's next run). An update
(#40) sets ``name``, ``type`` and the window: of an ``upcoming`` or ``failed`` rollover all of
them (a failed one is re-armed: ``upcoming`` again, its failure count reset), of an ``active``
one all but ``start_date`` (409: it has started; moving ``end_date`` to the past ends it at the
worker's next run); a ``completed`` rollover cannot change (409). Deleting an active rollover is
409.

Concurrency. An update names the ``version`` it read; the change is one conditional
``UPDATE ... WHERE id = :id AND version = :version``, and when it matches no row (another client
or the worker changed the rollover since it was read) the update is refused with 409. Every
change, the worker's included, increments ``version``. Creates and updates lock the tenant's row
first (PostgreSQL; SQLite has one writer), so that two requests cannot both find a window free
and take it. Deleting is one conditional ``DELETE ... WHERE status <> 'active'``.

The worker (:func:`run_due_rollovers`) handles one tenant per transaction: it locks the cloud,
then the tenant (the order collections take them in, see ``tenants.lifecycle.locked``), so a
collection is either wholly before a rollover's start (its events went out) or wholly after (it
sees the tenant in rollover mode and sends it nothing); then, in window order, it completes the
tenant's active rollovers whose end has come and starts the ones whose start has come. Each
change is claimed with the same conditional update on ``version``, so several workers, or a
worker and a client, never both move one rollover. Starting puts the tenant in rollover mode
(``tenants.rollover_mode_enabled``: ``tasks.fanout.recipients`` leaves it out); a rollover that
cannot start (the tenant is not active, or is already in rollover mode) is ``failed`` with the
reason and is tried again at later runs, no sooner than ``ROLLOVER_RETRY_SECONDS`` after the
last attempt, until ``ROLLOVER_MAX_ATTEMPTS`` attempts have failed or its window has ended.
Completing leaves rollover mode and sends the tenant one full sync with origin ``rollover``: the
whole state of the Repository as the tenant sees it, with everything collected while its events
were held.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from interop_hub.kit.db import transaction, write_transaction
from interop_hub.kit.errors import BadRequest, Conflict, NotFound
from interop_hub.kit.paging import Page, PageRequest, paginate
from interop_hub.kit.settings import Settings
from interop_hub.rollovers.models import ALREADY_IN_ROLLOVER_MODE, TENANT_NOT_ACTIVE, Rollover
from interop_hub.rollovers.schemas import (
    RolloverCreate,
    RolloverOut,
    RolloverStamps,
    RolloverUpdate,
    RolloverWrite,
)
from interop_hub.runtime import Hub
from interop_hub.tenants import lifecycle
from interop_hub.tenants.models import Tenant

log = logging.getLogger("interop_hub.rollovers")

SORT_FIELDS: dict[str, InstrumentedAttribute[Any]] = {
    "name": Rollover.name,
    "type": Rollover.type,
    "start_date": Rollover.start_date,
    "end_date": Rollover.end_date,
    "status": Rollover.status,
    "created_at": Rollover.created_at,
    "updated_at": Rollover.updated_at,
}
DEFAULT_SORT = "start_date"


def rollover_out(rollover: Rollover, tenant: Tenant) -> RolloverOut:
    return RolloverOut(
        id=rollover.id,
        cloud_id=tenant.cloud_id,
        actor_id=tenant.actor_id,
        name=rollover.name,
        type="new_year",
        start_date=rollover.start_date,
        end_date=rollover.end_date,
        status=rollover.status,  # a check constraint keeps it one of the four
        status_change_failure_count=rollover.status_change_failure_count,
        failure_reason=rollover.failure_reason,
        version=rollover.version,
        metadata=RolloverStamps(created=rollover.created_at, updated=rollover.updated_at),
        created_at=rollover.created_at,
        updated_at=rollover.updated_at,
    )


# --- the API ------------------------------------------------------------------------------------


def sort_keys(sort: str | None) -> tuple[list[InstrumentedAttribute[Any]], bool]:
    """The order of ``sort`` (a field, ``-`` first for descending), ``id`` breaking ties: the
    keys :func:`interop_hub.kit.paging.paginate` pages by, and whether they descend."""
    wanted = (sort or DEFAULT_SORT).strip()
    descending = wanted.startswith("-")
    field = wanted.removeprefix("-")
    if field not in SORT_FIELDS:
        valid = ", ".join(SORT_FIELDS)
        raise BadRequest(
            f"Cannot sort by {field!r}; sort by one of {valid} (prefix with - to descend).",
            code="invalid_sort",
            details={"sort": sort, "valid": list(SORT_FIELDS)},
        )
    return [SORT_FIELDS[field], Rollover.id], descending


def list_rollovers(
    session: Session, tenant: Tenant, req: PageRequest, sort: str | None
) -> Page[Rollover]:
    keys, descending = sort_keys(sort)
    stmt = select(Rollover).where(Rollover.tenant_id == tenant.id)
    return paginate(session, stmt, keys, req, descending=descending)


def count_rollovers(session: Session, tenant: Tenant) -> int:
    count = session.scalar(
        select(func.count()).select_from(Rollover).where(Rollover.tenant_id == tenant.id)
    )
    return int(count or 0)


def find_rollover(session: Session, tenant: Tenant, rollover_id: uuid.UUID) -> Rollover:
    """The tenant's rollover, as the database has it now; another tenant's is 404."""
    found = session.scalar(
        select(Rollover)
        .where(Rollover.id == rollover_id, Rollover.tenant_id == tenant.id)
        .execution_options(populate_existing=True)
    )
    if found is None:
        raise NotFound(f"Rollover {rollover_id} was not found.")
    return found


def create_rollover(
    session: Session, tenant: Tenant, body: RolloverCreate, now: dt.datetime
) -> Rollover:
    _check_write(tenant, body, now)
    _lock(session, tenant)
    _refuse_overlap(session, tenant, body, None)
    rollover = Rollover(
        tenant_id=tenant.id,
        type=body.type,
        name=body.name,
        start_date=body.start_date,
        end_date=body.end_date,
        status="upcoming",
        status_change_failure_count=0,
        version=1,
        created_at=now,
        updated_at=now,
    )
    session.add(rollover)
    session.flush()
    return rollover


def update_rollover(
    session: Session,
    tenant: Tenant,
    rollover_id: uuid.UUID,
    body: RolloverUpdate,
    now: dt.datetime,
) -> Rollover:
    _lock(session, tenant)
    current = find_rollover(session, tenant, rollover_id)
    if current.version != body.version:
        raise _changed_since(current, body.version)
    values: dict[str, Any] = {
        "name": body.name,
        "type": body.type,
        "start_date": body.start_date,
        "end_date": body.end_date,
    }
    if current.status == "completed":
        raise Conflict(
            f"Rollover {current.id} is completed; it can no longer change.",
            code="rollover_completed",
        )
    if current.status == "active":
        _check_write(tenant, body, None)
        if body.start_date != current.start_date:
            raise Conflict(
                f"Rollover {current.id} is active: it started at "
                f"{current.start_date.isoformat()}, which can no longer change (its name and "
                "end_date can).",
                code="rollover_started",
                details={"start_date": current.start_date.isoformat()},
            )
    else:
        _check_write(tenant, body, now)
        # An upcoming one stays so; a failed one is re-armed, to be tried again from scratch.
        values |= {
            "status": "upcoming",
            "failure_reason": None,
            "status_change_failure_count": 0,
            "attempted_at": None,
        }
    _refuse_overlap(session, tenant, body, current.id)
    if not _claim(session, current, body.version, now, **values):
        raise _changed_since(find_rollover(session, tenant, rollover_id), body.version)
    return current


def delete_rollover(session: Session, tenant: Tenant, rollover_id: uuid.UUID) -> None:
    deleted = session.execute(
        delete(Rollover)
        .where(
            Rollover.id == rollover_id,
            Rollover.tenant_id == tenant.id,
            Rollover.status != "active",
        )
        .returning(Rollover.id)
        .execution_options(synchronize_session=False)
    ).first()
    if deleted is None:
        active = find_rollover(session, tenant, rollover_id)  # 404 when it is not there
        raise Conflict(
            f"Rollover {active.id} is active; it cannot be deleted before it completes "
            f"({active.end_date.isoformat()}). Move its end_date to end it sooner.",
            code="rollover_active",
        )


def _check_write(tenant: Tenant, body: RolloverWrite, now: dt.datetime | None) -> None:
    """400 for a body naming another cloud or actor, or (``now`` given) a window already over."""
    if body.cloud_id is not None and body.cloud_id != tenant.cloud_id:
        raise BadRequest(
            f"cloud_id {body.cloud_id} is not the cloud of these credentials' tenant "
            f"({tenant.cloud_id}).",
            code="not_your_cloud",
        )
    if body.actor_id is not None and body.actor_id != tenant.actor_id:
        raise BadRequest(
            f"actor_id {body.actor_id} is not the actor of these credentials ({tenant.actor_id}).",
            code="not_your_actor",
        )
    if now is not None and body.end_date <= now:
        raise BadRequest(
            f"The window ends at {body.end_date.isoformat()}, which has passed; a rollover "
            "must end in the future.",
            code="window_over",
        )


def _lock(session: Session, tenant: Tenant) -> None:
    """Lock the tenant's row: its rollovers' windows change one request at a time."""
    session.scalar(select(Tenant.id).where(Tenant.id == tenant.id).with_for_update())


def _refuse_overlap(
    session: Session, tenant: Tenant, body: RolloverWrite, itself: uuid.UUID | None
) -> None:
    stmt = select(Rollover).where(
        Rollover.tenant_id == tenant.id,
        Rollover.status != "completed",
        Rollover.start_date < body.end_date,
        Rollover.end_date > body.start_date,
    )
    if itself is not None:
        stmt = stmt.where(Rollover.id != itself)
    other = session.scalar(stmt.order_by(Rollover.start_date).limit(1))
    if other is not None:
        raise Conflict(
            f"The window overlaps rollover {other.id} ({other.name!r}, "
            f"{other.start_date.isoformat()} to {other.end_date.isoformat()}, {other.status}); "
            "two rollovers of a tenant cannot overlap.",
            code="rollover_overlap",
            details={
                "rollover_id": str(other.id),
                "start_date": other.start_date.isoformat(),
                "end_date": other.end_date.isoformat(),
                "status": other.status,
            },
        )


def _changed_since(current: Rollover, version: int) -> Conflict:
    return Conflict(
        f"Rollover {current.id} has changed since it was read (version {version}; it is now "
        f"version {current.version}); read it again and retry.",
        code="version_mismatch",
        details={"version": current.version},
    )


def _claim(
    session: Session, rollover: Rollover, version: int, now: dt.datetime, **values: Any
) -> bool:
    """Apply ``values`` to the rollover if it is still at ``version``, as one conditional
    update; False (and nothing changed) when it is not. ``rollover`` is refreshed."""
    changed = session.execute(
        update(Rollover)
        .where(Rollover.id == rollover.id, Rollover.version == version)
        .values(**values, version=Rollover.version + 1, updated_at=now)
        .returning(Rollover.id)
        .execution_options(synchronize_session=False)
    ).first()
    if changed is None:
        return False
    session.refresh(rollover)
    return True


# --- the worker ---------------------------------------------------------------------------------


def _due(now: dt.datetime, settings: Settings) -> ColumnElement[bool]:
    """Rollovers the worker has something to do with: active ones whose end has come, upcoming
    ones whose start has come, and failed ones to try again."""
    retry_after = now - dt.timedelta(seconds=settings.rollover_retry_seconds)
    return or_(
        and_(Rollover.status == "active", Rollover.end_date <= now),
        and_(Rollover.status == "upcoming", Rollover.start_date <= now),
        and_(
            Rollover.status == "failed",
            Rollover.start_date <= now,
            Rollover.end_date > now,
            Rollover.status_change_failure_count < settings.rollover_max_attempts,
            or_(Rollover.attempted_at.is_(None), Rollover.attempted_at <= retry_after),
        ),
    )


def due_tenants(session: Session, now: dt.datetime, settings: Settings) -> list[uuid.UUID]:
    return list(
        session.scalars(
            select(Rollover.tenant_id)
            .where(_due(now, settings))
            .distinct()
            .order_by(Rollover.tenant_id)
        )
    )


def _cannot_start(tenant: Tenant) -> str | None:
    if tenant.op_state != "active":
        return TENANT_NOT_ACTIVE
    if tenant.rollover_mode_enabled:
        return ALREADY_IN_ROLLOVER_MODE
    return None


def advance_tenant(
    session: Session, tenant_id: uuid.UUID, now: dt.datetime, settings: Settings
) -> int:
    """Start and complete the tenant's due rollovers; returns how many changed status.

    A rollover whose whole window passed while no worker ran is started and completed at once.
    Whatever completes, the tenant gets one full sync (none when it was never activated or is
    uninstalled: it receives nothing).
    """
    tenant = lifecycle.locked(session, tenant_id)
    due = session.scalars(
        select(Rollover)
        .where(Rollover.tenant_id == tenant_id, _due(now, settings))
        .order_by(Rollover.start_date, Rollover.id)
        .execution_options(populate_existing=True)
    ).all()
    moved = completed = 0
    for rollover in due:
        if rollover.status != "active":
            reason = _cannot_start(tenant)
            if reason is not None:
                failed = _claim(
                    session,
                    rollover,
                    rollover.version,
                    now,
                    status="failed",
                    failure_reason=reason,
                    status_change_failure_count=Rollover.status_change_failure_count + 1,
                    attempted_at=now,
                )
                if failed:
                    log.info("rollover %s (tenant %s) failed: %s", rollover.id, tenant_id, reason)
                    moved += 1
                continue
            if not _claim(
                session, rollover, rollover.version, now, status="active", failure_reason=None
            ):
                continue
            tenant.rollover_mode_enabled = True
            log.info("rollover %s (tenant %s) started", rollover.id, tenant_id)
            moved += 1
        ending = rollover.end_date <= now
        if ending and _claim(session, rollover, rollover.version, now, status="completed"):
            tenant.rollover_mode_enabled = False
            log.info("rollover %s (tenant %s) completed", rollover.id, tenant_id)
            moved += 1
            completed += 1
    session.flush()
    if completed and lifecycle.receives_full_syncs(tenant):
        lifecycle.full_sync(session, tenant, "rollover", now)
    return moved


def run_due_rollovers(hub: Hub) -> int:
    """Start and complete every due rollover; returns how many changed status.

    Each tenant is handled in its own transaction, so one failing tenant does not undo or keep
    back the others.
    """
    now = hub.now()
    with transaction(hub.sessions) as session:
        tenants = due_tenants(session, now, hub.settings)
    moved = 0
    for tenant_id in tenants:
        try:
            with write_transaction(hub.sessions) as session:
                moved += advance_tenant(session, tenant_id, now, hub.settings)
        except Exception:  # one broken tenant must not keep the others' rollovers back
            log.exception("rollovers of tenant %s: the transition failed", tenant_id)
    return moved
