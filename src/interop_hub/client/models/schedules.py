"""A cloud's collections: rollovers (#36–#41), schedules (#42–#48) and ingestions (#49–#51)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import Field

from interop_hub.client.models.base import Model


class Rollover(Model):
    """A school-year transition window of a tenant. To update one, send it back as it was read,
    changed (``version`` tells the hub which state the change is based on)."""

    id: uuid.UUID | None = None
    name: str | None = None
    type: str = "new_year"
    start_date: dt.datetime | None = None
    end_date: dt.datetime | None = None
    status: str | None = None
    """``upcoming``, ``active``, ``completed`` or ``failed``."""
    status_change_failure_count: int | None = None
    failure_reason: str | None = None
    cloud_id: uuid.UUID | None = None
    actor_id: uuid.UUID | None = None
    metadata: dict[str, Any] | None = None
    version: int | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None


class Schedule(Model):
    id: uuid.UUID
    type: str = "unspecified"
    hour: int
    """Hour of the day, in UTC."""
    days: str | None = None
    enabled: bool = True
    last_executed_at: dt.datetime | None = None
    metadata: dict[str, Any] | None = None
    cloud_id: uuid.UUID | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None


class IngestionCounts(Model):
    rows_read: int = 0
    rows_rejected: int = 0
    objects_added: int = 0
    objects_updated: int = 0
    objects_deleted: int = 0


class Ingestion(Model):
    id: uuid.UUID
    type: str
    state: str
    """``preparing``, ``scheduled``, ``executing``, ``success``, ``failed``, ``cancelled`` or
    ``timeout``."""
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    external_import_ids: list[str] = Field(default_factory=list)
    has_pending_task: bool = False
    mass_change_pending: bool = False
    message: str | None = None
    counts: IngestionCounts | None = None
    metadata: dict[str, Any] | None = None
    cloud_id: uuid.UUID | None = None
