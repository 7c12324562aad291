"""Collection schedules: their rules (#42–#48) and the worker step that runs the due ones.

The schedules an actor sees are those of its own cloud; account credentials are refused (403),
as in the Data API, since the spec names "the tenant identified by actor authentication
credentials".

Ticks. A schedule fires once a day at ``hour`` UTC; the firing of one day is the *tick*
``(date, hour)``, stored as the datetime of that day at ``hour``:00 UTC. A schedule is due when
``now`` is at or past today's tick, the tick is not before the hour slot the schedule was created
in (a schedule created at 15:00 for 03:00 first fires tomorrow; one created at 03:20 for 03:00
fires at once), and the tick has no row in ``schedule_ticks``. Only today's tick is considered:
a worker that was down for days catches up at most one collection. The worker claims a tick by
inserting its row (``INSERT .. ON CONFLICT DO NOTHING``, then checking the row count) in the
same transaction that queues the collection, so with several workers each tick runs exactly
once: the loser's insert waits for the winner's commit and then inserts nothing.

A claimed tick whose collection cannot be queued (an ingestion of the cloud already pending, no
connector source) is recorded as ``skipped`` with the reason and is not retried in that slot.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

from sqlalchemy import Insert, and_, exists, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from interop_hub.auth.principal import Principal
from interop_hub.clouds.models import Cloud
from interop_hub.ingest import service as ingest
from interop_hub.ingest.models import Ingestion
from interop_hub.kit.db import transaction, write_transaction
from interop_hub.kit.errors import BadRequest, Conflict, Forbidden, NotFound
from interop_hub.kit.paging import Page, PageRequest, paginate
from interop_hub.runtime import Hub
from interop_hub.schedules.models import ON_DEMAND_TYPES, Schedule, ScheduleTick
from interop_hub.schedules.schemas import ScheduleCreate, ScheduleOut, ScheduleUpdate

log = logging.getLogger("interop_hub.schedules")

PENDING_STATES = ("preparing", "scheduled", "executing")


def schedule_out(schedule: Schedule) -> ScheduleOut:
    return ScheduleOut(
        id=schedule.id,
        cloud_id=schedule.cloud_id,
        type=schedule.type,
        hour=schedule.hour,
        days=schedule.days,
        enabled=schedule.enabled,
        last_executed_at=schedule.last_executed_at,
        metadata=schedule.meta,
        created_at=schedule.created_at,
        updated_at=schedule.updated_at,
    )


def cloud_of(principal: Principal) -> uuid.UUID:
    """The cloud whose schedules the caller manages: only an installed actor has one."""
    if principal.kind != "actor" or principal.cloud_id is None:
        raise Forbidden(
            "Schedules are managed with an installed actor's credentials (a token for the "
            "client id and secret of a tenant or connector), not with an account's.",
            code="actor_required",
        )
    return principal.cloud_id


# --- the API ------------------------------------------------------------------------------------


def list_schedules(session: Session, p: Principal, req: PageRequest) -> Page[Schedule]:
    stmt = select(Schedule).where(Schedule.cloud_id == cloud_of(p))
    return paginate(session, stmt, [Schedule.id], req)


def count_schedules(session: Session, p: Principal) -> int:
    count = session.scalar(
        select(func.count()).select_from(Schedule).where(Schedule.cloud_id == cloud_of(p))
    )
    return int(count or 0)


def find_schedule(session: Session, p: Principal, schedule_id: uuid.UUID) -> Schedule:
    """The caller's schedule; another cloud's is 404 like a missing one (no existence leak)."""
    found = session.scalar(
        select(Schedule).where(Schedule.id == schedule_id, Schedule.cloud_id == cloud_of(p))
    )
    if found is None:
        raise NotFound(f"Schedule {schedule_id} was not found.")
    return found


def create_schedule(
    session: Session, p: Principal, body: ScheduleCreate, now: dt.datetime
) -> Schedule:
    """A daily collection schedule at ``body.hour``; 409 if the cloud has one at that hour.

    The check gives the clear message; the unique (cloud_id, hour) key catches a race (the
    app answers its IntegrityError with a 409 too).
    """
    cloud_id = cloud_of(p)
    taken = session.scalar(
        select(Schedule.id).where(Schedule.cloud_id == cloud_id, Schedule.hour == body.hour)
    )
    if taken is not None:
        raise Conflict(
            f"Schedule {taken} already collects at {body.hour:02d}:00 UTC; "
            "two schedules cannot overlap.",
            details={"schedule_id": str(taken), "hour": body.hour},
        )
    schedule = Schedule(
        cloud_id=cloud_id,
        type="collection",
        hour=body.hour,
        days="daily",
        enabled=True,
        created_at=now,
        updated_at=now,
    )
    session.add(schedule)
    session.flush()
    return schedule


def update_schedule(
    session: Session, p: Principal, schedule_id: uuid.UUID, body: ScheduleUpdate, now: dt.datetime
) -> Schedule:
    schedule = find_schedule(session, p, schedule_id)
    if body.enabled is not None and body.enabled != schedule.enabled:
        schedule.enabled = body.enabled
        schedule.updated_at = now
        session.flush()
    return schedule


def delete_schedule(session: Session, p: Principal, schedule_id: uuid.UUID) -> None:
    session.delete(find_schedule(session, p, schedule_id))
    session.flush()


def run_schedule(
    session: Session, p: Principal, schedule_id: uuid.UUID, now: dt.datetime
) -> Ingestion:
    """Queue a collection of the schedule's cloud now (#44).

    400 for a type that cannot run on demand or a cloud without a connector source; 409 when
    the schedule is disabled or an ingestion of the cloud is pending. An on-demand run takes no
    tick: the day's scheduled run still happens (unless this collection is still pending).
    """
    schedule = find_schedule(session, p, schedule_id)
    if schedule.type not in ON_DEMAND_TYPES:
        raise BadRequest(
            f"Schedule {schedule.id} is a {schedule.type} schedule, which cannot be run on demand.",
            code="not_runnable",
        )
    if not schedule.enabled:
        raise Conflict(
            f"Schedule {schedule.id} is disabled; enable it before running it.",
            code="schedule_disabled",
        )
    ingestion = queue_collection(session, schedule, now, {"on_demand": True})
    schedule.last_executed_at = now
    schedule.updated_at = now
    session.flush()
    return ingestion


def queue_collection(
    session: Session, schedule: Schedule, now: dt.datetime, scheduled: dict[str, Any]
) -> Ingestion:
    """Queue a collection of the schedule's cloud from its connector source.

    The cloud row is locked first (PostgreSQL; SQLite has one writer) so that an on-demand run
    and a worker cannot both see "nothing pending" and queue two collections.
    """
    cloud_id = schedule.cloud_id
    session.scalar(select(Cloud.id).where(Cloud.id == cloud_id).with_for_update())
    pending = session.scalar(
        select(Ingestion.id)
        .where(Ingestion.cloud_id == cloud_id, Ingestion.state.in_(PENDING_STATES))
        .order_by(Ingestion.id)
        .limit(1)
    )
    if pending is not None:
        raise Conflict(
            f"Ingestion {pending} of this cloud is still pending; the schedule was not run.",
            code="ingestion_pending",
            details={"ingestion_id": str(pending)},
        )
    connector_id, source = ingest.connector_source(session, cloud_id)
    ingestion = ingest.queue_ingestion(
        session, cloud_id, source, now=now, connector_id=connector_id
    )
    ingestion.details = {
        **ingestion.details,
        "scheduled": {"schedule_id": str(schedule.id), **scheduled},
    }
    session.flush()
    return ingestion


# --- the worker ---------------------------------------------------------------------------------


def tick_of(schedule_hour: int, now: dt.datetime) -> dt.datetime:
    """Today's tick (UTC) of a schedule at ``schedule_hour``."""
    day = now.astimezone(dt.UTC)
    return dt.datetime(day.year, day.month, day.day, schedule_hour, tzinfo=dt.UTC)


def _hour_slot(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def due_schedules(session: Session, now: dt.datetime) -> list[tuple[uuid.UUID, dt.datetime]]:
    """The enabled schedules whose tick for today has come and has not been taken."""
    now = now.astimezone(dt.UTC)
    candidates = session.execute(
        select(Schedule.id, Schedule.hour, Schedule.created_at)
        .where(Schedule.enabled.is_(True), Schedule.hour <= now.hour)
        .order_by(Schedule.id)
    ).all()
    due: list[tuple[uuid.UUID, dt.datetime]] = []
    for schedule_id, hour, created_at in candidates:
        tick = tick_of(hour, now)
        if tick < _hour_slot(created_at):
            continue
        taken = session.scalar(
            select(
                exists().where(
                    and_(ScheduleTick.schedule_id == schedule_id, ScheduleTick.tick == tick)
                )
            )
        )
        if not taken:
            due.append((schedule_id, tick))
    return due


def claim_tick(
    session: Session, schedule_id: uuid.UUID, tick: dt.datetime, now: dt.datetime
) -> bool:
    """Insert the tick's row; False if another worker already has it (committed or not).

    ``ON CONFLICT DO NOTHING`` rather than catching an IntegrityError: on PostgreSQL a
    concurrent insert of the same key waits for the other transaction and then inserts nothing,
    with no aborted transaction to recover from. Whether a row went in is read from
    ``RETURNING``, not ``rowcount``: psycopg reports -1 for this statement.
    """
    values = {
        "schedule_id": schedule_id,
        "tick": tick,
        "outcome": "queued",
        "created_at": now,
    }
    dialect = session.get_bind().dialect.name
    stmt: Insert
    if dialect == "postgresql":
        stmt = postgresql.insert(ScheduleTick).values(values).on_conflict_do_nothing()
    elif dialect == "sqlite":
        stmt = sqlite.insert(ScheduleTick).values(values).on_conflict_do_nothing()
    else:  # pragma: no cover - the hub runs on SQLite and PostgreSQL only
        raise RuntimeError(f"unsupported database {dialect}")
    inserted = session.execute(stmt.returning(ScheduleTick.schedule_id)).first()
    return inserted is not None


def run_tick(
    session: Session, schedule_id: uuid.UUID, tick: dt.datetime, now: dt.datetime
) -> Ingestion | None:
    """Take one tick of a schedule and queue its collection; None when not queued (the tick
    was taken by another worker, the schedule is gone or disabled, or the run was skipped)."""
    schedule = session.get(Schedule, schedule_id)
    if schedule is None or not schedule.enabled:
        return None
    if not claim_tick(session, schedule_id, tick, now):
        log.info("schedule %s: tick %s already taken by another worker", schedule_id, tick)
        return None
    row = session.get(ScheduleTick, (schedule_id, tick))
    assert row is not None
    try:
        ingestion = queue_collection(
            session, schedule, now, {"tick": tick.isoformat(), "on_demand": False}
        )
    except (Conflict, BadRequest) as exc:
        log.info("schedule %s: tick %s skipped: %s", schedule_id, tick, exc.message)
        row.outcome, row.message = "skipped", exc.message
        session.flush()
        return None
    row.ingestion_id = ingestion.id
    schedule.last_executed_at = now
    session.flush()
    return ingestion


def run_due_schedules(hub: Hub) -> int:
    """Queue the collections of every due schedule tick; return how many were queued.

    Each tick is taken in its own transaction, so one failing schedule does not undo the
    others, and a tick another worker holds only delays this worker on that tick.
    """
    now = hub.now()
    with transaction(hub.sessions) as session:
        due = due_schedules(session, now)
    queued = 0
    for schedule_id, tick in due:
        try:
            with write_transaction(hub.sessions) as session:
                ingestion = run_tick(session, schedule_id, tick, now)
                ingestion_id = ingestion.id if ingestion is not None else None
        except Exception:  # one broken schedule must not keep the others from running
            log.exception("schedule %s: tick %s failed", schedule_id, tick)
            continue
        if ingestion_id is not None:
            log.info("schedule %s: tick %s queued ingestion %s", schedule_id, tick, ingestion_id)
            queued += 1
    return queued
