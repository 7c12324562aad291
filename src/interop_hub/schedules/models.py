"""Collection schedules and the ticks they have run.

A schedule fires once a day at ``hour`` (UTC). Each firing is a *tick*: the UTC hour slot it
belongs to (the day at ``hour``:00). ``schedule_ticks`` has the tick as part of its primary key,
so the row a worker inserts in its transaction is the claim on that tick: with several workers
only one insert succeeds, and the tick runs exactly once (DESIGN §10).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from interop_hub.kit.db import Base, UTCDateTime, utcnow
from interop_hub.kit.ids import new_id

SCHEDULE_TYPES = ("collection",)
# Only collection schedules exist, and only they can be run on demand.
ON_DEMAND_TYPES = frozenset({"collection"})


class Schedule(Base):
    """A collection schedule of a cloud: at most one per hour of the day."""

    __tablename__ = "schedules"
    __table_args__ = (
        CheckConstraint("type IN ('collection')", name="type"),
        CheckConstraint("hour >= 0 AND hour <= 23", name="hour"),
        # Two schedules of one cloud at the same hour are a conflict (409), even under races.
        UniqueConstraint("cloud_id", "hour"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    # The unique (cloud_id, hour) key also serves the cloud's lookups: no separate index.
    cloud_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clouds.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(24), default="collection")
    hour: Mapped[int] = mapped_column(Integer)
    days: Mapped[str] = mapped_column(String(64), default="daily")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    last_executed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # ``metadata`` is reserved on declarative classes; the column keeps the spec's name.
    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON)


class ScheduleTick(Base):
    """One run of a schedule: the primary key (schedule_id, tick) is the exactly-once claim.

    ``outcome`` is ``queued`` (a collection was queued: ``ingestion_id``) or ``skipped``
    (``message`` says why: an ingestion already pending, no connector source).
    """

    __tablename__ = "schedule_ticks"
    __table_args__ = (CheckConstraint("outcome IN ('queued', 'skipped')", name="outcome"),)

    schedule_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("schedules.id", ondelete="CASCADE"), primary_key=True
    )
    tick: Mapped[dt.datetime] = mapped_column(UTCDateTime, primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16))
    ingestion_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("ingestions.id", ondelete="SET NULL")
    )
    message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
