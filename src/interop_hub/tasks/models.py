"""The task queue, its acknowledgement history and the app ids drivers return.

A task stays in ``tasks`` until it is acknowledged with ``success`` or ``error`` (or deleted by
an admin); its outcome then moves to ``task_acks``. Each tenant's tasks carry a ``sequence``
that only grows (allocated from ``tenants.task_seq`` under the tenant's row lock, so sequences
commit in order). A lease (``leased_until``) hides delivered tasks until it expires;
``available_at`` delays a task acknowledged with ``retry``. A task's data lives in
``task_payloads``, shared between tenants.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from interop_hub.ingest.models import BigId
from interop_hub.kit.db import Base, UTCDateTime, utcnow
from interop_hub.kit.ids import new_id

TASK_TYPES = (
    "lifecycle_event",
    "sync_event",
    "data_event",
    "authenticate",
    "grades_export",
    "grades_query",
    "request",
)
ACK_STATUSES = ("success", "error", "retry", "reauthenticate")


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (
        UniqueConstraint("tenant_id", "sequence"),
        CheckConstraint(
            "type IN ('lifecycle_event', 'sync_event', 'data_event', 'authenticate', "
            "'grades_export', 'grades_query', 'request')",
            name="type",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    sequence: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(16))
    action: Mapped[str | None] = mapped_column(String(32))
    group_id: Mapped[uuid.UUID | None] = mapped_column()
    origin: Mapped[str | None] = mapped_column(String(16))
    object_id: Mapped[uuid.UUID | None] = mapped_column()
    object_type: Mapped[str | None] = mapped_column(String(64))
    label: Mapped[str | None] = mapped_column(String(400))
    payload_id: Mapped[int | None] = mapped_column(BigInteger)
    """The task's ``data`` (for a data event: the object as rendered, before projection)."""
    prior_payload_id: Mapped[int | None] = mapped_column(BigInteger)
    """An update's object as it was: ``changes`` is the difference of the two projections."""
    session_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    available_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    leased_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    deliveries: Mapped[int] = mapped_column(Integer, default=0)


class TaskPayload(Base):
    """A task's data, shared by every tenant's task about the same object version.

    A collection renders what it changed once, and each tenant's task refers to that rendering;
    each tenant's projection (DESIGN §6) is applied when the task is delivered. For Repository
    objects and memberships, ``object_id`` and ``epoch`` say which object it renders: the newest
    payload of an object in its cloud's current ``render_epoch`` is the object as it is now,
    unless its ``body`` is NULL: a *tombstone*, written by a collection that nobody receives
    over the payloads its change outdated (it renders nothing; the renderings are stored after
    it commits, :mod:`interop_hub.tasks.renderings`). No task refers to a tombstone.
    """

    __tablename__ = "task_payloads"
    __table_args__ = (Index("ix_task_payloads_current", "cloud_id", "epoch", "object_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    cloud_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("clouds.id", ondelete="CASCADE"))
    object_id: Mapped[uuid.UUID | None] = mapped_column()
    epoch: Mapped[int | None] = mapped_column(Integer)
    body: Mapped[Any] = mapped_column(JSON, nullable=True)


class TaskAck(Base):
    """One acknowledgement (or admin delete) of a task, kept for the operator."""

    __tablename__ = "task_acks"
    __table_args__ = (
        CheckConstraint(
            "status IN ('success', 'error', 'retry', 'reauthenticate', 'deleted')", name="status"
        ),
        Index("ix_task_acks_tenant", "tenant_id", "id"),
        Index("ix_task_acks_acked_at", "acked_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    task_id: Mapped[uuid.UUID] = mapped_column()
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    sequence: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(16))
    action: Mapped[str | None] = mapped_column(String(32))
    object_id: Mapped[uuid.UUID | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(16))
    message: Mapped[str | None] = mapped_column(Text)
    error: Mapped[Any] = mapped_column(JSON, nullable=True)
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    app_id: Mapped[str | None] = mapped_column(String(255))
    acked_by: Mapped[str] = mapped_column(String(64))
    acked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class TenantAppId(Base):
    """The id an integration's app gave an object (``$sys.app_id`` in an ack)."""

    __tablename__ = "tenant_app_ids"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    object_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    app_id: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
