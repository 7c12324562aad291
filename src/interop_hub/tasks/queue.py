"""Writing tasks: per-tenant sequences, lifecycle events and syncs.

Everything here runs inside the caller's transaction, so tasks commit with the change that
causes them (a transactional outbox). Sequences come from ``tenants.task_seq``: the
``UPDATE ... RETURNING`` that allocates them locks the tenant's row until the transaction ends, so
a tenant's sequences commit in the order they were allocated and a poller never sees a newer
task before an older one.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, cast

import orjson
from sqlalchemy import Table, update
from sqlalchemy.orm import Session

from interop_hub.kit import metrics
from interop_hub.kit.bulk import NULL, copy_text, insert_many, text_field
from interop_hub.kit.db import analyze, is_postgresql
from interop_hub.kit.ids import new_id
from interop_hub.tasks import payloads
from interop_hub.tasks.models import Task
from interop_hub.tenants.models import Tenant

tasks_t = cast(Table, Task.__table__)
LIFECYCLE_ACTIONS = (
    "TENANT_INSTALLED",
    "TENANT_ACTIVATED",
    "TENANT_SUSPENDED",
    "TENANT_UNINSTALLED",
)
ORIGINS = ("initial", "ingestion", "resend", "scoping", "rollover")


@dataclass(frozen=True, slots=True)
class Event:
    """A task before it has an id and a sequence."""

    type: str
    action: str | None = None
    object_id: uuid.UUID | None = None
    object_type: str | None = None
    label: str | None = None
    payload_id: int | None = None
    prior_payload_id: int | None = None
    data: dict[str, Any] | None = None
    """Data of a task that is not about a Repository object (stored as a payload of its own)."""
    session_id: str | None = None


def allocate(session: Session, tenant_id: uuid.UUID, count: int) -> int:
    """Reserve ``count`` sequences for the tenant; returns the first."""
    last = session.scalar(
        update(Tenant)
        .where(Tenant.id == tenant_id)
        .values(task_seq=Tenant.task_seq + count)
        .returning(Tenant.task_seq)
        .execution_options(synchronize_session=False)
    )
    if last is None:
        raise LookupError(f"tenant {tenant_id} does not exist")
    return int(last) - count + 1


def enqueue(
    session: Session,
    tenant_id: uuid.UUID,
    events: list[Event],
    now: dt.datetime,
    *,
    group_id: uuid.UUID | None = None,
    origin: str | None = None,
) -> int:
    """Append ``events`` to the tenant's queue, in order; returns how many were written."""
    if not events:
        return 0
    own = [e for e in events if e.data is not None and e.payload_id is None]
    if own:
        written = iter(
            payloads.write_raw(session, None, None, [(None, orjson.dumps(e.data)) for e in own])
        )
        events = [
            replace(e, payload_id=next(written))
            if e.data is not None and e.payload_id is None
            else e
            for e in events
        ]
    first = allocate(session, tenant_id, len(events))
    if is_postgresql(session):
        _copy_tasks(session, tenant_id, events, first, now, group_id, origin)
    else:
        insert_many(
            session,
            tasks_t,
            (
                {
                    "id": new_id(),
                    "tenant_id": tenant_id,
                    "sequence": first + offset,
                    "type": event.type,
                    "action": event.action,
                    "group_id": group_id,
                    "origin": origin,
                    "object_id": event.object_id,
                    "object_type": event.object_type,
                    "label": _label(event.label),
                    "payload_id": event.payload_id,
                    "prior_payload_id": event.prior_payload_id,
                    "session_id": event.session_id,
                    "created_at": now,
                    "available_at": None,
                    "leased_until": None,
                    "deliveries": 0,
                }
                for offset, event in enumerate(events)
            ),
        )
    metrics.tasks_queued(session, tenant_id, len(events))
    return len(events)


TASK_COLUMNS = (
    "id",
    "tenant_id",
    "sequence",
    "type",
    "action",
    "group_id",
    "origin",
    "object_id",
    "object_type",
    "label",
    "payload_id",
    "prior_payload_id",
    "session_id",
    "created_at",
    "deliveries",
)
"""What a new task row is given (``available_at`` and ``leased_until`` are NULL)."""


def _copy_tasks(
    session: Session,
    tenant_id: uuid.UUID,
    events: list[Event],
    first: int,
    now: dt.datetime,
    group_id: uuid.UUID | None,
    origin: str | None,
) -> None:
    """The task rows as ``COPY`` text: the values every row of the call shares formatted once,
    a line per event joined from the rest."""
    tenant, group = str(tenant_id), _uuid(group_id)
    source, created = text_field(origin), now.astimezone(dt.UTC).isoformat()
    lines = (
        "\t".join(
            (
                str(new_id()),
                tenant,
                str(sequence),
                _name(event.type),
                _name(event.action),
                group,
                source,
                _uuid(event.object_id),
                _name(event.object_type),
                text_field(_label(event.label)),
                _int(event.payload_id),
                _int(event.prior_payload_id),
                text_field(event.session_id),
                created,
                "0",  # deliveries
            )
        ).encode()
        + b"\n"
        for sequence, event in enumerate(events, first)
    )
    copy_text(session, tasks_t, TASK_COLUMNS, lines)


_name = lru_cache(maxsize=1024)(text_field)
"""A field of the few values tasks share (types, actions, topics), escaped once each."""


def _label(label: str | None) -> str | None:
    return label[:400] if label else label


def _uuid(value: uuid.UUID | None) -> str:
    return NULL if value is None else str(value)


def _int(value: int | None) -> str:
    return NULL if value is None else str(value)


def lifecycle(session: Session, tenant_id: uuid.UUID, action: str, now: dt.datetime) -> None:
    assert action in LIFECYCLE_ACTIONS, action
    enqueue(session, tenant_id, [Event("lifecycle_event", action)], now)


ANALYZE_AFTER_TASKS = 20_000


def refresh_statistics(session: Session, written: int) -> None:
    """After a large fan-out, refresh the queue's planner statistics (see :func:`analyze`)."""
    if written >= ANALYZE_AFTER_TASKS:
        analyze(session, "tasks", "task_payloads")


class SyncWriter:
    """One sync of one tenant: ``SYNC_START``, its data events, ``SYNC_END``, one ``group_id``.

    Events are buffered and written in chunks. With ``always=False`` nothing at all is written
    for a sync without data events (a collection that changes nothing the tenant sees).
    """

    CHUNK = 2000

    def __init__(
        self,
        session: Session,
        tenant_id: uuid.UUID,
        origin: str,
        now: dt.datetime,
        *,
        always: bool,
    ) -> None:
        assert origin in ORIGINS, origin
        self.session, self.tenant_id, self.origin, self.now = session, tenant_id, origin, now
        self.group_id = uuid.uuid4()
        self.started = False
        self.always = always
        self.buffer: list[Event] = []
        self.written = 0
        if always:
            self._start()

    def _start(self) -> None:
        self.started = True
        self._write([Event("sync_event", "SYNC_START")])

    def _write(self, events: list[Event]) -> None:
        self.written += enqueue(
            self.session,
            self.tenant_id,
            events,
            self.now,
            group_id=self.group_id,
            origin=self.origin,
        )

    def add(self, event: Event) -> None:
        if not self.started:
            self._start()
        self.buffer.append(event)
        if len(self.buffer) >= self.CHUNK:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            self._write(self.buffer)
            self.buffer = []

    def end(self) -> int:
        """Write what is left and ``SYNC_END``; returns the number of tasks written."""
        self.flush()
        if self.started:
            self._write([Event("sync_event", "SYNC_END")])
            self.session.execute(
                update(Tenant)
                .where(Tenant.id == self.tenant_id)
                .values(last_sync_at=self.now)
                .execution_options(synchronize_session=False)
            )
        return self.written
