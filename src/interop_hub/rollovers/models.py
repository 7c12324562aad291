"""Rollovers: a tenant's school-year transition windows.

A rollover is ``upcoming`` until the worker starts it at ``start_date``: it becomes ``active``
and its tenant is in rollover mode (``tenants.rollover_mode_enabled``: the tenant's data events
are held) until the worker completes it at ``end_date`` (``completed``; the tenant gets one full
sync with origin ``rollover``). A rollover that cannot start is ``failed`` with a
``failure_reason``; the worker tries again (``status_change_failure_count`` counts the failed
attempts) until the window ends or the attempts run out.

``version`` starts at 1 and grows with every change, by a client or by the worker; a client
updates a rollover by naming the version it read (optimistic concurrency, see the service).
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from interop_hub.kit.db import Base, UTCDateTime, utcnow
from interop_hub.kit.ids import new_id

ROLLOVER_TYPES = ("new_year",)
STATUSES = ("upcoming", "active", "completed", "failed")
ALREADY_IN_ROLLOVER_MODE = "alreadyInRolloverMode"
TENANT_NOT_ACTIVE = "tenantNotActive"


class Rollover(Base):
    __tablename__ = "rollovers"
    __table_args__ = (
        CheckConstraint("type IN ('new_year')", name="type"),
        CheckConstraint("status IN ('upcoming', 'active', 'completed', 'failed')", name="status"),
        CheckConstraint("end_date > start_date", name="window"),
        # The tenant's list, its overlap checks and the worker's per-tenant step.
        Index("ix_rollovers_tenant", "tenant_id", "start_date"),
        # The worker's scan for what is due (by status, then the date that makes it due).
        Index("ix_rollovers_due", "status", "start_date"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(16), default="new_year")
    name: Mapped[str] = mapped_column(String(200))
    start_date: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    end_date: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="upcoming")
    failure_reason: Mapped[str | None] = mapped_column(String(64))
    status_change_failure_count: Mapped[int] = mapped_column(Integer, default=0)
    attempted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    """When the worker last failed to start it (the next attempt waits for the retry delay)."""
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
